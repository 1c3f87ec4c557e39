"""Tests of `python -m tfsingan.prepare`: photos and videos -> a GANimation training set."""

import csv
import json
import os
import pickle

import cv2
import numpy as np
import pytest

import harness
from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_NAMES, NUM_AUS
from tfsingan.prepare import quality
from tfsingan.prepare import sources as sources_lib
from tfsingan.prepare.config import PrepareConfig
from tfsingan.prepare.dataset import INDEX_COLUMNS, sheet_faces, split_sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "..", "shared", "data", "real_faces")
needs_real = pytest.mark.skipif(not os.path.isdir(REAL),
                                reason=f"the shared real faces are absent ({REAL})")
VIDEO_FIRST, VIDEO_FRAMES = 260, 30  # frames 260..289 of the shared video: she smiles


def run_cli(*args):
  return harness.run_cli("tfsingan.prepare", *args)


def cut_clip(path, first, count):
  """Copies `count` frames of the shared video from `first` into `path` (mp4v)."""
  capture = cv2.VideoCapture(os.path.join(REAL, "expressive_video.mp4"))
  fps = capture.get(cv2.CAP_PROP_FPS)
  writer = None
  index = 0
  while index < first + count:
    ok, frame = capture.read()
    assert ok, "the shared video is shorter than expected"
    if index >= first:
      if writer is None:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                 (frame.shape[1], frame.shape[0]))
      writer.write(frame)
    index += 1
  writer.release()
  capture.release()


def openface_header(video):
  """OpenFace's header, with the leading spaces it writes."""
  lead = ["frame", "timestamp", "confidence", "success"] if video else ["face", "confidence"]
  return ", ".join(lead + [f"{n}_r" for n in AU_NAMES] + [f"{n}_c" for n in AU_NAMES])


# -------------------------------------------------------------- pure parts
def test_video_frames_auto_gives_about_100_frames_for_20_s():
  frames = sources_lib.video_frames(472, 23.976, None)  # the shared video: 20 s, 24 fps
  assert frames[:3] == (0, 5, 10) and 90 <= len(frames) <= 100
  assert sources_lib.video_frames(10, 0.0, 3) == (0, 3, 6, 9)
  assert len(sources_lib.video_frames(1000, 0.0, None)) == 100  # no fps: ~100 frames
  assert sources_lib.video_frames(4, 2.0, None) == (0, 1, 2, 3)


@pytest.mark.parametrize("every", ["0", "nan", "-3", "1.5", "x"])
def test_every_must_be_a_whole_number_or_auto(every):
  with pytest.raises(UserInputError, match="--every"):
    PrepareConfig(every=every)
  assert PrepareConfig(every="7").frame_step == 7 and PrepareConfig().frame_step is None


def test_asymmetry_is_zero_frontal_and_grows_with_yaw():
  frontal = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
  assert quality.asymmetry(frontal) == pytest.approx(0.0)
  turned = frontal.copy()
  turned[2, 0] = 75  # the nose moved towards the right eye
  # eyes: t = 35 / 40 -> 0.75; mouth corners (45..75): t = 1 -> 1.0, the worse
  assert quality.asymmetry(turned) == pytest.approx(1.0)
  angle = np.deg2rad(30)  # roll and scale do not change it
  rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  assert quality.asymmetry(2.0 * frontal @ rot.T + 7) == pytest.approx(0.0, abs=1e-6)


def test_sharpness_drops_with_blur_and_border_check():
  rng = np.random.default_rng(0)
  crop = rng.uniform(0, 1, (64, 64, 3)).astype(np.float32)
  blurred = cv2.GaussianBlur(crop, (0, 0), 3)
  assert quality.sharpness(blurred) < 0.05 * quality.sharpness(crop)
  assert quality.cut_by_border((0, 10, 20, 20), (100, 100))
  assert quality.cut_by_border((70, 10, 30, 20), (100, 100))
  assert not quality.cut_by_border((1, 1, 98, 98), (100, 100))


