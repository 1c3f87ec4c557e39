"""Reading, checking and writing images; every bad file ends in a UserInputError."""

import os
import tempfile

import cv2
import numpy as np

from tfsingan.errors import UserInputError



def notice(message):
  """Prints a one-line `notice:` about an input that was converted or resized."""
  print(f"notice: {message}", flush=True)


def load_image(path, *, channels=3, what="image", quiet=False):
  """Reads an image file into float32 H x W x channels in [0, 1].

  Grayscale, RGBA and 16-bit inputs are converted with a notice; a missing,
  unreadable, truncated or non-image file raises UserInputError.

  Args:
    path: the file to read.
    channels: 3 for RGB, 1 for grayscale.
    what: how the error messages name the file (e.g. "--image").
    quiet: suppress conversion notices.
  """
  if not path:
    raise UserInputError(f"{what}: no path given; expected an image file (PNG or JPEG)")
  if not os.path.exists(path):
    raise UserInputError(f"{what}: file not found: {path}")
  if os.path.isdir(path):
    raise UserInputError(f"{what}: {path} is a directory; expected an image file")
  with open(path, "rb") as f:
    data = f.read()
  if not data:
    raise UserInputError(f"{what}: {path} is empty; expected an image file")
  _check_complete(path, data, what)
  buf = np.frombuffer(data, np.uint8)
  img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
  if img is None:
    raise UserInputError(
        f"{what}: {path} is not a readable image; expected PNG, JPEG, BMP or TIFF")
  notes = []
  if img.dtype == np.uint16:
    notes.append("16-bit converted to float")
    img = img.astype(np.float32) / 65535.0
  elif img.dtype == np.uint8:
    img = img.astype(np.float32) / 255.0
  elif img.dtype == np.float32:
    img = np.clip(img, 0.0, 1.0)
  else:
    raise UserInputError(f"{what}: {path} has unsupported pixel type {img.dtype}")
  if img.ndim == 2:
    img = img[:, :, None]
  if img.shape[2] == 4:
    notes.append("alpha channel dropped (composited on white)")
    alpha = img[:, :, 3:4]
    img = img[:, :, :3] * alpha + (1.0 - alpha)
  elif img.shape[2] == 2:  # gray + alpha
    notes.append("alpha channel dropped (composited on white)")
    alpha = img[:, :, 1:2]
    img = img[:, :, :1] * alpha + (1.0 - alpha)
  if img.shape[2] == 3:
    img = img[:, :, ::-1]  # OpenCV decodes BGR
  if channels == 3 and img.shape[2] == 1:
    notes.append("grayscale converted to RGB")
    img = np.repeat(img, 3, axis=2)
  elif channels == 1 and img.shape[2] == 3:
    img = (img @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]
  if not np.all(np.isfinite(img)):
    raise UserInputError(f"{what}: {path} contains NaN or infinite pixels")
  if notes and not quiet:
    notice(f"{what}: {path}: " + "; ".join(notes))
  return np.ascontiguousarray(img, dtype=np.float32)


def _check_complete(path, data, what):
  """OpenCV silently decodes a truncated JPEG/PNG as partly grey; refuse it."""
  if data[:3] == b"\xff\xd8\xff":
    if b"\xff\xd9" not in data[-64:]:
      raise UserInputError(f"{what}: {path} is a truncated JPEG (no end-of-image marker)")
  elif data[:8] == b"\x89PNG\r\n\x1a\n":
    if b"IEND" not in data[-64:]:
      raise UserInputError(f"{what}: {path} is a truncated PNG (no IEND chunk)")


def to_uint8(img):
  """float [0, 1] H x W x C (C = 1 or 3) -> uint8 H x W x 3."""
  img = np.asarray(img, np.float32)
  if img.ndim == 2:
    img = img[:, :, None]
  if img.shape[2] == 1:
    img = np.repeat(img, 3, axis=2)
  return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def atomic_write_bytes(path, data):
  """Writes to a temporary file in the same folder, then renames it into place."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def save_image(path, img):
  """Writes float [0, 1] (or uint8) H x W x C as PNG/JPEG, atomically."""
  arr = img if np.asarray(img).dtype == np.uint8 else to_uint8(img)
  if arr.ndim == 3 and arr.shape[2] == 3:
    arr = arr[:, :, ::-1]
  ext = os.path.splitext(path)[1].lower() or ".png"
  ok, enc = cv2.imencode(ext, arr)
  if not ok:
    raise UserInputError(f"cannot encode {path}: unsupported extension {ext}")
  atomic_write_bytes(path, enc.tobytes())


def make_grid(rows, row_labels=None, *, pad=4, label_width=None, background=1.0):
  """Lays out a list of rows (each a list of H x W x 3 float images) as one image.

  Rows may have images of different sizes; each cell is top-left aligned. A text
  label is drawn to the left of each row when `row_labels` is given.
  """
  cell_h = max(im.shape[0] for row in rows for im in row)
  cell_w = max(im.shape[1] for row in rows for im in row)
  ncols = max(len(row) for row in rows)
  if row_labels is not None and label_width is None:
    label_width = max(8 * len(s) for s in row_labels) + 2 * pad
  label_width = label_width or 0
  height = len(rows) * (cell_h + pad) + pad
  width = label_width + ncols * (cell_w + pad) + pad
  grid = np.full((height, width, 3), background, np.float32)
  for r, row in enumerate(rows):
    y = pad + r * (cell_h + pad)
    for c, im in enumerate(row):
      im = np.asarray(im, np.float32)
      if im.shape[2] == 1:
        im = np.repeat(im, 3, axis=2)
      x = label_width + pad + c * (cell_w + pad)
      grid[y:y + im.shape[0], x:x + im.shape[1]] = np.clip(im, 0, 1)
    if row_labels is not None:
      canvas = to_uint8(grid)
      cv2.putText(canvas, row_labels[r], (pad, y + cell_h // 2 + 4),
                  cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
      grid = canvas.astype(np.float32) / 255.0
  return grid


def bundled_face(size=None):
  """The bundled default face: scikit-image's `astronaut.png` (public domain,
  NASA portrait of Eileen Collins), cropped around the face. Float RGB [0, 1]."""
  from skimage import data as skdata  # pylint: disable=import-outside-toplevel
  img = skdata.astronaut()[15:215, 125:325].astype(np.float32) / 255.0
  if size is not None:
    h, w = (size, size) if isinstance(size, int) else size
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
  return img
