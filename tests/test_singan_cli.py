"""SinGAN end to end through the command line: train, resume after a kill, sample,
and every kind of bad input."""

import json
import os
import signal
import subprocess
import time

import cv2
import numpy as np
import pytest

import harness
from tfsingan.common import image_io
from tfsingan.common import rundir
from tfsingan.errors import UserInputError
from tfsingan.singan import trainer
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.inference import TrainedSinGAN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = ["--flagfile=configs/singan_tiny.cfg"]
TINY = SinGANConfig(max_size=24, min_size=18, base_channels=8, max_channels=8, iterations=6,
                    checkpoint_every=3, log_every=3, image_every=6)


_cli = harness.run_cli


@pytest.fixture(scope="module")
def trained(tiny_singan_run):
  """A tiny SinGAN trained through the CLI on a 24 px image (tests/conftest.py, shared
  with other files): (workdir, the CompletedProcess-like stdout/stderr)."""
  workdir, stdout, stderr = tiny_singan_run
  return workdir, subprocess.CompletedProcess(["tfsingan.train"], 0, stdout, stderr)


def test_end_to_end_run_writes_the_run_directory(trained):
  workdir, result = trained
  state = json.load(open(os.path.join(workdir, "state.json")))
  assert state["finished_scales"] == 3
  assert state["sizes"] == [[18, 18], [21, 21], [24, 24]]
  assert state["noise_amps"][0] == 1.0 and all(0 < a < 1 for a in state["noise_amps"][1:])
  config = json.load(open(os.path.join(workdir, "config.json")))
  assert config["iterations"] == 6 and config["base_channels"] == 8
  # --precision=auto is resolved (pinned to float32 by tests/conftest.py) and recorded.
  assert config["precision"] == "float32"
  assert "precision: auto -> float32" in result.stderr
  # The execution choices for this CPU are resolved and recorded too (6 iterations a
  # scale are too few for XLA's compilation to pay on any CPU).
  assert min(config[k] for k in ("xla_max_pixels", "xla_min_iterations",
                                 "fused_bn_min_pixels")) >= 0
  assert config["xla_min_iterations"] > 6 and "execution: " in result.stderr
  for n in range(3):
    assert os.path.exists(os.path.join(workdir, "scales", f"{n:02d}", "generator.weights.h5"))
    assert os.path.exists(os.path.join(workdir, "pyramid", f"real_{n:02d}.png"))
  assert os.listdir(os.path.join(workdir, "tb"))
  assert "scale 2/2" in result.stderr and "ETA" in result.stderr
  assert not os.path.exists(os.path.join(workdir, "checkpoints", "latest.json"))


def test_finished_run_is_not_retrained(trained):
  workdir, _ = trained
  weights = os.path.join(workdir, "scales", "02", "generator.weights.h5")
  mtime = os.path.getmtime(weights)
  # On a machine where auto means bfloat16 the float32 run is kept, not refused.
  result = _cli("tfsingan.train", *TINY_FLAGS, f"--workdir={workdir}",
                f"--image={json.load(open(os.path.join(workdir, 'config.json')))['image']}",
                TFSINGAN_AUTO_PRECISION="mixed_bfloat16")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "already trained" in result.stdout
  assert "precision: auto -> float32 (the run's recorded precision" in result.stderr
  assert os.path.getmtime(weights) == mtime
  assert json.load(open(os.path.join(workdir, "config.json")))["precision"] == "float32"


