"""GANimation losses (Pumarola et al., ECCV 2018, eq. 4-7): pure functions -> float32 scalars.

Every function returns the mean (or per-example sum, as documented) over the local
batch; a caller under `tf.distribute` divides by the number of replicas before taking
gradients, since gradients are summed across replicas. The weights that go with each
reduction are in `tfsingan.ganimation.config`.
"""

import tensorflow as tf

from tfsingan.common import gan_losses

critic_loss = gan_losses.critic_loss
generator_adversarial_loss = gan_losses.generator_loss


def gradient_penalty(critic_scores_fn, real, fake, alpha, inner_scale=None):
  """WGAN-GP with one gradient norm per example (over H, W, C), as in the public code.

  Args:
    critic_scores_fn: image batch -> patch scores.
    real, fake: (B, H, W, 3) images.
    alpha: (B, 1, 1, 1) interpolation weights drawn from U(0, 1).
    inner_scale: the float16 loss scale, or None.
  """
  return gan_losses.gradient_penalty(critic_scores_fn, real, fake, alpha, norm_over="example",
                                     inner_scale=inner_scale)


def au_regression_loss(predicted, target):
  """Squared error averaged over batch and AUs: mean((predicted - target)^2).

  The public code divides `MSELoss` (this mean) by the batch size and weights it by
  4000, i.e. 160 at its batch of 25; weight this one by 160 for the same strength.
  """
  predicted = tf.cast(predicted, tf.float32)
  target = tf.cast(target, tf.float32)
  return tf.reduce_mean(tf.square(predicted - target))


def cycle_loss(reconstruction, image):
  """L1 between G(G(x | y_t) | y_s) and x, averaged over every pixel, channel and example."""
  return tf.reduce_mean(tf.abs(tf.cast(reconstruction, tf.float32) - tf.cast(image, tf.float32)))


def attention_mean_loss(attention):
  """Mean of the attention mask A: low A means G paints more, high A copies the input.

  Weighted positively it stops A from saturating at 1 (output = input), the most
  reported failure of public GANimation ports.
  """
  return tf.reduce_mean(tf.cast(attention, tf.float32))


def attention_tv_loss(attention):
  """Total variation of the mask: sum over each example of |A(i+1,j) - A(i,j)| +
  |A(i,j+1) - A(i,j)|, averaged over the batch.

  The public code sums over the batch as well (weight 1e-5 at batch 25); this
  per-example sum needs weight 2.5e-4 for the same strength at any batch size.
  """
  a = tf.cast(attention, tf.float32)
  dy = tf.reduce_sum(tf.abs(a[:, 1:, :, :] - a[:, :-1, :, :]), axis=[1, 2, 3])
  dx = tf.reduce_sum(tf.abs(a[:, :, 1:, :] - a[:, :, :-1, :]), axis=[1, 2, 3])
  return tf.reduce_mean(dy + dx)


# |render - input| above this ([-1, 1] units, 5 levels of 255) counts as moved.
MOVED_THRESHOLD = 10.0 / 255.0


def paired_loss(output, render, mask, source=None, moved_weight=0.0,
                moved_threshold=MOVED_THRESHOLD):
  """L1 between G(x | y_t) and the exact render of x's identity showing y_t (not in
  the paper: `--lambda_paired`, for renderer data, where that truth exists).

  Mean over pixels and channels of each example, times `mask` (B,) (1 where the
  example has a render, 0 elsewhere), averaged over the whole batch: 0 when every
  masked output equals its render, and unpaired examples add nothing.

  `moved_weight` k > 0 (with `source`, the generator's input): pixels where the
  render differs from the input by more than `moved_threshold` (any channel, [-1, 1]
  units) count 1 + k times, the rest once. An AU change moves few pixels (3% of a
  synthetic face), so a uniform L1 is mostly about the static ones, which copying
  the input already gets right.
  """
  diff = tf.abs(tf.cast(output, tf.float32) - tf.cast(render, tf.float32))
  if moved_weight:
    change = tf.abs(tf.cast(render, tf.float32) - tf.cast(source, tf.float32))
    moved = tf.cast(tf.reduce_max(change, axis=-1, keepdims=True) > moved_threshold, tf.float32)
    diff = diff * (1.0 + float(moved_weight) * moved)
  per_example = tf.reduce_mean(diff, axis=[1, 2, 3])
  return tf.reduce_mean(per_example * tf.cast(mask, tf.float32))
