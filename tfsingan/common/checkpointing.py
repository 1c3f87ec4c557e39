"""Atomic checkpoints: work is never lost when training is killed.

Every file is written under a temporary name and renamed into place. A
`tf.train.Checkpoint` is several files, so it is written under a fresh prefix
and a small JSON pointer, replaced atomically, says which prefix is current;
older prefixes are deleted only after the pointer moved.
"""

import glob
import json
import math
import os
import re
import tempfile

import numpy as np

from tfsingan.common.image_io import atomic_write_bytes
from tfsingan.errors import UserInputError


def json_safe(value):
  """`value` as standard JSON takes it: no Infinity/NaN (written as null; e.g. the PSNR
  of identical images), numpy scalars as Python numbers, dict keys as strings."""
  if isinstance(value, dict):
    return {str(k): json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (float, np.floating)):
    return float(value) if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


def write_json(path, obj):
  atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path, default=None):
  if not os.path.exists(path):
    return default
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise UserInputError(f"{path} is damaged (not valid JSON: {e}); restore it, or start "
                         "again in a new --workdir") from None


def save_weights(model, path):
  """`model.save_weights(path)` (a `.weights.h5` file), atomically."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".weights.h5")
  os.close(fd)
  try:
    model.save_weights(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def network_variables(model):
  """Every variable of a Keras model, as `tf.train.Checkpoint` should track it.

  Keras 3 layers kept in Python lists (our networks' `body`) are invisible to the
  object graph of `tf.train.Checkpoint`: a checkpoint of the model itself holds
  only the layers set as attributes, the optimizer reaches the trainable variables
  but not, e.g., BatchNorm statistics. Checkpoint this list instead of the model;
  the order of `model.weights` is fixed by the architecture.
  """
  return list(model.weights)


class PointerCheckpoint:
  """A `tf.train.Checkpoint` with one current version named by `latest.json`.

  Args:
    directory: where the checkpoint files live.
    **objects: the trackables to save (networks, optimizers, RNGs, variables).
  """

  def __init__(self, directory, **objects):
    self.directory = directory
    # Imported here: the JSON helpers above serve CLIs that must fail fast on bad
    # input, before TensorFlow's seconds of import time.
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    self.checkpoint = tf.train.Checkpoint(**objects)
    self.pointer = os.path.join(directory, "latest.json")

  def latest(self):
    """The saved metadata dict, or None when nothing was saved."""
    return read_json(self.pointer)

  def save(self, meta):
    """Writes a new version and points `latest.json` at it; `meta` is any JSON dict."""
    os.makedirs(self.directory, exist_ok=True)
    previous = self.latest()
    version = (previous["version"] + 1) if previous else 0
    prefix = os.path.join(self.directory, f"ckpt-{version}")
    self.checkpoint.write(prefix)
    write_json(self.pointer, {**meta, "version": version, "prefix": os.path.basename(prefix)})
    for path in glob.glob(os.path.join(self.directory, "ckpt-*")):
      if not os.path.basename(path).startswith(f"ckpt-{version}."):
        os.remove(path)

  def restore(self):
    """Restores the current version; returns its metadata, or None."""
    meta = self.latest()
    if meta is None:
      return None
    self.checkpoint.read(os.path.join(self.directory, meta["prefix"])).assert_consumed()
    return meta

  def clear(self):
    if os.path.exists(self.pointer):
      os.remove(self.pointer)
    for path in glob.glob(os.path.join(self.directory, "ckpt-*")):
      os.remove(path)


def checkpoint_prefixes(directory):
  """The `ckpt-N` prefixes of a `tf.train.CheckpointManager` folder, newest (largest N)
  first, found from the files themselves: the `checkpoint` index may be the damaged one."""
  found = []
  for index in glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index")):
    match = re.fullmatch(r"ckpt-(\d+)\.index", os.path.basename(index))
    if match:
      found.append((int(match.group(1)), index[:-len(".index")]))
  return [prefix for _, prefix in sorted(found, reverse=True)]


def restore_newest(checkpoint, directory, partial=False):
  """Restores the newest checkpoint of `directory` that reads; returns its prefix.

  A damaged one (a truncated file, killed mid-copy) is skipped with a `notice:`
  and the one before it is used, so that a resume loses the least work. Returns
  None when the folder holds no checkpoint; raises UserInputError when every one
  is damaged.

  Args:
    checkpoint: the `tf.train.Checkpoint` to restore into.
    directory: the folder of `tf.train.CheckpointManager`.
    partial: the checkpoint holds more than `checkpoint` tracks (e.g. a reader
      that restores only the generator).
  """
  prefixes = checkpoint_prefixes(directory)
  damaged = []
  for prefix in prefixes:
    try:
      status = checkpoint.restore(prefix)
      if partial:
        status = status.expect_partial()
      status.assert_existing_objects_matched()
    except Exception as e:  # pylint: disable=broad-except  # truncated shards raise anything
      damaged.append(f"{os.path.basename(prefix)} ({type(e).__name__})")
      continue
    if damaged:
      print(f"notice: {directory}: damaged checkpoint(s) {', '.join(damaged)} skipped; "
            f"using {os.path.basename(prefix)}", flush=True)
    return prefix
  if damaged:
    raise UserInputError(f"{directory}: every checkpoint is damaged ({', '.join(damaged)}); "
                         "restore them, or start again in a new --workdir")
  return None
