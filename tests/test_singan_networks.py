"""SinGAN networks: shapes, pinned parameter counts, serialisation."""

import keras
import numpy as np
import pytest

from harness import check_layer
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.networks import ConvBlock
from tfsingan.singan.networks import SinGANCritic
from tfsingan.singan.networks import SinGANGenerator
from tfsingan.singan.networks import build_scale_networks


def _trainable(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


# Hand count for width c: head 3*c*9 + c, 3 body blocks (c*c*9 + c), 4 BN affine
# parameters per block (2 trainable), tail c*3*9 + 3 (G) or c*9 + 1 (D).
@pytest.mark.parametrize("width,g_params,d_params", [
    (32, 29763, 29185), (64, 114819, 113665), (128, 450819, 448513)])
def test_parameter_counts_are_pinned(width, g_params, d_params):
  gen, critic = build_scale_networks(width, SinGANConfig(), seed=0)
  assert _trainable(gen) == g_params
  assert _trainable(critic) == d_params
  c = width
  assert g_params == (3 * c * 9 + c) + 3 * (c * c * 9 + c) + 4 * 2 * c + (c * 27 + 3)


def test_generator_keeps_size_and_adds_residual():
  gen, critic = build_scale_networks(8, SinGANConfig(), seed=0)
  z = np.random.default_rng(0).standard_normal((2, 21, 17, 3)).astype(np.float32)
  prev = np.zeros_like(z) + 0.25
  out = gen((z, prev)).numpy()
  assert out.shape == (2, 21, 17, 3)
  # Residual learning: output = tanh(.) + prev, so it stays within prev +- 1.
  assert np.all(out > prev - 1.0) and np.all(out < prev + 1.0)
  assert critic(out).shape == (2, 11, 7, 1)  # 11x11 patches: H - 10, W - 10


def test_critic_receptive_field_is_11():
  _, critic = build_scale_networks(8, SinGANConfig(), seed=0)
  x = np.zeros((1, 31, 31, 3), np.float32)
  base = critic(x).numpy()
  x[0, 15, 15] = 1.0
  changed = np.abs(critic(x).numpy() - base)[0, :, :, 0] > 0
  rows, cols = np.nonzero(changed)
  assert rows.max() - rows.min() + 1 == 11 and cols.max() - cols.min() + 1 == 11


@pytest.mark.bf16
def test_mixed_precision_keeps_float32_outputs():
  gen, critic = build_scale_networks(8, SinGANConfig(precision="mixed_bfloat16"), seed=0)
  z = np.zeros((1, 16, 16, 3), np.float32)
  assert gen.blocks[0].conv.compute_dtype == "bfloat16"
  assert gen((z, z)).dtype == "float32"
  assert critic(z).dtype == "float32"


def test_layers_round_trip_their_config(tmp_path):
  z = np.random.default_rng(1).standard_normal((1, 12, 12, 3)).astype(np.float32)
  for obj, inputs in [(ConvBlock(16, 3, seed=4), z), (SinGANGenerator(16, 3, 5, seed=2), (z, z)),
                      (SinGANCritic(16, 3, 5, seed=3), z)]:
    clone = obj.__class__.from_config(obj.get_config())
    assert clone.get_config() == obj.get_config()
    check_layer(obj, inputs, tmp_path=tmp_path)  # build, call, save and reload too
  gen = SinGANGenerator(8, seed=1)
  gen.build(((None, None, None, 3), (None, None, None, 3)))
  clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(gen))
  if not clone.built:
    clone.build(((None, None, None, 3), (None, None, None, 3)))
  clone.set_weights(gen.get_weights())
  z = np.random.default_rng(0).standard_normal((1, 16, 16, 3)).astype(np.float32)
  np.testing.assert_allclose(clone((z, z)).numpy(), gen((z, z)).numpy(), atol=1e-6)


def test_seeded_initialisation_is_reproducible():
  a, _ = build_scale_networks(8, SinGANConfig(), seed=5)
  b, _ = build_scale_networks(8, SinGANConfig(), seed=5)
  c, _ = build_scale_networks(8, SinGANConfig(), seed=6)
  z = np.ones((1, 12, 12, 3), np.float32) * 0.1
  np.testing.assert_array_equal(a((z, z)).numpy(), b((z, z)).numpy())
  assert not np.allclose(a((z, z)).numpy(), c((z, z)).numpy())
