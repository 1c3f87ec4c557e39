"""Tests of `python -m tfsingan.expand_many` (tfsingan/singanimation/many.py, records.py):
3 photos on Beam's DirectRunner with the tiny configs, TFRecord shards against the
merged manifest, re-runs, a deleted photo redone alone, failures reported; CSV input."""

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("apache_beam", reason="expand_many needs the beam extra: "
                    "pip install -e '.[beam]' (make test installs it)")

import harness
from tfsingan.common import image_io  # pylint: disable=g-import-not-at-top
from tfsingan.errors import UserInputError  # pylint: disable=g-import-not-at-top
from tfsingan.singanimation import manifest  # pylint: disable=g-import-not-at-top
from tfsingan.singanimation import many  # pylint: disable=g-import-not-at-top
from tfsingan.singanimation import pipeline  # pylint: disable=g-import-not-at-top
from tfsingan.singanimation import records  # pylint: disable=g-import-not-at-top
from tfsingan.singanimation.config import SinGANimationConfig  # pylint: disable=g-import-not-at-top
from test_expand import inputs  # pylint: disable=unused-import,g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDS = ["face_a", "face_b", "face_c"]
BOX = "8,8,48,48"
# The tiny configs, cut to 2 expressions (source, emotion_happy) x 2 variants.
TINY = ("--flagfile=configs/singanimation_tiny.cfg", "--sweep_aus=", "--interpolate_steps=0",
        f"--box={BOX}")
IMAGES_PER_PHOTO = 4


def run_cli(*args):
  return harness.run_cli("tfsingan.expand_many", *args, timeout=900)


def write_photos(folder):
  """Three 64 x 56 crops of scikit-image's astronaut around her face: at the tiny
  config's 24 px a 2-scale pyramid (a square photo has 3), enough for --start_scale=1,
  and a third less SinGAN training per photo (4 of them in this file)."""
  import skimage.data  # pylint: disable=import-outside-toplevel
  import cv2  # pylint: disable=import-outside-toplevel
  astronaut = skimage.data.astronaut()
  os.makedirs(folder, exist_ok=True)
  for photo_id, (x, y) in zip(IDS, [(120, 10), (140, 20), (160, 0)]):
    crop = cv2.resize(astronaut[y:y + 175, x:x + 200], (64, 56), interpolation=cv2.INTER_AREA)
    image_io.save_image(os.path.join(folder, f"{photo_id}.png"), crop.astype(np.float32) / 255)
  return folder


def snapshot(out):
  return {os.path.relpath(os.path.join(d, f), out): os.stat(os.path.join(d, f)).st_mtime_ns
          for d, _, names in os.walk(out) for f in names}


def status_lines(stdout):
  return {line.split(":")[1].strip(): line.split(":")[2].split()[0]
          for line in stdout.splitlines() if line.startswith("expand_many: face")}


@pytest.fixture(scope="module")
def first_run(inputs, tmp_path_factory):  # pylint: disable=redefined-outer-name
  root = tmp_path_factory.mktemp("expand_many")
  photos = write_photos(str(root / "photos"))
  out = str(root / "out")
  _, gan = inputs
  args = (*TINY, f"--input={photos}", f"--ganimation_workdir={gan}", f"--out={out}")
  result = run_cli(*args)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  return out, args, result.stdout


