"""Running a SinGAN pyramid coarse to fine (Shaham et al., ICCV 2019, eq. 1-2).

Shared by training (the random and reconstruction inputs of the scale being
trained) and by sampling, so both run the frozen scales the same way: in the
graph, with the matrix resize, and BatchNorm in inference mode.
"""

import tensorflow as tf

from tfsingan.common.resize import imresize


def draw_noise(rng, batch, size, coarsest):
  """Standard normal noise B x H x W x 3; one channel broadcast to RGB at the
  coarsest scale, as in the original code."""
  h, w = int(size[0]), int(size[1])
  if coarsest:
    return tf.broadcast_to(rng.normal([batch, h, w, 1]), [batch, h, w, 3])
  return rng.normal([batch, h, w, 3])


def reconstruction_noises(z_rec, sizes):
  """The reconstruction path's noise: the fixed z* (H x W x 3) at the coarsest scale,
  zeros at every finer one (paper, sec. 2.2)."""
  return [tf.constant(z_rec[None], tf.float32)] + [
      tf.zeros([1, h, w, 3]) for h, w in sizes[1:]]


def upsample(images, size):
  """Bicubic resize (MATLAB kernel) of the previous scale's output to `size`."""
  return imresize(images, size, antialias=True)


def run_scales(generators, noise_amps, noises, sizes, prev=None, start=0, stop=None):
  """Runs generators[start:stop] and returns the last output.

  Args:
    generators: per-scale generators, coarsest first.
    noise_amps: per-scale noise standard deviations (python floats or tensors).
    noises: per-scale unit noise maps; noises[i] must have size sizes[i].
    sizes: per-scale (height, width); may be longer than `generators`.
    prev: the image entering scale `start` (at sizes[start]); zeros if None.
    start, stop: the range of scales to run.
  """
  stop = len(generators) if stop is None else stop
  if prev is None:
    batch = tf.shape(noises[start])[0]
    prev = tf.zeros([batch, sizes[start][0], sizes[start][1], 3], tf.float32)
  x = prev
  for i in range(start, stop):
    if i > start:
      x = upsample(x, sizes[i])
    x = generators[i]((noise_amps[i] * noises[i], x), training=False)
  return x
