"""SinGAN's per-scale generator and patch critic (Shaham et al., ICCV 2019, sec. 2.1)."""

import keras
from keras import layers
from keras import ops

from tfsingan.common import precision as precision_lib
from tfsingan.common.layers import PerExampleBatchNorm
from tfsingan.common.layers import in_order
from tfsingan.common.layers import track_in_order


def _conv_init(seed):
  return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


@keras.saving.register_keras_serializable(package="tfsingan")
class ConvBlock(layers.Layer):
  """Conv (valid padding) -> BatchNorm -> LeakyReLU(0.2).

  Args:
    filters: output channels.
    kernel_size: square kernel size.
    seed: initializer seed (None: random).
  """

  def __init__(self, filters, kernel_size=3, seed=None, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.kernel_size = kernel_size
    self.seed = seed
    self.conv = layers.Conv2D(filters, kernel_size, padding="valid",
                              kernel_initializer=_conv_init(seed),
                              dtype=self.dtype_policy, name="conv")
    # torch BatchNorm2d (momentum 0.1, eps 1e-5), each example's statistics apart
    # so that independent passes can share one batched call.
    self.norm = PerExampleBatchNorm(momentum=0.1, epsilon=1e-5, gamma_stddev=0.02, seed=seed,
                                    dtype=self.dtype_policy, name="norm")

  def build(self, input_shape):
    self.conv.build(input_shape)
    self.norm.build(self.conv.compute_output_shape(input_shape))

  def call(self, x, training=False):
    x = self.norm(self.conv(x), training=training)
    return ops.leaky_relu(x, negative_slope=0.2)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "kernel_size": self.kernel_size, "seed": self.seed}


def _body(model, channels, kernel_size, num_layers, seed):
  """Sets the blocks `head`, `body1`, ... on `model`; returns their names in order."""
  return track_in_order(model, [
      ConvBlock(channels, kernel_size, seed=None if seed is None else seed + i,
                dtype=model.dtype_policy, name="head" if i == 0 else f"body{i}")
      for i in range(num_layers - 1)])


class _Blocks:
  """`blocks`: the convolution blocks in call order (attributes `head`, `body1`, ...)."""

  @property
  def blocks(self):
    return in_order(self, self.block_names)


@keras.saving.register_keras_serializable(package="tfsingan")
class SinGANGenerator(_Blocks, keras.Model):
  """One scale's generator: `G(z, prev) = tanh(psi(pad(z + prev))) + prev`.

  `z` is the noise already multiplied by the scale's amplitude; `prev` is the
  upsampled output of the coarser scale (zeros at the coarsest). Both are
  B x H x W x 3 and the output has the same size: the input is zero-padded by
  `(kernel_size // 2) * num_layers` pixels for the valid convolutions.

  Args:
    channels: width of every hidden layer.
    kernel_size: convolution kernel size (3).
    num_layers: convolutions in total (5: head, 3 body blocks, tail).
    image_channels: output channels (3).
    seed: initializer seed.

  Reference: Shaham, Dekel, Michaeli, "SinGAN: Learning a Generative Model from a
  Single Natural Image", ICCV 2019.
  """

  def __init__(self, channels=32, kernel_size=3, num_layers=5, image_channels=3, seed=None,
               **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.kernel_size = kernel_size
    self.num_layers = num_layers
    self.image_channels = image_channels
    self.seed = seed
    self.pad = (kernel_size // 2) * num_layers
    self.block_names = _body(self, channels, kernel_size, num_layers, seed)
    # The last activation stays float32 under mixed precision.
    self.tail = layers.Conv2D(image_channels, kernel_size, padding="valid",
                              kernel_initializer=_conv_init(None if seed is None
                                                            else seed + num_layers),
                              dtype="float32", name="tail")

  def build(self, input_shape):
    shape = (None, None, None, self.image_channels)
    for block in self.blocks:
      block.build(shape)
      shape = (None, None, None, self.channels)
    self.tail.build(shape)

  def call(self, inputs, training=False):
    z, prev = inputs
    p = self.pad
    x = ops.pad(z + prev, [[0, 0], [p, p], [p, p], [0, 0]])
    for block in self.blocks:
      x = block(x, training=training)
    return ops.tanh(self.tail(x)) + ops.cast(prev, "float32")

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "kernel_size": self.kernel_size, "num_layers": self.num_layers,
            "image_channels": self.image_channels, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfsingan")
class SinGANCritic(_Blocks, keras.Model):
  """One scale's Markovian patch critic: 5 valid convolutions, one score per patch.

  With 3x3 kernels and 5 layers each score sees an 11x11 patch; an H x W input
  gives (H - 10) x (W - 10) scores.

  Args:
    channels: width of every hidden layer.
    kernel_size: convolution kernel size (3).
    num_layers: convolutions in total (5).
    seed: initializer seed.

  Reference: Shaham et al., ICCV 2019.
  """

  def __init__(self, channels=32, kernel_size=3, num_layers=5, seed=None, **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.kernel_size = kernel_size
    self.num_layers = num_layers
    self.seed = seed
    self.block_names = _body(self, channels, kernel_size, num_layers, seed)
    self.tail = layers.Conv2D(1, kernel_size, padding="valid",
                              kernel_initializer=_conv_init(None if seed is None
                                                            else seed + num_layers),
                              dtype="float32", name="tail")

  def build(self, input_shape):
    shape = (None, None, None, input_shape[-1])
    for block in self.blocks:
      block.build(shape)
      shape = (None, None, None, self.channels)
    self.tail.build(shape)

  def call(self, x, training=False):
    for block in self.blocks:
      x = block(x, training=training)
    return self.tail(x)

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "kernel_size": self.kernel_size, "num_layers": self.num_layers,
            "seed": self.seed}


def build_scale_networks(channels, config, *, seed=None, precision=None):
  """A built (G, D) pair for one scale with the config's layer settings."""
  policy = precision_lib.policy(precision or config.precision)
  gen = SinGANGenerator(channels, config.kernel_size, config.num_layers, seed=seed,
                        dtype=policy, name="generator")
  critic = SinGANCritic(channels, config.kernel_size, config.num_layers,
                        seed=None if seed is None else seed + 1000, dtype=policy,
                        name="critic")
  gen.build(((None, None, None, 3), (None, None, None, 3)))
  critic.build((None, None, None, 3))
  return gen, critic
