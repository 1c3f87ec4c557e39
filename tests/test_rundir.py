"""Run directories (tfsingan.common.rundir): family, guard, lock, clean failed starts."""

import dataclasses
import json
import os
import signal
import socket
import time

import pytest

import harness
from tfsingan.common import rundir
from tfsingan.config import field
from tfsingan.errors import UserInputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class _Config:
  size: int = field(8)
  epochs: int = field(1, resume="notice")
  log_every: int = field(10, resume="execution")


def _start(path, config=_Config(), family="singan"):
  with rundir.prepare(str(path), config, family=family) as run:
    run.start()
  return run


def _tree(path):
  """{relative path: bytes} of every file under `path`."""
  out = {}
  for folder, _, files in os.walk(path):
    for name in files:
      full = os.path.join(folder, name)
      with open(full, "rb") as f:
        out[os.path.relpath(full, path)] = f.read()
  return out


def test_config_json_names_the_family(tmp_path):
  _start(tmp_path / "w")
  data = json.loads((tmp_path / "w" / "config.json").read_text())
  assert data["model"] == "singan" and data["size"] == 8
  assert rundir.family_of(str(tmp_path / "w")) == "singan"
  assert not (tmp_path / "w" / rundir.LOCK_NAME).exists()


def test_foreign_family_is_refused_untouched(tmp_path):
  _start(tmp_path / "w", family="ganimation")
  before = _tree(tmp_path / "w")
  with pytest.raises(UserInputError, match=r"holds a GANimation run \(config.json "
                     r"model=ganimation\); use a new --workdir"):
    _start(tmp_path / "w", family="singan")
  with pytest.raises(UserInputError, match="holds a GANimation run"):
    rundir.check_family(str(tmp_path / "w"), "singan")
  assert _tree(tmp_path / "w") == before


@pytest.mark.parametrize("files,family", [
    ({"state.json": "{}", "pyramid/reals.npz": ""}, "singan"),
    ({"singanimation.json": "{}"}, "singanimation"),
    ({"config.json": json.dumps({"repeat_num": 6})}, "ganimation"),
    ({"config.json": json.dumps({"num_gaussians": 6}), "checkpoint.npz": ""}, "gmface"),
])
def test_runs_without_the_model_key_are_recognised(tmp_path, files, family):
  for name, text in files.items():
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text)
  assert rundir.family_of(str(tmp_path)) == family


def test_other_settings_refused_notice_accepted_execution_ignored(tmp_path, capsys):
  _start(tmp_path / "w")
  before = (tmp_path / "w" / "config.json").read_text()
  with pytest.raises(UserInputError, match="other settings .size: 9 here, 8 in the run"):
    _start(tmp_path / "w", _Config(size=9))
  _start(tmp_path / "w", _Config(log_every=99))  # execution: config.json stays as it was
  assert (tmp_path / "w" / "config.json").read_text() == before
  _start(tmp_path / "w", _Config(epochs=5))
  assert "options changed since the last start: epochs: 5 here, 1 in the run" in (
      capsys.readouterr().out)
  assert json.loads((tmp_path / "w" / "config.json").read_text())["epochs"] == 5


def test_failed_first_start_leaves_nothing(tmp_path):
  work = tmp_path / "a" / "b" / "w"
  with pytest.raises(UserInputError, match="bad image"):
    with rundir.prepare(str(work), _Config(), family="singan"):
      raise UserInputError("bad image")
  assert not (tmp_path / "a").exists()
  existing = tmp_path / "empty"
  existing.mkdir()
  with pytest.raises(UserInputError):
    with rundir.prepare(str(existing), _Config(), family="singan"):
      raise UserInputError("bad image")
  assert existing.is_dir() and not os.listdir(existing)
  _start(work, _Config(size=3))  # the corrected command starts
  assert json.loads((work / "config.json").read_text())["size"] == 3


def test_paths_that_are_not_folders(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(UserInputError, match="is a file; expected a folder"):
    _start(blocker)
  with pytest.raises(UserInputError, match=f"cannot create the folder: {blocker} is a file"):
    _start(blocker / "run")
  with pytest.raises(UserInputError, match="is a directory; expected a file name"):
    rundir.check_file_path(str(tmp_path), "--out")
  with pytest.raises(UserInputError, match=f"{blocker} is a file"):
    rundir.check_file_path(str(blocker / "x.tflite"), "--out")
  assert blocker.read_text() == "x"


def _holder(path, ready):
  """A process that takes the lock of `path`, says so in `ready` and sleeps."""
  code = ("import sys, time\nfrom tfsingan.common import rundir\n"
          f"with rundir.lock({str(path)!r}):\n"
          f"  open({str(ready)!r}, 'w').close()\n  time.sleep(120)\n")
  proc = harness.start_python("-c", code)
  deadline = time.time() + 60
  while not ready.exists():
    assert proc.poll() is None and time.time() < deadline, "the lock holder did not start"
    time.sleep(0.02)
  return proc


def test_second_writer_refused_with_pid_and_host(tmp_path):
  work = tmp_path / "w"
  work.mkdir()
  proc = _holder(work, tmp_path / "ready")
  try:
    with pytest.raises(UserInputError, match=f"being written by another process .pid "
                       f"{proc.pid} on host {socket.gethostname()}"):
      _start(work)
    assert not (work / "config.json").exists()
  finally:
    proc.kill()
    proc.wait()


def test_stale_lock_is_taken_over_with_a_notice(tmp_path, capsys):
  work = tmp_path / "w"
  work.mkdir()
  proc = _holder(work, tmp_path / "ready")
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert (work / rundir.LOCK_NAME).exists()  # SIGKILL left it behind
  _start(work)
  assert f"took over the lock of a writer that is no longer running (pid {proc.pid}" in (
      capsys.readouterr().out)
  assert not (work / rundir.LOCK_NAME).exists()


def test_file_lock_sits_beside_the_output(tmp_path):
  out = tmp_path / "m.tflite"
  with rundir.lock(str(out), "--out", inside=False) as path:
    assert path == str(out) + ".lock" and os.path.exists(path)
    with pytest.raises(UserInputError, match="being written by another process"):
      with rundir.lock(str(out), "--out", inside=False):
        pass
  assert not os.path.exists(str(out) + ".lock")
