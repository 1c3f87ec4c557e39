"""The two on-disk layouts of face images with OpenFace action units (GANimation, Pumarola et al., ECCV 2018).

`load_index` lists a split's images and their AUs without TensorFlow; the tf.data
pipeline over them is `tfsingan.ganimation.data.make_dataset`.

Format A, the layout of the original code (`albertpumarola/GANimation`):

    DATA_DIR/imgs/<id>.jpg         face crops (any size; centre-cropped to a square)
    DATA_DIR/aus_openface.pkl      dict id -> 17 OpenFace intensities on the raw 0..5
                                   scale (pickled by Python 2 or 3; keys with or
                                   without the image extension)
    DATA_DIR/train_ids.csv         one image file name per line (test_ids.csv alike)

Format B, what OpenFace itself writes: a folder of images (DATA_DIR or
DATA_DIR/imgs) and, for every image `<stem>.jpg`, the CSV of
`FaceLandmarkImg -aus` named `<stem>.csv`, either beside the image or in
DATA_DIR/processed/ (OpenFace's default output folder) or DATA_DIR/openface/.
Columns are picked by name (`AU01_r` ... `AU45_r`, `confidence`; header names may
carry leading spaces); when a CSV lists several faces the most confident row wins.

Splits: `<split>_ids.csv` when the file exists (both formats); otherwise a
deterministic 90/10 split by file name: an image is in "test" when the MD5 of its
file name, read as an integer, is divisible by 10, else in "train". `split="all"`
takes every image.

Images whose AUs are missing or unreadable are skipped with one counted warning
(`strict=True` raises UserInputError instead); an empty result raises
UserInputError naming the folder and the expected layout.
"""

import csv
import dataclasses
import hashlib
import os
import pickle
import sys

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_NAMES, AU_SCALE, NUM_AUS

PICKLE_NAME = "aus_openface.pkl"
CSV_FOLDERS = ("processed", "openface")  # looked up besides the image folder
LAYOUT_HELP = (
    "expected either imgs/<id>.jpg + aus_openface.pkl (+ train_ids.csv/test_ids.csv), "
    "or images with OpenFace FaceLandmarkImg -aus CSVs (<stem>.csv beside each image "
    "or in processed/)")


def _warn(message):
  print(f"warning: {message}", file=sys.stderr, flush=True)


class _Skips:
  """Collects skipped images by reason; one warning line per reason, or raises when strict."""

  def __init__(self, data_dir, strict, quiet=False):
    self.data_dir = data_dir
    self.strict = strict
    self.quiet = quiet
    self.reasons = {}

  def add(self, reason, name, detail=""):
    if self.strict:
      raise UserInputError(f"{self.data_dir}: {name}: {reason}{detail} (strict mode)")
    self.reasons.setdefault(reason, []).append(name)

  def check_image(self, path, name):
    """False (and the image counted as skipped) when `path` is no complete image file."""
    try:
      with open(path, "rb") as f:
        head = f.read(16)
        f.seek(max(0, os.path.getsize(path) - 64))
        tail = f.read()
    except OSError as e:
      self.add(f"unreadable image file ({e.strerror})", name)
      return False
    problem = image_io.file_problem(head, tail)
    if problem:
      self.add(problem.split(";")[0].removeprefix("is "), name)
      return False
    return True

  def report(self, total):
    if self.quiet:
      return
    for reason, names in self.reasons.items():
      examples = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
      _warn(f"{self.data_dir}: skipped {len(names)} of {total} images: {reason} "
            f"(e.g. {examples})")


def _in_hashed_split(file_name, split):
  if split == "all":
    return True
  digest = int(hashlib.md5(file_name.encode("utf-8")).hexdigest(), 16)
  return (digest % 10 == 0) == (split == "test")


def _read_ids_csv(path):
  """One image file name per line (first comma-separated field; blank lines ignored)."""
  names = []
  for line in checkpointing.read_lines(path, "an id list, one file name per line"):
    name = line.split(",")[0].strip().strip('"')
    if name:
      names.append(os.path.basename(name))
  return names


def _stem(name):
  base, ext = os.path.splitext(name)
  return base if ext.lower() in image_io.TF_IMAGE_EXTENSIONS else name


def _list_images(folder):
  if not os.path.isdir(folder):
    return []
  return sorted(f for f in os.listdir(folder)
                if f.lower().endswith(image_io.TF_IMAGE_EXTENSIONS) and not f.startswith("."))


