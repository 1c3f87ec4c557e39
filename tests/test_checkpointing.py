"""Tests of tfsingan.common.checkpointing: checkpoints hold every variable of our networks,
and run directories written before the layers were attributes still load."""

import json
import os

import h5py
import numpy as np
import pytest
import tensorflow as tf

from tfsingan.common import checkpointing
from tfsingan.errors import UserInputError
from tfsingan import config as config_lib
from tfsingan.ganimation import inference as ganimation_inference
from tfsingan.ganimation import model as ganimation_model
from tfsingan.ganimation import networks as ganimation_networks
from tfsingan.ganimation.config import GANimationConfig
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.networks import build_scale_networks

LAYOUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                      "network_layout_v1.json")

# The networks of tests/data/network_layout_v1.json (see its "_about").
NETWORKS = {
    "singan_generator": lambda: build_scale_networks(8, SinGANConfig(), seed=0)[0],
    "singan_critic": lambda: build_scale_networks(8, SinGANConfig(), seed=0)[1],
    "ganimation_generator": lambda: ganimation_networks.build_networks(
        16, conv_dim=4, repeat_num=2, critic_layers=2, dtype="float32")[0],
    "ganimation_critic": lambda: ganimation_networks.build_networks(
        16, conv_dim=4, repeat_num=2, critic_layers=2, dtype="float32")[1],
}


def _randomise(model, seed):
  rng = np.random.default_rng(seed)
  for v in model.weights:  # BatchNorm's moving statistics included
    v.assign(rng.normal(size=v.shape).astype(np.float32))