def test_resume_after_kill(tmp_path):
  workdir = str(tmp_path / "work")
  # 30 iterations a scale, killed after the first checkpoint (iteration 10): the resume
  # trains 80 iterations (60 a scale and a kill at 20 took 160, 2.5 min under load).
  args = [*TINY_FLAGS, "--iterations=30", "--checkpoint_every=10", "--log_every=10",
          "--image_every=30", f"--workdir={workdir}"]
  proc = harness.start_python("-m", "tfsingan.train", *args, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
  pointer = os.path.join(workdir, "checkpoints", "latest.json")
  deadline = time.time() + 300
  try:
    while time.time() < deadline:
      if os.path.exists(pointer) and json.load(open(pointer))["iteration"] >= 10:
        break
      if proc.poll() is not None:
        pytest.fail("training ended before it could be killed")
      time.sleep(0.05)
    else:
      pytest.fail("no mid-scale checkpoint within 300 s")
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  killed_at = json.load(open(pointer))
  finished_before = json.load(open(os.path.join(workdir, "state.json")))["finished_scales"]
  assert finished_before == killed_at["scale"] < 3
  result = _cli("tfsingan.train", *args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (f"resuming scale {killed_at['scale']} at iteration {killed_at['iteration']}"
          in result.stdout)
  # Finished scales are loaded, not retrained.
  for n in range(finished_before):
    assert f"scale {n}/2" not in result.stderr
  state = json.load(open(os.path.join(workdir, "state.json")))
  assert state["finished_scales"] == 3


def test_sampling_at_every_start_scale_and_wider(trained):
  workdir, _ = trained
  model = TrainedSinGAN.load(workdir)
  assert model.num_scales == 3
  for k in range(3):
    images = model.sample(3, start_scale=k, seed=1)
    assert images.shape == (3, 24, 24, 3)
    assert np.all(np.isfinite(images)) and images.min() >= 0 and images.max() <= 1
    wide = model.sample(2, start_scale=k, scale_w=1.5, seed=1)
    assert wide.shape == (2, 24, 36, 3)
    tall = model.sample(1, start_scale=k, scale_h=1.5, scale_w=0.75, seed=1)
    assert tall.shape == (1, 36, 18, 3)
  # Different noise gives different samples; the same seed the same ones.
  a, b = model.sample(2, start_scale=0, seed=7)
  assert not np.allclose(a, b)
  # The same seed at batch 1 instead of 2: oneDNN picks its kernels per batch size and
  # per CPU (measured with ONEDNN_MAX_CPU_ISA=AVX2: up to 4.5e-7 apart, 1266 of 1728
  # values), so only a tolerance holds everywhere. 1e-5 is 20x that round-off and far
  # below the > 1e-2 that another seed or mixed-up noise moves a pixel.
  np.testing.assert_allclose(model.sample(1, seed=7)[0], a, rtol=0, atol=1e-5)


def test_later_start_scales_stay_closer_to_the_reconstruction(trained):
  workdir, _ = trained
  model = TrainedSinGAN.load(workdir)
  rec = (model.reconstructions()[-1][0].numpy() + 1) / 2
  dist = [np.abs(model.sample(6, start_scale=k, seed=3) - rec).mean() for k in range(3)]
  assert dist[2] < dist[0]


def test_sample_cli_writes_pngs_and_a_grid(trained, tmp_path):
  workdir, _ = trained
  out = str(tmp_path / "samples")
  result = _cli("tfsingan.sample", f"--workdir={workdir}", "--num_samples=2",
                "--gen_start_scale=0,1,2", "--scale_w=1.5", f"--out={out}")
  assert result.returncode == 0, result.stderr[-2000:]
  names = sorted(os.listdir(out))
  assert names == ["grid.png"] + [f"start{k}_{i:03d}.png" for k in range(3) for i in range(2)]
  assert cv2.imread(os.path.join(out, "start1_000.png")).shape == (24, 36, 3)
  grid = cv2.imread(os.path.join(out, "grid.png"))
  assert grid.shape[0] > 3 * 24


# ---- bad input -------------------------------------------------------------------


def _write(path, data):
  with open(path, "wb") as f:
    f.write(data)
  return str(path)


def _png_bytes(img):
  ok, enc = cv2.imencode(".png", img)
  assert ok
  return enc.tobytes()


@pytest.fixture()
def bad_files(tmp_path):
  face = image_io.to_uint8(image_io.bundled_face(40))[:, :, ::-1]
  ok, jpeg = cv2.imencode(".jpg", face)
  assert ok
  return {
      "missing": str(tmp_path / "nope.png"),
      "text": _write(tmp_path / "notes.png", b"this is not an image\n"),
      "truncated": _write(tmp_path / "cut.jpg", jpeg.tobytes()[: len(jpeg) // 2]),
      "empty": _write(tmp_path / "empty.png", b""),
      "directory": str(tmp_path),
  }


@pytest.mark.parametrize("kind,message", [
    ("missing", "file not found"), ("text", "not a readable image"),
    ("truncated", "truncated JPEG"), ("empty", "is empty"), ("directory", "directory")])
def test_bad_image_files_are_refused(bad_files, kind, message):
  with pytest.raises(UserInputError, match=message):
    image_io.load_image(bad_files[kind], what="--image")


def test_grayscale_rgba_and_16bit_are_converted_with_a_notice(tmp_path, capsys):
  face = image_io.to_uint8(image_io.bundled_face(40))[:, :, ::-1]
  gray = _write(tmp_path / "g.png", _png_bytes(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)))
  rgba = _write(tmp_path / "a.png", _png_bytes(np.dstack([face, np.full(face.shape[:2], 255,
                                                                         np.uint8)])))
  deep = _write(tmp_path / "d.png", _png_bytes(face.astype(np.uint16) * 257))
  for path, note in [(gray, "grayscale"), (rgba, "alpha"), (deep, "16-bit")]:
    img = image_io.load_image(path, what="--image")
    assert img.shape == (40, 40, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert note in capsys.readouterr().out
  np.testing.assert_allclose(image_io.load_image(deep), image_io.load_image(rgba), atol=1e-6)


def test_image_smaller_than_min_size_is_refused(tmp_path):
  small = str(tmp_path / "small.png")
  image_io.save_image(small, np.random.default_rng(0).random((12, 30, 3)))
  with pytest.raises(UserInputError, match="min_size"):
    trainer.run(SinGANConfig(image=small, min_size=18, max_size=24), str(tmp_path / "w"))


def test_very_large_image_is_resized_with_a_notice(tmp_path, capsys):
  big = str(tmp_path / "big.jpg")
  image_io.save_image(big, np.random.default_rng(0).random((3000, 4000, 3)))
  pyr, reals = trainer.build_pyramid(image_io.load_image(big), TINY)
  assert "resized to 24x18" in capsys.readouterr().out
  assert reals[-1].shape == (18, 24, 3) and pyr.resize_to == (18, 24)


def test_unwritable_workdir(tmp_path):
  blocker = _write(tmp_path / "file", b"x")
  with pytest.raises(UserInputError, match="is a file"):
    with rundir.prepare(os.path.join(blocker, "run"), TINY, family="singan"):
      pass


def test_workdir_of_another_run_is_left_alone(tmp_path):
  workdir = str(tmp_path / "w")
  with rundir.prepare(workdir, TINY, family="singan") as run:
    run.start()
  before = open(os.path.join(workdir, "config.json")).read()
  other = SinGANConfig(**{**TINY.__dict__, "iterations": 99})
  with pytest.raises(UserInputError, match="other settings"):
    with rundir.prepare(workdir, other, family="singan"):
      pass
  assert open(os.path.join(workdir, "config.json")).read() == before


@pytest.mark.parametrize("args,message", [
    (["--image=/no/such/face.png"], "file not found"),
    (["--precision=float64"], "precision"),
    (["--no_such_flag=1"], "no_such_flag"),
    (["--iterations=0"], "--iterations=0"),
    (["--learning_rate=nan"], "--learning_rate=nan"),
    (["--num_gaussians=3"], None),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
  result = _cli("tfsingan.train", *TINY_FLAGS, f"--workdir={tmp_path / 'w'}", *args)
  assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
  lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in result.stderr
  if message:
    assert message in lines[0]


def test_cli_text_file_named_png(bad_files, tmp_path):
  result = _cli("tfsingan.train", *TINY_FLAGS, f"--image={bad_files['text']}",
                f"--workdir={tmp_path / 'w'}")
  assert result.returncode == 2
  assert "not a readable image" in result.stderr and "Traceback" not in result.stderr


def test_sample_cli_errors(trained, tmp_path):
  workdir, _ = trained
  result = _cli("tfsingan.sample", f"--workdir={workdir}", "--gen_start_scale=7",
                f"--out={tmp_path}")
  assert result.returncode == 2 and "--gen_start_scale=7" in result.stderr
  result = _cli("tfsingan.sample", f"--workdir={tmp_path / 'none'}", f"--out={tmp_path}")
  assert result.returncode == 2 and "holds no SinGAN run" in result.stderr


def test_dry_run_prints_the_resolved_config():
  result = _cli("tfsingan.train", "--flagfile=configs/singan_face.cfg", "--iterations=7",
                "--dry_run")
  assert result.returncode == 0, result.stderr[-2000:]
  config = json.loads(result.stdout)
  assert config["max_size"] == 128 and config["iterations"] == 7
  assert config["gen_start_scale"] == 1 and config["lambda_gp"] == 0.1
