"""Image transformations of GmFace (arXiv 2008.00752) by editing the
parameters in closed form, their image-space equivalents, and the dissection figure.

An affine map of the image plane x' = M x + t turns f into f'(x') = f(x), i.e.
f'(x) = sum_i w_i exp(-(x - mu_i')^T A_i' (x - mu_i')) with
  mu_i' = M mu_i + t,    A_i' = M^-T A_i M^-1,    L_i' = cholesky(A_i'),
which is again a GmFace with the same weights. Translation is M = I; scaling by s
about c is M = s I, t = c - s c; rotation is M = R. Maps are given in pixel units
(row, column) and converted to the normalised coordinates x = (r / H, c / W).
"""

import numpy as np

from tfsingan.errors import UserInputError


def _pixel_scale(height, width):
  return np.diag([float(height), float(width)])


def affine(params, matrix, offset):
  """params transformed by x' = matrix @ x + offset (normalised coordinates)."""
  m = np.asarray(matrix, np.float64)
  t = np.asarray(offset, np.float64)
  if m.shape != (2, 2) or t.shape != (2,):
    raise UserInputError(f"affine map: expected a 2x2 matrix and a 2-vector, got "
                         f"{m.shape} and {t.shape}")
  det = np.linalg.det(m)
  if not np.isfinite(det) or abs(det) < 1e-12:
    raise UserInputError("affine map: the matrix is singular (a scale of 0?)")
  m_inv = np.linalg.inv(m)
  mu = params.mu @ m.T + t
  a = np.einsum("ji,njk,kl->nil", m_inv, params.precision, m_inv)
  a = 0.5 * (a + np.transpose(a, (0, 2, 1)))
  L = np.linalg.cholesky(a)
  return params.replace(mu=mu, L=L, info=dict(params.info))


def pixel_affine(params, matrix_px, offset_px, height=None, width=None):
  """params transformed by p' = matrix_px @ p + offset_px in (row, column) pixels of
  an H x W raster (default: the params' own size)."""
  s = _pixel_scale(height or params.height, width or params.width)
  s_inv = np.linalg.inv(s)
  return affine(params, s_inv @ np.asarray(matrix_px, np.float64) @ s,
                s_inv @ np.asarray(offset_px, np.float64))


def transform_matrix(height, width, translate=(0.0, 0.0), scale=1.0, rotate=0.0,
                     center=(0.5, 0.5)):
  """(matrix_px, offset_px) on an H x W raster of: scale by `scale` and rotate by
  `rotate` degrees (counter-clockwise on screen) about `center`, then translate by
  `translate`; `center` and `translate` are in fractions of height and width."""
  if not np.isfinite(scale) or scale <= 0:
    raise UserInputError(f"--scale={scale}: expected a positive factor")
  theta = np.deg2rad(rotate)
  # Rows point down, so a counter-clockwise turn on screen is this matrix on (r, c).
  rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
  m = scale * rot
  s = _pixel_scale(height, width)
  c = s @ np.asarray(center, np.float64)
  t = s @ np.asarray(translate, np.float64)
  return m, c - m @ c + t


def translate(params, dy, dx):
  """Shifts the face by (dy, dx) in fractions of height and width: mu += (dy, dx)."""
  return affine(params, np.eye(2), (dy, dx))


def scale(params, factor, center=(0.5, 0.5)):
  """Scales about `center`: mu -> c + s (mu - c), A -> A / s^2."""
  return pixel_affine(params, *transform_matrix(params.height, params.width,
                                                scale=factor, center=center))


def rotate(params, degrees, center=(0.5, 0.5)):
  """Rotates about `center` (counter-clockwise on screen): mu -> c + R (mu - c),
  A -> R A R^T (pixel units, so the face is not sheared when H != W)."""
  return pixel_affine(params, *transform_matrix(params.height, params.width,
                                                rotate=degrees, center=center))


def warp_image(img, matrix_px, offset_px):
  """The same map (in this image's pixels) applied with OpenCV (bilinear), and the
  mask of output pixels whose source lies inside the image."""
  import cv2  # pylint: disable=import-outside-toplevel
  img = np.asarray(img, np.float32)
  h, w = img.shape[:2]
  m = np.asarray(matrix_px, np.float64)
  t = np.asarray(offset_px, np.float64)
  # OpenCV works in (x, y) = (column, row).
  swap = np.array([[0.0, 1.0], [1.0, 0.0]])
  m_cv = np.hstack([swap @ m @ swap, (swap @ t)[:, None]])
  out = cv2.warpAffine(img, m_cv, (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
  mask = cv2.warpAffine(np.ones((h, w), np.float32), m_cv, (w, h), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
  if out.ndim == 2:
    out = out[:, :, None]
  return out, mask > 0.999


def dissect(params, k, height=None, width=None):
  """The paper's dissection: the k largest-|weight| Gaussians, each rendered alone
  with unit peak (exp(-q), weight ignored), plus what the k of them draw together.

  Returns (components (k, H, W), partial reconstruction (H, W, C), their indices).
  """
  if k < 1:
    raise UserInputError(f"--k={k}: expected >= 1 components")
  k = min(k, params.num_gaussians)
  order = np.argsort(-np.abs(params.w).mean(1), kind="stable")[:k]
  comps = params.components(height, width)[order]
  partial = params.replace(w=params.w[order], mu=params.mu[order], L=params.L[order])
  return comps, partial.render(height, width), order
