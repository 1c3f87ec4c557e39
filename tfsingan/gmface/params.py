"""GmFace parameters ("GmFace: A Mathematical Model for Face Image
Representation Using Multi-Gaussian", arXiv 2008.00752): storage, rendering, files.

A face is `f(x) = sum_i w_i exp(-(x - mu_i)^T L_i L_i^T (x - mu_i))` with pixel
coordinates normalised as `x = (r / H, c / W)` (row r, column c, starting at 0), so the
function is continuous and can be sampled at any resolution: pixel (r', c') of an
H' x W' rendering is the point (r' / H', c' / W').
"""

import dataclasses
import io
import json
import os
import zipfile

import numpy as np

from tfsingan.common.image_io import atomic_write_bytes
from tfsingan.errors import UserInputError

FORMAT = "tfsingan.gmface/1"
COORDINATES = "x = (row / height, column / width), rows and columns from 0"


def pixel_coords(height, width):
  """(height * width, 2) float32 normalised coordinates, row-major."""
  r, c = np.meshgrid(np.arange(height, dtype=np.float64) / height,
                     np.arange(width, dtype=np.float64) / width, indexing="ij")
  return np.stack([r.ravel(), c.ravel()], 1).astype(np.float32)


def raw_from_cholesky(L):
  """(m, 2, 2) lower-triangular factors -> (m, 3) (log L11, L21, log L22)."""
  L = np.asarray(L, np.float64)
  return np.stack([np.log(L[:, 0, 0]), L[:, 1, 0], np.log(L[:, 1, 1])], 1)


def cholesky_from_raw(raw):
  """(m, 3) (log L11, L21, log L22) -> (m, 2, 2) lower triangular, positive diagonal."""
  raw = np.asarray(raw, np.float64)
  L = np.zeros((raw.shape[0], 2, 2))
  L[:, 0, 0] = np.exp(raw[:, 0])
  L[:, 1, 0] = raw[:, 1]
  L[:, 1, 1] = np.exp(raw[:, 2])
  return L


