"""expand's --variant_face_gain: a spatial noise gain, --variant_noise_gain outside the
face's hull and --variant_face_gain inside it (tfsingan/singanimation/face_region.py,
TrainedSinGAN.with_noise_gain with a map)."""

import os

import cv2
import numpy as np
import pytest

import harness
from tfsingan.errors import UserInputError
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.inference import TrainedSinGAN
from tfsingan.singanimation import face_region
from tfsingan.singanimation import pipeline
from tfsingan.singanimation.config import SinGANimationConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# MediaPipe's 478 landmarks of the shared Grace Hopper photo (512 x 600 px).
LANDMARKS = np.loadtxt(os.path.join(ROOT, "tests", "data", "grace_hopper_landmarks.csv"),
                       delimiter=",")[:, :2]
SHAPE = (600, 512, 3)


def _hull(landmarks, shape):
  inside = np.zeros(shape[:2], np.uint8)
  cv2.fillConvexPoly(inside, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
  return inside.astype(bool)


def test_mask_is_one_outside_the_hull_and_zero_deep_inside():
  mask = face_region.outside_mask(LANDMARKS, SHAPE, feather=0.15)
  hull = _hull(LANDMARKS, SHAPE)
  assert mask.shape == SHAPE[:2] and mask.dtype == np.float32
  assert 0.0 <= mask.min() and mask.max() <= 1.0
  # Outside the hull (less its one-pixel rim, where rounding differs): exactly 1.
  rim = cv2.dilate(hull.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
  assert np.all(mask[~rim] == 1.0)
  # The face's centre is deep inside: 0; the ramp lies inside the hull.
  cx, cy = np.round(LANDMARKS.mean(axis=0)).astype(int)
  assert mask[cy, cx] == 0.0
  ramp = (mask > 0) & (mask < 1)
  assert ramp.any() and np.all(hull[ramp] | rim[ramp])
  # A wider feather protects less of the face fully.
  wide = face_region.outside_mask(LANDMARKS, SHAPE, feather=0.4)
  assert (wide == 0).sum() < (mask == 0).sum() and np.all(wide >= mask - 1e-6)


def test_hard_edge_and_gain_map():
  hard = face_region.outside_mask(LANDMARKS, SHAPE, feather=0.0)
  assert set(np.unique(hard)) == {0.0, 1.0}
  gains = face_region.gain_map(face_region.outside_mask(LANDMARKS, SHAPE), 4.0, 0.5)
  assert gains.min() == pytest.approx(0.5) and gains.max() == pytest.approx(4.0)
  assert gains[0, 0] == pytest.approx(4.0)  # a corner: background


@pytest.mark.parametrize("landmarks,feather,message", [
    (np.zeros((2, 2)), 0.1, "expected \\(K >= 3, 2\\)"),
    (np.full((5, 2), np.nan), 0.1, "not finite"),
    (LANDMARKS + 5000, 0.1, "covers no pixel"),
    (LANDMARKS, -0.1, "feather"),
])
def test_bad_landmarks_are_refused(landmarks, feather, message):
  with pytest.raises(UserInputError, match=message):
    face_region.outside_mask(landmarks, SHAPE, feather=feather)


class _AddNoise:
  """A stand-in generator: its output is its input plus the (scaled) noise."""
  channels = 3

  def __call__(self, inputs, training=False):
    del training
    noise, prev = inputs
    return prev + noise


def _model(size=48):
  sizes = [(size // 2, size // 2), (3 * size // 4, 3 * size // 4), (size, size)]
  return TrainedSinGAN([_AddNoise()] * 3, [0.05] * 3, sizes, np.zeros((*sizes[0], 3)))


def test_pixels_deep_inside_the_face_vary_less_than_outside():
  size = 48
  lm = LANDMARKS / np.array([SHAPE[1], SHAPE[0]]) * size
  mask = face_region.outside_mask(lm, (size, size), feather=0.15)
  gained = _model(size).with_noise_gain(face_region.gain_map(mask, 4.0, 1.0), start_scale=1)
  std = gained.sample(16, start_scale=1, seed=3).std(axis=0).mean(axis=-1)
  inside, outside = std[mask == 0].mean(), std[mask == 1].mean()
  assert inside < 0.5 * outside
  # One gain everywhere: no such difference (the map above did it).
  flat = _model(size).with_noise_gain(4.0, start_scale=1)
  std = flat.sample(16, start_scale=1, seed=3).std(axis=0).mean(axis=-1)
  assert std[mask == 0].mean() > 0.7 * std[mask == 1].mean()
  # The scales before the start scale are untouched by the map.
  assert gained.noise_amps == _model(size).noise_amps


def test_a_bad_gain_map_is_refused():
  with pytest.raises(UserInputError, match="noise gain map"):
    _model().with_noise_gain(-np.ones((4, 4)), start_scale=1)
  with pytest.raises(UserInputError, match="noise gain map"):
    _model().with_noise_gain(np.ones((4, 4, 3)), start_scale=1)


def _regenerator(monkeypatch, landmarks=None, **overrides):
  config = SinGANimationConfig(singan_workdir="unused", start_scale=1, **overrides)
  photo = np.zeros(SHAPE, np.float32)
  regen = pipeline._Regenerator(  # pylint: disable=protected-access
      config, SinGANConfig(), "out", photo, landmarks)
  monkeypatch.setattr(regen, "_train", lambda *args: _model())
  regen.train_shared()
  return regen.shared


def test_expand_builds_the_map_from_the_face(monkeypatch):
  shared = _regenerator(monkeypatch, LANDMARKS, variant_noise_gain=3.0, variant_face_gain=0.5)
  gain, first = shared.gain_map
  assert first == 1 and gain.shape == SHAPE[:2]
  expected = face_region.gain_map(face_region.outside_mask(LANDMARKS, SHAPE, 0.15), 3.0, 0.5)
  np.testing.assert_allclose(gain, expected)
  # -1 (the default): no map, the one gain everywhere as before.
  plain = _regenerator(monkeypatch, None, variant_noise_gain=3.0)
  assert plain.gain_map is None
  np.testing.assert_allclose(plain.noise_amps, [0.05, 0.15, 0.15])


@pytest.mark.parametrize("overrides,message", [
    ({"variant_face_gain": -0.5}, "--variant_face_gain=-0.5: expected -1"),
    ({"variant_face_gain": 101.0}, "--variant_face_gain=101.0"),
    ({"variant_face_gain": float("nan")}, "--variant_face_gain=nan"),
    ({"variant_face_feather": 1.5}, "--variant_face_feather=1.5"),
])
def test_bad_values_are_refused(overrides, message):
  with pytest.raises(UserInputError, match=message.replace(".", "\\.")):
    SinGANimationConfig(**overrides)


@pytest.mark.parametrize("flag,message", [
    ("--variant_face_gain=-0.5", "--variant_face_gain=-0.5: expected -1 (no face region)"),
    ("--variant_face_feather=2", "--variant_face_feather=2.0: expected"),
])
def test_bad_values_end_with_one_error_line(flag, message):
  result = harness.run_cli("tfsingan.expand", "--flagfile=configs/singanimation_tiny.cfg",
                           "--editor=warp", flag, "--dry_run")
  assert result.returncode == 2, result.stderr[-2000:]
  lines = harness.error_lines(result)
  assert len(lines) == 1 and "Traceback" not in result.stderr
  assert message in lines[0]


def test_the_face_landmarker_is_accepted_for_the_face_gain():
  SinGANimationConfig(face_landmarker="x.task", variant_face_gain=1.0)
  with pytest.raises(UserInputError, match="--face_landmarker"):
    SinGANimationConfig(face_landmarker="x.task")