def test_three_photos_make_three_datasets_shards_and_one_manifest(first_run):
  out, _, stdout = first_run
  assert status_lines(stdout) == {i: "done" for i in IDS}
  assert "3 done, 0 skipped, 0 failed; 12 images" in stdout
  rows = manifest.read_manifest(out)
  assert len(rows) == 3 * IMAGES_PER_PHOTO
  for photo_id in IDS:
    # Each photo's folder is an expand output of its own (manifest, images, sheet).
    own = manifest.read_manifest(os.path.join(out, photo_id))
    assert len(own) == IMAGES_PER_PHOTO
    assert os.path.isfile(os.path.join(out, photo_id, pipeline.CONTACT_SHEET))
    assert [r["file"] for r in rows if r["file"].startswith(photo_id + "/")] == [
        f"{photo_id}/{r['file']}" for r in own]
    assert all(r["source_photo"].endswith(f"{photo_id}.png") for r in own)
    # Its shard holds one record per manifest row.
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    shard = os.path.join(out, photo_id, records.RECORDS)
    parsed = [records.parse_example(s) for s in tf.data.TFRecordDataset(shard)]
    assert len(parsed) == len(own)
    for example, row in zip(parsed, own):
      assert example["photo_id"].numpy().decode() == photo_id
      assert example["expression"].numpy().decode() == row["expression"]
      assert int(example["label"]) == row["label"] and int(example["variant"]) == row["variant"]
      assert int(example["start_scale"]) == row["start_scale"] == 1
      np.testing.assert_array_equal(example["aus"].numpy(), row["aus"])
      with open(row["path"], "rb") as f:
        assert example["image"].numpy() == f.read()  # the PNG file's bytes
  assert {r["expression"] for r in rows} == {"source", "emotion_happy"}
  assert not os.path.exists(os.path.join(out, many.FAILURES))


def test_shards_load_as_the_manifest_does(first_run):
  out, _, _ = first_run
  from_shards = list(records.load_tfrecord_dataset(out, image_size=16).as_numpy_iterator())
  from_pngs = list(manifest.load_manifest_dataset(out, image_size=16).as_numpy_iterator())
  assert len(from_shards) == len(from_pngs) == 3 * IMAGES_PER_PHOTO
  for (a, la), (b, lb) in zip(from_shards, from_pngs):
    assert a.shape == (16, 16, 3) and la == lb
    np.testing.assert_array_equal(a, b)  # the same PNG bytes, the same decoder
  aus = next(iter(records.load_tfrecord_dataset(out, target="aus", shuffle=True)))[1]
  assert aus.shape == (17,)


