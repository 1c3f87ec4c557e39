"""Face alignment for GANimation (Pumarola et al., ECCV 2018): a similarity
transform from five landmarks to a canonical template, and the way back.

The template (`TEMPLATE_5`, in [0, 1] coordinates of the crop: pixel x = t_x *
size, pixel centres at integers as in OpenCV) is the five-point template of
ArcFace (Deng et al., CVPR 2019; InsightFace's 112 x 112 `arcface_dst`, the de
facto standard for 5-point face alignment) divided by 112, then shrunk about the
centre by a margin: `(t + margin) / (1 + 2 * margin)`. ArcFace's crop is tight
(brows to chin, cheek to cheek) because a recogniser needs only the inner face;
GANimation edits the expression of the whole face, its training crops show the
forehead, the chin and some hair, and the generator's attention needs a border
of unchanged pixels to blend into. The default margin, 0.2 of the ArcFace crop
on each side (`DEFAULT_MARGIN`), adds the forehead up to the hairline: on the
shared real photos 0.15 cut the top of the hair and 0.25 gave a quarter of the
crop to background (looked at side by side). The eyes then sit at y = 0.47 and
the mouth at y = 0.73 of the crop, 0.22 of its width apart:

  point           ArcFace 112 px      TEMPLATE_5 (margin 0.2)
  left eye        (38.29, 51.70)      (0.387, 0.473)
  right eye       (73.53, 51.50)      (0.612, 0.471)
  nose tip        (56.03, 71.74)      (0.500, 0.600)
  mouth left      (41.55, 92.37)      (0.408, 0.732)
  mouth right     (70.73, 92.20)      (0.594, 0.731)

The same `align` makes the training crops (`python -m tfsingan.prepare`) and
the crops that `animate` and `expand` edit; `paste_back` returns an edit to the
photo through the inverse transform, and pixels outside the crop's footprint
keep their exact values.
"""

import dataclasses

import cv2
import numpy as np

from tfsingan.errors import UserInputError

# InsightFace's arcface_dst: (x, y) in a 112 x 112 crop.
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)
DEFAULT_MARGIN = 0.2
DEFAULT_SIZE = 128  # GANimation's crop size


def template(margin=DEFAULT_MARGIN):
  """The five template points in [0, 1] crop coordinates for `margin` (a fraction
  of ArcFace's crop added on each side)."""
  if not np.isfinite(margin) or margin < 0:
    raise UserInputError(f"--margin={margin}: expected a fraction >= 0")
  return ((ARCFACE_112 / 112.0 + margin) / (1.0 + 2.0 * margin)).astype(np.float32)


TEMPLATE_5 = template()


@dataclasses.dataclass(frozen=True)
class Aligned:
  """A face crop and where it came from.

  Attributes:
    image: (size, size, 3) float32 in [0, 1].
    matrix: (2, 3) float64 affine, photo pixels -> crop pixels.
    size: the crop's side in pixels.
    inside: the fraction of the crop that lies inside the photo (1 = none of it
      was filled by repeating the photo's border).
  """
  image: np.ndarray
  matrix: np.ndarray
  size: int
  inside: float = 1.0


def similarity(src, dst):
  """The least-squares similarity (rotation, uniform scale, translation; no
  reflection) taking points `src` to `dst` ((N, 2) each): Umeyama (IEEE TPAMI
  1991), closed form. Returns a (2, 3) float64 matrix."""
  src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
  mu_s, mu_d = src.mean(0), dst.mean(0)
  s, d = src - mu_s, dst - mu_d
  var_s = (s ** 2).sum() / len(src)
  if var_s <= 1e-12:
    raise UserInputError("the five face landmarks coincide; expected distinct points")
  u, sig, vt = np.linalg.svd(d.T @ s / len(src))
  sign = np.ones(2)
  if np.linalg.det(u) * np.linalg.det(vt) < 0:
    sign[-1] = -1.0
  rotation = u @ np.diag(sign) @ vt
  scale = (sig * sign).sum() / var_s
  matrix = np.zeros((2, 3))
  matrix[:, :2] = scale * rotation
  matrix[:, 2] = mu_d - matrix[:, :2] @ mu_s
  return matrix


