"""Instance normalization (Ulyanov et al., 2016) as a small moments-based Keras layer.

`keras.layers.GroupNormalization(groups=-1)` computes the same thing but reshapes to
5-D tensors, which TFLite GPU delegates reject; this layer stays 4-D. The statistics
are always computed in float32 (under a float16 policy the sum of squares over a
128x128 map overflows); the normalisation itself runs in the layer's compute dtype.

`call(x, portable_ops=True)` computes the same function for exported graphs with
AVERAGE_POOL_2D, SUB, MUL, ADD and RSQRT only. The training form's
SQUARED_DIFFERENCE has no int8 kernel in XNNPACK: it ran on TFLite's reference
kernel and took 61% and 72% of the int8 GANimation generator's time in two
profiles (`benchmarks/tflite_op_profile.py`); MEAN and NEG are not in the GPU delegate's
documented op set (`export/tflite.py`, GPU_DELEGATE_OPS).
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfsingan")
class InstanceNormalization(keras.layers.Layer):
  """Normalizes each example's channels over height and width, then scales and shifts.

  Args:
    epsilon: added to the variance (PyTorch's `InstanceNorm2d` uses 1e-5).
    center: learn a per-channel offset `beta` (PyTorch `affine=True`).
    scale: learn a per-channel gain `gamma` (PyTorch `affine=True`).
    beta_initializer, gamma_initializer: initializers of the offset and gain.
    **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

  Input and output: (batch, height, width, channels), channels-last.

  Reference:
    Ulyanov, Vedaldi, Lempitsky, "Instance Normalization: The Missing Ingredient for
    Fast Stylization", arXiv:1607.08022, 2016.
  """

  def __init__(self, epsilon=1e-5, center=True, scale=True, beta_initializer="zeros",
               gamma_initializer="ones", **kwargs):
    super().__init__(**kwargs)
    self.epsilon = float(epsilon)
    self.center = bool(center)
    self.scale = bool(scale)
    self.beta_initializer = keras.initializers.get(beta_initializer)
    self.gamma_initializer = keras.initializers.get(gamma_initializer)
    self.input_spec = keras.layers.InputSpec(ndim=4)
    self.supports_masking = False

  def build(self, input_shape):
    channels = input_shape[-1]
    if channels is None:
      raise ValueError("InstanceNormalization needs a known number of channels")
    self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})
    self.gamma = (self.add_weight(name="gamma", shape=(channels,),
                                  initializer=self.gamma_initializer)
                  if self.scale else None)
    self.beta = (self.add_weight(name="beta", shape=(channels,),
                                 initializer=self.beta_initializer)
                 if self.center else None)

  def call(self, inputs, portable_ops=False):
    if portable_ops:
      return self._portable_call(inputs)
    mean, variance = tf.nn.moments(tf.cast(inputs, tf.float32), axes=[1, 2], keepdims=True)
    # y = x * multiplier + offset: two full-size ops, run in the compute dtype (half
    # the memory traffic under bfloat16); only the small statistics are float32.
    multiplier = tf.math.rsqrt(variance + self.epsilon)
    if self.gamma is not None:
      multiplier = multiplier * tf.cast(self.gamma, tf.float32)
    offset = -mean * multiplier
    if self.beta is not None:
      offset = offset + tf.cast(self.beta, tf.float32)
    dtype = inputs.dtype
    return inputs * tf.cast(multiplier, dtype) + tf.cast(offset, dtype)

  def _portable_call(self, inputs):
    """The same normalisation as `call`: (x - mean) * rsqrt(var + eps) * gamma + beta,
    the variance as the mean of the centred squares (no SQUARED_DIFFERENCE), the means
    as a global average pool when the map size is static."""
    x = tf.cast(inputs, tf.float32)
    centred = x - _spatial_mean(x)
    multiplier = tf.math.rsqrt(_spatial_mean(centred * centred) + self.epsilon)
    if self.gamma is not None:
      multiplier = multiplier * tf.cast(self.gamma, tf.float32)
    out = centred * multiplier
    if self.beta is not None:
      out = out + tf.cast(self.beta, tf.float32)
    return tf.cast(out, inputs.dtype)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update({
        "epsilon": self.epsilon,
        "center": self.center,
        "scale": self.scale,
        "beta_initializer": keras.initializers.serialize(self.beta_initializer),
        "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
    })
    return config


def _spatial_mean(x):
  """Mean over height and width, keeping them as 1 x 1."""
  height, width = x.shape[1], x.shape[2]
  if height is None or width is None:
    return tf.reduce_mean(x, axis=[1, 2], keepdims=True)
  return tf.nn.avg_pool2d(x, ksize=[height, width], strides=1, padding="VALID")