def _assert_same(a_model, b_model):
  assert len(a_model.weights) == len(b_model.weights) > 2
  for a, b in zip(a_model.weights, b_model.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_plain_checkpoint_of_the_network_round_trips_every_variable(name, tmp_path):
  saved, restored = NETWORKS[name](), NETWORKS[name]()
  _randomise(saved, 1)
  _randomise(restored, 2)
  prefix = tf.train.Checkpoint(net=saved).write(str(tmp_path / "ckpt"))
  tf.train.Checkpoint(net=restored).read(prefix).assert_consumed()
  _assert_same(saved, restored)
  # Every variable is in the checkpoint, keyed by its layer path, none by position.
  keys = [k for k, _ in tf.train.list_variables(prefix) if k.startswith("net/")]
  assert len(keys) == len(saved.weights)
  assert not any(k.split("/")[1].isdigit() for k in keys), keys
  if name.startswith("singan"):
    assert "net/head/norm/moving_mean/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert "net/body3/norm/moving_variance/.ATTRIBUTES/VARIABLE_VALUE" in keys


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_weight_order_and_h5_layout_are_those_of_old_runs(name, tmp_path):
  # Old checkpoints keyed variables by their position in `model.weights`, and old runs'
  # .weights.h5 files name layers by the list they lived in: both must stay as they were.
  old = json.load(open(LAYOUT))[name]
  model = NETWORKS[name]()
  assert [v.path for v in model.weights] == old["weights"]
  path = str(tmp_path / "net.weights.h5")
  model.save_weights(path)
  names = []
  with h5py.File(path) as f:
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
  assert names == old["h5"]


def _optimizer(network):
  opt = ganimation_model.make_optimizer(1e-4, 0.5, 0.999, total_steps=10, decay_steps=0)
  opt.build(network.trainable_variables)
  for v in opt.variables:
    v.assign(tf.fill(v.shape, tf.cast(len(v.path), v.dtype)))
  return opt


def _legacy_ganimation_folder(folder, generator, critic, iteration, **optimizers):
  """A checkpoints/ folder as the trainer wrote it before (CheckpointManager, networks
  as lists of their variables)."""
  ckpt = tf.train.Checkpoint(generator=list(generator.weights), critic=list(critic.weights),
                             iteration=iteration, **optimizers)
  manager = tf.train.CheckpointManager(ckpt, folder, max_to_keep=2)
  manager.save(checkpoint_number=int(iteration.numpy()))


def test_old_layout_versions_still_restore(tmp_path):
  folder = str(tmp_path / "checkpoints")
  g, d = ganimation_networks.build_networks(16, conv_dim=4, repeat_num=1, critic_layers=2,
                                            dtype="float32")
  _randomise(g, 3)
  _randomise(d, 4)
  g_opt = _optimizer(g)
  _legacy_ganimation_folder(folder, g, d, tf.Variable(7, dtype=tf.int64), g_optimizer=g_opt)
  g2, d2 = ganimation_networks.build_networks(16, conv_dim=4, repeat_num=1, critic_layers=2,
                                              dtype="float32")
  iteration = tf.Variable(0, dtype=tf.int64)
  g_opt2 = ganimation_model.make_optimizer(1e-4, 0.5, 0.999, total_steps=10, decay_steps=0)
  g_opt2.build(g2.trainable_variables)
  meta = checkpointing.RunCheckpoint(folder, generator=g2, critic=d2, g_optimizer=g_opt2,
                                     iteration=iteration).restore()
  assert meta["prefix"] == "ckpt-7" and int(iteration.numpy()) == 7
  _assert_same(g, g2)
  _assert_same(d, d2)
  assert len(g_opt.variables) == len(g_opt2.variables) > 2
  for a, b in zip(g_opt.variables, g_opt2.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
  # A reader of the generator alone.
  g3 = ganimation_networks.build_generator(16, conv_dim=4, repeat_num=1, dtype="float32")
  checkpointing.RunCheckpoint(folder, generator=g3).restore(partial=True)
  _assert_same(g, g3)


def test_old_ganimation_run_directory_loads_for_animate_expand_and_export(tmp_path):
  # A run directory as the trainer wrote it before (no generator.weights.h5 yet: a run
  # still training): animate, expand and export all load it through load_generator.
  from export import common  # pylint: disable=import-outside-toplevel
  run = tmp_path / "run"
  config = GANimationConfig(image_size=16, conv_dim=4, repeat_num=1, critic_layers=2)
  g, d = ganimation_networks.build_networks(16, conv_dim=4, repeat_num=1, critic_layers=2,
                                            dtype="float32")
  _randomise(g, 6)
  _legacy_ganimation_folder(str(run / "checkpoints"), g, d, tf.Variable(4, dtype=tf.int64))
  (run / "config.json").write_text(config_lib.to_json(config))
  generator, loaded = ganimation_inference.load_generator(str(run))
  assert loaded.conv_dim == 4
  _assert_same(g, generator)
  graphs, _ = common.GANimationGraphs.load(str(run))
  _assert_same(g, graphs.generator)


def test_old_singan_pointer_checkpoint_restores_with_its_metadata(tmp_path):
  folder = tmp_path / "checkpoints"
  folder.mkdir()
  gen, critic = build_scale_networks(8, SinGANConfig(), seed=0)
  _randomise(gen, 5)
  rng = tf.random.Generator.from_seed(3)
  # What PointerCheckpoint wrote: ckpt-<version> and latest.json naming it.
  tf.train.Checkpoint(generator=list(gen.weights), critic=list(critic.weights),
                      rng=rng).write(str(folder / "ckpt-2"))
  checkpointing.write_json(str(folder / "latest.json"),
                           {"scale": 1, "iteration": 40, "version": 2, "prefix": "ckpt-2"})
  gen2, critic2 = build_scale_networks(8, SinGANConfig(), seed=1)
  ckpt = checkpointing.RunCheckpoint(str(folder), generator=gen2, critic=critic2,
                                     rng=tf.random.Generator.from_seed(0))
  meta = ckpt.restore()
  assert meta["scale"] == 1 and meta["iteration"] == 40
  _assert_same(gen, gen2)
  _assert_same(critic, critic2)


def test_versions_metadata_keep_and_damage(tmp_path, capsys):
  folder = str(tmp_path / "c")
  step = tf.Variable(0, dtype=tf.int64)
  gen = build_scale_networks(8, SinGANConfig(), seed=0)[0]
  ckpt = checkpointing.RunCheckpoint(folder, keep=2, generator=gen, step=step)
  assert ckpt.restore() is None and ckpt.latest() is None
  for n in (3, 6, 9):
    step.assign(n)
    ckpt.save(n, {"at": n})
  assert ckpt.latest() == {"at": 9, "number": 9, "prefix": "ckpt-9"}
  assert sorted({f.split(".")[0] for f in os.listdir(folder) if f.startswith("ckpt-")}) == [
      "ckpt-6", "ckpt-9"]
  assert tf.train.latest_checkpoint(folder).endswith("ckpt-9")
  # The metadata travels inside each version: the fallback gets its own.
  for name in os.listdir(folder):
    if name.startswith("ckpt-9.data"):
      with open(os.path.join(folder, name), "r+b") as f:
        f.truncate(8)
  step.assign(0)
  assert ckpt.restore() == {"at": 6, "prefix": "ckpt-6"}
  assert int(step.numpy()) == 6
  assert "damaged checkpoint(s) ckpt-9" in capsys.readouterr().out
  for name in os.listdir(folder):
    if name.startswith("ckpt-6.data"):
      with open(os.path.join(folder, name), "r+b") as f:
        f.truncate(8)
  with pytest.raises(UserInputError, match="every checkpoint is damaged"):
    ckpt.restore()
  ckpt.clear()
  assert os.listdir(folder) == []
