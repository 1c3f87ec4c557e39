"""Initial placements of GmFace's Gaussians (arXiv 2008.00752), weights solved in closed form.

`initial_params` keeps the better (by least-squares error) of two placements: a
k-means of the pixel grid weighted half uniformly, half by the image-gradient
magnitude (more Gaussians where the face has detail, as in Image-GS), widths = the
distance to the nearest centre; and matching pursuit (one Gaussian at a time at the
residual's peak). On the bundled face at m = 80 matching pursuit wins (21.3 dB
against 17.8 dB). The model is linear in its weights, so they are solved exactly.
"""

import contextlib

import cv2
import numpy as np
import threadpoolctl

from tfsingan.common import image_io
from tfsingan.gmface.params import GmFaceParams
from tfsingan.gmface.params import pixel_coords


@contextlib.contextmanager
def single_threaded_blas():
  """numpy's BLAS on one thread inside the block (threadpoolctl finds the BLAS that
  numpy and scipy loaded, whichever it is).

  The initialisation and relocation do many small matrix products. Next to
  TensorFlow's thread pools (or other busy processes), OpenBLAS threads spin-wait
  for cores: measured on 2 busy cores, the initialisation at m = 80 took 9.8 s with
  the default threads and 0.46 s with one; on 2 AVX512-BF16 AMD EPYC cores under a
  load average of 20, 30-34 s and 2.2-2.7 s.
  """
  with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
    yield


def solve_weights(g, y, ridge=1e-6):
  """Least-squares w (m, C) for components g (m, N) and targets y (N, C)."""
  g = np.asarray(g, np.float64)
  a = g @ g.T
  a[np.diag_indices_from(a)] += ridge * max(np.trace(a) / len(a), 1e-12)
  return np.linalg.solve(a, g @ np.asarray(y, np.float64)).astype(np.float32)


def kmeans_centres(image, m, seed=0, grad_fraction=0.5, steps=20):
  """m centres (m, 2) in normalised coordinates, denser where the image has edges."""
  h, w = image.shape[:2]
  x = pixel_coords(h, w).astype(np.float64)
  lum = image_io.to_gray(image)[..., 0]
  gy, gx = np.gradient(cv2.GaussianBlur(lum, (0, 0), 1.0))
  mag = np.sqrt(gx * gx + gy * gy).ravel().astype(np.float64)
  # A flat image has no edges: then every pixel is equally likely.
  p = (1.0 - grad_fraction) / mag.size + (
      grad_fraction * mag / mag.sum() if mag.sum() > 0 else np.full(mag.size, grad_fraction
                                                                    / mag.size))
  p /= p.sum()
  rng = np.random.default_rng(seed)
  centres = x[rng.choice(len(x), m, replace=m > len(x), p=p)]
  centres = centres + rng.normal(0, 1e-3, centres.shape)  # split duplicate picks
  for _ in range(steps):
    d = (x * x).sum(1)[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)[None]
    label = d.argmin(1)
    mass = np.bincount(label, p, minlength=m)
    sums = np.stack([np.bincount(label, p * x[:, k], minlength=m) for k in range(2)], 1)
    filled = mass > 0
    centres[filled] = sums[filled] / mass[filled, None]
  return centres


def _isotropic(mu, sigma, channels, height, width):
  diag = 1.0 / (np.sqrt(2.0) * sigma)  # exp(-(d / (sqrt(2) sigma))^2): sigma = std.
  L = np.zeros((len(mu), 2, 2))
  L[:, 0, 0] = diag
  L[:, 1, 1] = diag
  return GmFaceParams(np.zeros((len(mu), channels)), mu, L, height, width)


def _with_weights(params, target):
  """params with least-squares weights for target, and the resulting MSE."""
  h, w, c = target.shape
  g = params.components(h, w).reshape(params.num_gaussians, -1)
  params.w = solve_weights(g, target.reshape(-1, c)).astype(np.float64)
  pred = g.T.astype(np.float64) @ params.w
  return params, float(np.mean((pred - target.reshape(-1, c)) ** 2))


