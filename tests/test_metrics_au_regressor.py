"""Tests of tfsingan.metrics.au_regressor: training on tiny synthetic faces, save/load, predict."""

import json
import os

import numpy as np
import pytest

from tfsingan.errors import UserInputError
from tfsingan.metrics import au_regressor


@pytest.fixture(scope="module")
def tiny_faces(tmp_path_factory):
  from tfsingan.synthetic import generate  # pylint: disable=import-outside-toplevel
  out = str(tmp_path_factory.mktemp("faces"))
  generate(out, 40, size=32, seed=0, test_fraction=0.25, images_per_identity=4,
           image_format="png", workers=1, quiet=True)
  return out


def test_train_save_load_predict(tiny_faces, tmp_path):
  config = au_regressor.AURegressorConfig(image_size=32, width=8, epochs=6, batch_size=8,
                                          learning_rate=3e-3)
  workdir = str(tmp_path / "reg")
  result = au_regressor.train(config, tiny_faces, workdir, quiet=True)
  assert result["train_loss"][-1] < result["train_loss"][0]
  assert 0.0 <= result["test_mae"] <= 1.0 and result["test_images"] > 0
  assert set(os.listdir(workdir)) == {au_regressor.WEIGHTS_NAME, au_regressor.CONFIG_NAME}
  with open(os.path.join(workdir, au_regressor.CONFIG_NAME)) as f:
    meta = json.load(f)
  assert meta["config"]["image_size"] == 32 and len(meta["au_names"]) == 17

  model = au_regressor.load_regressor(workdir)
  rng = np.random.default_rng(0)
  # Any size: centre-cropped and resized to the regressor's input.
  images = [rng.random((40, 48, 3)).astype(np.float32), rng.random((20, 20, 3))]
  pred = au_regressor.predict_aus(model, images)
  assert pred.shape == (2, 17) and np.all((pred >= 0) & (pred <= 1))
  retrained = au_regressor.build_regressor(config)
  retrained.load_weights(os.path.join(workdir, au_regressor.WEIGHTS_NAME))
  np.testing.assert_allclose(au_regressor.predict_aus(retrained, images), pred, atol=1e-6)


def test_config_and_missing_regressor(tmp_path):
  with pytest.raises(UserInputError, match="image_size"):
    au_regressor.AURegressorConfig(image_size=4)
  with pytest.raises(UserInputError, match="dropout"):
    au_regressor.AURegressorConfig(dropout=1.0)
  with pytest.raises(UserInputError, match="learning_rate"):
    au_regressor.AURegressorConfig(learning_rate=0.0)
  with pytest.raises(UserInputError, match="holds no"):
    au_regressor.load_regressor(str(tmp_path))


def test_augment_keeps_shape_and_range():
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
  out = au_regressor._augment(x.copy(), rng)  # pylint: disable=protected-access
  assert out.shape == x.shape and out.min() >= -1.0 and out.max() <= 1.0
  assert not np.allclose(out, x)
