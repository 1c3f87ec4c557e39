"""Tests for tfsingan.ganimation.data: both on-disk formats and the tf.data pipeline."""

import os
import pickle
import shutil

import cv2
import numpy as np
import pytest

from tfsingan.common.image_io import load_image
from tfsingan.errors import UserInputError
from tfsingan.ganimation import data
from tfsingan.ganimation.aus import AU_NAMES, NUM_AUS

SAMPLE = "/work/shared/data/ganimation_sample"
needs_sample = pytest.mark.skipif(not os.path.isdir(SAMPLE), reason="sample dataset not present")


def _write_image(path, value, size=24):
  rng = np.random.default_rng(value)
  img = (rng.uniform(size=(size, size, 3)) * 255).astype(np.uint8)
  img[:, : size // 3] = value  # an asymmetric band, so flips are visible
  cv2.imwrite(path, img)


def _openface_csv(rows, *, spaces=True, drop=None):
  """An OpenFace FaceLandmarkImg -aus CSV: face, confidence, AUxx_r..., AUxx_c...."""
  r_cols = [f"{n}_r" for n in AU_NAMES if n != drop]
  c_cols = [f"{n}_c" for n in AU_NAMES[:15]] + ["AU28_c", "AU45_c"]
  header = ["face", "confidence"] + r_cols + c_cols
  sep = ", " if spaces else ","
  lines = [sep.join(header)]
  for face, (conf, values) in enumerate(rows):
    vals = [v for n, v in zip(AU_NAMES, values) if n != drop]
    lines.append(sep.join([str(face), f"{conf}"] + [f"{v:.2f}" for v in vals] +
                          ["1"] * len(c_cols)))
  return "\n".join(lines) + "\n"


@needs_sample
def test_sample_dataset_python2_pickle():
  paths, aus = data.load_index(SAMPLE, "train")
  assert [os.path.basename(p) for p in paths] == ["N_0000000437_00540.jpg",
                                                  "N_0000000356_00190.jpg"]
  assert aus.shape == (2, NUM_AUS) and aus.dtype == np.float32
  with open(os.path.join(SAMPLE, "aus_openface.pkl"), "rb") as f:
    raw = pickle.load(f, encoding="latin1")
  np.testing.assert_allclose(aus[0], np.asarray(raw["N_0000000437_00540"]) / 5.0, rtol=1e-6)
  test_paths, _ = data.load_index(SAMPLE, "test")
  assert len(test_paths) == 2 and not set(test_paths) & set(paths)


@needs_sample
def test_python3_pickle_with_missing_entry(tmp_path, capsys):
  shutil.copytree(os.path.join(SAMPLE, "imgs"), tmp_path / "imgs")
  names = sorted(os.listdir(tmp_path / "imgs"))
  # Python 3 pickle, keys with the extension, values as plain lists; one image missing.
  table = {n: [0.5 * (i + 1)] * NUM_AUS for i, n in enumerate(names[:3])}
  with open(tmp_path / "aus_openface.pkl", "wb") as f:
    pickle.dump(table, f, protocol=pickle.HIGHEST_PROTOCOL)
  (tmp_path / "train_ids.csv").write_text("\n".join(names) + "\n\n")
  paths, aus = data.load_index(str(tmp_path), "train")
  assert [os.path.basename(p) for p in paths] == names[:3]
  np.testing.assert_allclose(aus[:, 0], [0.1, 0.2, 0.3], rtol=1e-6)
  err = capsys.readouterr().err
  assert "skipped 1 of 4" in err and names[3] in err
  with pytest.raises(UserInputError, match=names[3]):
    data.load_index(str(tmp_path), "train", strict=True)


def test_corrupt_pickle_and_empty_folder(tmp_path):
  (tmp_path / "aus_openface.pkl").write_bytes(b"not a pickle")
  with pytest.raises(UserInputError, match="pickle"):
    data.load_index(str(tmp_path))
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(UserInputError, match="expected"):
    data.load_index(str(empty))
  with pytest.raises(UserInputError, match="not a folder"):
    data.load_index(str(tmp_path / "missing"))


@pytest.fixture(name="openface_dir")
def fixture_openface_dir(tmp_path):
  """Format B: images with OpenFace CSVs, including broken cases."""
  for i in range(6):
    _write_image(str(tmp_path / f"face{i}.png"), 40 * i)
  au = lambda v: [v] * NUM_AUS  # noqa: E731
  # face0: leading spaces, two faces: the more confident second one wins.
  (tmp_path / "face0.csv").write_text(_openface_csv([(0.6, au(1.0)), (0.98, au(2.5))]))
  (tmp_path / "face1.csv").write_text(_openface_csv([(0.9, au(5.5))], spaces=False))
  # face2: no CSV.  face3: no AU12_r column.  face4: malformed row.
  (tmp_path / "face3.csv").write_text(_openface_csv([(0.9, au(1.0))], drop="AU12"))
  (tmp_path / "face4.csv").write_text(_openface_csv([(0.9, au(1.0))]).replace("1.00", "x", 3))
  # face5: CSV in processed/, OpenFace's default output folder.
  (tmp_path / "processed").mkdir()
  (tmp_path / "processed" / "face5.csv").write_text(_openface_csv([(0.9, au(0.5))]))
  return tmp_path


def test_openface_csv_folder(openface_dir, capsys):
  paths, aus = data.load_index(str(openface_dir), "all")
  assert [os.path.basename(p) for p in paths] == ["face0.png", "face1.png", "face5.png"]
  np.testing.assert_allclose(aus[0], 0.5)  # 2.5 / 5 from the most confident face
  np.testing.assert_allclose(aus[1], 1.0)  # 5.5 clipped
  np.testing.assert_allclose(aus[2], 0.1)
  err = capsys.readouterr().err
  assert "skipped 1 of 6 images: no OpenFace CSV" in err
  assert "AU12_r" in err and "malformed" in err


def test_openface_csv_strict(openface_dir):
  with pytest.raises(UserInputError, match="face2"):
    data.load_index(str(openface_dir), "all", strict=True)
  os.remove(openface_dir / "face2.png")
  with pytest.raises(UserInputError, match="AU12_r"):
    data.load_index(str(openface_dir), "all", strict=True)
  with pytest.raises(UserInputError, match="malformed"):
    data.read_openface_csv(str(openface_dir / "face4.csv"))


def test_openface_hashed_split_and_id_lists(openface_dir):
  names = set()
  for split in ("train", "test"):
    try:
      names |= {os.path.basename(p) for p in data.load_index(str(openface_dir), split)[0]}
    except UserInputError:  # a split may be empty with 3 images
      pass
  assert names == {"face0.png", "face1.png", "face5.png"}
  (openface_dir / "test_ids.csv").write_text("face1.png\n")
  paths, _ = data.load_index(str(openface_dir), "test")
  assert [os.path.basename(p) for p in paths] == ["face1.png"]


@pytest.fixture(name="small_set", scope="module")
def fixture_small_set(tmp_path_factory):
  """Format A with 10 train images whose AUs are all different."""
  root = tmp_path_factory.mktemp("small")
  (root / "imgs").mkdir()
  table, names = {}, []
  for i in range(10):
    name = f"img{i:02d}"
    _write_image(str(root / "imgs" / f"{name}.jpg"), 20 * i, size=20)
    table[name] = np.linspace(0, 5, NUM_AUS) * (i + 1) / 10.0
    names.append(name + ".jpg")
  with open(root / "aus_openface.pkl", "wb") as f:
    pickle.dump(table, f, protocol=2)
  (root / "train_ids.csv").write_text("\n".join(names) + "\n")
  return str(root)


def test_make_dataset_shapes_and_ranges(small_set):
  ds = data.make_dataset(small_set, image_size=16, batch_size=4, deterministic=True)
  spec = ds.element_spec
  assert spec["image"].shape.as_list() == [4, 16, 16, 3]
  assert spec["aus"].shape.as_list() == [4, NUM_AUS]
  assert spec["target_aus"].shape.as_list() == [4, NUM_AUS]
  # AU vectors only: the generator tiles them (test_ganimation_networks).
  assert set(spec) == {"image", "aus", "target_aus"}
  for batch in ds.take(3):
    b = {k: v.numpy() for k, v in batch.items()}
    assert all(v.dtype == np.float32 for v in b.values())
    assert b["image"].min() >= -1.0 and b["image"].max() <= 1.0
    assert b["image"].std() > 0.1
    for key in ("aus", "target_aus"):
      assert b[key].min() >= 0.0 and b[key].max() <= 1.0


def test_make_dataset_deterministic(small_set):
  ds = data.make_dataset(small_set, image_size=16, batch_size=3, deterministic=True, seed=3)
  first = [{k: v.numpy() for k, v in b.items()} for b in ds.take(5)]
  second = [{k: v.numpy() for k, v in b.items()} for b in ds.take(5)]
  for a, b in zip(first, second):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
  other = data.make_dataset(small_set, image_size=16, batch_size=3, deterministic=True, seed=4)
  third = [b["aus"].numpy() for b in other.take(5)]
  assert not all(np.array_equal(a["aus"], c) for a, c in zip(first, third))


def test_images_match_files_and_flip_flips(small_set):
  kw = dict(image_size=20, batch_size=10, shuffle=False, deterministic=True, repeat=False,
            target_noise=0.0)
  plain = next(iter(data.make_dataset(small_set, flip=False, **kw)))
  flipped = next(iter(data.make_dataset(small_set, flip=True, **kw)))
  paths, aus = data.load_index(small_set)
  for img, au in zip(plain["image"].numpy(), plain["aus"].numpy()):
    i = int(np.argmin(np.abs(aus - au).sum(1)))
    # TF's and OpenCV's JPEG decoders differ by a few levels on noisy chroma.
    err = np.abs((img + 1) / 2 - load_image(paths[i]))
    assert err.mean() < 0.01 and err.max() < 0.06
  same = mirrored = 0
  for a, b in zip(plain["image"].numpy(), flipped["image"].numpy()):
    if np.array_equal(a, b):
      same += 1
    elif np.array_equal(a[:, ::-1], b):
      mirrored += 1
  assert same + mirrored == 10 and mirrored >= 1 and same >= 1
  np.testing.assert_array_equal(plain["aus"], flipped["aus"])


def test_target_aus_come_from_another_sample(small_set):
  _, table = data.load_index(small_set)
  ds = data.make_dataset(small_set, image_size=16, batch_size=5, target_noise=0.0,
                         deterministic=True)
  for batch in ds.take(6):
    src, tgt = batch["aus"].numpy(), batch["target_aus"].numpy()
    for s, t in zip(src, tgt):
      assert not np.allclose(s, t)
      assert np.abs(table - t).sum(1).min() < 1e-6  # a real AU vector of the set
  noisy = next(iter(data.make_dataset(small_set, image_size=16, batch_size=10,
                                      target_noise=0.1, deterministic=True)))
  tgt = noisy["target_aus"].numpy()
  dist = np.abs(tgt[:, None, :] - table[None]).max(-1).min(1)
  assert np.all(dist <= 0.1 + 1e-6) and np.any(dist > 1e-3)


def test_make_dataset_errors_and_corrupt_images(small_set, tmp_path):
  with pytest.raises(UserInputError, match="batch_size"):
    data.make_dataset(small_set, image_size=16, batch_size=11, repeat=False)
  shutil.copytree(small_set, tmp_path / "set")
  (tmp_path / "set" / "imgs" / "img03.jpg").write_bytes(b"\xff\xd8\xffgarbage")
  ds = data.make_dataset(str(tmp_path / "set"), image_size=16, batch_size=1, repeat=False,
                         shuffle=False)
  assert sum(1 for _ in ds) == 9


def _video_csv(frames, *, face_id=False):
  """An OpenFace FeatureExtraction CSV: leading spaces in the header, one row per
  frame (frames counted from 1), optionally a face_id column; values (conf,
  success, au value)."""
  header = (["frame"] + (["face_id"] if face_id else []) + ["timestamp", "confidence",
            "success"] + [f"{n}_r" for n in AU_NAMES] + [f"{n}_c" for n in AU_NAMES])
  lines = [", ".join(header)]
  for frame, (conf, success, value) in frames.items():
    lines.append(", ".join([str(frame)] + (["0"] if face_id else []) +
                           [f"{(frame - 1) / 24:.3f}", f"{conf}", str(success)] +
                           [f"{value}"] * NUM_AUS + ["1"] * NUM_AUS))
  return "\n".join(lines) + "\n"


def test_openface_table_image_form(tmp_path):
  path = tmp_path / "photo.csv"
  path.write_text(_openface_csv([(0.6, [1.0] * NUM_AUS), (0.9, [2.5] * NUM_AUS)]))
  table = data.read_openface_table(str(path))
  assert table.frame is None and table.success.all()
  assert table.best_row() == 1
  np.testing.assert_allclose(table.aus[1], 2.5)
  np.testing.assert_allclose(data.read_openface_csv(str(path)), 2.5)


@pytest.mark.parametrize("face_id", [False, True])
def test_openface_table_video_form(tmp_path, face_id):
  path = tmp_path / "clip.csv"
  # Frame 2 failed (success 0): OpenFace writes zeros there, which describe no face.
  path.write_text(_video_csv({1: (0.9, 1, 1.5), 2: (0.0, 0, 0.0), 3: (0.8, 1, 4.0)},
                             face_id=face_id))
  table = data.read_openface_table(str(path))
  assert table.frame.tolist() == [1, 2, 3]
  assert table.rows_of_frame(1) == [0] and table.rows_of_frame(2) == []
  assert table.rows_of_frame(3) == [2] and table.rows_of_frame(4) == []
  np.testing.assert_allclose(table.aus[2], 4.0)
  assert table.best_row() == 0  # the most confident successful frame


def test_openface_table_all_failed(tmp_path):
  path = tmp_path / "clip.csv"
  path.write_text(_video_csv({1: (0.0, 0, 0.0)}))
  assert data.read_openface_table(str(path)).best_row() is None
  with pytest.raises(UserInputError, match="success"):
    data.read_openface_csv(str(path))
