"""--schedule=concurrent (ConSinGAN, Hinz et al., WACV 2021) on tiny configs."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfsingan.common import image_io
from tfsingan.singan import scales
from tfsingan.singan import trainer
from tfsingan.singan.concurrent import ConcurrentScales
from tfsingan.singan.concurrent import scale_model
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.config import resolve_schedule
from tfsingan.singan.inference import TrainedSinGAN
from tfsingan.singan.networks import build_scale_networks
from tfsingan.singan.pyramid import RunPyramid

TINY = SinGANConfig(schedule="concurrent", max_size=24, min_size=12, num_stages=3,
                    train_depth=2, base_channels=8, max_channels=8, iterations=4,
                    lr_decay_at=3, checkpoint_every=2, log_every=2, image_every=4)


def _image(tmp_path):
  path = str(tmp_path / "face.png")
  image_io.save_image(path, image_io.bundled_face(24))
  return path


def test_concurrent_pyramid_puts_more_stages_at_low_resolution():
  pyr = scales.concurrent_schedule(187, 250, min_size=25, max_size=250, num_stages=6)
  assert pyr.num_scales == 6 and pyr.sizes[0][0] == 25 and pyr.sizes[-1] == (187, 250)
  ratios = [b[0] / a[0] for a, b in zip(pyr.sizes, pyr.sizes[1:])]
  assert ratios[0] < 1.3 and max(ratios) > 1.9  # small steps at the coarse end
  assert list(scales.trained_stages(4, 3)) == [2, 3, 4]
  assert list(scales.trained_stages(1, 3)) == [0, 1]
  assert scales.concurrent_work([1, 2, 4, 8], 2) == [1, 3, 6, 12]


def test_concurrent_takes_consingan_defaults_only_where_left_at_the_paper_ones():
  got = resolve_schedule(SinGANConfig(schedule="concurrent", iterations=300))
  assert (got.iterations, got.lr_decay_at, got.base_channels, got.max_channels) == (
      300, 800, 64, 64)
  assert resolve_schedule(SinGANConfig()) == SinGANConfig()
  assert (SinGANConfig().train_depth, SinGANConfig().lr_scale,
          SinGANConfig().num_stages) == (3, 0.1, 6)


def _model(depth=3, n=2, config=TINY):
  """Stage n of a tiny in-memory pyramid (untrained finished stages), built as the
  trainer builds it (`RunPyramid.next_scale`, `scale_model`)."""
  config = dataclasses.replace(config, train_depth=depth)
  sizes = [(12, 12), (16, 16), (20, 20)][:n + 1]
  gens = [build_scale_networks(8, config, seed=10 * i)[0] for i in range(n)]
  gen, critic = build_scale_networks(8, config, seed=99)
  reals = [image_io.bundled_face(20)[:h, :w] for h, w in sizes]
  z = np.random.default_rng(0).standard_normal((*sizes[0], 3)).astype(np.float32)
  pyramid = RunPyramid.in_memory(sizes, reals, z, gens, [1.0, 0.1][:n])
  model = scale_model(gen, critic, pyramid.next_scale(config), config, seed=1)
  assert isinstance(model, ConcurrentScales)
  model.compile()
  return model, gens


def test_lower_stages_learn_at_lr_scale_per_stage_down():
  model, _ = _model(depth=3, n=2)
  lr = [float(opt.learning_rate) for opt in model.lower_optimizers + [model.g_optimizer]]
  np.testing.assert_allclose(lr, [5e-6, 5e-5, 5e-4], rtol=1e-6)


@pytest.mark.parametrize("depth, moved", [(2, [False, True]), (3, [True, True])])
def test_only_the_trained_stages_receive_gradients(depth, moved):
  model, gens = _model(depth=depth, n=2)
  before = [[w.copy() for w in g.get_weights()] for g in gens]
  top = [w.copy() for w in model.generator.get_weights()]
  model.train_step()
  for g, old, expect in zip(gens, before, moved):
    changed = any(not np.array_equal(a, b) for a, b in zip(old, g.get_weights()))
    assert changed == expect
  assert any(not np.array_equal(a, b) for a, b in zip(top, model.generator.get_weights()))


def test_reconstruction_runs_through_every_trained_stage():
  model, gens = _model(depth=3, n=2)
  rec = model.reconstruct().numpy()
  assert rec.shape == (1, 20, 20, 3) and np.all(np.isfinite(rec))
  x = gens[0]((model.z_rec * 1.0, tf.zeros([1, 12, 12, 3])))
  from tfsingan.singan import generate  # pylint: disable=import-outside-toplevel
  x = gens[1]((tf.zeros([1, 16, 16, 3]), generate.upsample(x, (16, 16))))
  x = model.generator((tf.zeros([1, 20, 20, 3]), generate.upsample(x, (20, 20))))
  np.testing.assert_allclose(rec, x.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def concurrent_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("concurrent")
  workdir = str(root / "run")
  state = trainer.run(dataclasses.replace(TINY, image=_image(root)), workdir)
  return workdir, state


def test_a_concurrent_run_samples_at_any_start_scale_and_size(concurrent_run):
  workdir, state = concurrent_run
  assert state["finished_scales"] == 3
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["schedule"] == "concurrent"
  model = TrainedSinGAN.load(workdir)
  for k in range(3):
    out = model.sample(2, start_scale=k, scale_h=1.5, scale_w=0.75)
    assert out.shape == (2, 36, 18, 3) and np.all(np.isfinite(out))


def test_resume_after_a_kill_equals_an_uninterrupted_run(concurrent_run, tmp_path, monkeypatch):
  workdir, _ = concurrent_run
  config = dataclasses.replace(TINY, image=_image(tmp_path))
  killed = str(tmp_path / "killed")
  real_save = trainer.checkpointing.RunCheckpoint.save

  def dying_save(self, *args, meta=None, **kwargs):  # killed right after a checkpoint
    real_save(self, *args, meta=meta, **kwargs)
    if meta and meta["scale"] == 2:
      raise KeyboardInterrupt

  monkeypatch.setattr(trainer.checkpointing.RunCheckpoint, "save", dying_save)
  with pytest.raises(KeyboardInterrupt):
    trainer.run(config, killed)
  monkeypatch.setattr(trainer.checkpointing.RunCheckpoint, "save", real_save)
  with open(os.path.join(killed, "state.json")) as f:
    assert json.load(f)["finished_scales"] == 2
  trainer.run(config, killed)
  a, b = TrainedSinGAN.load(workdir), TrainedSinGAN.load(killed)
  for ga, gb in zip(a.generators, b.generators):
    for wa, wb in zip(ga.get_weights(), gb.get_weights()):
      np.testing.assert_allclose(wa, wb, atol=2e-4)
  np.testing.assert_allclose(a.sample(2, seed=3), b.sample(2, seed=3), atol=2e-3)


def test_a_concurrent_run_exports_to_a_saved_model(concurrent_run, tmp_path):
  from export import saved_model  # pylint: disable=import-outside-toplevel
  workdir, _ = concurrent_run
  version = saved_model.export(workdir, str(tmp_path / "models" / "tiny"))
  loaded = tf.saved_model.load(version)
  assert loaded.signatures


def test_a_concurrent_run_converts_to_tflite_with_builtin_ops_only(concurrent_run):
  from export import tflite  # pylint: disable=import-outside-toplevel
  workdir, _ = concurrent_run
  model_bytes, sidecar = tflite.build(workdir, "none", scales=3, calibration_samples=2)
  assert len(model_bytes) > 1000 and sidecar
  assert not tflite.non_builtin_ops(tflite.model_ops(model_bytes))


def test_the_five_applications_run_on_a_concurrent_run(concurrent_run):
  from tfsingan.singan import applications  # pylint: disable=import-outside-toplevel
  workdir, _ = concurrent_run
  model = TrainedSinGAN.load(workdir)
  paint = model.reals[-1][::-1].copy()
  mask = np.zeros(paint.shape[:2], np.float32)
  mask[6:14, 6:14] = 1.0
  outputs = [applications.paint2image(model, paint, 1)[0],
             applications.harmonize(model, paint, mask, 1)[0],
             applications.harmonize(model, paint, mask, 2, mode="editing")[0],
             applications.super_resolve(model, 2.0)[None],
             np.stack(applications.animate(model, 3, 1, 0.1, 0.9))]
  for out in outputs:
    assert out.ndim == 4 and np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1
  assert outputs[3].shape[1:3] == (48, 48)
