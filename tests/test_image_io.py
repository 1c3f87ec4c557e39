"""Tests of the bundled faces of `tfsingan.common.image_io` (read from installed packages)."""

import numpy as np
import pytest

from tfsingan.common import image_io
from tfsingan.errors import UserInputError


def test_bundled_spec_loads_the_bundled_face():
  face = image_io.load_image("bundled:astronaut", what="--image")
  np.testing.assert_array_equal(face, image_io.bundled_face())
  assert face.shape == (200, 200, 3)
  gray = image_io.load_image("bundled:astronaut", channels=1)
  assert gray.shape == (200, 200, 1)
  np.testing.assert_allclose(gray[..., 0], face @ np.array([0.299, 0.587, 0.114]), atol=1e-5)


def test_unknown_bundled_face_is_one_user_error():
  with pytest.raises(UserInputError, match=r"--image=bundled:nobody: no such bundled face; "
                     r"expected one of bundled:grace_hopper, bundled:astronaut"):
    image_io.load_image("bundled:nobody", what="--image")


def test_grace_hopper_comes_from_matplotlib_cropped_to_her_face():
  pytest.importorskip("matplotlib", reason="matplotlib (a base dependency) is not installed")
  face = image_io.load_image("bundled:grace_hopper")
  assert face.shape == (260, 260, 3) and face.dtype == np.float32
  # Not the astronaut, and a photo (not a flat fill): the crop holds her face, whose
  # skin is redder than the blue background of the portrait.
  assert face.std() > 0.15
  centre = face[90:170, 90:170].mean(axis=(0, 1))
  assert centre[0] > centre[2] + 0.1
  small = image_io.bundled_face(64, name="grace_hopper")
  assert small.shape == (64, 64, 3)
