"""Tests of `python -m tfsingan.prepare.merge` (GANimation training sets in the original format, merged)."""

import pickle

import numpy as np
import pytest

from tfsingan import synthetic
from tfsingan.errors import UserInputError
from tfsingan.ganimation import data
from tfsingan.prepare import merge


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
  root = tmp_path_factory.mktemp("sets")
  a, b = str(root / "alpha"), str(root / "beta")
  synthetic.generate(a, num=12, size=16, seed=0, test_fraction=0.25, quiet=True)
  synthetic.generate(b, num=8, size=16, seed=1, test_fraction=0.0, quiet=True)
  return a, b


def test_merge_keeps_images_aus_and_splits(two_sets, tmp_path):
  a, b = two_sets
  out = str(tmp_path / "merged")
  counts = merge.merge(f"{a},{b}", out, quiet=True)
  for split in ("train", "test"):
    paths, aus = data.load_index(out, split, quiet=True)
    assert len(paths) == counts["alpha"][split] + counts["beta"][split]
    for prefix, folder in (("alpha", a), ("beta", b)):
      if not counts[prefix][split]:
        continue
      src_paths, src_aus = data.load_index(folder, split, quiet=True)
      mine = [i for i, p in enumerate(paths) if p.split("/")[-1].startswith(prefix + "_")]
      assert len(mine) == len(src_paths)
      # OpenFace's raw scale stored with 4 decimals: the AUs read back within 1e-4 / 5.
      np.testing.assert_allclose(np.sort(aus[mine], axis=0), np.sort(src_aus, axis=0), atol=3e-5)
  assert counts["beta"]["test"] == 0 and counts["alpha"]["test"] > 0
  with open(f"{out}/aus_openface.pkl", "rb") as f:
    assert all(k.startswith(("alpha_", "beta_")) for k in pickle.load(f))


def test_merge_refuses_bad_inputs(two_sets, tmp_path):
  a, _ = two_sets
  with pytest.raises(UserInputError, match="not a folder"):
    merge.merge(f"{a},{tmp_path}/nope", str(tmp_path / "m"))
  with pytest.raises(UserInputError, match="share a name"):
    merge.merge(f"{a},{a}", str(tmp_path / "m"))
  with pytest.raises(UserInputError, match="one of the inputs"):
    merge.merge(a, a)
  with pytest.raises(UserInputError, match="comma-separated"):
    merge.merge("", str(tmp_path / "m"))
