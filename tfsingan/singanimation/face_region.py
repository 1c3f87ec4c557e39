"""The face region of a photo, for face-protected SinGAN variants (`expand
--variant_face_gain`).

The region is the convex hull of the photo's 478 dense landmarks (MediaPipe Face
Mesh, `tfsingan.faces.AUReader`, as the warp editor reads them): forehead to chin,
cheek to cheek, everything an expression moves. `outside_mask` is 1 outside the
hull and falls smoothly to 0 over `feather` (a fraction of the face's size) inside
it; `gain_map` turns it into the per-pixel multiplier of the SinGAN's noise
amplitudes (`TrainedSinGAN.with_noise_gain`): `outside_gain` on hair, clothes and
background, `face_gain` deep inside the face.
"""

import cv2
import numpy as np

from tfsingan.errors import UserInputError


def outside_mask(landmarks, shape, feather=0.15):
  """(H, W) float32 in [0, 1]: 1 outside the hull of `landmarks`, 0 deeper inside it
  than `feather` x the face's size (the square root of the hull's area).

  Args:
    landmarks: (K, 2) x, y in pixels of an image of `shape` (K >= 3).
    shape: (H, W, ...) of that image.
    feather: the width of the ramp inside the hull, as a fraction of the face's
      size; 0: a hard edge.
  """
  points = np.asarray(landmarks, np.float64)
  if points.ndim != 2 or points.shape[0] < 3 or points.shape[1] < 2:
    raise UserInputError(f"face landmarks: expected (K >= 3, 2) points, got {points.shape}")
  if not np.all(np.isfinite(points[:, :2])):
    raise UserInputError("face landmarks: not finite")
  if feather < 0:
    raise UserInputError(f"feather={feather}: expected >= 0")
  h, w = int(shape[0]), int(shape[1])
  hull = cv2.convexHull(np.round(points[:, :2] * 16).astype(np.int32))
  inside = np.zeros((h, w), np.uint8)
  cv2.fillConvexPoly(inside, hull, 1, lineType=cv2.LINE_8, shift=4)
  if not inside.any():
    raise UserInputError("face landmarks: the face's hull covers no pixel of the image")
  ramp = feather * np.sqrt(float(inside.sum()))
  if ramp <= 0:
    return (1 - inside).astype(np.float32)
  # Distance (px) from each inside pixel to the nearest outside one.
  depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
  t = np.clip(depth / ramp, 0.0, 1.0)
  return (1.0 - t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep: 1 at the edge


def gain_map(mask, outside_gain, face_gain):
  """Per-pixel noise gain: `outside_gain` where `mask` (outside_mask) is 1,
  `face_gain` where it is 0, linear in between."""
  mask = np.asarray(mask, np.float32)
  return (face_gain + (outside_gain - face_gain) * mask).astype(np.float32)


def read_face(photo01, face_landmarker=None, *, what="--image"):
  """The photo's largest face as `tfsingan.synthetic.photos.read_face` reads it:
  (dense landmarks (478, 2), landmarks5 (5, 2), aus (17,)), in photo pixels."""
  # pylint: disable=import-outside-toplevel
  from tfsingan import faces
  from tfsingan.synthetic import photos
  reader = faces.AUReader(face_landmarker=face_landmarker or None)
  return photos.read_face(np.asarray(photo01, np.float32), reader, what=what)
