"""Tests of tfsingan.common.checkpointing: checkpoints hold every variable of our networks."""

import numpy as np
import tensorflow as tf

from tfsingan.common import checkpointing
from tfsingan.ganimation import networks as ganimation_networks
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.networks import build_scale_networks


def _randomise(model, seed):
  rng = np.random.default_rng(seed)
  for v in model.weights:
    v.assign(rng.normal(size=v.shape).astype(np.float32))


def _round_trip(make, tmp_path):
  saved, restored = make(), make()
  _randomise(saved, 1)
  _randomise(restored, 2)
  prefix = tf.train.Checkpoint(net=checkpointing.network_variables(saved)).save(
      str(tmp_path / "ckpt"))
  tf.train.Checkpoint(net=checkpointing.network_variables(restored)).restore(
      prefix).assert_consumed()
  assert len(saved.weights) == len(restored.weights) > 2
  for a, b in zip(saved.weights, restored.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_singan_generator_and_batchnorm_statistics_survive(tmp_path):
  # Layers in Python lists are invisible to a checkpoint of the model object
  # itself: this would restore only a few variables and no BatchNorm statistics.
  _round_trip(lambda: build_scale_networks(32, SinGANConfig(), seed=0)[0], tmp_path)
  _round_trip(lambda: build_scale_networks(32, SinGANConfig(), seed=0)[1], tmp_path)


def test_ganimation_generator_survives(tmp_path):
  _round_trip(lambda: ganimation_networks.build_generator(32, 8, 1, dtype="float32"), tmp_path)
