"""Face detection with five landmarks: MTCNN (Zhang et al., IEEE SPL 2016), with
scikit-image's LBP cascade as the fallback.

MTCNN comes from the `mtcnn` package (1.0.0, MIT; Keras 3 / TensorFlow, its
weights ship inside the wheel). It is run with its own defaults: with
`min_face_size=40` it crashed on 19 of 24 real photos (a Keras 3 "empty output"
error), with the defaults it found a face in all of them. Where it finds
nothing (or fails), the LBP frontal-face cascade of `tfsingan.ganimation.faces`
gives a box, and the five points are placed in it where MTCNN puts them on
average (`CASCADE_POINTS`, measured below); such detections say
detector="cascade".

Landmark order (as MTCNN): left eye, right eye (as seen in the image: smaller x
first), nose tip, left mouth corner, right mouth corner; (x, y) in photo pixels.
"""

import dataclasses
import threading

import cv2
import numpy as np

from tfsingan.errors import UserInputError
from tfsingan.ganimation import faces as cascade

# MTCNN runs on a copy whose longer side is at most this. Measured in one run on 2
# shared CPU cores (under load): biden.jpg (2204 px) 7.4 s at full size, 1.0 s at
# 1024 px; obama_standing.jpg (2333 px) 4.9 s and 1.1 s. Its five points moved by
# 3.6-4.4 px on three of the four photos over 1024 px, and by 11.6 px on
# obama_speaking.jpg (1200 px, shrunk by only 15%): MTCNN's points are not stable
# under rescaling at that level anyway (the AU reader refines the face from its own
# landmarks). MTCNN's smallest face (20 px) is then 20 px of the copy: 46 px of a
# 2333 px photo.
DETECT_MAX_SIDE = 1024

# The five points in the cascade's box, as fractions of its width and height
# ((x - box_x) / box_w, (y - box_y) / box_h): MTCNN's points on the five faces
# where both found one (4 shared real photos and the bundled face), averaged and
# made symmetric about x = 0.5. Measured means: eyes (0.30, 0.35), (0.69, 0.37),
# nose (0.49, 0.58), mouth (0.29, 0.76), (0.66, 0.77); spread (std) 0.02-0.08.
CASCADE_POINTS = np.array([[0.305, 0.36], [0.695, 0.36], [0.50, 0.58],
                           [0.313, 0.76], [0.687, 0.76]], np.float32)
CASCADE_CONFIDENCE = 0.0  # the cascade gives no score

DETECTORS = ("mtcnn", "cascade")


@dataclasses.dataclass(frozen=True)
class Detection:
  """A face in a photo.

  Attributes:
    box: (x, y, w, h) ints, pixels, x to the right, y down, inside the photo.
    landmarks5: (5, 2) float32 (x, y) in photo pixels: left eye, right eye (smaller
      x first), nose, mouth left, mouth right.
    confidence: MTCNN's score in [0, 1] (0 for the cascade, which gives none).
    detector: "mtcnn" or "cascade" (points estimated from the box).
  """
  box: tuple
  landmarks5: np.ndarray
  confidence: float
  detector: str

  def __post_init__(self):
    if self.detector not in DETECTORS:
      raise ValueError(f"detector={self.detector!r}: expected one of {DETECTORS}")
    points = np.asarray(self.landmarks5, np.float32)
    if points.shape != (5, 2) or not np.all(np.isfinite(points)):
      raise ValueError(f"landmarks5: expected (5, 2) finite values, got {points.shape}")
    object.__setattr__(self, "landmarks5", points)
    object.__setattr__(self, "box", tuple(int(v) for v in self.box))
    object.__setattr__(self, "confidence", float(self.confidence))

  @property
  def area(self):
    return self.box[2] * self.box[3]


_MTCNN = None
_MTCNN_LOCK = threading.Lock()


def _mtcnn():
  """The MTCNN detector, built on first use (importing it loads TensorFlow)."""
  global _MTCNN  # pylint: disable=global-statement
  with _MTCNN_LOCK:
    if _MTCNN is None:
      try:
        from mtcnn import MTCNN  # pylint: disable=import-outside-toplevel
      except ImportError:
        raise UserInputError("the face detector needs the `mtcnn` package: "
                             "pip install mtcnn==1.0.0 (a dependency of tfsingan)") from None
      _MTCNN = MTCNN()
    return _MTCNN


