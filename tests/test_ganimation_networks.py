"""Tests of the GANimation generator and critic (Pumarola et al., ECCV 2018)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import check_layer
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import networks

TINY = dict(image_size=32, conv_dim=8, repeat_num=1, critic_layers=4)


def _inputs(batch=2, size=32, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
          rng.uniform(0, 1, (batch, aus_lib.NUM_AUS)).astype(np.float32))


def test_full_size_parameter_counts():
  # Counted by building; by hand: G = 62,720 (7x7 in) + 131,072 + 524,288 (down)
  # + 6 x 1,180,672 (residual) + 524,288 + 131,072 (up) + 12,544 (7x7 heads)
  # + 1,920 (instance-norm gains/offsets outside the blocks); D = 44.86 M, of
  # which 33.55 M in the 1024 -> 2048 convolution.
  g, d = networks.build_networks(128)
  assert g.count_params() == 8_471_296
  assert d.count_params() == 44_860_352


def test_tiny_parameter_counts():
  g, d = networks.build_networks(**TINY)
  assert g.count_params() == 48_608
  assert d.count_params() == 48_440


def test_generator_outputs_blend_input_and_colour():
  g = networks.build_generator(32, conv_dim=8, repeat_num=1)
  image, target = _inputs()
  out, attention, colour = (t.numpy() for t in g((image, target)))
  assert out.shape == (2, 32, 32, 3) and colour.shape == (2, 32, 32, 3)
  assert attention.shape == (2, 32, 32, 1)
  assert attention.min() >= 0.0 and attention.max() <= 1.0
  assert colour.min() >= -1.0 and colour.max() <= 1.0
  np.testing.assert_allclose(out, attention * image + (1 - attention) * colour, atol=1e-6)
  # A (B, 17) vector is tiled inside: the same as passing the tiled map.
  out_map = g((image, aus_lib.tile_aus(target, 32, 32)))[0].numpy()
  np.testing.assert_allclose(out, out_map, atol=1e-6)
  # The AUs condition the output.
  out_other = g((image, 1.0 - target))[0].numpy()
  assert np.abs(out - out_other).max() > 1e-4


def test_portable_ops_compute_the_same_generator():
  # The export form (instance norm without SQUARED_DIFFERENCE, tanh through the
  # sigmoid): float32 rounding only, measured below 2e-6 at this size.
  g = networks.build_generator(32, conv_dim=8, repeat_num=1)
  image, target = _inputs()
  for want, got in zip(g((image, target)), g((image, target), portable_ops=True)):
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_seeded_output_slice():
  keras.utils.set_random_seed(0)
  g, d = networks.build_networks(**TINY)
  image, target = _inputs()
  out, attention, _ = g((image, target))
  np.testing.assert_allclose(out.numpy()[1, 10, 10:14, 0],
                             [-0.379133, 0.425773, -0.103376, -0.059415], atol=1e-4)
  np.testing.assert_allclose(attention.numpy()[0, 5, 5:9, 0],
                             [0.581522, 0.534311, 0.482686, 0.499262], atol=1e-4)
  scores, aus = d(image)
  assert scores.shape == (2, 2, 2, 1) and aus.shape == (2, 17)


def test_weights_are_normal_0_02_without_biases_in_generator():
  g, d = networks.build_networks(128)
  kernels = [w.numpy() for w in g.weights if "kernel" in w.path]
  assert not [w for w in g.weights if "bias" in w.path]
  big = np.concatenate([k.ravel() for k in kernels])
  assert abs(big.mean()) < 1e-3 and abs(big.std() - 0.02) < 1e-3
  critic_bias = [w.numpy() for w in d.weights if "bias" in w.path]
  assert len(critic_bias) == 6 and all(np.all(b == 0) for b in critic_bias)


def test_critic_rejects_sizes_its_au_head_cannot_cover():
  with pytest.raises(ValueError, match="multiple"):
    networks.GANimationCritic(image_size=40, num_layers=4)


@pytest.mark.parametrize("cls,kwargs,call_args", [
    (networks.ResidualBlock, {"filters": 4}, 
     lambda: np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 4)).astype(np.float32)),
    (networks.GANimationGenerator, {"conv_dim": 4, "repeat_num": 2, "num_aus": 17},
     lambda: _inputs(size=16)),
    (networks.GANimationCritic, {"image_size": 16, "conv_dim": 4, "num_layers": 3,
                                 "num_aus": 17}, lambda: _inputs(size=16)[0]),
])
def test_config_round_trip(cls, kwargs, call_args, tmp_path):
  # Build, call, get_config (and Keras serialisation) round trip, weights saved and
  # reloaded: tests/harness.check_layer.
  check_layer(cls(**kwargs, name="x"), call_args(), expected_config=kwargs, tmp_path=tmp_path)


def test_generator_weights_transfer_through_config():
  g = networks.build_generator(16, conv_dim=4, repeat_num=1)
  clone = networks.GANimationGenerator.from_config(g.get_config())
  clone.build(((None, 16, 16, 3), (None, 16, 16, 17)))
  clone.set_weights(g.get_weights())
  image, target = _inputs(size=16)
  np.testing.assert_allclose(clone((image, target))[0].numpy(), g((image, target))[0].numpy(),
                             atol=1e-6)


@pytest.mark.bf16
def test_mixed_bfloat16_keeps_float32_outputs_and_image(policy):
  policy("mixed_bfloat16")
  g, d = networks.build_networks(**TINY)
  assert g.body[0].compute_dtype == "bfloat16"
  assert all(w.dtype == "float32" for w in g.weights)
  image, target = _inputs()
  # The blend uses the float32 input, not a bfloat16 copy (which would be off by
  # up to 4e-3 here).
  out, attention, colour = g((image, target))
  assert out.dtype == attention.dtype == colour.dtype == tf.float32
  a = attention.numpy()
  blend = a * image + (1 - a) * colour.numpy()
  np.testing.assert_allclose(out.numpy(), blend, atol=1e-6)
  scores, aus = d(image)
  assert scores.dtype == aus.dtype == tf.float32
  # An explicit float32 policy overrides the global one (inference, export).
  g32 = networks.build_generator(32, conv_dim=8, repeat_num=1, dtype="float32")
  assert g32.body[0].compute_dtype == "float32"


@pytest.mark.parametrize("size,kernel,strides,padding", [
    (4, 4, 2, "same"), (8, 4, 2, "same"), (5, 3, 1, "same"), (2, 2, 1, "valid"),
    (6, 3, 2, "valid")])
def test_small_map_conv_matches_conv2d_with_gradients(size, kernel, strides, padding):
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=(2, size, size, 3)), tf.float32)
  kwargs = dict(filters=5, kernel_size=kernel, strides=strides, padding=padding,
                activation="tanh")
  ref = keras.layers.Conv2D(**kwargs)
  ours = networks.SmallMapConv2D(**kwargs, max_output_pixels=64)
  ref.build(x.shape)
  ours.build(x.shape)
  ours.set_weights([w + 0.1 for w in ref.get_weights()])
  ref.set_weights(ours.get_weights())
  assert ours._gemm_plan(x.shape) is not None  # pylint: disable=protected-access

  def value_and_grads(layer):
    # Second order too: the gradient penalty differentiates the input gradient.
    with tf.GradientTape() as outer:
      with tf.GradientTape() as inner:
        inner.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * y)
      gx = inner.gradient(loss, x)
      penalty = tf.reduce_sum(gx * gx)
    return [y, gx] + outer.gradient(penalty, layer.trainable_variables)

  for a, b in zip(value_and_grads(ours), value_and_grads(ref)):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  config = ours.get_config()
  assert config["max_output_pixels"] == 64
  assert networks.SmallMapConv2D.from_config(config).get_config() == config


def test_max_leaky_relu_matches_keras_leaky_relu():
  x = tf.constant(np.linspace(-3, 3, 13, dtype=np.float32))
  ours = networks.MaxLeakyReLU(negative_slope=0.01)
  np.testing.assert_allclose(ours(x).numpy(),
                             keras.layers.LeakyReLU(negative_slope=0.01)(x).numpy(), atol=1e-7)
  clone = networks.MaxLeakyReLU.from_config(ours.get_config())
  assert clone.negative_slope == 0.01
  with pytest.raises(ValueError):
    networks.MaxLeakyReLU(negative_slope=2.0)
