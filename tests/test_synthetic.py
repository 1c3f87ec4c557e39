"""Tests for tfsingan.synthetic: procedural faces whose AUs move the right parts."""

import filecmp
import json
import os
import pickle

import numpy as np
import pytest

import harness
from tfsingan import synthetic
from tfsingan.common.image_io import load_image
from tfsingan.ganimation.aus import AU_NAMES, NUM_AUS, emotion_aus
from tfsingan.synthetic import faces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 96


def _identities(n, seed=0):
  rng = np.random.default_rng(seed)
  return [faces.sample_identity(rng) for _ in range(n)]


def _aus(**values):
  out = np.zeros(NUM_AUS, np.float32)
  for name, v in values.items():
    out[AU_NAMES.index(name)] = v
  return out


def _box_mask(box, size):
  y0, y1, x0, x1 = box
  mask = np.zeros((size, size), bool)
  mask[max(0, int(y0)):int(np.ceil(y1)), max(0, int(x0)):int(np.ceil(x1))] = True
  return mask


def test_render_is_deterministic_and_well_formed():
  ident = _identities(1)[0]
  a = faces.render(ident, emotion_aus("surprise"), SIZE)
  b = faces.render(json.loads(json.dumps(ident)), emotion_aus("surprise"), SIZE)
  assert a.shape == (SIZE, SIZE, 3) and a.dtype == np.float32
  assert a.min() >= 0.0 and a.max() <= 1.0
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, faces.render(ident, np.zeros(NUM_AUS), SIZE))
  other = faces.render(_identities(2)[1], emotion_aus("surprise"), SIZE)
  assert np.abs(a - other).mean() > 0.05  # identities differ


def test_each_au_changes_pixels_inside_its_region():
  for ident in _identities(3, seed=5):
    base = faces.render(ident, np.zeros(NUM_AUS), SIZE)
    regions = faces.au_regions(ident, SIZE)
    for name in AU_NAMES:
      diff = np.abs(faces.render(ident, _aus(**{name: 1.0}), SIZE) - base).sum(-1)
      assert diff.sum() > 5.0, f"{name} barely changes the image"
      inside = diff[_box_mask(regions[faces.AU_REGION[name]], SIZE)].sum() / diff.sum()
      assert inside > 0.85, f"{name}: only {inside:.2f} of the change is in its region"


def test_small_au_steps_change_pixels_continuously():
  ident = _identities(1, seed=2)[0]
  for name in AU_NAMES:
    for v in (0.0, 0.37, 0.98):
      a = faces.render(ident, _aus(**{name: v}), SIZE)
      b = faces.render(ident, _aus(**{name: v + 0.02}), SIZE)
      assert np.abs(a - b).max() < 0.2, f"{name} jumps at {v}"


def test_au12_raises_the_lip_corners():
  ident = _identities(1, seed=3)[0]
  regions = faces.au_regions(ident, SIZE)
  neutral = faces.landmarks(ident, np.zeros(NUM_AUS), SIZE)
  corner_y, centroids = [], []
  cx, my = neutral["nose_tip"][0], neutral["mouth_corner_left"][1]
  hw = neutral["mouth_corner_left"][0] - cx
  skin = np.asarray(ident["skin"], np.float32)
  for v in (0.0, 0.25, 0.5, 0.75, 1.0):
    aus = _aus(AU12=v)
    lm = faces.landmarks(ident, aus, SIZE)
    corner_y.append(lm["mouth_corner_left"][1] + lm["mouth_corner_right"][1])
    # In pixels: the centroid of non-skin (lip) pixels in the outer third of the mouth.
    img = faces.render(ident, aus, SIZE)
    rows = slice(int(my - 0.07 * SIZE), int(my + 0.05 * SIZE))
    weight = 0.0
    ys = np.arange(SIZE, dtype=np.float32)[rows, None]
    total = 0.0
    for x0, x1 in ((cx + 0.45 * hw, cx + 0.95 * hw), (cx - 0.95 * hw, cx - 0.45 * hw)):
      cols = slice(int(round(x0)), int(round(x1)))
      w = np.abs(img[rows, cols] - skin).sum(-1)
      weight += w.sum()
      total += (w * ys).sum()
    centroids.append(total / weight)
    if v == 1.0:
      diff = np.abs(img - faces.render(ident, np.zeros(NUM_AUS), SIZE)).sum(-1)
      assert diff[_box_mask(regions["mouth"], SIZE)].sum() / diff.sum() > 0.95
  assert np.all(np.diff(corner_y) < 0), corner_y
  assert np.all(np.diff(centroids) < 0), centroids
  assert centroids[0] - centroids[-1] > 1.0  # more than a pixel at 96 px