def check_image(image01, *, what="image"):
  """(H, W, 3) finite values in [0, 1] as float32, else UserInputError."""
  image01 = np.asarray(image01)
  if image01.ndim != 3 or image01.shape[2] != 3 or min(image01.shape[:2]) < 1:
    raise UserInputError(f"{what}: expected an (H, W, 3) RGB image, got shape {image01.shape}")
  if not np.issubdtype(image01.dtype, np.floating):
    raise UserInputError(f"{what}: expected float values in [0, 1], got dtype {image01.dtype}")
  image01 = image01.astype(np.float32, copy=False)
  if not np.all(np.isfinite(image01)):
    raise UserInputError(f"{what}: holds NaN or infinite values")
  if image01.min() < 0.0 or image01.max() > 1.0:
    raise UserInputError(f"{what}: values outside [0, 1] ({image01.min():.3g} .. "
                         f"{image01.max():.3g})")
  return image01


def _shrunk(image01, max_side):
  h, w = image01.shape[:2]
  scale = min(1.0, max_side / max(h, w))
  if scale == 1.0:
    return image01, 1.0
  size = (max(1, round(w * scale)), max(1, round(h * scale)))
  return cv2.resize(image01, size, interpolation=cv2.INTER_AREA), scale


def _clip_box(x0, y0, x1, y1, shape):
  h, w = shape[:2]
  x0, y0 = max(0, int(round(x0))), max(0, int(round(y0)))
  x1, y1 = min(w, int(round(x1))), min(h, int(round(y1)))
  if x1 <= x0 or y1 <= y0:
    return None
  return (x0, y0, x1 - x0, y1 - y0)


def detect_mtcnn(image01, *, max_side=DETECT_MAX_SIDE):
  """MTCNN's faces of `image01` (checked (H, W, 3) float32 in [0, 1]), largest first."""
  small, scale = _shrunk(image01, max_side)
  if min(small.shape[:2]) < 12:  # MTCNN's smallest window
    return []
  pixels = np.round(small * 255.0).astype(np.uint8)
  try:
    rows = _mtcnn().detect_faces(pixels, output_type="numpy")
  except (ValueError, IndexError) as e:  # pylint: disable=broad-except
    # mtcnn 1.0.0 raises from Keras 3 on some pyramids ("empty output"); the
    # caller falls back to the cascade.
    del e
    return []
  rows = np.asarray(rows, np.float64).reshape(-1, 16)
  found = []
  for row in rows:
    # [image, x, y, w, h, score, the 5 x, the 5 y] in the shrunk copy's pixels.
    x, y, w, h = row[1:5] / scale
    box = _clip_box(x, y, x + w, y + h, image01.shape)
    points = np.stack([row[6:11], row[11:16]], axis=1) / scale
    if box is None or not np.all(np.isfinite(points)):
      continue
    if points[0, 0] > points[1, 0]:  # keep "smaller x first" for the eyes and mouth
      points[[0, 1]] = points[[1, 0]]
    if points[3, 0] > points[4, 0]:
      points[[3, 4]] = points[[4, 3]]
    found.append(Detection(box, points.astype(np.float32), float(np.clip(row[5], 0, 1)),
                           "mtcnn"))
  return sorted(found, key=lambda d: d.area, reverse=True)


def detect_cascade(image01):
  """The LBP cascade's faces, five points estimated from each box (CASCADE_POINTS)."""
  found = []
  for box in cascade.detect_faces(image01):
    x, y, w, h = box
    points = CASCADE_POINTS * np.array([w, h], np.float32) + np.array([x, y], np.float32)
    found.append(Detection(box, points, CASCADE_CONFIDENCE, "cascade"))
  return found


def detect(image01, *, max_side=DETECT_MAX_SIDE, what="image"):
  """All faces of `image01` ((H, W, 3) float RGB in [0, 1]), largest first.

  MTCNN first; when it finds nothing, the LBP cascade (detector="cascade").
  Returns an empty list when neither finds a face; UserInputError for an image
  that is not (H, W, 3) finite values in [0, 1].
  """
  image01 = check_image(image01, what=what)
  return detect_mtcnn(image01, max_side=max_side) or detect_cascade(image01)


def detect_one(image01, *, what="--image"):
  """The largest face of `image01`; UserInputError naming `what` when there is none."""
  found = detect(image01, what=what)
  if not found:
    raise UserInputError(f"no face found in {what}; pass --box=x,y,w,h")
  return found[0]