def _to_unit_aus(values):
  """17 raw OpenFace intensities (0..5) -> float32 in [0, 1]; None if unusable."""
  try:
    arr = np.asarray(values, np.float64).reshape(-1)
  except (TypeError, ValueError):
    return None
  if arr.shape[0] != NUM_AUS or not np.all(np.isfinite(arr)):
    return None
  # OpenFace's regressors overshoot slightly outside 0..5 now and then.
  return np.clip(arr / AU_SCALE, 0.0, 1.0).astype(np.float32)


def _load_pickle(path):
  try:
    with open(path, "rb") as f:
      # latin1 lets Python 3 read Python 2 pickles of numpy arrays and str keys;
      # it is a no-op for Python 3 pickles.
      data = pickle.load(f, encoding="latin1")
  except Exception as e:  # pylint: disable=broad-except
    raise UserInputError(f"{path}: not a readable pickle ({type(e).__name__}: {e}); "
                         "expected a dict id -> 17 OpenFace AU intensities") from None
  if not isinstance(data, dict):
    raise UserInputError(f"{path}: holds a {type(data).__name__}; expected a dict id -> "
                         "17 OpenFace AU intensities")
  table = {}
  for key, value in data.items():
    if isinstance(key, bytes):
      key = key.decode("latin1")
    table[_stem(os.path.basename(str(key)))] = value
  return table


def _split_names(data_dir, img_dir, split):
  """The image names of a split: `<split>_ids.csv` if present, else a hashed split."""
  ids_csv = os.path.join(data_dir, f"{split}_ids.csv")
  if split != "all" and os.path.exists(ids_csv):
    return _read_ids_csv(ids_csv)
  if split not in ("train", "test", "all"):
    raise UserInputError(f"{data_dir}: split {split!r} has no {split}_ids.csv; "
                         "expected train, test or all")
  return [f for f in _list_images(img_dir) if _in_hashed_split(f, split)]


def _index_format_a(data_dir, split, skips):
  table = _load_pickle(os.path.join(data_dir, PICKLE_NAME))
  img_dir = os.path.join(data_dir, "imgs")
  if not os.path.isdir(img_dir):
    img_dir = data_dir
  names = _split_names(data_dir, img_dir, split)
  paths, aus = [], []
  for name in names:
    path = os.path.join(img_dir, name)
    if not os.path.splitext(name)[1]:
      path = next((path + e for e in image_io.TF_IMAGE_EXTENSIONS if os.path.exists(path + e)), path)
    if not os.path.isfile(path):
      skips.add("image file not found", name)
      continue
    if not skips.check_image(path, name):
      continue
    value = table.get(_stem(name))
    if value is None:
      skips.add(f"no entry in {PICKLE_NAME}", name)
      continue
    unit = _to_unit_aus(value)
    if unit is None:
      skips.add(f"entry in {PICKLE_NAME} is not 17 finite numbers", name)
      continue
    paths.append(path)
    aus.append(unit)
  return names, paths, aus


@dataclasses.dataclass(frozen=True)
class OpenFaceTable:
  """The rows of an OpenFace CSV (`FaceLandmarkImg`, `FeatureExtraction` or
  `FaceLandmarkVidMulti` with -aus): one row per face (images) or per frame (videos).

  Attributes:
    aus: (N, 17) raw intensities (0..5) in AU_NAMES order.
    confidence: (N,) the tracker's confidence (0 where the column is absent).
    frame: (N,) int, OpenFace's frame number (it counts from 1), or None
      without a `frame` column (FaceLandmarkImg).
    success: (N,) bool, OpenFace's `success` flag (all True without the column):
      failed frames carry AUs of 0 that describe no face.
  """

  aus: np.ndarray
  confidence: np.ndarray
  frame: object
  success: np.ndarray

  def best_row(self):
    """The index of the most confident successful row (the first one on ties), or None."""
    scores = np.where(self.success, self.confidence, -np.inf)
    if not len(scores) or not np.isfinite(scores.max()):
      return None
    return int(np.argmax(scores))

  def rows_of_frame(self, frame):
    """The indices of the successful rows of OpenFace frame number `frame`."""
    if self.frame is None:
      return []
    return [int(i) for i in np.flatnonzero((self.frame == frame) & self.success)]