def test_au45_closes_the_eyes():
  for ident in _identities(3, seed=7):
    eyes = _box_mask(faces.au_regions(ident, SIZE)["eyes"], SIZE)
    white = []
    for v in (0.0, 0.25, 0.5, 1.0):
      img = faces.render(ident, _aus(AU45=v), SIZE)
      # How much of each pixel looks like the white of the eye.
      sclera = np.clip(1 - np.abs(img - np.float32([0.95, 0.94, 0.92])).max(-1) / 0.15, 0, 1)
      white.append(float(sclera[eyes].sum()))
      lm = faces.landmarks(ident, _aus(AU45=v), SIZE)
    assert white[0] > 10 and white[0] > white[1] > white[2] >= white[3], white
    assert white[3] < 0.02 * white[0], white
    assert abs(lm["eye_top_left"][1] - lm["eye_bottom_left"][1]) < 1e-3


def test_au_sampling_is_sparse_and_in_range():
  rng = np.random.default_rng(0)
  samples = np.stack([faces.sample_aus(rng) for _ in range(500)])
  assert samples.min() >= 0.0 and samples.max() <= 1.0
  active = (samples > 0).sum(1)
  assert 1.0 < active.mean() < 4.0
  assert (active == 0).mean() > 0.03  # some neutral faces
  assert np.all((samples > 0).mean(0) > 0.02)  # every AU occurs


def test_generate_is_deterministic_and_splits_by_identity(tmp_path):
  a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
  synthetic.generate(str(a), 24, size=32, seed=1, test_fraction=0.25, images_per_identity=4,
                     workers=1, quiet=True)
  synthetic.generate(str(b), 24, size=32, seed=1, test_fraction=0.25, images_per_identity=4,
                     workers=2, quiet=True)
  synthetic.generate(str(c), 24, size=32, seed=2, test_fraction=0.25, images_per_identity=4,
                     workers=1, quiet=True)
  cmp = filecmp.dircmp(a, b)
  assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
  for name in os.listdir(a / "imgs"):
    assert filecmp.cmp(a / "imgs" / name, b / "imgs" / name, shallow=False)
  assert (a / "identities.json").read_bytes() != (c / "identities.json").read_bytes()
  table = synthetic.load_identities(str(a))
  assert len(table) == 24
  train = {v["identity_id"] for v in table.values() if v["split"] == "train"}
  test = {v["identity_id"] for v in table.values() if v["split"] == "test"}
  assert len(train) == 4 and len(test) == 2 and not train & test
  with open(a / "aus_openface.pkl", "rb") as f:
    raw = pickle.load(f)
  for image_id, entry in table.items():
    np.testing.assert_allclose(raw[image_id] / 5.0, entry["aus"], atol=1e-6)


def test_cli_writes_a_set_that_load_index_reads(tmp_path):
  from tfsingan.ganimation import data  # pylint: disable=import-outside-toplevel
  out = tmp_path / "set"
  proc = harness.run_cli("tfsingan.synthetic", f"--out={out}", "--num=20", "--size=32",
                         "--seed=3", "--test_fraction=0.25", timeout=120)
  assert proc.returncode == 0, proc.stderr
  train_paths, train_aus = data.load_index(str(out), "train")
  test_paths, test_aus = data.load_index(str(out), "test")
  assert len(train_paths) + len(test_paths) == 20 and len(test_paths) >= 5
  table = synthetic.load_identities(str(out))
  for path, aus in zip(test_paths, test_aus):
    image_id = os.path.splitext(os.path.basename(path))[0]
    np.testing.assert_allclose(table[image_id]["aus"], aus, atol=1e-6)
  # The ground truth with the image's own AUs is the stored image (up to JPEG).
  truth = synthetic.true_target(str(out), test_paths[0], test_aus[0])
  assert np.abs(truth - load_image(test_paths[0])).mean() < 0.03
  other = synthetic.true_target(str(out), test_paths[0], emotion_aus("happy"))
  assert np.abs(truth - other).mean() > 1e-3 or np.allclose(test_aus[0], emotion_aus("happy"))
  bad = harness.run_cli("tfsingan.synthetic", f"--out={out}", "--num=0", timeout=120)
  assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
  assert "--num" in bad.stderr


@pytest.mark.parametrize("image_id", ["nope", "s99999_00.jpg"])
def test_true_target_unknown_id(tmp_path, image_id):
  from tfsingan.errors import UserInputError  # pylint: disable=import-outside-toplevel
  synthetic.generate(str(tmp_path), 3, size=16, workers=1, quiet=True)
  with pytest.raises(UserInputError):
    synthetic.true_target(str(tmp_path), image_id, np.zeros(NUM_AUS))
