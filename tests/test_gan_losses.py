"""WGAN-GP against critics with known answers."""

import numpy as np
import pytest
import tensorflow as tf

from tfsingan.common import gan_losses


def _linear_critic(w):
  w = tf.constant(w, tf.float32)
  return lambda x: tf.reduce_sum(x * w, axis=-1, keepdims=True)


def test_linear_critic_per_pixel_penalty():
  # grad_x sum(w . x) = w at every pixel: penalty = (||w|| - 1)^2, whatever alpha.
  w = np.array([3.0, 0.0, 4.0], np.float32)  # ||w|| = 5
  real = tf.random.normal([1, 6, 5, 3])
  fake = tf.random.normal([1, 6, 5, 3])
  gp = gan_losses.gradient_penalty(_linear_critic(w), real, fake, tf.constant([[[[0.3]]]]))
  assert float(gp) == pytest.approx(16.0, rel=1e-5)


def test_linear_critic_per_example_penalty():
  # One norm over H x W x C: ||w|| sqrt(H W) = 1 * sqrt(4) = 2 -> (2 - 1)^2 = 1.
  w = np.array([0.6, 0.8, 0.0], np.float32)
  real = tf.random.normal([3, 2, 2, 3])
  fake = tf.random.normal([3, 2, 2, 3])
  gp = gan_losses.gradient_penalty(_linear_critic(w), real, fake,
                                   tf.random.uniform([3, 1, 1, 1]), norm_over="example")
  assert float(gp) == pytest.approx(1.0, rel=1e-5)


def test_unit_norm_critic_has_zero_penalty():
  w = np.array([0.6, 0.8, 0.0], np.float32)
  real = tf.random.normal([2, 4, 4, 3])
  gp = gan_losses.gradient_penalty(_linear_critic(w), real, real * 0, tf.constant(0.5))
  assert float(gp) == pytest.approx(0.0, abs=1e-6)


def test_penalty_interpolates_with_alpha():
  # critic(x) = sum(x^2)/2 has gradient x: at alpha = 1 the penalty sees `real` only.
  critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=-1)
  real = tf.fill([1, 2, 2, 3], 1.0)  # per-pixel norm sqrt(3)
  fake = tf.fill([1, 2, 2, 3], 7.0)
  gp = gan_losses.gradient_penalty(critic, real, fake, tf.constant(1.0))
  assert float(gp) == pytest.approx((np.sqrt(3.0) - 1.0) ** 2, rel=1e-5)


def test_inner_scale_rescues_float16_underflow():
  # d/dx (c2 * (c1 * x)) = c1 c2 = 1e-8 underflows in float16 (smallest subnormal
  # 6e-8); scaling the summed scores first keeps it.
  c1, c2 = tf.constant(1e-4, tf.float16), tf.constant(1e-4, tf.float16)
  critic = lambda x: c2 * (c1 * tf.cast(x, tf.float16))
  x = tf.ones([1, 2, 2, 3])
  plain = gan_losses.critic_input_gradients(critic, x)
  scaled = gan_losses.critic_input_gradients(critic, x, inner_scale=2.0 ** 15)
  assert float(tf.reduce_max(tf.abs(plain))) == 0.0
  np.testing.assert_allclose(scaled.numpy(), 1e-8, rtol=0.01)


def test_wasserstein_losses():
  real, fake = tf.constant([1.0, 3.0]), tf.constant([0.0, -2.0])
  assert float(gan_losses.critic_loss(real, fake)) == pytest.approx(-1.0 - 2.0)
  assert float(gan_losses.generator_loss(fake)) == pytest.approx(1.0)
