"""End-to-end tests of `python -m tfsingan.evaluate` on tiny inputs."""

import csv
import json
import os
import shutil

import cv2
import h5py
import numpy as np
import pytest

import harness
from tfsingan.metrics import evaluation
from tfsingan.common.image_io import load_image, save_image
from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_NAMES
from tfsingan.metrics import au_regressor, sifid
from tfsingan.metrics.diversity import diversity

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, env=None):
  return harness.run_cli("tfsingan.evaluate", *args, timeout=120, **(env or {}))


def _image(seed, size=40):
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:size, 0:size] / size
  base = np.stack([xx, yy, 0.5 * (xx + yy)], -1)
  return np.clip(base + 0.1 * rng.standard_normal(base.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
  import keras  # pylint: disable=import-outside-toplevel
  from keras.src.legacy.saving import legacy_h5_format  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  model = keras.applications.InceptionV3(weights=None, include_top=False,
                                         input_shape=(None, None, 3))
  path = str(tmp_path_factory.mktemp("w") / sifid.WEIGHT_FILES[0])
  with h5py.File(path, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
  return path


def test_sifid_cli_one_real_image_and_groups(tmp_path, weights):
  save_image(str(tmp_path / "train.png"), _image(0))
  for group, seeds in (("start_8", (1, 2)), ("start_9", (3, 4))):
    for s in seeds:
      save_image(str(tmp_path / "fake" / group / f"{s}.png"), _image(s))
  out = tmp_path / "eval"
  proc = _run("--metric=sifid", f"--real={tmp_path / 'train.png'}",
              f"--fake={tmp_path / 'fake'}", f"--inception_weights={weights}", f"--out={out}")
  assert proc.returncode == 0, proc.stderr
  assert "block1" in proc.stdout and "64 channels" in proc.stdout
  assert "not digit for digit" in proc.stdout
  summary = json.loads((out / "sifid.json").read_text())
  assert summary["layer"] == "block1" and summary["n"] == 4
  assert set(summary["groups"]) == {"start_8", "start_9"}
  with open(out / "sifid.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 4 and all(float(r["sifid"]) > 0 for r in rows)
  assert {os.path.basename(r["real"]) for r in rows} == {"train.png"}
  chart = cv2.imread(str(out / "sifid.png"))
  assert chart is not None and chart.shape[0] > 100


def test_sifid_pairs_by_stem_png_and_jpeg(tmp_path, weights):
  a, b = _image(1), _image(2)
  save_image(str(tmp_path / "real" / "a.png"), a)
  save_image(str(tmp_path / "real" / "b.jpg"), b)
  save_image(str(tmp_path / "real" / "c.png"), a)
  # The fakes swap formats; each is read once into [0, 1] whatever its format.
  save_image(str(tmp_path / "fake" / "a.jpg"), a)
  shutil.copy(tmp_path / "real" / "b.jpg", tmp_path / "fake" / "b.jpg")
  save_image(str(tmp_path / "fake" / "c.png"), 0.5 + 0.2 * _image(5))  # unrelated: the scale
  summary = evaluation.run_evaluation("sifid", real=str(tmp_path / "real"),
                                    fake=str(tmp_path / "fake"), out=str(tmp_path / "e"),
                                    inception_weights=weights)
  by_stem = {os.path.basename(p["fake"])[0]: p for p in summary["pairs"]}
  assert {k: os.path.basename(p["real"]) for k, p in by_stem.items()} == {
      "a": "a.png", "b": "b.jpg", "c": "c.png"}
  assert by_stem["b"]["sifid"] == pytest.approx(0.0, abs=1e-6)  # identical files
  assert 0.0 < by_stem["a"]["sifid"] < 0.1 * by_stem["c"]["sifid"]  # JPEG vs PNG of one image
  save_image(str(tmp_path / "fake" / "d.png"), a)
  with pytest.raises(UserInputError, match="no real image with the stem"):
    evaluation.run_evaluation("sifid", real=str(tmp_path / "real"), fake=str(tmp_path / "fake"),
                            out=str(tmp_path / "e"), inception_weights=weights)


def test_diversity_groups_from_manifest(tmp_path):
  real = _image(0, 16)
  save_image(str(tmp_path / "train.png"), real)
  names = ["s0.png", "s1.png", "s2.png", "s3.png"]
  for i, n in enumerate(names):
    save_image(str(tmp_path / "fake" / n), _image(10 + i, 16))
  (tmp_path / "manifest.csv").write_text(
      "file,start_scale\ns0.png,9\ns1.png,9\ns2,10\ns3.png,10\n")
  summary = evaluation.run_evaluation("diversity", real=str(tmp_path / "train.png"),
                                    fake=str(tmp_path / "fake"), out=str(tmp_path / "e"),
                                    targets=str(tmp_path / "manifest.csv"))
  assert list(summary["groups"]) == ["start_scale=9", "start_scale=10"]  # natural order
  loaded = [load_image(str(tmp_path / "fake" / n)) for n in names]
  ref = load_image(str(tmp_path / "train.png"))
  g8 = summary["groups"]["start_scale=9"]
  assert g8["n"] == 2
  assert g8["diversity_rgb"] == pytest.approx(diversity(loaded[:2], ref))
  assert g8["diversity_gray"] == pytest.approx(diversity(loaded[:2], ref, gray=True))
  for ext in ("json", "csv", "png"):
    assert os.path.isfile(tmp_path / "e" / f"diversity.{ext}")


def test_au_error_cli_with_synthetic_ground_truth(tmp_path):
  from tfsingan.synthetic import generate, load_identities  # pylint: disable=import-outside-toplevel
  data = tmp_path / "faces"
  generate(str(data), 4, size=32, seed=0, image_format="png", workers=1, quiet=True,
           test_fraction=0.0)
  table = load_identities(str(data))
  fake = tmp_path / "fake"
  fake.mkdir()
  lines = ["file,expression," + ",".join(AU_NAMES) + ",start_scale,seed,source"]
  for image_id, entry in sorted(table.items()):
    # Each "generated" face is its own source at its own AUs: ground truth is exact.
    shutil.copy(data / "imgs" / f"{image_id}.png", fake / f"{image_id}_out.png")
    lines.append(f"{image_id}_out.png,own," + ",".join(f"{v:.6f}" for v in entry["aus"])
                 + f",0,0,{image_id}.png")
  (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
  config = au_regressor.AURegressorConfig(image_size=32, width=4)
  au_regressor.save_regressor(au_regressor.build_regressor(config), config,
                              str(tmp_path / "reg"), {"test_mae": 0.123})
  out = tmp_path / "eval"
  proc = _run("--metric=au_error", f"--fake={fake}", f"--targets={tmp_path / 'manifest.csv'}",
              f"--au_regressor={tmp_path / 'reg'}", f"--synthetic_dir={data}", f"--out={out}")
  assert proc.returncode == 0, proc.stderr
  summary = json.loads((out / "au_error.json").read_text())
  assert summary["n"] == 4 and set(summary["per_au_mae"]) == set(AU_NAMES)
  assert summary["regressor_held_out_mae"] == 0.123
  assert summary["ground_truth"]["l1"]["mean"] < 0.01  # PNG of the exact render
  with open(out / "au_error.csv") as f:
    rows = list(csv.DictReader(f))
  maes = [np.mean([float(r[f"{a}_err"]) for a in AU_NAMES]) for r in rows]
  np.testing.assert_allclose(maes, [float(r["mae"]) for r in rows], rtol=1e-4)
  assert cv2.imread(str(out / "au_error.png")) is not None


def test_missing_weights_is_one_line_exit_2(tmp_path):
  save_image(str(tmp_path / "r.png"), _image(0, 16))
  save_image(str(tmp_path / "fake" / "f.png"), _image(1, 16))
  proc = _run("--metric=sifid", f"--real={tmp_path / 'r.png'}", f"--fake={tmp_path / 'fake'}",
              f"--out={tmp_path / 'e'}", env={"KERAS_HOME": str(tmp_path / "kh")})
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "Traceback" not in proc.stderr
  assert str(tmp_path / "kh" / "models") in lines[0] and "--inception_weights" in lines[0]


def test_user_errors(tmp_path):
  (tmp_path / "empty").mkdir()
  save_image(str(tmp_path / "r.png"), _image(0, 16))
  with pytest.raises(UserInputError, match="holds no images"):
    evaluation.run_evaluation("diversity", real=str(tmp_path / "r.png"),
                            fake=str(tmp_path / "empty"), out=str(tmp_path / "e"))
  with pytest.raises(UserInputError, match="not a folder"):
    evaluation.run_evaluation("diversity", real=str(tmp_path / "r.png"),
                            fake=str(tmp_path / "nope"), out=str(tmp_path / "e"))
  save_image(str(tmp_path / "mixed" / "a.png"), _image(1, 16))
  save_image(str(tmp_path / "mixed" / "b.png"), _image(2, 20))
  with pytest.raises(UserInputError, match="different sizes"):
    evaluation.run_evaluation("diversity", real=str(tmp_path / "r.png"),
                            fake=str(tmp_path / "mixed"), out=str(tmp_path / "e"))
  with pytest.raises(UserInputError, match="--targets is required"):
    evaluation.run_evaluation("au_error", fake=str(tmp_path / "mixed"), out=str(tmp_path / "e"))
  (tmp_path / "t.csv").write_text("file,aus\na.png," + " ".join(["0"] * 17) + "\n"
                                  "b.png," + " ".join(["0"] * 17) + "\n")
  with pytest.raises(UserInputError, match="--au_regressor"):
    evaluation.run_evaluation("au_error", fake=str(tmp_path / "mixed"), out=str(tmp_path / "e"),
                            targets=str(tmp_path / "t.csv"), au_regressor=str(tmp_path))
