"""Tests of tfsingan.metrics.sifid: matrix square roots, Frechet distance, weight loading."""

import os

import h5py
import numpy as np
import pytest

from tfsingan.errors import UserInputError
from tfsingan.metrics import sifid


def write_inception_h5(path, include_top, seed=0):
  """Seeded random InceptionV3 weights in the legacy Keras .h5 layout of the ImageNet files."""
  import keras  # pylint: disable=import-outside-toplevel
  from keras.src.legacy.saving import legacy_h5_format  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(seed)
  shape = None if include_top else (None, None, 3)
  model = keras.applications.InceptionV3(weights=None, include_top=include_top,
                                         input_shape=shape)
  with h5py.File(path, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
  return model


@pytest.fixture(scope="module")
def notop_weights(tmp_path_factory):
  path = tmp_path_factory.mktemp("inception") / sifid.WEIGHT_FILES[0]
  write_inception_h5(str(path), include_top=False)
  return str(path)


@pytest.fixture(scope="module")
def scorer(notop_weights):
  return sifid.SIFID(notop_weights)


def test_sqrtm_psd_hand_computed():
  np.testing.assert_allclose(sifid.sqrtm_psd(np.diag([4.0, 9.0])), np.diag([2.0, 3.0]),
                             atol=1e-12)
  # [[2, 1], [1, 2]] has eigenvalues 3 and 1 on (1, 1) and (1, -1).
  r3 = np.sqrt(3.0)
  expected = 0.5 * np.array([[r3 + 1, r3 - 1], [r3 - 1, r3 + 1]])
  np.testing.assert_allclose(sifid.sqrtm_psd([[2.0, 1.0], [1.0, 2.0]]), expected, atol=1e-12)


def test_frechet_distance_hand_computed():
  # 1-D: (0 - 1)^2 + 4 + 1 - 2 sqrt(4 * 1) = 2.
  assert sifid.frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(2.0)
  # diagonal: |(1, 2)|^2 + 13 + 5 - 2 (2 + 6) = 7.
  assert sifid.frechet_distance([0, 0], np.diag([4.0, 9.0]), [1, 2],
                                np.diag([1.0, 4.0])) == pytest.approx(7.0)
  # non-commuting: tr sqrt(S1 S2) with S2 = I is tr sqrt(S1) = sqrt(3) + 1.
  s1 = np.array([[2.0, 1.0], [1.0, 2.0]])
  assert sifid.trace_sqrt_product(s1, np.eye(2)) == pytest.approx(np.sqrt(3.0) + 1.0)
  s2 = np.array([[1.0, 0.3], [0.3, 0.5]])
  # tr sqrt(S1 S2) from the eigenvalues of the (non-symmetric) product directly.
  direct = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
  assert sifid.trace_sqrt_product(s1, s2) == pytest.approx(direct)
  assert sifid.frechet_distance([0, 0], s1, [0, 0], s1) == pytest.approx(0.0, abs=1e-9)


def test_statistics_and_too_small_map():
  mu, cov = sifid.statistics([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
  np.testing.assert_allclose(mu, [2.0, 4.0])
  np.testing.assert_allclose(cov, [[4.0, 7.0], [7.0, 13.0]])
  with pytest.raises(UserInputError, match="too small"):
    sifid.statistics(np.ones((1, 3)))


def test_first_block_is_64_channels_before_first_maxpool(scorer):
  assert scorer.model.output.shape[-1] == 64
  assert scorer.model.layers[-1].__class__.__name__ == "Activation"
  feats = sifid.inception_features(scorer.model, np.zeros((40, 40, 3), np.float32))
  # 40 -> 19 (3x3 stride 2, valid) -> 17 (3x3 valid) -> 17 (3x3 same): no pooling.
  assert feats.shape == (17 * 17, 64)


def test_sifid_zero_symmetric_and_grows_with_noise(scorer):
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:40, 0:40] / 40.0
  x = np.stack([xx, yy, 0.5 * (xx + yy)], -1).astype(np.float32)
  y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
  z = np.clip(x + 0.3 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
  assert scorer(x, x) == pytest.approx(0.0, abs=1e-6)
  assert scorer(x, y) == pytest.approx(scorer(y, x), rel=1e-6)
  assert 0 < scorer(x, y) < scorer(x, z)
  with pytest.raises(UserInputError, match="different sizes"):
    scorer(x, x[:32])


def test_weights_with_top_give_the_same_features(tmp_path, scorer):
  # Same seed, same draws for the shared layers: the with-top file holds the
  # fixture's weights plus a classifier, loaded through the other code path.
  top_path = str(tmp_path / sifid.WEIGHT_FILES[1])
  write_inception_h5(top_path, include_top=True, seed=0)
  img = np.random.default_rng(1).random((36, 36, 3)).astype(np.float32)
  model, path = sifid.load_inception(top_path, "block1")
  assert path == top_path
  np.testing.assert_allclose(sifid.inception_features(model, img),
                             sifid.inception_features(scorer.model, img), rtol=1e-5, atol=1e-5)


def test_layer_choice(notop_weights):
  model, _ = sifid.load_inception(notop_weights, "block2")
  assert model.output.shape[-1] == 192
  assert model.layers[-1].__class__.__name__ == "Activation"


def test_missing_and_bad_weights(tmp_path, monkeypatch):
  monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
  with pytest.raises(UserInputError) as info:
    sifid.find_inception_weights(None)
  assert os.path.join(str(tmp_path / "keras_home"), "models") in str(info.value)
  assert sifid.WEIGHT_FILES[0] in str(info.value)
  with pytest.raises(UserInputError, match="file not found"):
    sifid.find_inception_weights(str(tmp_path / "nope.h5"))
  bad = tmp_path / "bad.h5"
  bad.write_bytes(b"not hdf5")
  with pytest.raises(UserInputError, match="not an HDF5"):
    sifid.load_inception(str(bad))
  cache = tmp_path / "keras_home" / "models"
  cache.mkdir(parents=True)
  (cache / sifid.WEIGHT_FILES[0]).write_bytes(b"x")
  assert sifid.find_inception_weights(None) == str(cache / sifid.WEIGHT_FILES[0])
  with pytest.raises(UserInputError, match="sifid_layer"):
    sifid.load_inception(str(bad), "pool9")


def test_hdf5_without_weights_is_refused(tmp_path):
  path = str(tmp_path / "empty.h5")
  with h5py.File(path, "w") as f:
    f.create_dataset("x", data=np.zeros(3))
  with pytest.raises(UserInputError, match="does not hold InceptionV3 weights"):
    sifid.load_inception(path)
