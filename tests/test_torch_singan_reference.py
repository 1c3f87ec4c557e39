"""Tests for the PyTorch timing baseline of the original SinGAN (Shaham et al., ICCV 2019)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks import torch_singan_reference as ref  # pylint: disable=g-import-not-at-top
from tfsingan.errors import UserInputError  # pylint: disable=g-import-not-at-top

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _one_torch_thread():
  # Tiny tensors: a second thread only adds contention on a shared 2-core machine.
  previous = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(previous)


def test_pyramid_sizes_match_the_original_schedule():
  square = ref.pyramid_sizes(250, 250)
  assert len(square) == 11
  assert square == [(25, 25), (32, 32), (40, 40), (50, 50), (63, 63), (80, 80),
                    (100, 100), (126, 126), (158, 158), (199, 199), (250, 250)]
  wide = ref.pyramid_sizes(250, 188)
  assert len(wide) == 10
  assert wide[-1] == (250, 188)
  assert min(wide[0]) in (25, 26)  # ceil of 25 * (1 + float rounding)
  # A larger image is fitted into max_size; its scale count comes from the raw size.
  assert ref.pyramid_sizes(500, 376)[-1] == (250, 188)
  assert ref.pyramid_sizes(40, 40) == [(26, 26), (30, 30), (35, 35), (40, 40)]
  with pytest.raises(UserInputError):
    ref.pyramid_sizes(20, 20)


def test_channels_double_every_four_scales():
  assert [ref.channels_at(n) for n in range(12)] == [32] * 4 + [64] * 4 + [128] * 4


def test_numpy_resize_keeps_a_constant_image_and_ceils_the_size():
  img = np.full((37, 23, 3), 91, np.uint8)
  for scale in (0.75, 1 / 0.75, 0.5, 2.0):
    out = ref.resize_numpy(img, scale)
    assert out.shape == (int(np.ceil(37 * scale)), int(np.ceil(23 * scale)), 3)
    np.testing.assert_allclose(out, 91.0, atol=1e-9)


def test_numpy_resize_upscale_is_bicubic_on_a_ramp():
  # Cubic convolution reproduces linear functions away from the borders.
  ramp = np.tile(np.arange(20, dtype=np.float64)[:, None, None] * 3.0, (1, 4, 1))
  out = ref.resize_numpy(ramp, 2.0)
  centres = (np.arange(40) + 0.5) / 2.0 - 0.5  # output pixel centres, input units
  np.testing.assert_allclose(out[4:-4, 0, 0], 3.0 * centres[4:-4], atol=1e-9)


def test_numpy_resize_downscale_is_antialiased():
  # Alternating 0/255 columns halved: without antialiasing cubic would alias;
  # the stretched kernel averages them to the mean.
  stripes = np.tile((np.arange(32) % 2 * 255.0)[None, :, None], (8, 1, 1))
  out = ref.resize_numpy(stripes, 0.5)
  np.testing.assert_allclose(out[:, 2:-2, 0], 127.5, atol=1e-6)


def test_imresize_goes_through_uint8_and_back():
  # 0.3 -> 255 * 0.65 = 165.75 -> uint8 165 -> 165 / 255 * 2 - 1.
  x = torch.full((1, 3, 12, 10), 0.3)
  out = ref.imresize(x, 1 / 0.75)
  assert tuple(out.shape) == (1, 3, 16, 14)
  assert out.dtype == torch.float32
  np.testing.assert_allclose(out.numpy(), 165 / 255 * 2 - 1, atol=1e-6)


def test_gradient_penalty_of_a_linear_critic():
  critic = torch.nn.Conv2d(3, 1, 1, bias=False)
  with torch.no_grad():
    critic.weight.copy_(torch.tensor([3.0, 0.0, 4.0]).view(1, 3, 1, 1))
  real, fake = torch.randn(1, 3, 5, 6), torch.randn(1, 3, 5, 6)
  gp = ref.gradient_penalty(critic, real, fake, weight=0.1)
  # The input gradient is the weight vector at every pixel: norm 5.
  assert gp.item() == pytest.approx(0.1 * (5.0 - 1.0) ** 2, rel=1e-6)


def test_one_iteration_at_scale_one_updates_only_the_trained_pair():
  trainer = ref.ScaleTrainer.with_random_frozen(40, 40, 1, seed=3)
  assert trainer.size == (30, 30)
  assert len(trainer.frozen) == 1 and not trainer.frozen[0].training
  assert tuple(trainer.draw_concat("rand").shape) == (1, 3, 30, 30)
  assert tuple(trainer.z_prev.shape) == (1, 3, 40, 40)  # padded by 5 px
  before_g = [p.detach().clone() for p in trainer.netG.parameters()]
  before_d = [p.detach().clone() for p in trainer.netD.parameters()]
  before_frozen = [p.detach().clone() for p in trainer.frozen[0].parameters()]
  trainer.iteration()
  assert all(torch.isfinite(p).all() for p in trainer.netG.parameters())
  assert any(not torch.equal(o, n) for o, n in zip(before_g, trainer.netG.parameters()))
  assert any(not torch.equal(o, n) for o, n in zip(before_d, trainer.netD.parameters()))
  assert all(torch.equal(o, n) for o, n in zip(before_frozen, trainer.frozen[0].parameters()))
  with pytest.raises(UserInputError):
    ref.ScaleTrainer.with_random_frozen(40, 40, 4)


def test_time_iterations_reports_the_scale():
  result = ref.time_iterations(40, 40, 0, iters=1, warmup=0, threads=1)
  assert result["size"] == (26, 26)
  assert result["channels"] == 32 and result["num_frozen"] == 0
  assert result["seconds_per_iter"] > 0
  assert len(result["iteration_seconds"]) == 1
  assert result["cpu_per_wall"] > 0


def test_main_writes_json_and_rejects_bad_flags(tmp_path):
  out = tmp_path / "t.json"
  cmd = [sys.executable, "-m", "benchmarks.torch_singan_reference", "--height=40",
         "--width=40", "--iters=1", "--warmup=0", "--threads=1"]
  done = subprocess.run(cmd + ["--scales=0,1", f"--out={out}"], cwd=_REPO,
                        capture_output=True, text=True, timeout=120, check=False)
  assert done.returncode == 0, done.stderr
  rows = json.loads(out.read_text())["rows"]
  assert [r["scale"] for r in rows] == [0, 1]
  assert [r["size"] for r in rows] == [[26, 26], [30, 30]]
  bad = subprocess.run(cmd + ["--scales=9"], cwd=_REPO, capture_output=True, text=True,
                       timeout=120, check=False)
  assert bad.returncode == 2
  assert bad.stderr.strip().startswith("error: scale index 9")


def test_train_reference_trains_every_scale_and_samples_at_start_scales():
  rng = np.random.default_rng(0)
  sizes = [(16, 18), (19, 22), (23, 26)]
  reals = [rng.random((h, w, 3)).astype(np.float32) for h, w in sizes]
  model, seconds = ref.train_reference(reals, 0.84, iterations=2, seed=1, log=lambda _: None)
  assert len(model.generators) == 3 and len(seconds) == 3
  assert model.noise_amps[0] == 1.0
  # Later scales: 0.1 x RMSE of the upsampled reconstruction against the real.
  assert all(0.0 < a < 0.1 for a in model.noise_amps[1:])
  assert all(not g.training for g in model.generators)
  for k in range(3):
    samples = model.sample(3, start_scale=k, seed=k)
    assert samples.shape == (3, 23, 26, 3) and 0.0 <= samples.min() <= samples.max() <= 1.0
  # Start scale 2: scales 0 and 1 follow z_opt, so samples differ only by the last
  # scale's noise, less than samples from fresh noise everywhere.
  spread = {k: float(model.sample(4, start_scale=k, seed=5).std(axis=0).mean()) for k in (0, 2)}
  assert spread[2] < spread[0]
  with pytest.raises(UserInputError, match="start scale 3"):
    model.sample(1, start_scale=3)
