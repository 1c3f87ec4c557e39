"""The per-scale train_step: both phases update their network, training works,
mixed precision runs on CPU."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsingan.common import image_io
from tfsingan.singan.concurrent import scale_model
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.networks import build_scale_networks
from tfsingan.singan.pyramid import RunPyramid

TINY = SinGANConfig(base_channels=8, max_channels=8)


def _scale_model(config=TINY, n=0, size=24, seed=0, optimizers=None):
  """Scale n of a tiny in-memory pyramid whose coarser scales are untrained generators,
  built as the trainer builds it (`RunPyramid.next_scale`, `scale_model`)."""
  sizes = [(size - 4 * (n - i), size - 4 * (n - i)) for i in range(n + 1)]
  frozen = [build_scale_networks(8, config, seed=100 + i)[0] for i in range(n)]
  gen, critic = build_scale_networks(8, config, seed=seed)
  reals = [image_io.bundled_face(h) for h, _ in sizes]
  z_rec = np.random.default_rng(seed).standard_normal((*sizes[0], 3)).astype(np.float32)
  pyramid = RunPyramid.in_memory(sizes, reals, z_rec, frozen, [1.0] + [0.1] * (n - 1))
  model = scale_model(gen, critic, pyramid.next_scale(config), config, seed=seed)
  model.compile(**(optimizers or {}))
  return model


def _snapshot(model):
  return [v.numpy().copy() for v in model.trainable_variables]


def test_one_step_updates_both_networks_and_only_them():
  model = _scale_model(n=1)
  frozen_before = [v.numpy().copy() for v in model.frozen_generators[0].weights]
  g_before = [v.numpy().copy() for v in model.generator.trainable_variables]
  d_before = [v.numpy().copy() for v in model.critic.trainable_variables]
  logs = tf.function(model.train_step)()
  assert set(logs) == {"d_loss", "g_loss", "gp", "rec_loss", "d_real", "d_fake"}
  assert all(np.isfinite(float(v)) for v in logs.values())
  for before, v in zip(g_before, model.generator.trainable_variables):
    assert not np.allclose(before, v.numpy()), v.path
  for before, v in zip(d_before, model.critic.trainable_variables):
    if v.path.endswith("tail/bias"):
      # A constant shift of every score cancels in mean(D(fake)) - mean(D(real)) and
      # does not move the input gradient: the WGAN critic's last bias has a zero
      # gradient up to round-off (which Adam's normalisation may still turn into a
      # step), so it is not expected to learn.
      continue
    assert not np.allclose(before, v.numpy()), v.path
  for before, v in zip(frozen_before, model.frozen_generators[0].weights):
    np.testing.assert_array_equal(before, v.numpy())
  # 3 critic and 3 generator updates per iteration.
  assert int(model.d_optimizer.iterations) == 3
  assert int(model.g_optimizer.iterations) == 3


def test_a_few_dozen_steps_cut_the_reconstruction_error():
  model = _scale_model(n=0, size=24)
  step = tf.function(model.train_step)
  first = float(step()["rec_loss"])
  # 40 steps: measured 0.068-0.075 x the first error at step 40 for seeds 0-2 (0.063-0.102
  # at step 200), 4x below the bound; 200 steps cost 12 s more of CPU for no margin.
  for _ in range(39):
    logs = step()
  last = float(logs["rec_loss"])
  assert last < 0.3 * first, (first, last)


def test_learning_rate_drops_at_the_milestone():
  config = dataclasses.replace(TINY, lr_decay_at=2)
  model = _scale_model(config)
  step = tf.function(model.train_step)
  lr = lambda: float(model.g_optimizer.learning_rate)
  assert lr() == pytest.approx(5e-4)
  step()
  step()
  assert lr() == pytest.approx(5e-5)


@pytest.mark.bf16
def test_bfloat16_step_runs_and_learns():
  config = dataclasses.replace(TINY, precision="mixed_bfloat16")
  model = _scale_model(config)
  assert model.generator.blocks[1].conv.compute_dtype == "bfloat16"
  step = tf.function(model.train_step)
  first = float(step()["rec_loss"])
  for _ in range(60):
    logs = step()
  assert np.isfinite(float(logs["d_loss"]))
  assert float(logs["rec_loss"]) < first


@pytest.mark.fp16
def test_float16_loss_scaling_matches_float32():
  # One critic and one generator step with plain SGD, so each weight change is
  # -lr x gradient: float16 with loss scaling (outer loss and the penalty's inner
  # gradient) must give float32's gradients, not 2^8 times them nor zeros. (At the
  # default 2^15 the inner gradient overflows float16 on the first step; the
  # optimizer then skips it and halves the scale: the dynamic path.)
  one = dataclasses.replace(TINY, d_steps=1, g_steps=1)
  sgd = lambda: keras.optimizers.SGD(1e-3)
  f32 = _scale_model(one, seed=3, optimizers={"d_optimizer": sgd(), "g_optimizer": sgd()})
  f16 = _scale_model(dataclasses.replace(one, precision="mixed_float16"), seed=3,
                     optimizers={"d_optimizer": keras.optimizers.LossScaleOptimizer(
                         sgd(), initial_scale=2.0 ** 8),
                                 "g_optimizer": keras.optimizers.LossScaleOptimizer(
                                     sgd(), initial_scale=2.0 ** 8)})
  assert float(f16.d_optimizer.dynamic_scale) == 2.0 ** 8
  before = _snapshot(f16)
  logs32 = tf.function(f32.train_step)()
  logs16 = tf.function(f16.train_step)()
  for key in ("d_real", "d_fake", "gp", "rec_loss"):
    assert float(logs16[key]) == pytest.approx(float(logs32[key]), rel=0.05, abs=2e-3), key
  d32 = np.concatenate([(a - b.numpy()).ravel() for a, b in zip(before, f32.trainable_variables)])
  d16 = np.concatenate([(a - b.numpy()).ravel() for a, b in zip(before, f16.trainable_variables)])
  assert np.corrcoef(d32, d16)[0, 1] > 0.95
  assert np.linalg.norm(d16) / np.linalg.norm(d32) == pytest.approx(1.0, abs=0.1)


@pytest.mark.fp16
def test_float16_default_optimizers_are_loss_scaled():
  f16 = _scale_model(dataclasses.replace(TINY, precision="mixed_float16"))
  assert isinstance(f16.d_optimizer, keras.optimizers.LossScaleOptimizer)
  assert isinstance(f16.g_optimizer, keras.optimizers.LossScaleOptimizer)
  step = tf.function(f16.train_step)
  for _ in range(3):
    logs = step()
  # Overflowing steps are skipped and the scale halves until the steps are finite.
  assert float(f16.d_optimizer.dynamic_scale) < 2.0 ** 15
  assert all(np.isfinite(float(v)) for v in logs.values())


def test_redrawn_coarsest_rec_noise_is_fresh_each_iteration_and_fixed_stays():
  fixed = _scale_model()
  redrawn = _scale_model(dataclasses.replace(TINY, coarsest_rec_noise="redrawn"))
  assert fixed.rec_noise() is fixed.z_rec
  a, b = redrawn.rec_noise().numpy(), redrawn.rec_noise().numpy()
  assert a.shape == (1, 24, 24, 3) and not np.allclose(a, b)
  np.testing.assert_array_equal(a[..., 0], a[..., 2])  # one channel, as the original draws it
  # Only the coarsest scale's z* is redrawn; finer scales reconstruct with zeros.
  finer = _scale_model(dataclasses.replace(TINY, coarsest_rec_noise="redrawn"), n=1)
  assert finer.rec_noise() is finer.z_rec
  logs = tf.function(redrawn.train_step)()
  assert np.isfinite(float(logs["rec_loss"]))
  with pytest.raises(Exception, match="coarsest_rec_noise"):
    SinGANConfig(coarsest_rec_noise="sometimes")
