"""The dataset SinGANimation writes: `manifest.csv` and a `tf.data` loader for it.

One row per image:
  file          path relative to the output folder (images/<expression>/...png)
  expression    the expression's name, e.g. source, sweep_AU12_0.33, emotion_happy
  label         the expression's index (0 .. number of expressions - 1), in plan order
  variant       index of the SinGAN variant (0 .. M-1)
  start_scale   SinGAN scale the expression image entered at (1 = the paper's N-1)
  seed          noise seed: the image is variant `variant` of
                `TrainedSinGAN.sample(M, start_scale, seed=seed, ...)`
  source_photo  the photo the expressions were made from
  AU01 .. AU45  the expression's target AUs in [0, 1] (OpenFace's 0..5 divided by 5)
"""

import csv
import io
import os

import numpy as np

from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib

MANIFEST = "manifest.csv"
COLUMNS = ("file", "expression", "label", "variant", "start_scale", "seed",
           "source_photo") + aus_lib.AU_NAMES
TARGETS = ("expression", "aus")


def manifest_bytes(rows):
  """The manifest.csv of `rows` (dicts with COLUMNS; "aus" a (17,) vector)."""
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator="\n")
  writer.writerow(COLUMNS)
  for row in rows:
    writer.writerow([row[c] for c in COLUMNS[:7]] + [f"{v:.4f}" for v in row["aus"]])
  return buf.getvalue().encode()


def write_manifest(out_dir, rows):
  """Writes `rows` as OUT/manifest.csv, atomically."""
  image_io.atomic_write_bytes(os.path.join(out_dir, MANIFEST), manifest_bytes(rows))


def read_manifest(out_dir):
  """The rows of OUT/manifest.csv as dicts (label, variant, start_scale, seed as int;
  "aus" a (17,) float32 vector; "path" the image's absolute path)."""
  path = os.path.join(out_dir, MANIFEST)
  try:
    with open(path, newline="", encoding="utf-8") as f:
      reader = csv.DictReader(f)
      if tuple(reader.fieldnames or ()) != COLUMNS:
        raise UserInputError(f"{path}: columns {reader.fieldnames}; expected {list(COLUMNS)}")
      rows = list(reader)
  except OSError as e:
    raise UserInputError(f"{path}: cannot read the manifest ({e.strerror}); expected the "
                         "--out folder of `python -m tfsingan.expand`") from None
  for row in rows:
    for name in ("label", "variant", "start_scale", "seed"):
      row[name] = int(row[name])
    row["aus"] = np.array([float(row.pop(a)) for a in aus_lib.AU_NAMES], np.float32)
    row["path"] = os.path.join(out_dir, row["file"])
  return rows


def class_names(rows):
  """Expression names by label index."""
  names = {}
  for row in rows:
    names.setdefault(row["label"], row["expression"])
  return [names[i] for i in sorted(names)]


def load_manifest_dataset(out_dir, *, image_size=None, target="expression", shuffle=False,
                          seed=0):
  """A `tf.data.Dataset` of the images an `expand` run wrote, for training an
  expression recogniser.

  Args:
    out_dir: the --out folder of `python -m tfsingan.expand` (with manifest.csv).
    image_size: resize every image to this (int or (height, width)), bilinear with
      antialiasing; None keeps the written size.
    target: "expression": the label index (int32; names from
      `class_names(read_manifest(out_dir))`); "aus": the (17,) float32 target AUs.
    shuffle: shuffle the whole list of files (with `seed`) before reading.

  Returns:
    A dataset of (image, target): image float32 (H, W, 3) in [0, 1]. Unbatched:

      ds = load_manifest_dataset("out/", image_size=64).shuffle(512).batch(32)
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  check_target(target)
  rows = read_manifest(out_dir)
  if not rows:
    raise UserInputError(f"{os.path.join(out_dir, MANIFEST)} lists no images")
  paths = [row["path"] for row in rows]
  targets = (np.array([row["label"] for row in rows], np.int32) if target == "expression"
             else np.stack([row["aus"] for row in rows]))

  def load(path, y):
    return decode_image(tf.io.read_file(path), image_size), y

  ds = tf.data.Dataset.from_tensor_slices((paths, targets))
  if shuffle:
    ds = ds.shuffle(len(paths), seed=seed)
  return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)


def check_target(target):
  if target not in TARGETS:
    raise UserInputError(f"target={target!r}: expected one of {TARGETS}")


def decode_image(png, image_size=None):
  """PNG bytes (a string tensor) -> float32 (H, W, 3) in [0, 1], resized to
  `image_size` (int or (height, width); None keeps the size) with antialiasing."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  image = tf.image.convert_image_dtype(tf.io.decode_png(png, channels=3), tf.float32)
  if image_size is None:
    return image
  size = (image_size, image_size) if isinstance(image_size, int) else image_size
  return tf.clip_by_value(tf.image.resize(image, size, antialias=True), 0.0, 1.0)
