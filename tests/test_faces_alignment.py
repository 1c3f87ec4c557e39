"""Tests of tfsingan.faces.alignment: the similarity to the ArcFace-based template
(Deng et al., 2019) and the paste back into the photo, on synthetic inputs."""

import cv2
import numpy as np
import pytest

from tfsingan import faces
from tfsingan.errors import UserInputError
from tfsingan.faces import alignment


def rotation_matrix(angle, scale, tx, ty):
  c, s = np.cos(angle) * scale, np.sin(angle) * scale
  return np.array([[c, -s, tx], [s, c, ty]])


def test_template_is_arcface_shrunk_by_the_margin():
  np.testing.assert_allclose(faces.template(0.0), alignment.ARCFACE_112 / 112, atol=1e-6)
  t = faces.TEMPLATE_5
  assert faces.DEFAULT_MARGIN == 0.2
  # Eyes level and symmetric about the centre, mouth below the nose below the eyes.
  assert abs(t[0, 1] - t[1, 1]) < 0.01 and abs(t[0, 0] + t[1, 0] - 1) < 0.01
  assert t[0, 1] < t[2, 1] < t[3, 1]
  np.testing.assert_allclose(t[1, 0] - t[0, 0], 0.2247, atol=1e-3)
  with pytest.raises(UserInputError, match="--margin"):
    faces.template(-0.1)


def test_similarity_recovers_a_known_transform():
  rng = np.random.default_rng(0)
  src = rng.uniform(0, 100, (5, 2))
  m = rotation_matrix(0.3, 1.7, 12.0, -5.0)
  np.testing.assert_allclose(alignment.similarity(src, alignment.apply(m, src)), m, atol=1e-9)
  # A mirror image is not a similarity: the fit keeps a positive determinant.
  mirrored = src * [-1, 1]
  fit = alignment.similarity(src, mirrored)
  assert np.linalg.det(fit[:, :2]) > 0
  with pytest.raises(UserInputError, match="coincide"):
    alignment.similarity(np.ones((5, 2)), src)


def dotted_photo(points, shape=(330, 400)):
  """Grey noise with a bright red dot at each point."""
  rng = np.random.default_rng(1)
  photo = rng.uniform(0.3, 0.5, (*shape, 3)).astype(np.float32)
  for x, y in points:
    cv2.circle(photo, (int(round(x)), int(round(y))), 3, (1.0, 0.0, 0.0), -1)
  return photo


def test_align_puts_the_points_where_the_template_says():
  size = 64
  # The template under a rotated, scaled similarity: a face tilted by 20 degrees.
  to_photo = rotation_matrix(np.deg2rad(20), 3.0, 150.0, 60.0)
  points = alignment.apply(to_photo, faces.TEMPLATE_5 * size)
  photo = dotted_photo(points)
  aligned = faces.align(photo, points, size)
  assert aligned.image.shape == (size, size, 3) and aligned.image.dtype == np.float32
  assert aligned.size == size and aligned.inside == pytest.approx(1.0)
  np.testing.assert_allclose(alignment.apply(aligned.matrix, points), faces.TEMPLATE_5 * size,
                             atol=1e-6)
  # The red dots are found in the crop's pixels at the template points (the warp
  # follows the matrix; the dots are 3 px / 3 = 1 px in the crop).
  red = aligned.image[:, :, 0] - aligned.image[:, :, 1]
  for x, y in faces.TEMPLATE_5 * size:
    xi, yi = int(round(x)), int(round(y))
    assert red[yi - 1:yi + 2, xi - 1:xi + 2].max() > 0.5, (x, y)
  assert (red > 0.5).sum() < 5 * 9


def test_align_reports_the_part_outside_the_photo():
  size = 32
  to_photo = rotation_matrix(0.0, 2.0, -32.0, 0.0)  # half the crop left of the photo
  points = alignment.apply(to_photo, faces.TEMPLATE_5 * size)
  aligned = faces.align(np.full((100, 100, 3), 0.5, np.float32), points, size)
  assert aligned.inside == pytest.approx(0.5, abs=0.05)


