"""GANimation networks (Pumarola et al., ECCV 2018): the attention generator and the AU critic.

Only Keras layers live here (no losses, optimizers or data), so an export script can
import this module and `tfsingan.ganimation.aus` alone. Images are in [-1, 1] and
channels-last; AUs are OpenFace intensities divided by 5, i.e. in [0, 1].
"""

import keras
import tensorflow as tf

from tfsingan.common.instance_norm import InstanceNormalization
from tfsingan.common.layers import in_order
from tfsingan.common.layers import track_in_order
from tfsingan.ganimation import aus as aus_lib

# The public code initialises every convolution with N(0, 0.02) and biases with 0.
INIT_STDDEV = 0.02


def _init():
  # One initializer object per layer: Keras draws each from the global seed stream,
  # so `keras.utils.set_random_seed` makes the weights reproducible.
  return keras.initializers.RandomNormal(mean=0.0, stddev=INIT_STDDEV)


def _conv(filters, kernel, strides=1, use_bias=False, padding="same", name=None, dtype=None,
          cls=keras.layers.Conv2D):
  return cls(filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
             kernel_initializer=_init(), bias_initializer="zeros", name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfsingan")
class SmallMapConv2D(keras.layers.Conv2D):
  """A Conv2D computed as one matrix product (im2col) when its output map is small.

  Same weights, arguments and results as `keras.layers.Conv2D`. On CPU, oneDNN's
  convolution is 3-9x slower than a plain GEMM for the critic's last layers (4x4 ->
  2x2 maps with 1024 -> 2048 channels, 34 M weights), forward and backward alike;
  with at most `max_output_pixels` output positions the patches are gathered with
  slices and multiplied by the reshaped kernel instead.

  Args:
    max_output_pixels: largest output map (height x width) computed as a GEMM;
      larger maps use the convolution.
    *args, **kwargs: `keras.layers.Conv2D` arguments.
  """

  def __init__(self, *args, max_output_pixels=16, **kwargs):
    super().__init__(*args, **kwargs)
    self.max_output_pixels = int(max_output_pixels)

  def _gemm_plan(self, shape):
    h, w = shape[1], shape[2]
    if (h is None or w is None or self.groups != 1 or tuple(self.dilation_rate) != (1, 1)
        or self.data_format != "channels_last"):
      return None
    (kh, kw), (sh, sw) = self.kernel_size, self.strides
    if self.padding == "same":
      oh, ow = -(-h // sh), -(-w // sw)
      ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - w, 0)
      pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    else:
      oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
      pads = ((0, 0), (0, 0))
    if oh * ow > self.max_output_pixels or oh < 1 or ow < 1:
      return None
    return oh, ow, pads

  def call(self, inputs):
    plan = self._gemm_plan(inputs.shape)
    if plan is None:
      return super().call(inputs)
    oh, ow, pads = plan
    (kh, kw), (sh, sw) = self.kernel_size, self.strides
    channels = inputs.shape[-1]
    x = tf.pad(inputs, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
    # (kh, kw, C) patch order matches the kernel's (kh, kw, C, filters) layout.
    patches = tf.stack([x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
                        for i in range(oh) for j in range(ow)], axis=1)
    patches = tf.reshape(patches, [-1, kh * kw * channels])
    kernel = tf.cast(tf.reshape(self.kernel, [kh * kw * channels, self.filters]), x.dtype)
    y = tf.matmul(patches, kernel)
    if self.use_bias:
      y = y + tf.cast(self.bias, x.dtype)
    y = tf.reshape(y, [-1, oh, ow, self.filters])
    return self.activation(y) if self.activation is not None else y

  def get_config(self):
    config = super().get_config()
    config.update({"max_output_pixels": self.max_output_pixels})
    return config


@keras.saving.register_keras_serializable(package="tfsingan")
class MaxLeakyReLU(keras.layers.Layer):
  """LeakyReLU as `max(x, slope * x)` (0 <= slope <= 1).

  The same function as `keras.layers.LeakyReLU`, but TensorFlow's graph optimiser
  does not try (and, with the gradient penalty's double backward, fail with a
  logged error) to fuse it into the preceding convolution.

  Args:
    negative_slope: slope for x < 0, in [0, 1].
    **kwargs: base `keras.layers.Layer` arguments.
  """

  def __init__(self, negative_slope=0.01, **kwargs):
    super().__init__(**kwargs)
    if not 0.0 <= negative_slope <= 1.0:
      raise ValueError(f"negative_slope must be in [0, 1], got {negative_slope}")
    self.negative_slope = float(negative_slope)

  def call(self, x):
    return tf.maximum(x, tf.cast(self.negative_slope, x.dtype) * x)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update({"negative_slope": self.negative_slope})
    return config


@keras.saving.register_keras_serializable(package="tfsingan")
class ResidualBlock(keras.layers.Layer):
  """Conv3x3-IN-ReLU-Conv3x3-IN plus the identity (no biases, as in the public code).

  Args:
    filters: channels in and out.
    **kwargs: base `keras.layers.Layer` arguments.

  Reference:
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016; the block
    of StarGAN (Choi et al., CVPR 2018), which GANimation's generator reuses.
  """

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    policy = self.dtype_policy
    self.conv1 = _conv(self.filters, 3, name="conv1", dtype=policy)
    self.norm1 = InstanceNormalization(name="norm1", dtype=policy)
    self.conv2 = _conv(self.filters, 3, name="conv2", dtype=policy)
    self.norm2 = InstanceNormalization(name="norm2", dtype=policy)

  def build(self, input_shape):
    self.conv1.build(input_shape)
    shape = self.conv1.compute_output_shape(input_shape)
    self.norm1.build(shape)
    self.conv2.build(shape)
    self.norm2.build(shape)

  def call(self, x, portable_ops=False):
    h = tf.nn.relu(self.norm1(self.conv1(x), portable_ops=portable_ops))
    return x + self.norm2(self.conv2(h), portable_ops=portable_ops)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update({"filters": self.filters})
    return config


@keras.saving.register_keras_serializable(package="tfsingan")
class GANimationGenerator(keras.Model):
  """Encoder / residual bottleneck / decoder with a colour head and an attention head.

  `call((image, aus))` returns `(output, attention, colour)`:
  `output = attention * image + (1 - attention) * colour`, so attention near 1 keeps
  the input pixel and near 0 paints the colour mask there. All three are float32
  whatever the dtype policy (the final activations run in float32).
  `call(inputs, portable_ops=True)` computes the same function for exported graphs
  with ops that have int8 kernels on CPU and are in the TFLite GPU delegate's
  documented set (instance norm without SQUARED_DIFFERENCE / MEAN, tanh through
  the sigmoid); see `InstanceNormalization`.

  Args:
    conv_dim: channels of the first convolution (64 in the paper); the bottleneck
      has 4x as many.
    repeat_num: residual blocks in the bottleneck (6 in the paper).
    num_aus: length of the AU vector (17 OpenFace intensity AUs).
    **kwargs: base `keras.Model` arguments (name, dtype, ...).

  Input: image (B, H, W, 3) in [-1, 1] and the target AUs (B, num_aus), tiled to
  H x W x num_aus here, the one place the library tiles AUs (`aus.tile_aus`); an
  already tiled (B, H, W, num_aus) map is taken as is. H and W must be multiples of 4.

  Example:
    g = GANimationGenerator()
    out, attention, colour = g((image, target_aus))

  Reference:
    Pumarola et al., "GANimation: Anatomically-aware Facial Animation from a Single
    Image", ECCV 2018, section 4.1 and the public code (generator_wasserstein_gan.py).
  """

  def __init__(self, conv_dim=64, repeat_num=6, num_aus=aus_lib.NUM_AUS, **kwargs):
    super().__init__(**kwargs)
    self.conv_dim = int(conv_dim)
    self.repeat_num = int(repeat_num)
    self.num_aus = int(num_aus)
    # The float32 image must reach the final blend unrounded: under a bfloat16
    # policy Keras would otherwise cast every input to bfloat16 on entry; `__call__`
    # converts numpy inputs to float32 tensors instead.
    self._convert_input_args = False
    d = self.conv_dim
    # Sub-layers follow this model's dtype policy (by default the global one).
    policy = self.dtype_policy
    layers = [_conv(d, 7, name="in_conv", dtype=policy),
              InstanceNormalization(name="in_norm", dtype=policy),
              keras.layers.ReLU(name="in_relu", dtype=policy)]
    for i, filters in enumerate((2 * d, 4 * d)):
      layers += [_conv(filters, 4, strides=2, name=f"down{i}_conv", dtype=policy),
                 InstanceNormalization(name=f"down{i}_norm", dtype=policy),
                 keras.layers.ReLU(name=f"down{i}_relu", dtype=policy)]
    layers += [ResidualBlock(4 * d, name=f"res{i}", dtype=policy)
               for i in range(self.repeat_num)]
    for i, filters in enumerate((2 * d, d)):
      layers += [keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                              use_bias=False, kernel_initializer=_init(),
                                              name=f"up{i}_conv", dtype=policy),
                 InstanceNormalization(name=f"up{i}_norm", dtype=policy),
                 keras.layers.ReLU(name=f"up{i}_relu", dtype=policy)]
    self.body_names = track_in_order(self, layers)
    # The colour (3 channels) and attention (1) heads are one 7x7 convolution with
    # 4 filters: the same weights as two convolutions, one pass over the features.
    self.head = _conv(4, 7, name="head_conv", dtype=policy)

  @property
  def body(self):
    """The layers before the heads, in call order (each also an attribute)."""
    return in_order(self, self.body_names)

  def __call__(self, inputs, *args, **kwargs):
    if isinstance(inputs, (tuple, list)):
      inputs = tuple(x if tf.is_tensor(x) or isinstance(x, keras.KerasTensor)
                     else tf.convert_to_tensor(x, tf.float32) for x in inputs)
    return super().__call__(inputs, *args, **kwargs)

  def build(self, input_shape):
    image_shape, aus_shape = input_shape
    shape = tuple(image_shape[:-1]) + (image_shape[-1] + self.num_aus,)
    for layer in self.body:
      layer.build(shape)
      shape = layer.compute_output_shape(shape)
    self.head.build(shape)
    self.built = True

  def call(self, inputs, portable_ops=False):
    image, aus_map = inputs
    image = tf.cast(image, tf.float32)
    aus_map = tf.cast(aus_map, tf.float32)
    if aus_map.shape.rank != 4:
      aus_map = aus_lib.tile_aus(aus_map, tf.shape(image)[1], tf.shape(image)[2])
    x = tf.cast(tf.concat([image, aus_map], axis=-1), self.compute_dtype)
    for layer in self.body:
      if isinstance(layer, (InstanceNormalization, ResidualBlock)):
        x = layer(x, portable_ops=portable_ops)
      else:
        x = layer(x)
    # The activations run in float32 (under mixed precision too), as Keras advises
    # for the last activation of a network.
    heads = tf.cast(self.head(x), tf.float32)
    if portable_ops:  # tanh(x) = 2 sigmoid(2x) - 1: TANH is not in the GPU delegate's list
      colour = 2.0 * tf.sigmoid(2.0 * heads[..., :3]) - 1.0
    else:
      colour = tf.tanh(heads[..., :3])
    attention = tf.sigmoid(heads[..., 3:])
    output = attention * image + (1.0 - attention) * colour
    return output, attention, colour

  def compute_output_spec(self, inputs):
    image = inputs[0]
    shape = tuple(image.shape)
    return (keras.KerasTensor(shape, "float32"),
            keras.KerasTensor(shape[:-1] + (1,), "float32"),
            keras.KerasTensor(shape, "float32"))

  def get_config(self):
    config = super().get_config()
    config.update({"conv_dim": self.conv_dim, "repeat_num": self.repeat_num,
                   "num_aus": self.num_aus})
    return config


@keras.saving.register_keras_serializable(package="tfsingan")
class GANimationCritic(keras.Model):
  """Patch critic with an AU regression head (no normalisation, for the gradient penalty).

  `call(image)` returns `(scores, aus)`: the WGAN scores of each patch,
  (B, h, w, 1) with h = image_size / 2**num_layers (2x2 at 128 px), and the
  estimated AUs (B, num_aus). Both are float32 whatever the dtype policy.

  Args:
    image_size: height and width of the images; a multiple of 2**num_layers (the
      AU head is a valid convolution covering the whole final map).
    conv_dim: channels of the first convolution (64); doubled at every layer.
    num_layers: stride-2 4x4 convolutions (6 in the paper: 64 -> 2048 channels).
    num_aus: AUs regressed by the second head (17).
    **kwargs: base `keras.Model` arguments.

  Reference:
    Pumarola et al., ECCV 2018, section 4.1 and the public code
    (discriminator_wasserstein_gan.py); the patch critic of Isola et al. (pix2pix).
  """

  def __init__(self, image_size=128, conv_dim=64, num_layers=6, num_aus=aus_lib.NUM_AUS,
               **kwargs):
    super().__init__(**kwargs)
    self.image_size = int(image_size)
    self.conv_dim = int(conv_dim)
    self.num_layers = int(num_layers)
    self.num_aus = int(num_aus)
    factor = 2 ** self.num_layers
    if self.image_size % factor or self.image_size < factor:
      raise ValueError(f"critic image_size {self.image_size} must be a positive multiple "
                       f"of 2**num_layers = {factor}")
    self.final_size = self.image_size // factor
    policy = self.dtype_policy
    layers = []
    for i in range(self.num_layers):
      layers += [_conv(self.conv_dim * 2 ** i, 4, strides=2, use_bias=True, name=f"conv{i}",
                       dtype=policy, cls=SmallMapConv2D),
                 MaxLeakyReLU(negative_slope=0.01, name=f"lrelu{i}", dtype=policy)]
    self.body_names = track_in_order(self, layers)
    self.score_head = _conv(1, 3, name="score_conv", dtype="float32", cls=SmallMapConv2D)
    self.au_head = _conv(self.num_aus, self.final_size, padding="valid", name="au_conv",
                         dtype="float32", cls=SmallMapConv2D)

  @property
  def body(self):
    """The convolutions and activations before the heads, in call order."""
    return in_order(self, self.body_names)

  def build(self, input_shape):
    shape = tuple(input_shape)
    for layer in self.body:
      layer.build(shape)
      shape = layer.compute_output_shape(shape)
    self.score_head.build(shape)
    self.au_head.build(shape)
    self.built = True

  def call(self, image):
    x = tf.cast(image, self.compute_dtype)
    for layer in self.body:
      x = layer(x)
    scores = self.score_head(x)
    aus = tf.reshape(self.au_head(x), [-1, self.num_aus])
    return scores, aus

  def compute_output_spec(self, image):
    b = image.shape[0]
    f = self.final_size
    return (keras.KerasTensor((b, f, f, 1), "float32"),
            keras.KerasTensor((b, self.num_aus), "float32"))

  def get_config(self):
    config = super().get_config()
    config.update({"image_size": self.image_size, "conv_dim": self.conv_dim,
                   "num_layers": self.num_layers, "num_aus": self.num_aus})
    return config


def build_generator(image_size, conv_dim=64, repeat_num=6, num_aus=aus_lib.NUM_AUS,
                    dtype=None):
  """A built generator; `dtype` is a Keras dtype policy (None = the global one)."""
  generator = GANimationGenerator(conv_dim=conv_dim, repeat_num=repeat_num, num_aus=num_aus,
                                  name="generator", dtype=dtype)
  generator.build(((None, image_size, image_size, 3), (None, image_size, image_size, num_aus)))
  return generator


def build_networks(image_size, conv_dim=64, repeat_num=6, critic_layers=6,
                   num_aus=aus_lib.NUM_AUS, dtype=None):
  """Builds (generator, critic) with their weights created."""
  generator = build_generator(image_size, conv_dim, repeat_num, num_aus, dtype)
  critic = GANimationCritic(image_size=image_size, conv_dim=conv_dim, num_layers=critic_layers,
                            num_aus=num_aus, name="critic", dtype=dtype)
  critic.build((None, image_size, image_size, 3))
  return generator, critic
