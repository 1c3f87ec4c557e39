"""SinGAN applications (paint-to-image, harmonization, editing, super-resolution,
animation) on one tiny trained pyramid: library functions and the sample CLI."""

import math
import os

import cv2
import numpy as np
import pytest

import harness
from tfsingan.common import image_io
from tfsingan.common.resize import imresize_np
from tfsingan.errors import UserInputError
from tfsingan.singan import applications
from tfsingan.singan.inference import TrainedSinGAN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 24  # training image; the tiny pyramid is 18, 21, 24 px


def _cli(*args):
  return harness.run_cli("tfsingan.sample", *args, timeout=300)


@pytest.fixture(scope="module")
def run(tiny_singan_run):
  """(workdir, TrainedSinGAN) of the tiny SinGAN trained on a 24 px face
  (configs/singan_tiny.cfg; tests/conftest.py trains it once per session)."""
  workdir = tiny_singan_run[0]
  return workdir, TrainedSinGAN.load(workdir)


@pytest.fixture(scope="module")
def model(run):
  return run[1]


def _paste(size=SIZE):
  """A naive composite: a flat square pasted on the face, and its mask."""
  ref = image_io.bundled_face(size).copy()
  mask = np.zeros((size, size), np.float32)
  lo, hi = size * 3 // 8, size * 5 // 8
  ref[lo:hi, lo:hi] = (0.9, 0.2, 0.1)
  mask[lo:hi, lo:hi] = 1.0
  return ref, mask


def _square_support(binary, half):
  return cv2.dilate(binary.astype(np.uint8), np.ones((2 * half + 1, 2 * half + 1), np.uint8)) > 0


# ---- injection: paint2image ---------------------------------------------------


def test_paint2image_output_size_and_start_scales(model):
  paint = image_io.bundled_face(SIZE)[:, ::-1]
  out1, injected = applications.paint2image(model, paint, 1, num=2, seed=3)
  out2, _ = applications.paint2image(model, paint, 2, num=2, seed=3)
  assert out1.shape == out2.shape == (2, SIZE, SIZE, 3)
  assert np.all(np.isfinite(out1)) and 0 <= out1.min() and out1.max() <= 1
  np.testing.assert_array_equal(injected, paint)
  assert not np.allclose(out1[0], out1[1])  # variants differ
  # Injecting later leaves fewer scales to change the paint.
  assert np.abs(out2 - paint).mean() < np.abs(out1 - paint).mean() + 0.05
  for bad in (0, model.num_scales):
    with pytest.raises(UserInputError, match=f"--start_scale={bad}: expected 1..2"):
      applications.paint2image(model, paint, bad)


def test_paint2image_quantize_uses_the_training_palette(model, capsys):
  paint = image_io.bundled_face(40)
  out, injected = applications.paint2image(model, paint, 1, quantize=True, num_colors=4)
  assert "resized to 24x24" in capsys.readouterr().out
  assert out.shape == (1, SIZE, SIZE, 3)
  colors = np.unique(injected.reshape(-1, 3), axis=0)
  assert len(colors) <= 4
  centers = applications.palette(model.reals[1], 4)
  assert all(np.abs(centers - c).sum(1).min() < 1e-6 for c in colors)


def test_palette_and_quantize_are_nearest_centre():
  img = np.zeros((4, 4, 3), np.float32)
  img[:2] = (1.0, 0.0, 0.0)
  img[2:] = (0.0, 0.0, 1.0)
  centers = applications.palette(img, 2)
  assert sorted(map(tuple, np.round(centers, 4))) == [(0, 0, 1), (1, 0, 0)]
  q = applications.quantize_to_palette(np.array([[[0.8, 0.1, 0.2], [0.1, 0.2, 0.7]]]),
                                       centers)
  np.testing.assert_allclose(q, [[[1, 0, 0], [0, 0, 1]]], atol=1e-6)


# ---- harmonization / editing ------------------------------------------------