def kmeans_params(target, m, seed=0):
  """Centres from `kmeans_centres`, widths = distance to the nearest centre."""
  h, w, c = target.shape
  mu = kmeans_centres(target, m, seed)
  if m > 1:
    d2 = ((mu[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    sigma = np.sqrt(d2.min(1))
  else:
    sigma = np.array([0.5])
  sigma = np.maximum(sigma, 1.0 / max(h, w))
  return _with_weights(_isotropic(mu, sigma, c, h, w), target)


def greedy_params(target, m):
  """Matching pursuit: Gaussians placed one by one at the peak of the blurred
  residual, with the best of three widths, all weights re-solved after each."""
  h, w, c = target.shape
  y = target.reshape(-1, c).astype(np.float64)
  x = pixel_coords(h, w).astype(np.float64)
  base = 0.5 / np.sqrt(m)
  mu, sigma = [], []
  rows = np.zeros((m, h * w))
  gram = np.zeros((0, 0))
  b = np.zeros((0, c))
  residual = target
  for _ in range(m):
    peak = residual_peaks(residual, 1, 0.5 * base * max(h, w), None, 1)
    if not peak:
      break
    centre = np.array([peak[0][0] / h, peak[0][1] / w])
    d2 = ((x - centre) ** 2).sum(1)
    g_old = rows[:len(mu)]
    best = None
    for s in (0.5 * base, base, 2.0 * base):
      g_new = np.exp(-d2 / (2.0 * s * s))
      cross = g_old @ g_new
      gram_c = np.block([[gram, cross[:, None]], [cross[None, :], g_new @ g_new]])
      b_c = np.vstack([b, g_new @ y])
      reg = 1e-6 * max(np.trace(gram_c) / len(gram_c), 1e-12) * np.eye(len(gram_c))
      wts = np.linalg.solve(gram_c + reg, b_c)
      err = -np.sum(b_c * wts)  # ||y - G^T w||^2 - ||y||^2 at the optimum
      if best is None or err < best[0]:
        best = (err, s, g_new, gram_c, b_c, wts)
    _, s, g_new, gram, b, wts = best
    rows[len(mu)] = g_new
    mu.append(centre)
    sigma.append(s)
    residual = target - (rows[:len(mu)].T @ wts).reshape(h, w, c)
  if len(mu) < m:  # The residual vanished: the rest start at k-means centres.
    extra = kmeans_centres(target, m - len(mu), 0)
    mu = list(mu) + list(extra)
    sigma = list(sigma) + [base] * len(extra)
  return _with_weights(_isotropic(np.array(mu), np.array(sigma), c, h, w), target)


def initial_params(target, m, seed=0):
  """A GmFaceParams to start fitting `target` (H x W x C) with m Gaussians: the
  better (by least-squares error) of a k-means and a matching-pursuit placement."""
  with single_threaded_blas():
    candidates = [kmeans_params(target, m, seed), greedy_params(target, m)]
  return min(candidates, key=lambda pl: pl[1])[0]


def residual_peaks(residual, k, sigma_px, rng, pool):
  """k (row, col) peaks of the blurred |residual|, at least 2 sigma apart, picked at
  random among the `pool` largest so that a retried stage tries other places."""
  blurred = cv2.GaussianBlur(residual.astype(np.float32), (0, 0), sigma_px)
  if blurred.ndim == 2:
    blurred = blurred[..., None]
  score = np.abs(blurred).sum(-1)
  h, w = score.shape
  rr, cc = np.ogrid[:h, :w]
  peaks = []
  for _ in range(pool):
    i = int(np.argmax(score))
    if score.flat[i] <= 0:
      break
    r, c = divmod(i, w)
    peaks.append((r, c))
    score[(rr - r) ** 2 + (cc - c) ** 2 < (2 * sigma_px) ** 2] = 0
  if len(peaks) > k:
    keep = (np.sort(rng.choice(len(peaks), k, replace=False)) if rng is not None
            else np.arange(k))
    peaks = [peaks[i] for i in keep]
  return peaks
