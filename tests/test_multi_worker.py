"""Tests of --strategy=multi_worker (GANimation, tf.distribute.MultiWorkerMirroredStrategy):
TF_CONFIG checks, and two worker processes on 127.0.0.1 that are killed (each in
turn), restarted, finish, load and animate."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import harness
from tfsingan.common import distribute
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from test_ganimation_model import write_tiny_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Worker processes on a loaded 2-core machine take minutes to start and trace.
TIMEOUT = 600


def tf_config(**task):
  return {"TF_CONFIG": json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                   "task": task})}


@pytest.mark.parametrize("environ, message", [
    ({}, "needs the TF_CONFIG"),
    ({"TF_CONFIG": "{"}, "not JSON"),
    ({"TF_CONFIG": '{"cluster": {}}'}, "needs \"cluster\" and \"task\""),
    ({"TF_CONFIG": '{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}'},
     "job 'ps'"),
    ({"TF_CONFIG": '{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", '
                   '"index": 0}}'}, "host:port"),
    (tf_config(type="worker", index=2), "is not in the cluster"),
    (tf_config(type="chief", index=0), "is not in the cluster"),
])
def test_bad_tf_config_is_one_line(environ, message):
  with pytest.raises(UserInputError, match=message):
    distribute.read_tf_config(environ)


def test_good_tf_config():
  assert distribute.read_tf_config(tf_config(type="worker", index=1))["task"]["index"] == 1


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


class Cluster:
  """Two `python -m tfsingan.train --strategy=multi_worker` processes on 127.0.0.1."""

  def __init__(self, tmp_path, data):
    self.tmp_path, self.data = tmp_path, data
    self.scratch = tmp_path / "worker_tmp"  # TMPDIR of worker 1: its scratch folders
    self.scratch.mkdir()
    self.launches = 0

  def start(self, workdirs, *extra):
    self.launches += 1
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    self.procs, self.logs = [], []
    for i, workdir in enumerate(workdirs):
      env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
                 TMPDIR=str(self.scratch) if i else os.environ.get("TMPDIR", "/tmp"),
                 TF_CONFIG=json.dumps({"cluster": cluster,
                                       "task": {"type": "worker", "index": i}}))
      log = self.tmp_path / f"launch{self.launches}_worker{i}.log"
      self.logs.append(log)
      self.procs.append(subprocess.Popen(
          [sys.executable, "-m", "tfsingan.train", "--flagfile=configs/ganimation_tiny.cfg",
           f"--data_dir={self.data}", f"--workdir={workdir}", "--strategy=multi_worker",
           "--iterations=40", "--checkpoint_every=2", *extra],
          cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT))

  def kill_after_checkpoint(self, victim, workdir, after):
    """SIGKILLs worker `victim` once the chief saved a checkpoint past `after`;
    returns that checkpoint's iteration."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
      saved = _latest_iteration(workdir)
      if saved > after:
        self.procs[victim].send_signal(signal.SIGKILL)
        return saved
      assert all(p.poll() is None for p in self.procs), self.output()
      time.sleep(0.05)
    raise AssertionError("no checkpoint in time:\n" + self.output())

  def wait(self):
    codes = [p.wait(timeout=TIMEOUT) for p in self.procs]
    return codes, [log.read_text() for log in self.logs]

  def output(self):
    return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in self.logs)


def _latest_iteration(workdir):
  index = os.path.join(workdir, "checkpoints", "checkpoint")
  if not os.path.exists(index):
    return 0
  with open(index) as f:  # written atomically by tf.train.CheckpointManager
    first = f.readline()
  return int(first.rsplit("ckpt-", 1)[1].rstrip('"\n')) if "ckpt-" in first else 0


@pytest.mark.slow
def test_two_workers_killed_in_turn_resume_finish_and_animate(tmp_path):
  data = write_tiny_dataset(tmp_path / "data")
  workdir = str(tmp_path / "run")
  cluster = Cluster(tmp_path, data)
  t0 = time.time()

  # Launch 1: worker 1 (not the chief) is killed; the chief stops with one line.
  cluster.start([workdir, workdir])
  first = cluster.kill_after_checkpoint(1, workdir, 0)
  codes, logs = cluster.wait()
  assert codes == [2, -signal.SIGKILL], cluster.output()
  assert "restart every worker with the same TF_CONFIG" in logs[0].splitlines()[-1]
  assert "Traceback" not in logs[0]

  # Launch 2: both restarted with the same TF_CONFIG resume from the chief's
  # checkpoint; now the chief is killed, and worker 1 stops with one line.
  cluster.start([workdir, workdir])
  second = cluster.kill_after_checkpoint(0, workdir, first)
  codes, logs = cluster.wait()
  assert codes == [-signal.SIGKILL, 2], cluster.output()
  for log in logs:
    assert f"resuming {workdir} at iteration {first} of 40" in log
  assert "restart every worker" in logs[1].splitlines()[-1]

  # Launch 3: restarted again, they finish.
  cluster.start([workdir, workdir])
  codes, logs = cluster.wait()
  assert codes == [0, 0], cluster.output()
  assert second < 40
  for log in logs:
    assert f"resuming {workdir} at iteration {second} of 40" in log
    assert "2 replica(s)" in log and "40/40" in log
  elapsed = time.time() - t0

  # The chief alone wrote the run directory (one TensorBoard file per launch); the
  # other worker's scratch folders are gone, but for the one SIGKILL left behind.
  assert sorted(os.listdir(workdir)) == ["checkpoints", "config.json",
                                         "generator.weights.h5", "tb"]
  assert len(glob.glob(os.path.join(workdir, "tb", "events.*"))) == 3
  assert _latest_iteration(workdir) == 40
  left = [n for n in os.listdir(cluster.scratch) if n.startswith("tfsingan-worker-")]
  assert len(left) == 1, left

  # The finished run loads and animates.
  photo = str(tmp_path / "face.png")
  rng = np.random.default_rng(0)
  image_io.save_image(photo, rng.uniform(0, 1, (48, 48, 3)).astype(np.float32))
  out = str(tmp_path / "animated")
  r = harness.run_cli("tfsingan.animate", f"--workdir={workdir}", f"--image={photo}",
                      f"--out={out}", "--emotion=happy", "--box=8,8,32,32", timeout=TIMEOUT)
  assert r.returncode == 0, r.stderr[-3000:]
  assert sorted(os.listdir(out)) == ["grid.png", "happy.png"]

  # Workers that do not read the same --workdir refuse to train.
  cluster.start([workdir, str(tmp_path / "elsewhere")])
  codes, logs = cluster.wait()
  assert codes == [2, 2], cluster.output()
  for log in logs:
    assert "different checkpoints" in log.splitlines()[-1]
  print(f"three launches to the finished run: {elapsed:.0f} s")
