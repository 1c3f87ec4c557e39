"""Tests of tfsingan.metrics.diversity against hand-computed values."""

import numpy as np
import pytest

from tfsingan.errors import UserInputError
from tfsingan.metrics.diversity import diversity, to_gray


def test_hand_computed_single_channel():
  # Two 1x2 samples: per-pixel std (population) = (0.5, 0.25), mean 0.375;
  # reference (0, 1) has std 0.5 -> 0.75.
  samples = np.array([[[[0.0], [0.0]]], [[[1.0], [0.5]]]])
  reference = np.array([[[0.0], [1.0]]])
  assert diversity(samples, reference) == pytest.approx(0.75)
  assert diversity(samples, reference, gray=True) == pytest.approx(0.75)


def test_rgb_vs_gray():
  # Opposite colour swings with the same luma: RGB diversity > 0, gray ~ 0.
  a = np.zeros((1, 1, 3))
  a[..., 0] = 0.587
  b = np.zeros((1, 1, 3))
  b[..., 1] = 0.299
  reference = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
  rgb = diversity([a, b], reference)
  # per-channel std: (0.2935, 0.1495, 0) -> mean 0.1477; reference std 0.5.
  assert rgb == pytest.approx((0.587 / 2 + 0.299 / 2) / 3 / 0.5)
  assert diversity([a, b], reference, gray=True) == pytest.approx(0.0, abs=1e-12)
  np.testing.assert_allclose(to_gray(reference)[..., 0], [[0.0, 1.0]])


def test_identical_samples_have_zero_diversity():
  img = np.random.default_rng(0).random((4, 4, 3))
  assert diversity([img, img, img], img) == pytest.approx(0.0, abs=1e-12)


def test_errors():
  img = np.random.default_rng(0).random((4, 4, 3))
  with pytest.raises(UserInputError, match="different sizes"):
    diversity([img, img[:3]], img)
  with pytest.raises(UserInputError, match="at least 2"):
    diversity([img], img)
  with pytest.raises(UserInputError, match="constant"):
    diversity([img, img], np.ones((4, 4, 3)))