def test_split_is_by_source_with_at_least_one_test_source():
  train, test = split_sources(["a", "b"], 0.1, 0)
  assert len(test) == 1 and sorted(train + test) == ["a", "b"]
  assert split_sources(["a"], 0.1, 0) == (["a"], [])
  stems = [f"s{i}" for i in range(50)]
  train, test = split_sources(stems, 0.2, 3)
  assert len(test) == 10 and not set(train) & set(test)
  assert split_sources(stems, 0.2, 3) == (train, test)  # deterministic
  assert split_sources(stems, 0.2, 4) != (train, test)
  assert split_sources(stems, 0.0, 3) == (sorted(stems), [])


def test_contact_sheet_shows_every_source():
  faces = [{"source": "video", "i": i} for i in range(91)] + [{"source": f"photo{j}"}
                                                             for j in range(5)]
  chosen = sheet_faces(faces, limit=48)
  assert len(chosen) <= 48 and {f["source"] for f in chosen} == {f["source"] for f in faces}
  video = [f["i"] for f in chosen if f["source"] == "video"]
  assert video[0] == 0 and video[-1] == 90  # spread over the whole video
  assert len(sheet_faces([{"source": str(j)} for j in range(100)], limit=48)) == 48


def test_inputs_listed_and_checked(tmp_path):
  (tmp_path / "notes.txt").write_text("x")
  with pytest.raises(UserInputError, match="no photo or video"):
    sources_lib.list_inputs(str(tmp_path))
  with pytest.raises(UserInputError, match="neither a photo nor a video"):
    sources_lib.list_inputs(str(tmp_path / "notes.txt"))
  fake = tmp_path / "fake.jpg"
  fake.write_text("not a jpeg")
  with pytest.raises(UserInputError, match="fake.jpg is not a readable image"):
    sources_lib.find_sources(str(fake), None)
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  for d in ("a", "b"):
    cv2.imwrite(str(tmp_path / d / "face.png"), np.zeros((8, 8, 3), np.uint8))
  with pytest.raises(UserInputError, match="both have the stem 'face'"):
    sources_lib.find_sources(f"{tmp_path / 'a'},{tmp_path / 'b'}", None)