def _as3(matrix):
  return np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])


def invert(matrix):
  """The inverse of a (2, 3) affine."""
  return np.linalg.inv(_as3(matrix))[:2]


def apply(matrix, points):
  """(N, 2) points through a (2, 3) affine."""
  points = np.asarray(points, np.float64)
  return points @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def _warp(src, matrix, width, height, border):
  """`src` through the affine `matrix` (src pixels -> dst pixels) into a
  `width` x `height` image. Where the map shrinks (a dst pixel covers more than
  one src pixel), the needed part of `src` is first shrunk with area averaging,
  as `cv2.resize` does, so that fine detail does not alias."""
  src = np.asarray(src, np.float32)
  matrix = np.asarray(matrix, np.float64)
  scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
  if scale < 1.0:
    # The window of src that the dst pixels (edges at -0.5 .. size - 0.5) come
    # from, grown by one shrink step on each side for the interpolation; for an
    # axis-aligned box shrunk by an integer factor the area blocks then match
    # those of cv2.resize of the box.
    edges = apply(invert(matrix), [[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5],
                                   [width - 0.5, height - 0.5]]) + 0.5
    pad = max(1, round(1.0 / scale))
    x0, y0 = np.maximum(np.floor(edges.min(0) + 1e-6).astype(int) - pad, 0)
    x1 = min(src.shape[1], int(np.ceil(edges[:, 0].max() - 1e-6)) + pad)
    y1 = min(src.shape[0], int(np.ceil(edges[:, 1].max() - 1e-6)) + pad)
    if x1 - x0 >= 2 and y1 - y0 >= 2:
      sub = src[y0:y1, x0:x1]
      matrix = matrix.copy()
      matrix[:, 2] += matrix[:, :2] @ [x0, y0]
      new_w, new_h = max(1, round(sub.shape[1] * scale)), max(1, round(sub.shape[0] * scale))
      rx, ry = new_w / sub.shape[1], new_h / sub.shape[0]
      src = cv2.resize(sub, (new_w, new_h), interpolation=cv2.INTER_AREA)
      src = src.reshape(new_h, new_w, *sub.shape[2:])
      # cv2.resize maps old pixel centres as new = (old + 0.5) * r - 0.5.
      back = np.array([[1 / rx, 0, 0.5 / rx - 0.5], [0, 1 / ry, 0.5 / ry - 0.5], [0, 0, 1]])
      matrix = (_as3(matrix) @ back)[:2]
  out = cv2.warpAffine(src, matrix, (width, height), flags=cv2.INTER_LINEAR,
                       borderMode=border, borderValue=0)
  return out.reshape(height, width, *src.shape[2:])


def check_landmarks(landmarks5, *, what="landmarks5"):
  points = np.asarray(landmarks5, np.float64)
  if points.shape != (5, 2) or not np.all(np.isfinite(points)):
    raise UserInputError(f"{what}: expected (5, 2) finite (x, y) points, got shape "
                         f"{points.shape}")
  return points


def _check_size(size):
  if int(size) != size or size < 8:
    raise UserInputError(f"size={size}: expected an integer >= 8 (the crop's side in pixels)")
  return int(size)


def _inside_fraction(matrix, shape, size):
  ones = np.ones(shape[:2], np.float32)
  return float(_warp(ones, matrix, size, size, cv2.BORDER_CONSTANT).mean())


def warp_to_crop(image01, matrix, size):
  """The `size` x `size` crop of `image01` under `matrix` (photo -> crop pixels)."""
  image01 = np.asarray(image01, np.float32)
  crop = np.clip(_warp(image01, matrix, size, size, cv2.BORDER_REPLICATE), 0.0, 1.0)
  return Aligned(np.ascontiguousarray(crop), np.asarray(matrix, np.float64), size,
                 _inside_fraction(matrix, image01.shape, size))


