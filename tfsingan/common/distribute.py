"""Multi-worker training (tf.distribute.MultiWorkerMirroredStrategy): the cluster from
TF_CONFIG, and where each worker writes.

TF's multi-worker guide (tensorflow.org/tutorials/distribute/multi_worker_with_keras):
every worker runs the same program with its own TF_CONFIG; all of them take part in
saving (a save may run collective ops), but only the chief's files are kept; the
others write to temporary folders that are removed afterwards.
"""

import contextlib
import json
import os
import shutil
import tempfile

from tfsingan.errors import UserInputError

TF_CONFIG = "TF_CONFIG"


def read_tf_config(environ=None):
  """The parsed TF_CONFIG of this worker, checked: {"cluster": {...}, "task": {...}}.

  Raises UserInputError (one line) when it is missing or malformed, before TensorFlow
  would fail on it with a traceback or wait for workers that do not exist.
  """
  environ = os.environ if environ is None else environ
  text = environ.get(TF_CONFIG, "")
  expected = ('expected e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
              '"task": {"type": "worker", "index": 0}}')
  if not text:
    raise UserInputError(f"--strategy=multi_worker needs the {TF_CONFIG} environment variable; "
                         + expected)
  try:
    config = json.loads(text)
  except ValueError as e:
    raise UserInputError(f"{TF_CONFIG} is not JSON ({e}); {expected}") from None
  cluster = config.get("cluster") if isinstance(config, dict) else None
  task = config.get("task") if isinstance(config, dict) else None
  if not isinstance(cluster, dict) or not isinstance(task, dict):
    raise UserInputError(f"{TF_CONFIG} needs \"cluster\" and \"task\"; {expected}")
  for job, addresses in cluster.items():
    if job not in ("chief", "worker"):
      raise UserInputError(f"{TF_CONFIG}: job {job!r} in the cluster; MultiWorkerMirrored"
                           "Strategy takes \"chief\" (at most one) and \"worker\" jobs only")
    if (not isinstance(addresses, list) or not addresses
        or not all(isinstance(a, str) and ":" in a for a in addresses)):
      raise UserInputError(f"{TF_CONFIG}: cluster job {job!r} must list \"host:port\" "
                           f"addresses, got {addresses!r}")
  if len(cluster.get("chief", [])) > 1:
    raise UserInputError(f"{TF_CONFIG}: {len(cluster['chief'])} chiefs; expected at most one")
  kind, index = task.get("type"), task.get("index")
  if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
    raise UserInputError(f"{TF_CONFIG}: task {task!r} is not in the cluster "
                         f"{ {k: len(v) for k, v in cluster.items()} }; expected a type of "
                         "the cluster and an index below its number of addresses")
  return config


@contextlib.contextmanager
def output_dir(workdir, strategy):
  """Where this worker writes: `workdir` on the chief (and without multi-worker
  training), else a temporary folder, removed on exit."""
  if strategy.extended.should_checkpoint:
    yield workdir
    return
  scratch = tempfile.mkdtemp(prefix="tfsingan-worker-")
  try:
    yield scratch
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
