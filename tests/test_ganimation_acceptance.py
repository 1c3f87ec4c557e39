"""Tests of benchmarks/ganimation_acceptance.py: the scores of the GANimation acceptance run."""

import numpy as np
import pytest

from benchmarks import ganimation_acceptance as acceptance
from tfsingan import config as config_lib
from tfsingan.errors import UserInputError
from tfsingan.synthetic import dataset


def test_pairs_are_a_derangement():
  for n in (2, 3, 10, 57):
    pair = acceptance.pair_targets(n, seed=1)
    assert sorted(pair.tolist()) == list(range(n))
    assert not np.any(pair == np.arange(n))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("synth")
  dataset.generate(str(root), 60, size=32, seed=3, test_fraction=0.5, image_format="png",
                   workers=1, quiet=True)
  return str(root)


def _zero_head_run(tmp_path):
  """A tiny run whose generator's output head is all zeros (see the test below)."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import networks  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  generator = networks.build_generator(32, 8, 1, dtype="float32")
  generator.head.kernel.assign(np.zeros(generator.head.kernel.shape, np.float32))
  generator.save_weights(str(tmp_path / inference.GENERATOR_WEIGHTS))
  config = GANimationConfig(image_size=32, conv_dim=8, repeat_num=1, critic_layers=4)
  (tmp_path / inference.CONFIG_NAME).write_text(config_lib.to_json(config))
  return str(tmp_path)


def test_scores_of_a_half_blend_generator(tmp_path, data_dir):
  # Zero head: colour tanh(0) = 0 (mid grey in [-1, 1]), attention sigmoid(0) = 0.5,
  # so G(x, y) = (x + grey) / 2 for every target: known scores.
  workdir = _zero_head_run(tmp_path)
  result = acceptance.evaluate(workdir, data_dir)
  assert result["test_images"] == 30
  assert result["attention_mean"] == pytest.approx(0.5, abs=1e-6)
  # |G(x) - x| = |x - 0.5| / 2 in [0, 1] pixels.
  from tfsingan.ganimation import data as data_lib  # pylint: disable=import-outside-toplevel
  paths, _ = data_lib.load_index(data_dir, split="test")
  x = np.stack([data_lib.decode_face(p, 32).numpy() / 255.0 for p in paths])
  assert result["l1_identity"] == pytest.approx(np.abs(x - 0.5).mean() / 2, rel=1e-4)
  # PNG at the model size: the input is its own exact render, up to uint8 rounding.
  assert result["l1_input_vs_own_render"] < 0.003
  assert result["ratio"] == pytest.approx(result["l1_edit"] / result["l1_unedited"])
  assert result["ratio"] > 1.0  # blending with grey is worse than doing nothing
  assert not result["passed"]
  assert result["checks"]["0.01 < attention_mean < 0.99"]
  # The same output for every target: the edit leaks as much colour onto the static
  # pixels as the identity edit, far above the 0.002 target.
  assert result["static_l1_edit"] == pytest.approx(result["static_l1_identity"], rel=1e-6)
  assert result["static_l1_edit"] > 0.01
  assert not result["checks"]["static_l1_edit <= 0.002"]
  assert not result["checks"]["moved_ratio <= 0.5"]
  assert result["former_checks"] == {"ratio <= 0.5": False}


def test_needs_a_synthetic_dataset(tmp_path, data_dir):
  workdir = _zero_head_run(tmp_path)
  with pytest.raises(UserInputError, match="no GANimation run"):
    acceptance.evaluate(str(tmp_path / "missing"), data_dir)
  (tmp_path / "data").mkdir()
  with pytest.raises(UserInputError):
    acceptance.evaluate(workdir, str(tmp_path / "data"))


def test_scores_on_a_warp_dataset(tmp_path, monkeypatch, fake_face_reading):
  # Real-photo identities (--renderer=warp): the truth is the warp of the stored crop.
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(photos, "read_face", fake_face_reading)
  photo_dir = tmp_path / "photos"
  photo_dir.mkdir()
  rng = np.random.default_rng(0)
  for i in range(2):
    image_io.save_image(str(photo_dir / f"p{i}.png"), rng.random((512, 512, 3)))
  data = tmp_path / "warp"
  photos.generate(str(data), str(photo_dir), 12, size=32, seed=0, test_fraction=0.5,
                  images_per_identity=3, image_format="png", reader=object(), quiet=True)
  (tmp_path / "run").mkdir()
  result = acceptance.evaluate(_zero_head_run(tmp_path / "run"), str(data))
  assert result["test_images"] == 6
  assert result["l1_input_vs_own_render"] < 0.003  # PNG: uint8 rounding only
  assert 0 < result["moved_fraction"] < 1 and result["moved_l1_unedited"] > 0
  assert result["static_l1_edit"] == pytest.approx(result["static_l1_identity"], rel=1e-6)