def read_openface_table(path):
  """Reads every row of an OpenFace CSV into an `OpenFaceTable`.

  Columns are found by name (header names may carry leading spaces, as OpenFace
  writes them); `face_id`, `frame`, `confidence` and `success` are optional.
  Raises UserInputError naming what is wrong (missing columns, no rows, bad numbers).
  """
  try:
    with open(path, "r", encoding="utf-8-sig", newline="") as f:
      rows = list(csv.reader(f))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise UserInputError(f"{path}: cannot read ({e})") from None
  rows = [r for r in rows if any(c.strip() for c in r)]
  if not rows:
    raise UserInputError(f"{path}: empty; expected an OpenFace CSV with AUxx_r columns")
  header = [h.strip() for h in rows[0]]
  columns = []
  for name in AU_NAMES:
    col = f"{name}_r"
    if col not in header:
      raise UserInputError(f"{path}: no {col} column; expected OpenFace output written "
                           "with -aus")
    columns.append(header.index(col))
  optional = {name: header.index(name) if name in header else None
              for name in ("confidence", "frame", "success")}
  aus, confidence, frame, success = [], [], [], []
  for row in rows[1:]:
    try:
      aus.append([float(row[c]) for c in columns])
      values = {name: float(row[c]) if c is not None else None for name, c in optional.items()}
    except (IndexError, ValueError):
      raise UserInputError(f"{path}: malformed row {','.join(row)[:60]!r}; expected "
                           f"{len(header)} numeric fields") from None
    confidence.append(values["confidence"] or 0.0)
    frame.append(values["frame"])
    success.append(values["success"] is None or values["success"] > 0.5)
  if not aus:
    raise UserInputError(f"{path}: no face rows below the header")
  return OpenFaceTable(
      aus=np.asarray(aus, np.float64), confidence=np.asarray(confidence, np.float64),
      frame=None if optional["frame"] is None else np.rint(frame).astype(np.int64),
      success=np.asarray(success, bool))


def read_openface_csv(path):
  """The 17 AU intensities (raw 0..5) of the most confident face in an OpenFace CSV.

  Raises UserInputError naming what is wrong (missing columns, no rows, bad numbers).
  """
  table = read_openface_table(path)
  best = table.best_row()
  if best is None:
    raise UserInputError(f"{path}: no row with success=1; OpenFace found no face")
  return table.aus[best]


def _index_format_b(data_dir, split, skips):
  img_dir = os.path.join(data_dir, "imgs")
  if not _list_images(img_dir):
    img_dir = data_dir
  names = _split_names(data_dir, img_dir, split)
  csv_dirs = [img_dir, data_dir] + [os.path.join(data_dir, d) for d in CSV_FOLDERS]
  paths, aus = [], []
  for name in names:
    path = os.path.join(img_dir, name)
    if not os.path.isfile(path):
      skips.add("image file not found", name)
      continue
    if not skips.check_image(path, name):
      continue
    stem = _stem(name)
    csv_path = next((os.path.join(d, stem + ".csv") for d in csv_dirs
                     if os.path.isfile(os.path.join(d, stem + ".csv"))), None)
    if csv_path is None:
      skips.add("no OpenFace CSV", name)
      continue
    try:
      raw = read_openface_csv(csv_path)
    except UserInputError as e:
      if skips.strict:
        raise
      reason = str(e).split(": ", 1)[1].split(";")[0]
      skips.add(f"unusable OpenFace CSV ({reason})", name)
      continue
    unit = _to_unit_aus(raw)
    if unit is None:
      skips.add("OpenFace CSV has non-finite AU values", name)
      continue
    paths.append(path)
    aus.append(unit)
  return names, paths, aus


def load_index(data_dir, split="train", *, strict=False, quiet=False):
  """Lists the images of a split and their AUs.

  Args:
    data_dir: a dataset folder in format A or B (see the module docstring).
    split: "train", "test" (or any name with a `<split>_ids.csv`), or "all".
    strict: raise UserInputError on the first image without usable AUs (or that
      is not a complete image file) instead of skipping it with a counted warning.
    quiet: no warnings (for a second reading of the same split).

  Returns:
    (paths, aus): list of N image paths and float32 (N, 17) AUs in [0, 1].
  """
  if not data_dir or not os.path.isdir(data_dir):
    raise UserInputError(f"--data_dir: {data_dir!r} is not a folder; {LAYOUT_HELP}")
  skips = _Skips(data_dir, strict, quiet)
  if os.path.isfile(os.path.join(data_dir, PICKLE_NAME)):
    names, paths, aus = _index_format_a(data_dir, split, skips)
  else:
    names, paths, aus = _index_format_b(data_dir, split, skips)
  skips.report(len(names))
  if not paths:
    why = (f"all {len(names)} images of split {split!r} were skipped" if names
           else f"no images for split {split!r}")
    raise UserInputError(f"--data_dir: {data_dir}: {why}; {LAYOUT_HELP}")
  return paths, np.stack(aus).astype(np.float32)
