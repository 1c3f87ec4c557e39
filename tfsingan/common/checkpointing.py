"""Atomic checkpoints: work is never lost when training is killed.

Every file is written under a temporary name and renamed into place.
`RunCheckpoint` is the checkpoint of every trainer: numbered versions of one
`tf.train.Checkpoint` of the networks themselves (Keras models, whose layers are
attributes: `tfsingan.common.layers.track_in_order`), their optimizers and counters.
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


def read_lines(path, expected):
  """The lines of the text file `path` (a leading BOM dropped); one `UserInputError`
  naming the file and `expected` (what it should hold) if it cannot be read."""
  try:
    with open(path, "r", encoding="utf-8-sig") as f:
      return f.read().splitlines()
  except (OSError, UnicodeDecodeError) as e:
    raise UserInputError(f"{path}: cannot read it ({type(e).__name__}: {e}); expected "
                         f"{expected}") from None


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


INDEX = "checkpoint"  # tf.train.CheckpointManager's index: TensorFlow's tools read the folder
POINTER = "latest.json"


def _prefixes(directory):
  """The `ckpt-N` prefixes of `directory`, newest (largest N) first, found from the
  files themselves: the index or the pointer may be the damaged file."""
  found = []
  for index in glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index")):
    match = re.fullmatch(r"ckpt-(\d+)\.index", os.path.basename(index))
    if match:
      found.append((int(match.group(1)), index[:-len(".index")]))
  return [prefix for _, prefix in sorted(found, reverse=True)]


class RunCheckpoint:
  """Numbered versions `ckpt-N` of one `tf.train.Checkpoint` in a folder.

  `save(number, meta)` writes `ckpt-N` (the shards, then their index), then the
  folder's `checkpoint` index (the format of `tf.train.CheckpointManager`) and, when
  there is `meta`, `latest.json` (`meta` plus "number" and "prefix", for people and
  tools), each atomically, and only then deletes all but the newest `keep` versions.
  `meta` is also saved inside the version, so a version and its metadata never
  disagree.
  `restore()` reads the newest version that reads: a damaged one (a truncated file,
  killed mid-copy) is skipped with a `notice:`.

  Run directories written before the networks' layers were attributes keyed each
  network's variables by position (`generator/0`, ... = `list(model.weights)`); such
  versions are recognised by their keys and read in that order, which
  tests/test_checkpointing.py pins to the old one.

  Args:
    directory: where the versions are written.
    keep: how many versions are kept.
    **objects: what is saved: networks (Keras models), optimizers, RNGs, variables.
  """

  def __init__(self, directory, keep=1, **objects):
    # Imported here: the JSON helpers above serve CLIs that must fail fast on bad
    # input, before TensorFlow's seconds of import time.
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    self.directory = directory
    self.keep = int(keep)
    self.objects = objects
    self.meta = tf.Variable("{}", dtype=tf.string, trainable=False, name="meta")
    self.checkpoint = tf.train.Checkpoint(meta=self.meta, **objects)

  def latest(self):
    """The metadata of the last save (`latest.json`), or None; cheap (no TensorFlow)."""
    return read_json(os.path.join(self.directory, POINTER))

  def save(self, number=None, meta=None):
    """Writes version `number` (default: one more than the newest) with `meta` (a JSON
    dict); returns its prefix."""
    os.makedirs(self.directory, exist_ok=True)
    existing = _prefixes(self.directory)
    if number is None:
      number = int(os.path.basename(existing[0])[5:]) + 1 if existing else 0
    name = f"ckpt-{int(number)}"
    meta = dict(meta or {})
    self.meta.assign(json.dumps(meta, sort_keys=True))
    self.checkpoint.write(os.path.join(self.directory, name))
    kept = [name] + [os.path.basename(p) for p in existing
                     if os.path.basename(p) != name][:self.keep - 1]
    lines = [f'model_checkpoint_path: "{name}"'] + [
        f'all_model_checkpoint_paths: "{n}"' for n in reversed(kept)]
    atomic_write_bytes(os.path.join(self.directory, INDEX), ("\n".join(lines) + "\n").encode())
    if meta:
      write_json(os.path.join(self.directory, POINTER), {**meta, "number": int(number),
                                                         "prefix": name})
    for path in glob.glob(os.path.join(glob.escape(self.directory), "ckpt-*")):
      if os.path.basename(path).split(".")[0] not in kept:
        os.remove(path)
    return os.path.join(self.directory, name)

  def restore(self, directory=None, partial=False):
    """Restores the newest version that reads; returns its metadata (with "prefix"), or
    None when the folder holds none. Raises UserInputError when every one is damaged.

    Args:
      directory: where to read (default: where this checkpoint writes; the workers of
        a multi-worker run write scratch folders but read the chief's).
      partial: the versions hold more than these objects (a reader that restores only
        the generator); every variable of these objects must still be found.
    """
    directory = directory or self.directory
    damaged = []
    for prefix in _prefixes(directory):
      try:
        meta = self._read(prefix, partial)
      except Exception as e:  # pylint: disable=broad-except  # truncated shards raise anything
        damaged.append(f"{os.path.basename(prefix)} ({type(e).__name__})")
        continue
      if damaged:
        print(f"notice: {directory}: damaged checkpoint(s) {', '.join(damaged)} skipped; "
              f"using {os.path.basename(prefix)}", flush=True)
      return meta
    if damaged:
      raise UserInputError(f"{directory}: every checkpoint is damaged ({', '.join(damaged)}); "
                           "restore them, or start again in a new --workdir")
    return None

  def _read(self, prefix, partial):
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    keys = {name for name, _ in tf.train.list_variables(prefix)}
    name = os.path.basename(prefix)
    networks = {k for k, obj in self.objects.items() if isinstance(obj, keras.layers.Layer)}
    if any(f"{k}/0/.ATTRIBUTES/VARIABLE_VALUE" in keys for k in networks):
      # The old layout: networks as lists of their variables, metadata in the pointer.
      checkpoint = tf.train.Checkpoint(**{k: list(obj.weights) if k in networks else obj
                                          for k, obj in self.objects.items()})
      pointer = read_json(os.path.join(os.path.dirname(prefix), POINTER)) or {}
      meta = pointer if pointer.get("prefix") == name else {}
    else:
      checkpoint, meta = self.checkpoint, None
    status = checkpoint.read(prefix)
    if partial or meta is not None:  # old versions also hold CheckpointManager's save_counter
      status.expect_partial()
    status.assert_existing_objects_matched()
    if meta is None:
      meta = json.loads(self.meta.numpy().decode())
    return {**meta, "prefix": name}

  def clear(self):
    """Deletes every version, the index and the pointer."""
    for name in (POINTER, INDEX):
      if os.path.exists(os.path.join(self.directory, name)):
        os.remove(os.path.join(self.directory, name))
    for path in glob.glob(os.path.join(glob.escape(self.directory), "ckpt-*")):
      os.remove(path)