def test_blend_mask_is_dilated_blurred_and_confined():
  mask = np.zeros((60, 60), bool)
  mask[30, 30] = True
  soft = applications.blend_mask(mask, radius=5, sigma=2.0)
  half = applications.blend_radius(5, 2.0)
  assert half == 11 and soft.max() == 1.0 and soft[30, 30] == 1.0
  assert 0 < soft[30, 30 + 6] < soft[30, 30 + 4]  # blurred edge, falling off outward
  outside = ~_square_support(mask, half)
  assert np.all(soft[outside] == 0) and soft.min() >= 0
  assert soft[30, 30 + half] > 0  # the support reaches the stated radius
  r_h, s_h = applications.mask_parameters((250, 250), "harmonization")
  r_e, s_e = applications.mask_parameters((500, 300), "editing")
  assert (r_h, s_h) == (7, 5.0) and (r_e, s_e) == (40, 10.0)


@pytest.mark.parametrize("mode", ["harmonization", "editing"])
def test_harmonization_leaves_pixels_outside_the_dilated_mask_unchanged(model, mode):
  ref, mask = _paste()
  out, raw, soft, ref_used = applications.harmonize(model, ref, mask, 2, mode=mode, num=2,
                                                    seed=1)
  assert out.shape == raw.shape == (2, SIZE, SIZE, 3)
  radius, sigma = applications.mask_parameters((SIZE, SIZE), mode)
  outside = ~_square_support(mask > 0.5, applications.blend_radius(radius, sigma))
  assert outside.sum() > 100
  for img in out:
    np.testing.assert_array_equal(img[outside], ref[outside])  # exactly
  # A soft blend in between; where the mask is 1 the output is the generator's, and
  # it changed the paste.
  m = soft[None, :, :, None]
  np.testing.assert_allclose(out, m * raw + (1 - m) * ref_used[None], atol=1e-6)
  core = soft == 1.0
  assert core.sum() > 0 and np.all(mask[core] == 1)
  np.testing.assert_allclose(out[:, core], raw[:, core], atol=1e-6)
  assert np.abs(out[:, core] - ref_used[core]).mean() > 1e-3


def test_editing_dilates_more_than_harmonization(model):
  ref, mask = _paste()
  _, _, soft_h, _ = applications.harmonize(model, ref, mask, 1, mode="harmonization")
  _, _, soft_e, _ = applications.harmonize(model, ref, mask, 1, mode="editing")
  assert (soft_e > 0).sum() > (soft_h > 0).sum()
  assert np.all((soft_e > 0)[soft_h > 0])


def test_harmonization_resizes_the_input_and_refuses_bad_masks(model, capsys):
  ref, mask = _paste(48)
  out, _, _, ref_used = applications.harmonize(model, ref, mask, 1)
  assert out.shape == (1, SIZE, SIZE, 3) and ref_used.shape == (SIZE, SIZE, 3)
  assert "--input 48x48 resized to 24x24" in capsys.readouterr().out
  with pytest.raises(UserInputError, match="--mask is 48x40 but the input is 48x48"):
    applications.harmonize(model, ref, mask[:40], 1)
  with pytest.raises(UserInputError, match="no white pixels"):
    applications.harmonize(model, ref, np.zeros_like(mask), 1)
  with pytest.raises(UserInputError, match="--start_scale=3"):
    applications.harmonize(model, ref, mask, 3)


# ---- super-resolution -------------------------------------------------------


def test_sr_steps_follow_the_original_schedule():
  k, f = applications.sr_steps(4.0)
  assert k == 6 and math.isclose(f, 2 ** (1 / 3))
  k, f = applications.sr_steps(2.5)
  assert k == 4 and math.isclose(f ** k, 2.5)
  assert applications.sr_steps(1.1)[0] == 1
  sizes = applications.sr_sizes((25, 40), 3.0)
  assert len(sizes) == 5 and sizes[-1] == (75, 120)
  assert all(a[0] < b[0] for a, b in zip(sizes, sizes[1:]))
  for bad in (1.0, 0.5, float("nan"), float("inf")):
    with pytest.raises(UserInputError, match="--sr_factor"):
      applications.sr_steps(bad)


@pytest.mark.parametrize("factor", [2.0, 2.5])
def test_super_resolution_output_size(model, factor):
  high = applications.super_resolve(model, factor, seed=0)
  side = round(factor * SIZE)
  assert high.shape == (side, side, 3)
  assert np.all(np.isfinite(high)) and 0 <= high.min() and high.max() <= 1
  np.testing.assert_array_equal(high, applications.super_resolve(model, factor, seed=0))


