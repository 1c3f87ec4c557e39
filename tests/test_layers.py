"""PerExampleBatchNorm: BatchNorm2d for one example, separate passes for several."""

import numpy as np
import pytest
import tensorflow as tf

from harness import check_layer
from tfsingan.common.layers import PerExampleBatchNorm


def _layer(seed=0, **kwargs):
  layer = PerExampleBatchNorm(seed=seed, **kwargs)
  layer.build((None, None, None, 4))
  return layer


@pytest.mark.parametrize("hw", [(5, 6), (60, 61)])  # the composite and the fused path
def test_single_example_matches_batchnorm2d_by_hand(hw):
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, (1, *hw, 4)).astype(np.float32)
  layer = _layer()
  gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
  y = layer(x, training=True).numpy()
  mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * gamma + beta, atol=1e-4)
  # Running averages as PyTorch: momentum 0.1, unbiased variance.
  np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(layer.moving_variance.numpy(),
                             0.9 + 0.1 * var * (hw[0] * hw[1]) / (hw[0] * hw[1] - 1),
                             rtol=1e-5)
  # Inference uses the running averages.
  mm, mv = layer.moving_mean.numpy(), layer.moving_variance.numpy()
  np.testing.assert_allclose(layer(x, training=False).numpy(),
                             (x - mm) / np.sqrt(mv + 1e-5) * gamma + beta, atol=1e-4)


def test_batched_pass_equals_separate_passes():
  rng = np.random.default_rng(1)
  a = rng.normal(0, 1, (1, 7, 7, 4)).astype(np.float32)
  b = rng.normal(5, 2, (1, 7, 7, 4)).astype(np.float32)
  separate, batched = _layer(seed=3), _layer(seed=3)
  ya, yb = separate(a, training=True), separate(b, training=True)
  yab = batched(np.concatenate([a, b]), training=True)
  np.testing.assert_allclose(yab.numpy(), np.concatenate([ya, yb]), atol=1e-5)
  np.testing.assert_allclose(batched.moving_mean.numpy(), separate.moving_mean.numpy(),
                             rtol=1e-5)
  np.testing.assert_allclose(batched.moving_variance.numpy(),
                             separate.moving_variance.numpy(), rtol=1e-5)


def test_gradients_stay_per_example():
  rng = np.random.default_rng(2)
  x = tf.constant(rng.normal(size=(2, 5, 5, 4)).astype(np.float32))
  layer = _layer()
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(x, training=True)
    loss = tf.reduce_sum(y[0] ** 3)
  grad = tape.gradient(loss, x).numpy()
  assert np.abs(grad[0]).max() > 0 and np.abs(grad[1]).max() == 0


def test_mixed_precision_keeps_float32_statistics():
  layer = PerExampleBatchNorm(dtype="mixed_bfloat16")
  layer.build((None, None, None, 4))
  y = layer(tf.cast(tf.random.normal([1, 4, 4, 4]) * 300.0, tf.bfloat16), training=True)
  assert y.dtype == tf.bfloat16 and layer.moving_mean.dtype == "float32"
  assert np.isfinite(layer.moving_variance.numpy()).all()


def test_config_round_trip(tmp_path):
  layer = PerExampleBatchNorm(momentum=0.2, epsilon=1e-3, gamma_stddev=0.0, seed=4)
  clone = PerExampleBatchNorm.from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()
  assert pytest.approx(clone.momentum) == 0.2
  # Build, call in training (the moving statistics move), round trip, save/reload:
  # the moving mean and variance come back with the weights.
  x = np.random.default_rng(1).normal(2.0, 3.0, (2, 5, 6, 4)).astype(np.float32)
  _, reloaded = check_layer(layer, x, call_kwargs={"training": True}, tmp_path=tmp_path)
  assert not np.allclose(reloaded.moving_mean.numpy(), 0.0)


def test_fused_and_composite_paths_agree_to_second_order():
  # Static shapes of at least FUSED_MIN_PIXELS take the fused kernel; an unknown
  # batch the tf.nn.moments path. The critic's gradient penalty differentiates
  # through the layer twice.
  rng = np.random.default_rng(5)
  shape = (2, 60, 61, 4)
  assert shape[1] * shape[2] >= PerExampleBatchNorm.FUSED_MIN_PIXELS
  x = tf.constant(rng.normal(1.0, 2.0, shape).astype(np.float32))
  w = tf.constant(rng.normal(size=shape).astype(np.float32))

  def penalty_grads(layer, inp):
    with tf.GradientTape() as outer:
      with tf.GradientTape() as inner:
        inner.watch(inp)
        y = layer(inp, training=True)
        score = tf.reduce_sum(tf.tanh(y) * w)
      grad = inner.gradient(score, inp)
      gp = tf.reduce_sum(tf.square(grad))
    return y, grad, outer.gradient(gp, [layer.gamma, layer.beta])

  fused, composite = _layer(seed=6), _layer(seed=6)
  y1, g1, (dg1, db1) = penalty_grads(fused, x)
  run = tf.function(lambda inp: penalty_grads(composite, inp),
                    input_signature=[tf.TensorSpec([None, *shape[1:]], tf.float32)])
  y2, g2, (dg2, db2) = run(x)
  for a, b in ((y1, y2), (g1, g2), (dg1, dg2), (db1, db2)):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(fused.moving_variance.numpy(), composite.moving_variance.numpy(),
                             rtol=1e-5)
