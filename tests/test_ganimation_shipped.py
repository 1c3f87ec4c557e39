"""Tests of the shipped GANimation generator (tfsingan/ganimation/shipped.py): export, install, the asset."""

import json
import os

import numpy as np
import pytest

import harness
from tfsingan import config as config_lib
from tfsingan.errors import UserInputError
from tfsingan.ganimation import shipped


@pytest.fixture(scope="module")
def run(tiny_ganimation_run):
  return tiny_ganimation_run


def _edit(workdir):
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  generator, config = inference.load_generator(workdir)
  rng = np.random.default_rng(1)
  image = rng.uniform(0, 1, (2, config.image_size, config.image_size, 3)).astype(np.float32)
  aus = rng.uniform(0, 1, (2, 17)).astype(np.float32)
  out, attention, _ = inference.animate(generator, image, aus)
  return np.asarray(out), np.asarray(attention)


def test_export_then_install_edits_as_the_run(run, tmp_path):
  asset = str(tmp_path / "g.npz")
  written = shipped.export(run, asset, note="test")
  assert os.path.getsize(asset) == written["bytes"] <= shipped.MAX_BYTES
  out = str(tmp_path / "installed")
  provenance = shipped.install(out, asset)
  assert provenance["note"] == "test" and len(provenance["sha256"]) == 64
  with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
    config = json.load(f)
  assert config["model"] == "ganimation" and config["conv_dim"] == 8
  a, att_a = _edit(run)
  b, att_b = _edit(out)
  # float16 storage: weights carry a relative error <= 2^-11, so outputs in [0, 1]
  # move by about 1e-3 through a small untrained network; 1e-2 leaves room.
  np.testing.assert_allclose(b, a, atol=1e-2)
  np.testing.assert_allclose(att_b, att_a, atol=1e-2)
  # Installing again into the folder it made is a no-op, not a refusal.
  shipped.install(out, asset)


def test_install_refuses_a_trained_run_and_a_damaged_asset(run, tmp_path):
  asset = str(tmp_path / "g.npz")
  shipped.export(run, asset)
  trained = tmp_path / "trained"
  (trained / "checkpoints").mkdir(parents=True)
  with pytest.raises(UserInputError, match="holds a trained run"):
    shipped.install(str(trained), asset)
  damaged = tmp_path / "damaged.npz"
  damaged.write_bytes(open(asset, "rb").read()[:200])
  with pytest.raises(UserInputError, match="damaged"):
    shipped.install(str(tmp_path / "x"), str(damaged))
  assert not (tmp_path / "x").exists()
  with pytest.raises(UserInputError, match="no shipped"):
    shipped.read_asset(str(tmp_path / "missing.npz"))


def test_the_shipped_asset_fits_and_names_its_training():
  if not os.path.isfile(shipped.ASSET):
    pytest.skip(f"{shipped.ASSET} not present")
  assert os.path.getsize(shipped.ASSET) <= shipped.MAX_BYTES
  config, weights, provenance = shipped.read_asset()
  assert config["model"] == "ganimation"
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  parsed = config_lib.from_dict(GANimationConfig, config)
  assert parsed.image_size >= 64
  assert provenance["note"] and provenance["iteration"]
  assert all(np.all(np.isfinite(w)) for w in weights)


def test_cli_needs_exactly_one_action(tmp_path):
  harness.assert_one_error_line(harness.run_cli("tfsingan.ganimation.shipped"),
                                "expected exactly one of --out")
  harness.assert_one_error_line(
      harness.run_cli("tfsingan.ganimation.shipped", f"--out={tmp_path}/o",
                      f"--asset={tmp_path}/missing.npz"), "no shipped GANimation weights")
  assert not (tmp_path / "o").exists()