class _StubPyramid:
  """A pyramid whose finest generator adds 0.1 to its input and records the calls."""

  def __init__(self, real):
    self.reals, self.sizes, self.noise_amps = [real], [real.shape[:2]], [0.5]
    self.calls = []
    self.generators = [self._generator]

  def _generator(self, inputs, training=False):
    noise, prev = inputs
    self.calls.append((tuple(prev.shape[1:3]), float(np.std(noise))))
    return prev + 0.1


def test_super_resolution_applies_the_finest_generator_k_times():
  real = image_io.bundled_face((20, 30))
  stub = _StubPyramid(real)
  high = applications.super_resolve(stub, 4.0, seed=0)
  sizes = applications.sr_sizes((20, 30), 4.0)
  assert [c[0] for c in stub.calls] == sizes and sizes[-1] == (80, 120) and len(sizes) == 6
  assert all(0.3 < c[1] < 0.7 for c in stub.calls)  # noise at the finest amplitude
  x = 2 * real - 1
  for size in sizes:  # bicubic up, then the generator (+0.1)
    x = imresize_np(x, size) + 0.1
  np.testing.assert_allclose(high, np.clip((x + 1) / 2, 0, 1), atol=1e-5)


# ---- animation --------------------------------------------------------------


def test_random_walk_is_smooth_and_pulled_back_to_z_opt():
  z_opt = np.random.default_rng(0).standard_normal((8, 8, 3)).astype(np.float32)
  fixed = applications.random_walk(z_opt, 5, np.random.default_rng(1), alpha=1.0)
  np.testing.assert_allclose(fixed, np.broadcast_to(z_opt, fixed.shape), atol=1e-6)
  walk = applications.random_walk(z_opt, 200, np.random.default_rng(1))
  again = applications.random_walk(z_opt, 200, np.random.default_rng(1))
  np.testing.assert_array_equal(walk, again)
  steps = np.abs(np.diff(walk, axis=0)).mean()
  assert steps < 0.2 * np.abs(walk[0] - np.random.default_rng(2).standard_normal(
      z_opt.shape)).mean()
  assert np.abs(walk - z_opt).mean() < 1.0  # stays near z_opt
  # At the coarsest scale one noise channel moves all three channels alike.
  gray = np.repeat(z_opt[:, :, :1], 3, axis=2)
  mono = applications.random_walk(gray, 4, np.random.default_rng(1), single_channel=True)
  np.testing.assert_array_equal(mono[..., 0], mono[..., 2])
  color = applications.random_walk(gray, 4, np.random.default_rng(1))
  assert not np.allclose(color[..., 0], color[..., 2])


def test_animate_frames(model):
  frames = applications.animate(model, 5, start_scale=0, seed=2)
  assert frames.shape == (5, SIZE, SIZE, 3)
  assert not np.allclose(frames[0], frames[-1])
  late = applications.animate(model, 5, start_scale=2, seed=2)
  assert np.abs(np.diff(late, axis=0)).mean() < np.abs(np.diff(frames, axis=0)).mean()
  with pytest.raises(UserInputError, match="--walk_beta=1.5"):
    applications.animate(model, 5, beta=1.5)
  with pytest.raises(UserInputError, match="--num_frames=0"):
    applications.animate(model, 0)


# ---- the CLI ------------------------------------------------------------------


def test_cli_harmonization(run, tmp_path):
  workdir, _ = run
  ref, mask = _paste()
  image_io.save_image(str(tmp_path / "paste.png"), ref)
  image_io.save_image(str(tmp_path / "mask.png"), np.repeat(mask[:, :, None], 3, axis=2))
  out = tmp_path / "out"
  result = _cli(f"--workdir={workdir}", f"--out={out}", "--mode=harmonization",
                f"--input={tmp_path / 'paste.png'}", f"--mask={tmp_path / 'mask.png'}",
                "--start_scale=2")
  assert result.returncode == 0, result.stderr[-2000:]
  assert sorted(os.listdir(out)) == ["grid.png", "harmonization_start2_000.png",
                                     "harmonization_start2_000_raw.png", "mask_blend.png"]
  got = cv2.imread(str(out / "harmonization_start2_000.png"))
  given = cv2.imread(str(tmp_path / "paste.png"))
  assert got.shape == (SIZE, SIZE, 3)
  radius, sigma = applications.mask_parameters((SIZE, SIZE), "harmonization")
  outside = ~_square_support(mask > 0.5, applications.blend_radius(radius, sigma))
  np.testing.assert_array_equal(got[outside], given[outside])
  assert not np.array_equal(got, given)