# -------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  """2 shared photos and a 30-frame clip of the shared video, AUs from OpenFace
  CSVs in both forms (leading-space headers; the video's without face_id), except
  for biden.jpg, which has no CSV and gets the AU reader."""
  if not os.path.isdir(REAL):
    pytest.skip(f"the shared real faces are absent ({REAL})")
  root = tmp_path_factory.mktemp("prepare")
  inputs = root / "in"
  inputs.mkdir()
  for name in ("obama_smile.jpg", "biden.jpg"):
    os.symlink(os.path.join(REAL, name), inputs / name)
  cut_clip(inputs / "clip.mp4", VIDEO_FIRST, VIDEO_FRAMES)
  openface = root / "openface"
  openface.mkdir()
  # two faces: the more confident one must be taken
  rows = [f"0, 0.6, {', '.join(['5.0'] * NUM_AUS)}, {', '.join(['1'] * NUM_AUS)}",
          f"1, 0.95, {', '.join(['4.0'] * NUM_AUS)}, {', '.join(['1'] * NUM_AUS)}"]
  (openface / "obama_smile.csv").write_text(openface_header(False) + "\n" + "\n".join(rows)
                                            + "\n")
  # Video form: frames counted from 1; frame 6 (our frame 5) failed.
  rows = [f"{f}, {(f - 1) / 24:.3f}, 0.9, {0 if f == 6 else 1}, "
          + ", ".join([f"{f / 10:.1f}"] * NUM_AUS) + ", " + ", ".join(["1"] * NUM_AUS)
          for f in range(1, VIDEO_FRAMES + 1)]
  (openface / "clip.csv").write_text(openface_header(True) + "\n" + "\n".join(rows) + "\n")
  out = root / "data"
  args = (f"--input={inputs}", f"--out={out}", f"--openface_csv={openface}", "--size=64",
          "--every=5", "--workers=1")
  first = run_cli(*args)
  assert first.returncode == 0, first.stderr[-2000:]
  return {"out": out, "args": args, "first": first}


def read_index(out):
  with open(out / "index.csv", newline="", encoding="utf-8") as f:
    return list(csv.DictReader(f))


@needs_real
def test_layout_index_and_openface_aus(prepared):
  out = prepared["out"]
  for name in ("imgs", "aus_openface.pkl", "train_ids.csv", "test_ids.csv", "index.csv",
               "report.json", "contact_sheet.png", "config.json"):
    assert os.path.exists(out / name), name
  rows = read_index(out)
  assert tuple(rows[0].keys()) == INDEX_COLUMNS
  by_source = {}
  for row in rows:
    by_source.setdefault(os.path.basename(row["source"]), []).append(row)
    img = cv2.imread(str(out / "imgs" / f"{row['id']}.jpg"))
    assert img.shape == (64, 64, 3)
    assert row["aus_from"] == ("reader" if row["source"].endswith("biden.jpg") else "openface")
  assert set(by_source) == {"obama_smile.jpg", "biden.jpg", "clip.mp4"}
  # A photo: the most confident row of its CSV.
  assert float(by_source["obama_smile.jpg"][0]["AU12"]) == pytest.approx(0.8)
  # The AU reader on Biden's closed-mouth serious face (measured 0.05 by tfsingan.faces).
  biden = by_source["biden.jpg"][0]
  assert 0 <= float(biden["AU12"]) < 0.3 and all(0 <= float(biden[n]) <= 1 for n in AU_NAMES)
  # Video: frames 0, 5, ... of 30; frame 5 has no successful OpenFace row; frame f
  # reads OpenFace frame f + 1, whose AUs are (f + 1) / 10 / 5.
  frames = {int(r["frame"]): r for r in by_source["clip.mp4"]}
  assert 5 not in frames and set(frames) <= {0, 10, 15, 20, 25} and len(frames) >= 4
  for f, row in frames.items():
    assert float(row["AU01"]) == pytest.approx((f + 1) / 10 / 5, abs=1e-4)
  report = json.loads((out / "report.json").read_text())
  assert report["dropped"]["no_openface_row"] == 1
  assert report["faces_kept"] == len(rows) and report["frames_examined"] == 8
  with open(out / "aus_openface.pkl", "rb") as f:
    table = pickle.load(f)
  assert set(table) == {r["id"] for r in rows}
  np.testing.assert_allclose(table[by_source["obama_smile.jpg"][0]["id"]], 4.0)


@needs_real
def test_split_by_source_and_trainer_reads_it(prepared):
  from tfsingan.ganimation import data  # pylint: disable=import-outside-toplevel
  from tfsingan.prepare import dataset  # pylint: disable=import-outside-toplevel
  assert dataset.PICKLE_NAME == data.PICKLE_NAME
  out = prepared["out"]
  rows = {r["id"]: os.path.basename(r["source"]) for r in read_index(out)}
  splits = {}
  for split in ("train", "test"):
    names = (out / f"{split}_ids.csv").read_text().split()
    splits[split] = {rows[n[:-len(".jpg")]] for n in names}
  assert splits["train"] and splits["test"] and not splits["train"] & splits["test"]
  # The GANimation trainer's own loader reads the folder unchanged.
  paths, aus = data.load_index(str(out), "train", strict=True)
  assert len(paths) == sum(1 for s in rows.values() if s in splits["train"])
  assert aus.shape == (len(paths), NUM_AUS) and aus.min() >= 0 and aus.max() <= 1
  ds = data.make_dataset(str(out), split="train", image_size=32, batch_size=2,
                         deterministic=True, strict=True)
  batch = next(iter(ds))
  assert batch["image"].shape == (2, 32, 32, 3) and batch["aus"].shape == (2, NUM_AUS)


@needs_real
def test_rerun_skips_and_other_settings_are_refused(prepared):
  out = prepared["out"]
  before = {p: os.path.getmtime(out / "imgs" / p) for p in os.listdir(out / "imgs")}
  again = run_cli(*prepared["args"])
  assert again.returncode == 0, again.stderr[-2000:]
  assert "3 of 3 sources already done" in again.stdout
  assert {p: os.path.getmtime(out / "imgs" / p) for p in os.listdir(out / "imgs")} == before
  other = run_cli(*prepared["args"][:-3], "--size=32")
  assert other.returncode == 2 and "size: 32 here, 64 in the run" in other.stderr
  assert "Traceback" not in other.stderr
  assert {p: os.path.getmtime(out / "imgs" / p) for p in os.listdir(out / "imgs")} == before


# -------------------------------------------------------------- bad input
def test_bad_flags_and_inputs(tmp_path):
  for args, expected in ((["--input=x", "--out=o", "--every=0"], "--every=0"),
                         (["--input=x", "--out=o", "--every=nan"], "--every=nan"),
                         ([f"--input={tmp_path / 'missing'}", f"--out={tmp_path / 'o'}"],
                          "not found")):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr
  fake = tmp_path / "photo.jpg"
  fake.write_text("hello")
  result = run_cli(f"--input={fake}", f"--out={tmp_path / 'o'}")
  assert result.returncode == 2 and "photo.jpg is not a readable image" in result.stderr
  assert not os.path.exists(tmp_path / "o")  # refused before anything was written


def test_video_without_face_is_reported_and_out_kept(tmp_path):
  video = tmp_path / "wall.mp4"
  writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
  for i in range(6):
    writer.write(np.full((64, 96, 3), 40 + 20 * i, np.uint8))
  writer.release()
  out = tmp_path / "out"
  out.mkdir()
  (out / "mine.txt").write_text("keep")
  result = run_cli(f"--input={video}", f"--out={out}")
  assert result.returncode == 2 and "not empty" in result.stderr
  assert (out / "mine.txt").read_text() == "keep"
  out2 = tmp_path / "out2"
  result = run_cli(f"--input={video}", f"--out={out2}", "--every=1")
  assert result.returncode == 2, result.stderr
  assert "no usable face" in result.stderr and "Traceback" not in result.stderr
  report = json.loads((out2 / "report.json").read_text())
  assert report["dropped"]["no_face"] == 6 and report["faces_kept"] == 0
  assert report["sources_without_usable_face"] == [str(video)]


@needs_real
def test_a_killed_run_resumes_mid_video(prepared, tmp_path):
  import shutil  # pylint: disable=import-outside-toplevel
  out = tmp_path / "data"
  shutil.copytree(prepared["out"], out)
  expected = (out / "index.csv").read_text()
  # What a kill after the clip's 3rd kept frame leaves: its record says frames
  # 0..2 are done (0, 5, 10), later crops and every summary file are missing.
  state_path = out / "sources" / "clip.json"
  state = json.loads(state_path.read_text())
  later = [f for f in state["faces"] if f["frame"] >= 15]
  assert later
  for face in later:
    os.remove(out / "imgs" / f"{face['id']}.jpg")
  state.update(done=False, next=3, examined=3, detected=3,
               faces=[f for f in state["faces"] if f["frame"] < 15])
  state_path.write_text(json.dumps(state))
  for name in ("index.csv", "report.json", "train_ids.csv", "aus_openface.pkl"):
    os.remove(out / name)
  args = [a for a in prepared["args"] if not a.startswith("--out=")] + [f"--out={out}"]
  result = run_cli(*args)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "2 of 3 sources already done" in result.stdout
  assert (out / "index.csv").read_text() == expected
  assert json.loads((out / "report.json").read_text())["frames_examined"] == 8