@dataclasses.dataclass
class GmFaceParams:
  """A fitted GmFace: m Gaussians, C output channels (1 = gray as in the paper, 3 = RGB).

  Args:
    w: (m, C) weights (C weights per Gaussian for RGB).
    mu: (m, 2) centres in normalised (row, column) coordinates.
    L: (m, 2, 2) lower-triangular factors with a positive diagonal; the precision
      matrix of Gaussian i is `L[i] @ L[i].T`.
    height, width: size of the image the model was fitted to (for default renders).
    info: free-form metadata written to the JSON file (fit metrics, source image).

  Reference:
    "GmFace: An explicit function for face image representation",
    Displays 68 (2021) 102022.
  """

  w: np.ndarray
  mu: np.ndarray
  L: np.ndarray
  height: int
  width: int
  info: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    self.w = np.asarray(self.w, np.float64)
    if self.w.ndim == 1:
      self.w = self.w[:, None]
    self.mu = np.asarray(self.mu, np.float64)
    self.L = np.asarray(self.L, np.float64)
    m = self.w.shape[0]
    if m < 1 or self.w.ndim != 2 or self.w.shape[1] not in (1, 3):
      raise UserInputError(f"GmFace weights have shape {self.w.shape}; expected (m, 1) "
                           "or (m, 3) with m >= 1")
    if self.mu.shape != (m, 2) or self.L.shape != (m, 2, 2):
      raise UserInputError(f"GmFace parameters disagree: w {self.w.shape}, mu "
                           f"{self.mu.shape}, L {self.L.shape}; expected (m, C), (m, 2), "
                           "(m, 2, 2)")
    if abs(self.L[:, 0, 1]).max() > 0:
      raise UserInputError("GmFace L must be lower triangular (L[:, 0, 1] == 0)")
    if not (self.L[:, 0, 0] > 0).all() or not (self.L[:, 1, 1] > 0).all():
      raise UserInputError("GmFace L must have a positive diagonal (so that L L^T is "
                           "positive definite)")
    for name in ("w", "mu", "L"):
      if not np.all(np.isfinite(getattr(self, name))):
        raise UserInputError(f"GmFace parameter {name} contains NaN or infinite values")
    if int(self.height) < 1 or int(self.width) < 1:
      raise UserInputError(f"GmFace image size {self.height}x{self.width}: expected >= 1")
    self.height, self.width = int(self.height), int(self.width)

  @property
  def num_gaussians(self):
    return self.w.shape[0]

  @property
  def channels(self):
    return self.w.shape[1]

  @property
  def precision(self):
    """(m, 2, 2) precision matrices A_i = L_i L_i^T."""
    return self.L @ np.transpose(self.L, (0, 2, 1))

  @classmethod
  def from_raw(cls, w, mu, raw, height, width, info=None):
    return cls(np.asarray(w), np.asarray(mu), cholesky_from_raw(raw), height, width,
               dict(info or {}))

  def raw(self):
    """(w, mu, (log L11, L21, log L22)) as float32 arrays, the trainable form."""
    return (self.w.astype(np.float32), self.mu.astype(np.float32),
            raw_from_cholesky(self.L).astype(np.float32))

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)

  # Rendering.

  def components(self, height=None, width=None, rows_per_chunk=None):
    """(m, H, W) unit-peak Gaussians exp(-(x - mu)^T A (x - mu)) at H x W."""
    height, width = height or self.height, width or self.width
    x = pixel_coords(height, width).astype(np.float64)
    out = np.empty((self.num_gaussians, height * width), np.float32)
    step = max(1, (rows_per_chunk or max(1, 2_000_000 // max(1, self.num_gaussians * width)))
               ) * width
    for s in range(0, x.shape[0], step):
      d = x[None, s:s + step, :] - self.mu[:, None, :]
      # (x - mu)^T L L^T (x - mu) = ||L^T (x - mu)||^2.
      u = self.L[:, 0, 0, None] * d[..., 0] + self.L[:, 1, 0, None] * d[..., 1]
      v = self.L[:, 1, 1, None] * d[..., 1]
      out[:, s:s + step] = np.exp(-(u * u + v * v))
    return out.reshape(self.num_gaussians, height, width)

  def render(self, height=None, width=None):
    """H x W x C float32 image (not clipped) of the continuous model."""
    height, width = height or self.height, width or self.width
    if height < 1 or width < 1:
      raise UserInputError(f"render size {height}x{width}: expected positive sizes")
    out = np.zeros((height * width, self.channels), np.float64)
    step = max(1, 4_000_000 // max(1, self.num_gaussians * width)) * width
    x = pixel_coords(height, width).astype(np.float64)
    for s in range(0, x.shape[0], step):
      d = x[None, s:s + step, :] - self.mu[:, None, :]
      u = self.L[:, 0, 0, None] * d[..., 0] + self.L[:, 1, 0, None] * d[..., 1]
      v = self.L[:, 1, 1, None] * d[..., 1]
      out[s:s + step] = np.exp(-(u * u + v * v)).T @ self.w
    return out.reshape(height, width, self.channels).astype(np.float32)

  # Files: `<stem>.npz` (arrays) and `<stem>.json` (the same, readable).

  def to_json_dict(self):
    return {
        "format": FORMAT,
        "model": "GmFace(x) = sum_i w_i exp(-(x - mu_i)^T L_i L_i^T (x - mu_i))",
        "coordinates": COORDINATES,
        "num_gaussians": self.num_gaussians,
        "channels": self.channels,
        "height": self.height,
        "width": self.width,
        "w": self.w.tolist(),
        "mu": self.mu.tolist(),
        "L": self.L.tolist(),
        "info": self.info,
    }

  def save(self, path):
    """Writes `path` (.npz) and the same name with .json, both atomically."""
    stem = os.path.splitext(path)[0]
    buf = io.BytesIO()
    np.savez(buf, w=self.w, mu=self.mu, L=self.L,
             size=np.array([self.height, self.width]),
             info=np.array(json.dumps(self.info)))
    atomic_write_bytes(stem + ".npz", buf.getvalue())
    atomic_write_bytes(stem + ".json",
                       (json.dumps(self.to_json_dict(), indent=1) + "\n").encode())
    return stem + ".npz"

  @classmethod
  def load(cls, path, what="--params"):
    """Reads a `.npz` or `.json` parameter file, or a run directory holding gmface.npz."""
    if path and os.path.isdir(path):
      path = os.path.join(path, "gmface.npz")
    if not path or not os.path.exists(path):
      raise UserInputError(f"{what}: GmFace parameter file not found: {path or '(empty)'}; "
                           "expected gmface.npz / gmface.json or a run directory")
    try:
      if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
          d = json.load(f)
        return cls(np.array(d["w"]), np.array(d["mu"]), np.array(d["L"]),
                   d["height"], d["width"], d.get("info", {}))
      with np.load(path, allow_pickle=False) as z:
        info = json.loads(str(z["info"])) if "info" in z else {}
        return cls(z["w"], z["mu"], z["L"], int(z["size"][0]), int(z["size"][1]), info)
    except UserInputError as e:
      raise UserInputError(f"{what}: {path}: {e}") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError,
            zipfile.BadZipFile) as e:
      raise UserInputError(f"{what}: {path} is not a GmFace parameter file "
                           f"({type(e).__name__}: {e})") from None
