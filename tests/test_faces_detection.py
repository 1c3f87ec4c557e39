"""Tests of tfsingan.faces detection (MTCNN, Zhang et al. 2016, and the LBP
cascade fallback) and alignment on the shared real photos."""

import numpy as np
import pytest

from tfsingan import faces
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.faces import alignment
from tfsingan.faces import detection

PHOTOS = ("biden.jpg", "grace_hopper.jpg", "obama_smile.jpg", "obama_speaking.jpg",
          "obama_standing.jpg")


@pytest.fixture(scope="module")
def detections(real_face):
  found = {}
  for name in PHOTOS:
    photo = image_io.load_image(real_face(name), channels=3, quiet=True)
    found[name] = (photo, faces.detect(photo))
  return found


@pytest.mark.parametrize("name", PHOTOS)
def test_mtcnn_finds_the_face_and_its_five_points(detections, name):
  photo, found = detections[name]
  assert found and found[0].detector == "mtcnn" and found[0].confidence > 0.9
  det = found[0]
  x, y, w, h = det.box
  assert 0 <= x and 0 <= y and x + w <= photo.shape[1] and y + h <= photo.shape[0]
  eye_l, eye_r, nose, mouth_l, mouth_r = det.landmarks5
  assert eye_l[0] < eye_r[0] and mouth_l[0] < mouth_r[0]
  assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
  assert np.all((det.landmarks5 >= [x, y]) & (det.landmarks5 <= [x + w, y + h]))
  assert [d.area for d in found] == sorted((d.area for d in found), reverse=True)


@pytest.mark.parametrize("name", PHOTOS)
def test_alignment_puts_the_points_on_the_template_and_pastes_back_exactly(detections, name):
  photo, found = detections[name]
  det, size = found[0], 128
  aligned = faces.align(photo, det.landmarks5, size)
  error = np.linalg.norm(alignment.apply(aligned.matrix, det.landmarks5)
                         - faces.TEMPLATE_5 * size, axis=1)
  # A face is not rigid: on these photos the least-squares fit leaves 0.2-5.1 px
  # (the widest smile's mouth corners); the eyes land within 2.5 px.
  assert error.max() < 6.5 and error[:2].max() < 3.0, error
  assert aligned.inside > 0.95
  edited = 1.0 - aligned.image
  attention = np.linspace(0, 1, size * size, dtype=np.float32).reshape(size, size)
  out = faces.paste_back(photo, aligned, edited, attention)
  x0, y0, region = faces.footprint(aligned.matrix, size, photo.shape)
  inside = np.zeros(photo.shape[:2], bool)
  inside[y0:y0 + region.shape[0], x0:x0 + region.shape[1]] = region
  np.testing.assert_array_equal(out[~inside], photo[~inside])
  changed = np.any(out != photo, axis=-1)
  assert changed.sum() > 0.5 * inside.sum()
  # The footprint is the part of the crop's square inside the photo.
  area = aligned.inside * size ** 2 / abs(np.linalg.det(aligned.matrix[:, :2]))
  assert abs(inside.sum() - area) < 0.01 * area


def test_cascade_fallback_places_five_points_in_its_box():
  found = detection.detect_cascade(image_io.bundled_face())
  assert found and all(d.detector == "cascade" and d.confidence == 0.0 for d in found)
  x, y, w, h = found[0].box
  np.testing.assert_allclose(found[0].landmarks5,
                             detection.CASCADE_POINTS * [w, h] + [x, y], atol=1e-4)


def test_no_face_and_bad_images():
  assert not faces.detect(np.full((80, 80, 3), 0.5, np.float32))
  assert not faces.detect(np.full((6, 6, 3), 0.5, np.float32))
  with pytest.raises(UserInputError, match="no face found in blank.png; pass --box"):
    faces.detect_one(np.full((80, 80, 3), 0.5, np.float32), what="blank.png")
  for bad, message in ((np.zeros((8, 8)), "RGB"), (np.zeros((8, 8, 3), np.uint8), "float"),
                       (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
                       (np.full((8, 8, 3), 2.0, np.float32), "outside")):
    with pytest.raises(UserInputError, match=message):
      faces.detect(bad, what="photo.png")
