"""The GANimation input pipeline (Pumarola et al., ECCV 2018): tf.data over a dataset folder.

The folder is read by `tfsingan.ganimation.layouts` (the layout of the original code,
or OpenFace's CSVs; splits; skipped images); this module decodes, caches, shuffles,
flips and pairs each face with random target AUs.
"""

import numpy as np
import tensorflow as tf

from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import NUM_AUS
# Re-exported: callers read a dataset through this module.
from tfsingan.ganimation.layouts import (LAYOUT_HELP, PICKLE_NAME,  # pylint: disable=unused-import
                                         OpenFaceTable, load_index, read_openface_csv,
                                         read_openface_table)


def decode_face(path, image_size):
  """File -> uint8 (S, S, 3): centre crop to a square, area-style (antialiased) resize."""
  img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
  shape = tf.shape(img)
  side = tf.minimum(shape[0], shape[1])
  img = tf.image.crop_to_bounding_box(img, (shape[0] - side) // 2, (shape[1] - side) // 2,
                                      side, side)

  def resize():
    out = tf.image.resize(tf.cast(img, tf.float32), [image_size, image_size],
                          method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

  img = tf.cond(tf.equal(side, image_size), lambda: img, resize)
  return tf.ensure_shape(img, [image_size, image_size, 3])


def make_dataset(data_dir, *, split="train", image_size=128, batch_size=25, shuffle=True,
                 flip=True, target_noise=0.1, deterministic=False, seed=0, repeat=True,
                 strict=False, quiet=False, shuffle_buffer=10000, cache=True, paired=False,
                 warp_guided=False):
  """The GANimation input pipeline.

  decode + resize (parallel) -> cache (uint8) -> shuffle -> random horizontal flip
  and target AUs -> batch (drop_remainder) -> float/tiling -> prefetch.

  Each element is a dict with static shapes (B = batch_size, S = image_size):
    image: (B, S, S, 3) float32 in [-1, 1].
    aus: (B, 17) float32, the image's own AUs in [0, 1].
    target_aus: (B, 17) the AUs of another random sample of the split plus
      U(-target_noise, target_noise), clipped to [0, 1] (as in the paper's code).

  Args:
    data_dir: dataset folder (see `load_index`).
    split: which split to read.
    image_size: output side S; images are centre-cropped to a square first.
    batch_size: B; the last incomplete batch is dropped.
    shuffle: shuffle the samples (file order is always permuted once with `seed`).
    flip: random horizontal flips (AUs are symmetric, so they stay valid).
    target_noise: half-width of the uniform noise added to target AUs.
    deterministic: identical batches on every iteration over the dataset: seeded
      randomness that restarts with each iterator, ordered parallel maps. With
      `repeat` the shuffle then runs after the repeat, so epoch boundaries blur.
    seed: seed of the deterministic randomness (and of the file order).
    repeat: repeat forever (else one pass).
    strict, quiet: see `load_index`.
    shuffle_buffer: upper bound on the shuffle buffer (elements are 3*S*S bytes).
    cache: True to cache decoded images in memory, a path to cache on disk
      (for sets that do not fit in memory), False not to cache.
    paired: pair each image that has partners (`tfsingan.ganimation.pairs`: renders
      of its identity) with one of them, drawn uniformly: its target AUs are then
      that partner's own AUs (no noise) and the element also holds
      pair_image: (B, S, S, 3) the partner, flipped with the image, in [-1, 1];
      pair_mask: (B,) 1 where the sample has a partner, else 0 (its pair_image is
      zeros and its target AUs are drawn as without `paired`).
    warp_guided: a set of `tfsingan.prepare.warp_pairs`: each image's generator
      input is its warped/ counterpart (the warp of another frame onto it),
      flipped with it, as input_image (B, S, S, 3) in [-1, 1]; its target AUs are
      its own (no noise), pair_image is the image itself and pair_mask is 1.
  """
  if image_size < 8:
    raise UserInputError(f"--image_size: {image_size} is too small; expected >= 8")
  if batch_size < 1:
    raise UserInputError(f"--batch_size: {batch_size}; expected >= 1")
  if not 0.0 <= target_noise <= 1.0:
    raise UserInputError(f"target_noise: {target_noise}; expected a value in [0, 1]")
  paths, aus = load_index(data_dir, split, strict=strict, quiet=quiet)
  paired = paired and not warp_guided  # a pair set pairs each image with its warp
  n = len(paths)
  if not repeat and n < batch_size:
    raise UserInputError(f"--batch_size: {batch_size} is larger than the {n} images of "
                         f"split {split!r} in {data_dir}")
  # A fixed permutation of the files makes a bounded shuffle buffer mix well on
  # large sets whose files are sorted by identity or video.
  order = np.random.default_rng(seed).permutation(n)
  paths = [paths[i] for i in order]
  aus = aus[order]
  all_aus = tf.constant(aus)
  if paired:
    from tfsingan.ganimation import pairs  # pylint: disable=import-outside-toplevel
    members, first, count, rank = (tf.constant(a) for a in pairs.partner_table(
        paths, pairs.load_groups(data_dir)))
    all_paths = tf.constant(paths)

  if warp_guided:
    from tfsingan.prepare import warp_pairs  # pylint: disable=import-outside-toplevel
    inputs = warp_pairs.warped_paths(data_dir, paths)
    ds = tf.data.Dataset.from_tensor_slices((paths, aus, np.arange(n, dtype=np.int32), inputs))
    ds = ds.map(lambda p, a, i, w: (decode_face(p, image_size), a, i, decode_face(w, image_size)),
                num_parallel_calls=tf.data.AUTOTUNE)
  else:
    ds = tf.data.Dataset.from_tensor_slices((paths, aus, np.arange(n, dtype=np.int32)))
    ds = ds.map(lambda p, a, i: (decode_face(p, image_size), a, i),
                num_parallel_calls=tf.data.AUTOTUNE)
  if not strict:
    # A corrupt image found mid-training should cost one sample, not the run.
    ds = ds.ignore_errors(log_warning=True)
  if cache:
    ds = ds.cache(cache if isinstance(cache, str) else "")
  buffer = int(max(1, min(n, shuffle_buffer)))
  if deterministic:
    if repeat:
      ds = ds.repeat()
    if shuffle:
      ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=False)
  else:
    if shuffle:
      ds = ds.shuffle(buffer, reshuffle_each_iteration=True)
    if repeat:
      ds = ds.repeat()
  # One random int64 per element; it restarts with each iterator when deterministic.
  randoms = tf.data.Dataset.random(seed=seed if deterministic else None,
                                   rerandomize_each_iteration=not deterministic)
  ds = tf.data.Dataset.zip((ds, randoms))

  def augment(element, rnd):
    img, src_aus, index = element[:3]
    key = tf.stack([rnd, tf.constant(seed, tf.int64)])
    if flip:
      img = tf.image.stateless_random_flip_left_right(img, seed=key)
    if warp_guided:  # the same key flips both alike
      warped = element[3]
      if flip:
        warped = tf.image.stateless_random_flip_left_right(warped, seed=key)
      return img, src_aus, src_aus, warped
    if n > 1:
      # Uniform over the other n - 1 samples, so the target is never the source.
      other = tf.random.stateless_uniform([], seed=key + [0, 1], maxval=n - 1, dtype=tf.int32)
      other = other + tf.cast(other >= index, tf.int32)
    else:
      other = tf.constant(0, tf.int32)
    noise = tf.random.stateless_uniform([NUM_AUS], seed=key + [0, 2], minval=-target_noise,
                                        maxval=target_noise)
    target = tf.clip_by_value(tf.gather(all_aus, other) + noise, 0.0, 1.0)
    if not paired:
      return img, src_aus, target
    size = tf.gather(count, index)
    has_pair = size >= 2
    # Uniform over the other members of the image's group (rank skips the image);
    # an image without partners points at itself.
    r = tf.random.stateless_uniform([], seed=key + [0, 3], maxval=tf.maximum(size - 1, 1),
                                    dtype=tf.int32)
    skip = tf.cast(tf.logical_and(has_pair, r >= tf.gather(rank, index)), tf.int32)
    partner = tf.gather(members, tf.gather(first, index) + r + skip)

    def partner_image():
      other_img = decode_face(tf.gather(all_paths, partner), image_size)
      return (tf.image.stateless_random_flip_left_right(other_img, seed=key) if flip
              else other_img)

    pair_img = tf.cond(has_pair, partner_image,
                       lambda: tf.zeros([image_size, image_size, 3], tf.uint8))
    target = tf.where(has_pair, tf.gather(all_aus, partner), target)
    return img, src_aus, target, pair_img, tf.cast(has_pair, tf.float32)

  ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(batch_size, drop_remainder=True)

  def finish(img, src_aus, target, *pair):
    src_aus = tf.ensure_shape(src_aus, [batch_size, NUM_AUS])
    target = tf.ensure_shape(target, [batch_size, NUM_AUS])
    image = tf.cast(img, tf.float32) / 127.5 - 1.0
    out = {
        "image": tf.ensure_shape(image, [batch_size, image_size, image_size, 3]),
        "aus": src_aus,
        "target_aus": target,
    }
    if warp_guided:
      warped = tf.cast(pair[0], tf.float32) / 127.5 - 1.0
      out["input_image"] = tf.ensure_shape(warped, [batch_size, image_size, image_size, 3])
      out["pair_image"] = out["image"]
      out["pair_mask"] = tf.ones([batch_size], tf.float32)
    elif paired:
      pair_img = tf.cast(pair[0], tf.float32) / 127.5 - 1.0
      out["pair_image"] = tf.ensure_shape(pair_img, [batch_size, image_size, image_size, 3])
      out["pair_mask"] = tf.ensure_shape(pair[1], [batch_size])
    return out

  ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = bool(deterministic)
  return ds.with_options(options)