def test_rerun_does_nothing_and_a_deleted_photo_is_redone_alone(first_run):
  out, args, _ = first_run
  before = snapshot(out)
  result = run_cli(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert status_lines(result.stdout) == {i: "skipped" for i in IDS}
  assert "0 done, 3 skipped, 0 failed" in result.stdout
  assert snapshot(out) == before

  shutil.rmtree(os.path.join(out, "face_b"))
  result = run_cli(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert status_lines(result.stdout) == {"face_a": "skipped", "face_b": "done",
                                         "face_c": "skipped"}
  after = snapshot(out)
  for path, mtime in before.items():
    if not path.startswith("face_b/") and path != manifest.MANIFEST:
      assert after[path] == mtime, path
  assert len(manifest.read_manifest(out)) == 3 * IMAGES_PER_PHOTO
  assert sum(1 for _ in records.load_tfrecord_dataset(out)) == 3 * IMAGES_PER_PHOTO


def test_csv_overrides_and_failures_are_reported_not_fatal(first_run, tmp_path):
  out, args, _ = first_run
  photos = os.path.dirname(out) + "/photos"
  (tmp_path / "bad.png").write_bytes(b"not a png")
  table = tmp_path / "photos.csv"
  table.write_text("photo,id,box,source_aus\n"
                   f"{photos}/face_a.png,face_a,,\n"
                   f"{tmp_path}/bad.png,broken,,\n"
                   f'{photos}/face_c.png,face_c,"4,4,56,56",AU12:0.4\n')
  csv_args = [a for a in args if not a.startswith("--input=")] + [f"--input={table}"]
  result = run_cli(*csv_args)
  assert result.returncode == 2, result.stderr[-3000:]
  # One line of ours (Beam may log a warning of its own on import).
  ours = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(ours) == 1 and ours[0].startswith("error: 2 of 3 photos failed"), result.stderr
  assert "Traceback" not in result.stderr
  assert status_lines(result.stdout)["face_a"] == "skipped"
  with open(os.path.join(out, many.FAILURES)) as f:
    failures = json.load(f)
  assert sorted(failures) == ["broken", "face_c"]
  assert "bad.png" in failures["broken"]
  # face_c's own --box and --source_aus reached its job: they differ from its first run.
  assert "box: '4,4,56,56' here, '8,8,48,48' there" in failures["face_c"]
  assert "source_aus: 'AU12:0.4' here, '' there" in failures["face_c"]
  # The merged manifest is that of this input's finished photos.
  assert {r["file"].split("/")[0] for r in manifest.read_manifest(out)} == {"face_a"}


def test_read_photos_and_photo_config(tmp_path):
  (tmp_path / "a b.png").write_bytes(b"")
  (tmp_path / "c.JPG").write_bytes(b"")
  (tmp_path / "notes.txt").write_bytes(b"")
  photos = many.read_photos(str(tmp_path))
  assert [(p.id, os.path.basename(p.image)) for p in photos] == [("a_b", "a b.png"),
                                                               ("c", "c.JPG")]
  (tmp_path / "c.png").write_bytes(b"")
  with pytest.raises(UserInputError, match="same id 'c'"):
    many.read_photos(str(tmp_path))
  table = tmp_path / "in.csv"
  table.write_text('photo,box\n"c.png","1,2,3,4"\na b.png,\n')
  one, two = many.read_photos(str(table))
  shared = SinGANimationConfig(box="0,0,9,9", source_aus="AU01:0.5")
  assert many.photo_config(shared, one).box == "1,2,3,4"
  assert many.photo_config(shared, one).image == str(tmp_path / "c.png")
  assert (many.photo_config(shared, two).box, many.photo_config(shared, two).source_aus) == (
      "0,0,9,9", "AU01:0.5")
  for text, message in [("file\nc.png\n", "expected `photo`"),
                        ("photo\nmissing.png\n", "no such file"),
                        ('photo,box\nc.png,"1,2,3"\n', "four integers"),
                        ("photo,source_aus\nc.png,AU99:1\n", "source_aus"),
                        ("photo,id\nc.png,../x\n", "photo id")]:
    table.write_text(text)
    with pytest.raises(UserInputError, match=message):
      many.read_photos(str(table))
  with pytest.raises(UserInputError, match="--input"):
    many.read_photos(str(tmp_path / "nothing"))
  with pytest.raises(UserInputError, match="--fooo"):
    many.check_beam_args(["--fooo=1"])
  assert many.check_beam_args(["--direct_num_workers=2"]).get_all_options()[
      "direct_num_workers"] == 2


def test_a_failing_photo_is_retried_then_reported(tmp_path, monkeypatch):
  calls = []

  def flaky(config, singan_config, out):
    calls.append(out)
    if len(calls) == 1:
      raise OSError("disk hiccup")
    manifest.write_manifest(out, [])

  monkeypatch.setattr(pipeline, "run", flaky)
  photo = many.Photo("p", str(tmp_path / "p.png"))
  result = many.expand_photo(photo, SinGANimationConfig(), None, str(tmp_path), retries=1)
  assert (result["status"], result["attempts"]) == ("done", 2)
  assert os.path.isfile(tmp_path / "p" / records.RECORDS)
  calls.clear()
  result = many.expand_photo(many.Photo("q", "q.png"), SinGANimationConfig(), None,
                             str(tmp_path), retries=0)
  assert (result["status"], result["attempts"]) == ("failed", 1)
  assert "disk hiccup" in result["error"] and "after 1 attempts" in result["error"]
  assert "OSError: disk hiccup" in (tmp_path / "q" / many.LOG).read_text()


@pytest.mark.parametrize("extra, message", [
    (("--image=x.png",), "--image is not an expand_many flag"),
    (("--singan_workdir=x",), "--singan_workdir is not"),
    (("--no_such_option=1",), "--no_such_option: not a flag"),
    (("--retries=-1",), "--retries=-1"),
])
def test_bad_flags_are_one_line(extra, message, tmp_path):
  result = run_cli("--input=.", f"--out={tmp_path}", "--ganimation_workdir=x", *extra)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
