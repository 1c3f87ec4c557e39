"""Tests of the moments-based instance normalization layer (Ulyanov et al., 2016)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import check_layer
from tfsingan.common.instance_norm import InstanceNormalization


def _random_affine(layer, channels, rng):
  layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype(np.float32))
  layer.beta.assign(rng.normal(0.0, 0.5, channels).astype(np.float32))


def test_matches_group_normalization_with_one_group_per_channel():
  rng = np.random.default_rng(0)
  x = (rng.normal(2.0, 3.0, (2, 9, 7, 5))).astype(np.float32)
  ours = InstanceNormalization()
  ref = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)
  ours.build(x.shape)
  ref.build(x.shape)
  _random_affine(ours, 5, rng)
  ref.set_weights(ours.get_weights())
  np.testing.assert_allclose(ours(x).numpy(), ref(x).numpy(), atol=2e-5)


def test_normalizes_each_example_and_channel():
  x = np.random.default_rng(1).normal(5.0, 4.0, (3, 8, 8, 4)).astype(np.float32)
  y = InstanceNormalization(center=False, scale=False)(x).numpy()
  np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-3)
  # A hand-computed value: one example, one channel.
  ref = (x[1, :, :, 2] - x[1, :, :, 2].mean()) / np.sqrt(x[1, :, :, 2].var() + 1e-5)
  np.testing.assert_allclose(y[1, :, :, 2], ref, atol=1e-5)


def test_statistics_in_float32_under_float16(policy):
  policy("mixed_float16")
  # Sum of squares of 64x64 values of ~300 overflows float16 (max 65504).
  x = np.random.default_rng(2).normal(300.0, 50.0, (1, 64, 64, 2)).astype(np.float32)
  layer = InstanceNormalization()
  y = layer(tf.cast(x, tf.float16))
  assert y.dtype == tf.float16
  y = y.numpy().astype(np.float32)
  assert np.all(np.isfinite(y))
  ref = (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
  np.testing.assert_allclose(y, ref, atol=0.05)


def test_config_round_trip_and_keras_serialization(tmp_path):
  layer = InstanceNormalization(epsilon=1e-3, center=False, gamma_initializer="zeros",
                                name="norm")
  config = layer.get_config()
  for key in ("epsilon", "center", "scale", "beta_initializer", "gamma_initializer"):
    assert key in config
  clone = InstanceNormalization.from_config(config)
  assert clone.epsilon == 1e-3 and not clone.center and clone.scale
  restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
  assert isinstance(restored, InstanceNormalization)
  assert restored.get_config() == config
  restored.build((1, 4, 4, 3))
  assert restored.beta is None
  np.testing.assert_array_equal(restored.gamma.numpy(), 0.0)
  # Build, call, round trip and save/reload of a layer with both affine weights.
  x = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype(np.float32)
  check_layer(InstanceNormalization(epsilon=1e-3, name="affine"), x,
              expected_config={"epsilon": 1e-3}, tmp_path=tmp_path)


@pytest.mark.parametrize("static", [True, False])
def test_portable_form_is_the_same_function(static):
  # The export graph's form (AVERAGE_POOL_2D / SUB / MUL; reduce_mean when the map
  # size is unknown): float32 rounding of a different summation order only, hence
  # the 1e-5 bound on outputs of unit scale.
  rng = np.random.default_rng(3)
  x = rng.normal(2.0, 3.0, (2, 9, 7, 5)).astype(np.float32)
  layer = InstanceNormalization()
  layer.build(x.shape)
  _random_affine(layer, 5, rng)
  if static:
    got = layer(x, portable_ops=True)
  else:
    spec = tf.TensorSpec([None, None, None, 5])
    got = tf.function(lambda v: layer(v, portable_ops=True), input_signature=[spec])(x)
  np.testing.assert_allclose(got.numpy(), layer(x).numpy(), atol=1e-5)
