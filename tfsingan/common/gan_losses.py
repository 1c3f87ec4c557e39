"""Wasserstein GAN losses with gradient penalty (Gulrajani et al., NeurIPS 2017).

Pure functions: each takes scores or a critic and returns a float32 scalar.
"""

import tensorflow as tf


def critic_loss(real_scores, fake_scores):
  """WGAN critic loss `mean(D(fake)) - mean(D(real))` (lower is better for D)."""
  return (tf.reduce_mean(tf.cast(fake_scores, tf.float32)) -
          tf.reduce_mean(tf.cast(real_scores, tf.float32)))


def generator_loss(fake_scores):
  """WGAN generator loss `-mean(D(fake))`."""
  return -tf.reduce_mean(tf.cast(fake_scores, tf.float32))


def gradient_penalty(critic, real, fake, alpha, *, norm_over="channels",
                     inner_scale=None, eps=1e-12):
  """`mean((||grad_x D(x_hat)|| - 1)^2)` with `x_hat = alpha real + (1 - alpha) fake`.

  Args:
    critic: callable image batch -> scores (any shape); the scores are summed, so
      each score's gradient is taken with respect to its own receptive field.
    real, fake: image batches of one shape (B, H, W, C).
    alpha: interpolation weight broadcastable to `real`: shape (1, 1, 1, 1) for
      SinGAN's single scalar, (B, 1, 1, 1) for a per-example mix (GANimation).
    norm_over: "channels" takes the norm over channels at every pixel and averages
      over pixels (SinGAN's public code); "example" takes one norm per example over
      H, W, C (the WGAN-GP paper, GANimation).
    inner_scale: a loss scale for float16 training: the summed scores are multiplied
      by it before the inner gradient and the gradient divided by it afterwards, so
      small gradients do not underflow in float16.
    eps: added inside the square root so the norm is differentiable at 0.

  Returns:
    float32 scalar penalty (not yet multiplied by its weight).
  """
  if norm_over not in ("channels", "example"):
    raise ValueError(f"norm_over must be 'channels' or 'example', got {norm_over!r}")
  # The scope names the penalty's ops (and their gradients) in profiles
  # (benchmarks/profile_step.py).
  with tf.name_scope("gradient_penalty"):
    real = tf.convert_to_tensor(real)
    alpha = tf.cast(alpha, real.dtype)
    x_hat = alpha * real + (1.0 - alpha) * tf.cast(fake, real.dtype)
    grads = critic_input_gradients(critic, x_hat, inner_scale)
    sq = tf.reduce_sum(tf.square(grads), axis=-1 if norm_over == "channels" else [1, 2, 3])
    norm = tf.sqrt(sq + eps)
    return tf.reduce_mean(tf.square(norm - 1.0))


def critic_input_gradients(critic, x, inner_scale=None):
  """float32 gradient of `sum(critic(x))` with respect to `x`.

  With `inner_scale` (a float16 loss scale) the summed scores are multiplied by it
  before differentiation and the gradient divided by it in float32 afterwards,
  so gradients below float16's smallest subnormal (6e-8) survive.
  """
  with tf.GradientTape() as tape:
    tape.watch(x)
    scores = tf.reduce_sum(tf.cast(critic(x), tf.float32))
    if inner_scale is not None:
      scores = scores * tf.cast(inner_scale, tf.float32)
  grads = tf.cast(tape.gradient(scores, x), tf.float32)
  if inner_scale is not None:
    grads = grads / tf.cast(inner_scale, tf.float32)
  return grads