def test_paste_back_changes_only_the_footprint_bit_for_bit():
  rng = np.random.default_rng(2)
  photo = rng.uniform(0, 1, (120, 160, 3)).astype(np.float32)
  size = 32
  to_photo = rotation_matrix(np.deg2rad(-35), 1.6, 60.0, 30.0)
  aligned = faces.align(photo, alignment.apply(to_photo, faces.TEMPLATE_5 * size), size)
  edited = rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
  x0, y0, region = faces.footprint(aligned.matrix, size, photo.shape)
  inside = np.zeros(photo.shape[:2], bool)
  inside[y0:y0 + region.shape[0], x0:x0 + region.shape[1]] = region
  # The footprint is the rotated square: about (32 * 1.6)^2 pixels.
  assert abs(inside.sum() - (size * 1.6) ** 2) < 0.05 * (size * 1.6) ** 2
  for mask in (None, rng.uniform(0, 1, (size, size)), rng.uniform(0, 1, (size, size, 1))):
    out = faces.paste_back(photo, aligned, edited, mask)
    assert out.dtype == np.float32 and out.shape == photo.shape
    np.testing.assert_array_equal(out[~inside], photo[~inside])
    assert np.abs(out[inside] - photo[inside]).mean() > 0.05
  # A mask of ones keeps every pixel; pasting the crop itself back changes the
  # footprint by interpolation error only.
  np.testing.assert_array_equal(faces.paste_back(photo, aligned, edited, np.ones((size, size))),
                                photo)
  flat = faces.paste_back(photo, aligned, np.full((size, size, 3), 0.25, np.float32))
  np.testing.assert_allclose(flat[inside], 0.25, atol=1e-6)


def test_paste_back_of_a_large_face_round_trips():
  rng = np.random.default_rng(3)
  smooth = cv2.GaussianBlur(rng.uniform(0, 1, (200, 200, 3)).astype(np.float32), (0, 0), 6)
  size = 64
  to_photo = rotation_matrix(np.deg2rad(10), 2.5, 30.0, 20.0)  # crop shrinks the photo 2.5x
  aligned = faces.align(smooth, alignment.apply(to_photo, faces.TEMPLATE_5 * size), size)
  back = faces.paste_back(smooth, aligned, aligned.image)
  x0, y0, region = faces.footprint(aligned.matrix, size, smooth.shape)
  window = (slice(y0 + 4, y0 + region.shape[0] - 4), slice(x0 + 4, x0 + region.shape[1] - 4))
  inner = region[4:-4, 4:-4]
  # A smooth photo survives down- and upsampling within a few grey levels.
  assert np.abs(back[window][inner] - smooth[window][inner]).max() < 0.03


def test_crop_box_is_the_resized_box():
  rng = np.random.default_rng(4)
  photo = rng.uniform(0, 1, (50, 60, 3)).astype(np.float32)
  box = (10, 5, 40, 40)
  aligned = faces.crop_box(photo, box, 20)
  expected = cv2.resize(photo[5:45, 10:50], (20, 20), interpolation=cv2.INTER_AREA)
  np.testing.assert_allclose(aligned.image, expected, atol=1e-5)
  up = faces.crop_box(photo, (10, 5, 16, 16), 32)
  expected = cv2.resize(photo[5:21, 10:26], (32, 32), interpolation=cv2.INTER_LINEAR)
  # Inner pixels: cv2.resize and warpAffine interpolate alike there (the borders
  # differ by OpenCV's edge handling).
  np.testing.assert_allclose(up.image[1:-1, 1:-1], expected[1:-1, 1:-1], atol=0.02)
  out = faces.paste_back(photo, aligned, np.zeros((20, 20, 3), np.float32))
  changed = np.any(out != photo, axis=-1)
  assert changed[5:45, 10:50].all() and changed.sum() == 40 * 40


@pytest.mark.parametrize("call,message", [
    (lambda p, a: faces.align(p, np.zeros((4, 2)), 32), "landmarks5"),
    (lambda p, a: faces.align(p, np.full((5, 2), np.nan), 32), "landmarks5"),
    (lambda p, a: faces.align(p, faces.TEMPLATE_5 * 40, 4), "size"),
    (lambda p, a: faces.align(p, faces.TEMPLATE_5 * 40, 32.5), "size"),
    (lambda p, a: faces.paste_back(p, a, np.zeros((16, 16, 3))), "edited_crop"),
    (lambda p, a: faces.paste_back(p, a, np.zeros((32, 32, 3)), np.zeros((32, 32, 3))), "mask"),
])
def test_bad_inputs(call, message):
  photo = np.full((64, 64, 3), 0.5, np.float32)
  aligned = faces.align(photo, faces.TEMPLATE_5 * 64, 32)
  with pytest.raises(UserInputError, match=message):
    call(photo, aligned)
