"""Tests of tfsingan.metrics.au_error: targets CSV, matching, hand-computed errors."""

import numpy as np
import pytest

from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_NAMES
from tfsingan.metrics import au_error


def _write(path, text):
  path.write_text(text)
  return str(path)


def test_read_targets_manifest_columns(tmp_path):
  values = [0.1 * (i % 10) for i in range(17)]
  header = "file,expression," + ",".join(AU_NAMES) + ",start_scale,seed,source"
  row = "happy_0.png,happy," + ",".join(str(v) for v in values) + ",8,3,face.jpg"
  rows = au_error.read_targets(_write(tmp_path / "m.csv", header + "\n" + row + "\n"))
  assert len(rows) == 1
  np.testing.assert_allclose(rows[0]["aus"], values, rtol=1e-6)
  assert rows[0]["file"] == "happy_0.png"
  assert rows[0]["start_scale"] == "8" and rows[0]["source"] == "face.jpg"


def test_read_targets_vector_and_openface_names(tmp_path):
  vec = " ".join(["0.5"] * 17)
  rows = au_error.read_targets(_write(tmp_path / "v.csv", f"file,aus\na.png,{vec}\n"))
  np.testing.assert_allclose(rows[0]["aus"], 0.5)
  semi = ";".join(["0.25"] * 17)
  rows = au_error.read_targets(_write(tmp_path / "s.csv", f"file,aus\na.png,{semi}\n"))
  np.testing.assert_allclose(rows[0]["aus"], 0.25)
  header = "file," + ",".join(f" {a}_r" for a in AU_NAMES)
  rows = au_error.read_targets(_write(tmp_path / "o.csv",
                                      header + "\nb.png," + ",".join(["1"] * 17) + "\n"))
  np.testing.assert_allclose(rows[0]["aus"], 1.0)


@pytest.mark.parametrize("text, match", [
    ("name,aus\na.png,0\n", "no `file` column"),
    ("file,AU01\na.png,0\n", "lacks columns"),
    ("file,aus\na.png,0.1 0.2\n", "2 AU values"),
    ("file,aus\na.png," + " ".join(["3"] * 17) + "\n", "outside"),
    ("file,aus\n", "no data rows"),
    ("file,aus\na.png,x" + " 0" * 16 + "\n", "line 2"),
])
def test_read_targets_errors(tmp_path, text, match):
  with pytest.raises(UserInputError, match=match):
    au_error.read_targets(_write(tmp_path / "bad.csv", text))
  with pytest.raises(UserInputError, match="not found"):
    au_error.read_targets(str(tmp_path / "missing.csv"))


def test_match_targets_by_name_then_stem():
  t = [{"file": "out/a.png", "aus": np.zeros(17)}, {"file": "b", "aus": np.ones(17)}]
  _, rows = au_error.match_targets(t, ["x/b.jpg", "y/a.png"])
  assert rows[0]["file"] == "b" and rows[1]["file"] == "out/a.png"
  with pytest.raises(UserInputError, match="no target AUs for 1"):
    au_error.match_targets(t, ["c.png"])


def test_errors_hand_computed():
  pred = np.zeros((2, 17))
  target = np.zeros((2, 17))
  target[0, 0] = 0.5
  target[1, 16] = -0.25
  err = au_error.au_errors(pred, target)
  assert err[0, 0] == 0.5 and err[1, 16] == 0.25 and err.sum() == 0.75
  with pytest.raises(UserInputError):
    au_error.au_errors(np.zeros((2, 16)), np.zeros((2, 16)))
  l1, psnr = au_error.l1_psnr(np.zeros((2, 2, 3)), np.full((2, 2, 3), 0.1))
  assert l1 == pytest.approx(0.1) and psnr == pytest.approx(20.0)
  assert au_error.l1_psnr(np.ones((2, 2, 3)), np.ones((2, 2, 3)))[1] == float("inf")
  with pytest.raises(UserInputError, match="different sizes"):
    au_error.l1_psnr(np.ones((2, 2, 3)), np.ones((3, 2, 3)))