def align(image01, landmarks5, size=DEFAULT_SIZE, *, margin=DEFAULT_MARGIN):
  """The face of `image01` ((H, W, 3) float in [0, 1]) aligned to the template.

  Args:
    image01: the photo.
    landmarks5: (5, 2) (x, y) photo pixels: left eye, right eye, nose, mouth
      left, mouth right (a `Detection.landmarks5`).
    size: the crop's side (the model's image size).
    margin: the template's margin (`template`); prepare and animate must use the same.

  Returns:
    an `Aligned`. Parts of the crop outside the photo repeat its border pixels
    (`Aligned.inside` says how much).
  """
  size = _check_size(size)
  points = check_landmarks(landmarks5)
  matrix = similarity(points, template(margin).astype(np.float64) * size)
  return warp_to_crop(image01, matrix, size)


def box_matrix(box, size):
  """The affine taking the box (x, y, w, h) to a size x size crop, as cv2.resize
  of the box would (no rotation; w and h scaled apart)."""
  x, y, w, h = box
  sx, sy = size / w, size / h
  return np.array([[sx, 0.0, (0.5 - x) * sx - 0.5], [0.0, sy, (0.5 - y) * sy - 0.5]])


def crop_box(image01, box, size=DEFAULT_SIZE):
  """An `Aligned` of the axis-aligned `box` resized to size x size (`--box`)."""
  return warp_to_crop(image01, box_matrix(box, _check_size(size)), int(size))


def footprint(matrix, size, shape):
  """Where a crop lies in the photo: (x0, y0, region), region a bool mask of the
  photo pixels (in the window starting at x0, y0) whose centres fall inside the
  crop's pixels, [-0.5, size - 0.5) in crop coordinates. Only these pixels are
  ever changed by `paste_back`."""
  h, w = shape[:2]
  inverse = invert(matrix)
  lo, hi = -0.5, size - 0.5
  corners = apply(inverse, [[lo, lo], [hi, lo], [lo, hi], [hi, hi]])
  x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, w))
  y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, h))
  x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 1, 0, w))
  y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 1, 0, h))
  ys, xs = np.mgrid[y0:y1, x0:x1]
  uv = apply(matrix, np.stack([xs.ravel(), ys.ravel()], 1)).reshape(y1 - y0, x1 - x0, 2)
  region = np.all((uv >= lo) & (uv < hi), axis=-1)
  return x0, y0, region


def paste_back(image01, aligned, edited_crop, mask=None):
  """Returns `image01` with `edited_crop` warped back where `aligned` came from.

  Inside the crop's footprint (`footprint`), photo' = m * photo + (1 - m) *
  edited, with `mask` m (1 = keep the photo; GANimation's attention) and the
  edit warped to the photo through the inverse transform; without a mask the
  edit replaces the footprint. Every pixel outside the footprint is the
  photo's, bit for bit. Returns a new float32 array.
  """
  image01 = np.asarray(image01, np.float32)
  size = aligned.size
  edited = np.asarray(edited_crop, np.float32)
  if edited.shape != (size, size, 3):
    raise UserInputError(f"edited_crop: expected shape ({size}, {size}, 3), got {edited.shape}")
  if mask is None:
    mask = np.zeros((size, size), np.float32)
  mask = np.asarray(mask, np.float32)
  if mask.shape not in ((size, size), (size, size, 1)):
    raise UserInputError(f"mask: expected shape ({size}, {size}) or ({size}, {size}, 1), got "
                         f"{mask.shape}")
  mask = mask.reshape(size, size)
  x0, y0, region = footprint(aligned.matrix, size, image01.shape)
  out = image01.copy()
  h, w = region.shape
  if not region.any():
    return out
  # crop -> window of the photo starting at (x0, y0)
  to_window = invert(aligned.matrix)
  to_window[:, 2] -= [x0, y0]
  colour = np.clip(_warp(edited, to_window, w, h, cv2.BORDER_REPLICATE), 0.0, 1.0)
  keep = np.clip(_warp(mask, to_window, w, h, cv2.BORDER_REPLICATE), 0.0, 1.0)[:, :, None]
  window = image01[y0:y0 + h, x0:x0 + w]
  blended = keep * window + (1.0 - keep) * colour
  out[y0:y0 + h, x0:x0 + w] = np.where(region[:, :, None], blended, window)
  return out
