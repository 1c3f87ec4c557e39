"""SinGANimation datasets (thesis ch. 5) as TFRecord shards of `tf.train.Example`, and
their `tf.data` loader.

`python -m tfsingan.expand_many` writes one shard per photo, OUT/<photo id>/examples.tfrecord,
one record per row of that photo's manifest.csv, with the features:
  image         the PNG file's bytes, as written by `expand`
  file          its path relative to OUT (as in the merged OUT/manifest.csv)
  photo_id      the photo's id (its folder under OUT)
  expression    the expression's name (bytes)
  label         the expression's index (int64; the same plan, so the same labels, for
                every photo)
  aus           the expression's 17 target AUs in [0, 1] (float)
  variant, start_scale, seed   as in the manifest (int64)
  source_photo  the photo the expressions were made from (bytes)
"""

import os

import numpy as np

from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.singanimation import manifest as manifest_lib

RECORDS = "examples.tfrecord"


def to_example(row, png, photo_id, file):
  """One manifest row (as `read_manifest` returns it) and its PNG bytes -> tf.train.Example."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  def bytes_(*values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v if isinstance(v, bytes) else str(v).encode() for v in values]))

  def ints(*values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

  return tf.train.Example(features=tf.train.Features(feature={
      "image": bytes_(png), "file": bytes_(file), "photo_id": bytes_(photo_id),
      "expression": bytes_(row["expression"]), "label": ints(row["label"]),
      "aus": tf.train.Feature(float_list=tf.train.FloatList(
          value=np.asarray(row["aus"], np.float32).tolist())),
      "variant": ints(row["variant"]), "start_scale": ints(row["start_scale"]),
      "seed": ints(row["seed"]), "source_photo": bytes_(row["source_photo"]),
  }))


def write_records(photo_dir, photo_id):
  """Writes photo_dir/examples.tfrecord from photo_dir/manifest.csv, atomically (the
  shard exists only once complete); returns the number of records."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  rows = manifest_lib.read_manifest(photo_dir)
  path = os.path.join(photo_dir, RECORDS)
  tmp = os.path.join(photo_dir, ".tmp-" + RECORDS)
  with tf.io.TFRecordWriter(tmp) as writer:
    for row in rows:
      with open(row["path"], "rb") as f:
        png = f.read()
      example = to_example(row, png, photo_id, f"{photo_id}/{row['file']}")
      writer.write(example.SerializeToString())
  os.replace(tmp, path)
  return len(rows)


def _features():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  string, int64 = tf.io.FixedLenFeature([], tf.string), tf.io.FixedLenFeature([], tf.int64)
  return {"image": string, "file": string, "photo_id": string, "expression": string,
          "label": int64, "aus": tf.io.FixedLenFeature([aus_lib.NUM_AUS], tf.float32),
          "variant": int64, "start_scale": int64, "seed": int64, "source_photo": string}


def parse_example(serialized):
  """A serialized record -> dict of tensors (every feature above, `image` still PNG)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.io.parse_single_example(serialized, _features())


def shard_paths(out_dir):
  """The shards of the photos listed in OUT/manifest.csv, in its order."""
  ids = []
  for row in manifest_lib.read_manifest(out_dir):
    photo_id = row["file"].split("/", 1)[0]
    if not ids or ids[-1] != photo_id:
      ids.append(photo_id)
  paths = [os.path.join(out_dir, i, RECORDS) for i in ids]
  missing = [p for p in paths if not os.path.isfile(p)]
  if missing:
    raise UserInputError(f"{missing[0]}: missing ({len(missing)} of {len(paths)} shards "
                         "listed by the manifest); run expand_many again to finish")
  return paths


def load_tfrecord_dataset(out_dir, *, image_size=None, target="expression", shuffle=False,
                          seed=0, shuffle_buffer=10000):
  """The dataset `expand_many` wrote, from its TFRecord shards, as a `tf.data.Dataset`
  of (image, target) like `manifest.load_manifest_dataset`.

  Args:
    out_dir: the --out folder of `python -m tfsingan.expand_many`.
    image_size: resize every image to this (int or (height, width)); None keeps it.
    target: "expression" (the label, int32) or "aus" (the (17,) float32 target AUs).
    shuffle: shuffle the shard order and the records (a buffer of `shuffle_buffer`
      encoded images), with `seed`.

  Returns:
    An unbatched dataset of (image float32 (H, W, 3) in [0, 1], target).
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  manifest_lib.check_target(target)
  paths = shard_paths(out_dir)
  if not paths:
    raise UserInputError(f"{os.path.join(out_dir, manifest_lib.MANIFEST)} lists no images")
  files = tf.data.Dataset.from_tensor_slices(paths)
  if shuffle:
    files = files.shuffle(len(paths), seed=seed)
  if shuffle:
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
    ds = ds.shuffle(shuffle_buffer, seed=seed)
  else:  # the merged manifest's order
    ds = tf.data.TFRecordDataset(files)

  def load(serialized):
    example = parse_example(serialized)
    y = (tf.cast(example["label"], tf.int32) if target == "expression" else example["aus"])
    return manifest_lib.decode_image(example["image"], image_size), y

  return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
