"""Normalisation layers shared by the model families, and how networks hold their layers."""

import keras
import tensorflow as tf
from keras import layers


def track_in_order(owner, sublayers):
  """Sets each of `sublayers` as an attribute of `owner`, named by the layer's name.

  Keras 3 keeps layers held in a Python list out of TensorFlow's object graph: a
  `tf.train.Checkpoint(generator=model)` would miss them, and with them, e.g.,
  BatchNorm statistics. As attributes they are tracked by name, so a plain
  checkpoint of the network holds every variable, keyed by its layer path (not by
  its position). Returns the names in call order; `in_order` gives the layers back.
  """
  names = []
  for layer in sublayers:
    if hasattr(owner, layer.name):
      raise ValueError(f"{type(owner).__name__} already has an attribute {layer.name!r}")
    setattr(owner, layer.name, layer)
    names.append(layer.name)
  return tuple(names)


def in_order(owner, names):
  """The layers `track_in_order` set on `owner`, in call order (a list).

  Networks expose this list as a property (`blocks`, `body`): Keras' `.weights.h5`
  visits attributes sorted by name, and the list's name sorts before its layers'
  names, so the weight files keep the layout they had when the layers lived in a
  list (tests/test_checkpointing.py holds that layout).
  """
  return [getattr(owner, name) for name in names]


@keras.saving.register_keras_serializable(package="tfsingan")
class PerExampleBatchNorm(layers.Layer):
  """torch.nn.BatchNorm2d with the training statistics of each example kept apart.

  With batch size 1 (SinGAN's only case in the paper) this is BatchNorm2d exactly:
  normalise over H x W with the biased variance, update the running averages with
  momentum 0.1 and the unbiased variance, use the running averages at inference.
  With B > 1 every example is normalised with its own statistics and the running
  averages are updated as if the examples had come one after another. This lets
  independent passes of one network (the critic on real and on fake images, the
  generator on random and reconstruction noise) run as one batched pass, with the
  same results as separate passes: fewer, larger kernels at small scales.
  Statistics are computed in float32 under mixed precision.

  Args:
    momentum: weight of a new example in the running averages (PyTorch: 0.1).
    epsilon: added to the variance.
    gamma_stddev: gamma is initialised N(1, gamma_stddev) (SinGAN: 0.02).
    seed: initializer seed.
  """

  def __init__(self, momentum=0.1, epsilon=1e-5, gamma_stddev=0.02, seed=None, **kwargs):
    super().__init__(**kwargs)
    self.momentum = momentum
    self.epsilon = epsilon
    self.gamma_stddev = gamma_stddev
    self.seed = seed

  def build(self, input_shape):
    channels = input_shape[-1]
    gamma_init = (keras.initializers.RandomNormal(1.0, self.gamma_stddev, seed=self.seed)
                  if self.gamma_stddev else "ones")
    self.gamma = self.add_weight(shape=(channels,), initializer=gamma_init, name="gamma",
                                 dtype="float32", autocast=False)
    self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta",
                                dtype="float32", autocast=False)
    self.moving_mean = self.add_weight(shape=(channels,), initializer="zeros",
                                       name="moving_mean", trainable=False, dtype="float32",
                                       autocast=False)
    self.moving_variance = self.add_weight(shape=(channels,), initializer="ones",
                                           name="moving_variance", trainable=False,
                                           dtype="float32", autocast=False)

  def call(self, x, training=False):
    if training and self._fused_pays(x.shape):
      return self._fused_training(x)
    if training:
      mean, variance = tf.nn.moments(tf.cast(x, tf.float32), axes=[1, 2], keepdims=True)
      count = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
      unbiased = variance * count / tf.maximum(count - 1.0, 1.0)
      self._update_running(mean[:, 0, 0, :], unbiased[:, 0, 0, :])
    else:
      mean, variance = self.moving_mean, self.moving_variance
    # Per-channel scale and shift in float32, applied in the compute dtype: one
    # multiply-add over the activations instead of float32 round trips.
    scale = tf.math.rsqrt(variance + self.epsilon) * self.gamma
    shift = self.beta - mean * scale
    return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)

  # Below about 56 x 56 pixels the fused kernel's fixed cost (one call per example,
  # split and concat) outweighs its savings: at SinGAN's 25 px coarsest scale it
  # made a tf.function step 30% slower, at 50 px it broke even, from 80 px on it won.
  FUSED_MIN_PIXELS = 56 * 56

  def _fused_pays(self, shape):
    if shape[0] is None or shape[1] is None or shape[2] is None:
      return False
    return shape[1] * shape[2] >= self.FUSED_MIN_PIXELS

  def _fused_training(self, x):
    """Training statistics with the fused kernel, one call per example.

    The fused op (oneDNN on CPU) normalises, and its gradient back-propagates, in a
    few passes over the activations, where the composite of `tf.nn.moments` and the
    float32 casts took about a third of a bfloat16 step at SinGAN's finest scale.
    Statistics are float32 whatever the input dtype; the batch variance it returns
    is the unbiased one that the running average wants.
    """
    ys, means, variances = [], [], []
    for example in tf.split(x, x.shape[0]) if x.shape[0] > 1 else [x]:
      y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
          example, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
      ys.append(y)
      means.append(mean)
      variances.append(variance)
    self._update_running(tf.stack(means), tf.stack(variances))
    return ys[0] if len(ys) == 1 else tf.concat(ys, 0)

  def _update_running(self, means, unbiased):
    """Running averages after the examples of `means` (B, C) and their unbiased
    variances, in order."""
    batch = tf.shape(means)[0]
    keep = 1.0 - self.momentum
    # Example i of B is followed by B - 1 - i later updates.
    later = tf.cast(batch - 1 - tf.range(batch), tf.float32)
    weights = (self.momentum * tf.pow(keep, later))[:, None]
    decay = tf.pow(keep, tf.cast(batch, tf.float32))
    self.moving_mean.assign(decay * self.moving_mean + tf.reduce_sum(weights * means, 0))
    self.moving_variance.assign(decay * self.moving_variance +
                                tf.reduce_sum(weights * unbiased, 0))

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
            "gamma_stddev": self.gamma_stddev, "seed": self.seed}