def test_cli_animation_writes_frames_gif_and_mp4(run, tmp_path):
  workdir, _ = run
  out = tmp_path / "anim"
  result = _cli(f"--workdir={workdir}", f"--out={out}", "--mode=animation", "--num_frames=6",
                "--fps=5", "--start_scale=1")
  assert result.returncode == 0, result.stderr[-2000:]
  assert sorted(os.listdir(out / "frames")) == [f"frame_{t:03d}.png" for t in range(6)]
  gif = (out / "animation.gif").read_bytes()
  assert gif[:6] == b"GIF89a"
  from PIL import Image  # pylint: disable=import-outside-toplevel
  with Image.open(out / "animation.gif") as im:
    assert im.n_frames == 6 and im.size == (SIZE, SIZE)
  if (out / "animation.mp4").exists():
    cap = cv2.VideoCapture(str(out / "animation.mp4"))
    count = 0
    while cap.read()[0]:
      count += 1
    assert count == 6
  else:
    assert "cannot write MPEG-4" in result.stdout


def test_cli_paint2image_and_super_resolution_sizes(run, tmp_path):
  workdir, _ = run
  paint = str(tmp_path / "paint.png")
  image_io.save_image(paint, image_io.bundled_face(40)[:, ::-1])
  out = tmp_path / "p2i"
  result = _cli(f"--workdir={workdir}", f"--out={out}", "--mode=paint2image", f"--input={paint}",
                "--start_scale=1", "--quantize", "--num_colors=4", "--num_samples=2")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "notice: --input 40x40 resized to 24x24" in result.stdout
  assert sorted(os.listdir(out)) == ["grid.png", "paint2image_start1_000.png",
                                     "paint2image_start1_001.png", "paint_input.png"]
  for name in ("paint2image_start1_000.png", "paint_input.png"):
    assert cv2.imread(str(out / name)).shape == (SIZE, SIZE, 3)
  injected = cv2.imread(str(out / "paint_input.png")).reshape(-1, 3)
  assert len(np.unique(injected, axis=0)) <= 4  # quantized to the palette
  out = tmp_path / "sr"
  result = _cli(f"--workdir={workdir}", f"--out={out}", "--mode=super_resolution",
                "--sr_factor=2")
  assert result.returncode == 0, result.stderr[-2000:]
  assert sorted(os.listdir(out)) == ["bicubic_x2.png", "super_resolution_x2.png"]
  assert cv2.imread(str(out / "super_resolution_x2.png")).shape == (2 * SIZE, 2 * SIZE, 3)


@pytest.mark.parametrize("args,message", [
    (["--mode=harmonization", "--input={face}"], "--mask is required"),
    (["--mode=paint2image", "--input={face}", "--mask={face}"], "--mask is not used"),
    (["--mode=editing", "--input={face}", "--mask={missing}", "--start_scale=1"],
     "--mask: file not found"),
    (["--mode=paint2image", "--input={text}", "--start_scale=1"],
     "--input: {text} is not a readable image"),
    (["--mode=animation", "--input={face}"], "--input is not used"),
    (["--mode=warp"], "--mode"),
    (["--sr_factor=2"], "--sr_factor is not used by --mode=random"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
  paths = {"face": str(tmp_path / "face.png"), "missing": str(tmp_path / "nope.png"),
           "text": str(tmp_path / "notes.png")}
  image_io.save_image(paths["face"], image_io.bundled_face(SIZE))
  (tmp_path / "notes.png").write_bytes(b"not an image\n")
  args = [a.format(**paths) for a in args]
  result = _cli(f"--workdir={tmp_path / 'none'}", f"--out={tmp_path / 'o'}", *args)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in result.stderr
  assert message.format(**paths) in lines[0]
