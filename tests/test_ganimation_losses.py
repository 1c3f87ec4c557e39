"""Tests of the GANimation losses (Pumarola et al., ECCV 2018) against hand-computed values."""

import numpy as np
import tensorflow as tf

from tfsingan.ganimation import losses


def test_au_regression_is_mean_over_batch_and_aus():
  pred = np.zeros((2, 17), np.float32)
  target = np.zeros((2, 17), np.float32)
  target[0, 0] = 1.0   # error 1
  target[1, 16] = 0.5  # error 0.25
  # (1 + 0.25) / 34 elements
  np.testing.assert_allclose(losses.au_regression_loss(pred, target).numpy(), 1.25 / 34,
                             rtol=1e-6)


def test_au_weight_160_equals_public_code_at_batch_25():
  # The public code: 4000 * MSELoss(mean) / batch.
  rng = np.random.default_rng(0)
  pred, target = rng.uniform(size=(25, 17)), rng.uniform(size=(25, 17))
  public = 4000 * np.mean((pred - target) ** 2) / 25
  ours = 160 * losses.au_regression_loss(pred, target).numpy()
  np.testing.assert_allclose(ours, public, rtol=1e-5)


def test_cycle_loss_is_mean_absolute_error():
  x = np.zeros((1, 2, 2, 3), np.float32)
  rec = x.copy()
  rec[0, 0, 0, 0] = 0.6
  rec[0, 1, 1, 2] = -0.3
  np.testing.assert_allclose(losses.cycle_loss(rec, x).numpy(), 0.9 / 12, rtol=1e-6)


def test_attention_mean():
  a = np.array([0.0, 0.25, 0.5, 1.0], np.float32).reshape(1, 2, 2, 1)
  np.testing.assert_allclose(losses.attention_mean_loss(a).numpy(), 0.4375)


def test_attention_tv_is_per_example_sum_averaged_over_batch():
  a = np.zeros((2, 3, 3, 1), np.float32)
  a[0, 1, 1, 0] = 1.0  # a single bright pixel: 4 unit differences
  a[1, :, 2, 0] = 0.5  # a bright column: 3 horizontal differences of 0.5
  # example 0: 4, example 1: 1.5 -> mean 2.75
  np.testing.assert_allclose(losses.attention_tv_loss(a).numpy(), 2.75, rtol=1e-6)
  # Weight 2.5e-4 per example = the public code's 1e-5 on the sum over a batch of 25.
  batch = np.random.default_rng(0).uniform(size=(25, 8, 8, 1)).astype(np.float32)
  public = np.sum(np.abs(np.diff(batch, axis=1))) + np.sum(np.abs(np.diff(batch, axis=2)))
  np.testing.assert_allclose(2.5e-4 * losses.attention_tv_loss(batch).numpy(), 1e-5 * public,
                             rtol=1e-5)


def test_adversarial_losses():
  real = np.array([[1.0], [3.0]], np.float32)
  fake = np.array([[-1.0], [0.0]], np.float32)
  np.testing.assert_allclose(losses.critic_loss(real, fake).numpy(), -0.5 - 2.0)
  np.testing.assert_allclose(losses.generator_adversarial_loss(fake).numpy(), 0.5)


def test_gradient_penalty_of_a_linear_critic():
  # D(x) = sum(w * x) per example: its gradient is w everywhere, so the
  # per-example norm is ||w|| whatever the interpolation.
  rng = np.random.default_rng(0)
  w = tf.constant(rng.normal(size=(1, 4, 4, 3)).astype(np.float32) * 0.1)
  critic = lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])
  real = rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
  fake = rng.uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
  alpha = rng.uniform(size=(3, 1, 1, 1)).astype(np.float32)
  expected = (np.linalg.norm(w.numpy()) - 1.0) ** 2
  np.testing.assert_allclose(losses.gradient_penalty(critic, real, fake, alpha).numpy(),
                             expected, rtol=1e-5)
  # A loss scale on the inner gradient (float16 training) does not change the value.
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, alpha, inner_scale=1024.0).numpy(),
      expected, rtol=1e-5)


def test_losses_return_float32_for_bfloat16_inputs():
  a = tf.constant(np.full((1, 4, 4, 1), 0.5), tf.bfloat16)
  for value in (losses.attention_mean_loss(a), losses.attention_tv_loss(a),
                losses.cycle_loss(a, a), losses.au_regression_loss(a, a)):
    assert value.dtype == tf.float32
