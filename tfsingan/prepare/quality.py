"""Which detected faces make GANimation training data: pure checks on a face and its crop.

GANimation (Pumarola et al., ECCV 2018) trains on aligned, near-frontal face
crops; a face is dropped for the first reason of `REASONS` that applies.

  too_small       the detection box's shorter side is under `min_face` pixels: the
                  crop would be enlarged more than --size / min_face times.
  cut_by_border   the detection box reaches the edge of the photo (or beyond):
                  part of the face is missing.
  profile         `asymmetry` of the 5 landmarks is above `max_asymmetry`.
  too_blurred     `sharpness` of the aligned crop is below `min_sharpness`.

Measured on the shared real faces (tfsingan.faces.align at 128 px, 96 kept
crops): sharpness 197-1504, median 305; a Gaussian blur of sigma 1.0 px of
four of them (274-357) gave 39-46, sigma 1.5 px 15-18, so the default 30 drops
crops about as soft as a 1.2 px blur of a 128 px crop. Asymmetry: 0.01-0.42
(median 0.13) over the video's 91 kept frames, in which she turns her head by
up to about 30 degrees; 0.5 is the default limit.
"""

import cv2
import numpy as np

NO_FACE = "no_face"
REASONS = ("too_small", "cut_by_border", "profile", "too_blurred")


def asymmetry(landmarks5):
  """How far the nose is from the middle of the eyes and of the mouth corners.

  The nose is projected on the line from the left to the right eye (and from the
  left to the right mouth corner): t = 0 at the left point, 1 at the right one,
  0.5 in a frontal face. Returns max(|t - 0.5|) * 2 over both lines: 0 frontal,
  1 when the nose lies over an eye or a mouth corner (a yaw of about 45-60
  degrees), more beyond. Rotation in the image plane (roll) and scale do not
  change it.

  Args:
    landmarks5: (5, 2) (x, y): left eye, right eye, nose, mouth left, mouth right.
  """
  p = np.asarray(landmarks5, np.float64).reshape(5, 2)
  nose = p[2]
  worst = 0.0
  for a, b in ((p[0], p[1]), (p[3], p[4])):
    axis = b - a
    length2 = float(axis @ axis)
    if length2 <= 1e-12:
      return float("inf")  # collapsed points: no frontal face
    t = float((nose - a) @ axis) / length2
    worst = max(worst, abs(t - 0.5) * 2.0)
  return worst


def sharpness(crop01):
  """The variance of the Laplacian of a crop's gray levels (0..255): low = blurred.

  Computed on the aligned crop at the training size, so that it measures the
  detail the model will see whatever the face's size in the photo.
  """
  gray = cv2.cvtColor(np.clip(np.asarray(crop01, np.float32), 0.0, 1.0),
                      cv2.COLOR_RGB2GRAY) * 255.0
  return float(cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F).var())


def cut_by_border(box, image_shape):
  """True when the box (x, y, w, h) touches or crosses the edge of the image."""
  x, y, w, h = (float(v) for v in box)
  height, width = image_shape[:2]
  return x <= 0 or y <= 0 or x + w >= width or y + h >= height


def drop_reason(box, landmarks5, image_shape, crop01, *, min_face, max_asymmetry,
                min_sharpness):
  """The first reason of REASONS that drops this face, or None to keep it."""
  if min(box[2], box[3]) < min_face:
    return "too_small"
  if cut_by_border(box, image_shape):
    return "cut_by_border"
  if asymmetry(landmarks5) > max_asymmetry:
    return "profile"
  if sharpness(crop01) < min_sharpness:
    return "too_blurred"
  return None
