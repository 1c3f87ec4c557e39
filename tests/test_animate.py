"""Tests of `python -m tfsingan.animate` and its face crop / paste-back (GANimation, Pumarola et al., 2018)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tfsingan import config as config_lib
from tfsingan import synthetic
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import faces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOX = (40, 16, 64, 64)  # where the synthetic face sits in the test photo


def run_cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  return subprocess.run([sys.executable, "-m", "tfsingan.animate", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """An untrained tiny generator saved as the trainer saves a finished run."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import networks  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("ganimation_run")
  config = GANimationConfig(image_size=32, conv_dim=8, repeat_num=1, critic_layers=4)
  keras.utils.set_random_seed(0)
  generator = networks.build_generator(32, 8, 1, dtype="float32")
  generator.save_weights(str(root / inference.GENERATOR_WEIGHTS))
  (root / inference.CONFIG_NAME).write_text(config_lib.to_json(config))
  return str(root)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
  """A synthetic face (64 px) on a 144 x 96 noisy background, saved as PNG."""
  rng = np.random.default_rng(0)
  img = rng.uniform(0, 1, (96, 144, 3)).astype(np.float32)
  x, y, w, h = BOX
  img[y:y + h, x:x + w] = synthetic.render(synthetic.sample_identity(rng), np.zeros(17), size=w)
  path = str(tmp_path_factory.mktemp("photo") / "photo.png")
  image_io.save_image(path, img)
  return path


def read_u8(path):
  return image_io.to_uint8(image_io.load_image(path, quiet=True))


# -------------------------------------------------------------- library
def test_crop_box_is_square_margined_and_inside_the_image():
  assert faces.crop_box((40, 40, 20, 20), (100, 100), margin=0.25) == (35, 35, 30, 30)
  # Near a corner the square shifts inside rather than shrinking.
  assert faces.crop_box((0, 0, 20, 20), (100, 100), margin=0.5) == (0, 0, 40, 40)
  # Larger than the photo: shrinks to its shorter side.
  assert faces.crop_box((10, 0, 60, 60), (50, 100), margin=0.25) == (15, 0, 50, 50)


def test_parse_box_rejects_bad_and_outside_boxes():
  assert faces.parse_box("1, 2, 30, 40", (50, 60)) == (1, 2, 30, 40)
  for spec in ("1,2,3", "a,b,c,d", "0,0,0,10", "-1,0,10,10", "50,0,20,20", "0,40,10,20"):
    with pytest.raises(UserInputError, match="--box"):
      faces.parse_box(spec, (50, 60))


def test_paste_blends_through_the_attention_inside_the_box_only():
  rng = np.random.default_rng(1)
  photo = rng.uniform(0, 1, (40, 50, 3)).astype(np.float32)
  box = (10, 5, 20, 20)
  colour = rng.uniform(0, 1, (8, 8, 3)).astype(np.float32)
  keep = faces.paste(photo, box, np.ones((8, 8), np.float32), colour)
  np.testing.assert_array_equal(keep, photo)  # A = 1 keeps the photo exactly
  full = faces.paste(photo, box, np.zeros((8, 8), np.float32), colour)
  outside = np.ones(photo.shape[:2], bool)
  outside[5:25, 10:30] = False
  np.testing.assert_array_equal(full[outside], photo[outside])
  # A = 0 gives the colour mask resized to the box (constant colour stays constant).
  flat = faces.paste(photo, box, np.zeros((8, 8), np.float32), np.full((8, 8, 3), 0.25))
  np.testing.assert_allclose(flat[5:25, 10:30], 0.25, atol=1e-6)


def test_detector_finds_the_bundled_face():
  img = image_io.bundled_face()  # a real photo, the face roughly in the middle
  x, y, w, h = faces.detect_face(img)
  cx, cy = x + w / 2, y + h / 2
  assert 60 < cx < 140 and 60 < cy < 140, (x, y, w, h)
  assert 40 <= w <= 180
  # A larger photo with the face in a corner: detection runs on a shrunk copy.
  big = np.zeros((700, 900, 3), np.float32)
  big[450:650, 650:850] = img
  bx, by, bw, bh = faces.detect_face(big)
  assert 650 <= bx + bw / 2 <= 850 and 450 <= by + bh / 2 <= 650, (bx, by, bw, bh)


def test_no_face_is_a_user_error():
  with pytest.raises(UserInputError, match="no face found in x.png; pass --box"):
    faces.detect_face(np.full((100, 100, 3), 0.5, np.float32), what="x.png")


def test_plan_edits():
  edits, seq = aus_lib.plan_edits(emotion=["happy", "sad"])
  assert seq is None and [e[0] for e in edits] == ["happy", "sad"]
  np.testing.assert_array_equal(edits[0][2], aus_lib.emotion_aus("happy"))
  edits, _ = aus_lib.plan_edits(sweep="au12", source_aus="AU06:0.5")
  assert [e[0] for e in edits] == ["AU12_0.00", "AU12_0.33", "AU12_0.66", "AU12_1.00"]
  assert all(e[2][aus_lib.au_index("AU06")] == 0.5 for e in edits)
  edits, seq = aus_lib.plan_edits(aus="AU12:1", interpolate=3, source_aus="AU04:0.8")
  assert seq == "aus" and len(edits) == 3
  i12, i04 = aus_lib.au_index("AU12"), aus_lib.au_index("AU04")
  np.testing.assert_allclose([e[2][i12] for e in edits], [0.0, 0.5, 1.0])
  np.testing.assert_allclose([e[2][i04] for e in edits], [0.8, 0.4, 0.0])
  for kwargs in (dict(), dict(emotion=["happy"], aus="AU12:1"), dict(emotion=["joy"]),
                 dict(aus="AU99:1"), dict(emotion=["happy", "sad"], interpolate=4),
                 dict(sweep="AU12", interpolate=4), dict(emotion=["happy"], interpolate=1)):
    with pytest.raises(UserInputError):
      aus_lib.plan_edits(**kwargs)


