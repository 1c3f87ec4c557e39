"""Tests of `python -m tfsingan.prepare.stills` (still photos from a video for the AU warp)."""

import os

import cv2
import numpy as np
import pytest

from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.prepare import stills


@pytest.fixture(scope="module")
def video(tmp_path_factory):
  """A 12-frame clip whose frame k is a flat grey of level 20 k (codec-proof)."""
  path = str(tmp_path_factory.mktemp("video") / "clip.mp4")
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
  for k in range(12):
    writer.write(np.full((48, 64, 3), 20 * k, np.uint8))
  writer.release()
  return path


def test_stills_are_the_frames_asked_for(video, tmp_path):
  written = stills.write_stills(video, str(tmp_path), start=2, every=4, name="v")
  assert [os.path.basename(p) for p in written] == ["v_f002.png", "v_f006.png", "v_f010.png"]
  for path, k in zip(written, (2, 6, 10)):
    # A lossy codec: flat frames come back within a few levels of their grey.
    assert abs(image_io.load_image(path, quiet=True).mean() * 255 - 20 * k) < 6


def test_stills_refuse_bad_input(video, tmp_path):
  with pytest.raises(UserInputError, match="expected start >= 0"):
    stills.write_stills(video, str(tmp_path), every=0)
  with pytest.raises(UserInputError, match="has 12 frames"):
    stills.write_stills(video, str(tmp_path), start=50)
  photo = str(tmp_path / "p.png")
  image_io.save_image(photo, np.zeros((8, 8, 3), np.float32))
  with pytest.raises(UserInputError, match="expected one video"):
    stills.write_stills(photo, str(tmp_path / "o"))