# ------------------------------------------------------------------ CLI
def test_cli_emotions_change_only_the_box(workdir, photo, tmp_path):
  out = str(tmp_path / "out")
  box = ",".join(str(v) for v in BOX)
  r = run_cli(f"--workdir={workdir}", f"--image={photo}", f"--out={out}",
              "--emotion=happy,surprise", f"--box={box}")
  assert r.returncode == 0, r.stderr
  assert sorted(os.listdir(out)) == ["grid.png", "happy.png", "surprise.png"]
  before = read_u8(photo)
  outside = np.ones(before.shape[:2], bool)
  x, y, w, h = BOX
  outside[y:y + h, x:x + w] = False
  for name in ("happy", "surprise"):
    after = read_u8(os.path.join(out, f"{name}.png"))
    assert after.shape == before.shape
    np.testing.assert_array_equal(after[outside], before[outside])
    assert np.abs(after[~outside].astype(int) - before[~outside]).max() > 0
  grid = image_io.load_image(os.path.join(out, "grid.png"), quiet=True)
  assert grid.shape[0] >= 2 * 32 and grid.shape[1] >= 3 * 32


def test_cli_sweep_interpolate_and_detector(workdir, photo, tmp_path):
  out = str(tmp_path / "sweep")
  face = str(tmp_path / "face.png")
  image_io.save_image(face, image_io.bundled_face())
  r = run_cli(f"--workdir={workdir}", f"--image={face}", f"--out={out}", "--sweep=AU12")
  assert r.returncode == 0, r.stderr
  assert "neutral" in r.stdout and "--box=" in r.stdout
  assert sorted(os.listdir(out)) == sorted(
      ["grid.png"] + [f"AU12_{v:.2f}.png" for v in (0, 0.33, 0.66, 1)])
  out = str(tmp_path / "interp")
  r = run_cli(f"--workdir={workdir}", f"--image={photo}", f"--out={out}", "--box=40,16,64,64",
              "--aus=AU12:1.0,AU06:0.8", "--interpolate=4")
  assert r.returncode == 0, r.stderr
  assert sorted(os.listdir(out)) == ["aus.gif", "aus.png", "frames", "grid.png"]
  assert sorted(os.listdir(os.path.join(out, "frames"))) == [
      f"frame_{i:03d}.png" for i in range(4)]
  from PIL import Image  # pylint: disable=import-outside-toplevel
  with Image.open(os.path.join(out, "aus.gif")) as gif:
    assert gif.size == (144, 96)


@pytest.mark.parametrize("args,message", [
    (["--image=MISSING.png", "--emotion=happy"], "--image"),
    (["--aus=AU12:2.0"], "--aus"),
    (["--aus=AU12"], "--aus"),
    (["--emotion=joy"], "unknown emotion"),
    (["--emotion=happy", "--box=1,2,3"], "--box"),
    (["--emotion=happy", "--box=100,50,64,64"], "outside"),
    (["--emotion=happy", "--workdir=NOWHERE"], "--workdir"),
    (["--emotion=happy", "--out=x", "extra"], "unexpected"),
])
def test_cli_errors_are_one_line_exit_2(workdir, photo, tmp_path, args, message):
  base = {"--workdir": workdir, "--image": photo, "--out": str(tmp_path / "o")}
  given = {a.split("=")[0] for a in args}
  argv = [f"{k}={v}" for k, v in base.items() if k not in given] + args
  r = run_cli(*argv)
  assert r.returncode == 2, (r.stdout, r.stderr)
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
  assert not os.path.exists(tmp_path / "o")


def test_cli_no_face_found(workdir, tmp_path):
  blank = str(tmp_path / "blank.png")
  image_io.save_image(blank, np.full((80, 80, 3), 0.5, np.float32))
  r = run_cli(f"--workdir={workdir}", f"--image={blank}", f"--out={tmp_path / 'o'}",
              "--emotion=happy")
  assert r.returncode == 2
  assert r.stderr.strip() == f"error: no face found in {blank}; pass --box=x,y,w,h"


def test_cli_warp_editor_needs_no_model(tmp_path, real_face, au_reader):
  del au_reader  # only its skip: the CLI reads the landmarks itself
  path = real_face("grace_hopper.jpg")
  out = tmp_path / "warp"
  result = run_cli("--editor=warp", f"--image={path}", f"--out={out}",
                   "--emotion=happy,surprise")
  assert result.returncode == 0, result.stderr[-2000:]
  assert {"happy.png", "surprise.png", "grid.png"} <= set(os.listdir(out))
  photo = image_io.to_uint8(image_io.load_image(path))
  happy = image_io.to_uint8(image_io.load_image(str(out / "happy.png")))
  changed = np.any(happy != photo, axis=2)
  assert 0.005 < changed.mean() < 0.5  # the face moved, the rest of the photo did not
  ys, xs = np.nonzero(changed)
  assert 100 < ys.mean() < 400 and 150 < xs.mean() < 370  # around the face (512 px photo)
