"""Fitting GmFace (arXiv 2008.00752): initialisation and two solvers.

* `initial_params` (`tfsingan.gmface.initial`): the better of a k-means and a
  matching-pursuit placement, weights solved in closed form.
* `fit_lm`: Levenberg-Marquardt on the full image for the MSE term. GmFace has only
  6m parameters (480 at m = 80), so the Gauss-Newton system J^T J is small; one
  iteration costs about as much as a few dozen gradient steps and replaces thousands.
  It stalls in local minima where some Gaussians are useless (collapsed, off-image,
  or cancelling), so every `relocate_every` iterations `relocate_count` Gaussians
  move to peaks of the blurred residual (which ones: the moves that leave the least
  error once all weights are re-solved); a stage that does not lower the loss is
  undone, so the loss never goes up.
* First-order training on the paper's full loss (MSE + alpha x peak error) with a
  batch of pixels or the full image is `GmNet.train_step`, driven by the trainer.
  `benchmarks/gmface_fit.py` measures both.
"""

import dataclasses
import time

import numpy as np
import tensorflow as tf

from tfsingan.common import image_io
from tfsingan.gmface.initial import residual_peaks
from tfsingan.gmface.initial import single_threaded_blas
from tfsingan.gmface.params import GmFaceParams
from tfsingan.gmface.params import pixel_coords

# Narrowest allowed Gaussian, in pixels of the fitted image: thinner ones fall between
# samples and only add noise to the Gauss-Newton system.
MIN_SIGMA_PX = 0.25
# Width of a relocated Gaussian, as a fraction of the mean spacing of m centres.
RELOCATED_SIGMA = 0.3


def max_log_diag(height, width):
  return float(np.log(max(height, width) / (np.sqrt(2.0) * MIN_SIGMA_PX)))


@tf.function(jit_compile=True, reduce_retracing=True)
def lm_system(x, y, w, mu, raw):
  """Gauss-Newton system of the MSE at (w, mu, raw): (J^T J, J^T r, mean r^2).

  Parameters are ordered [w (m x C), then mu_r, mu_c, log L11, L21, log L22 (m
  each)]; r = prediction - target, flattened over pixels and channels.
  """
  m = tf.shape(w)[0]
  c = tf.shape(w)[1]
  d = x[None, :, :] - mu[:, None, :]
  a = tf.exp(raw[:, 0:1])
  b = raw[:, 1:2]
  cc = tf.exp(raw[:, 2:3])
  d1, d2 = d[..., 0], d[..., 1]
  u = a * d1 + b * d2
  v = cc * d2
  g = tf.exp(-(u * u + v * v))  # (m, N)
  r = tf.matmul(g, w, transpose_a=True) - y  # (N, C)
  # dq / d(mu_r, mu_c, log L11, L21, log L22) with q = u^2 + v^2.
  dq = tf.stack([-2 * u * a, -2 * (u * b + v * cc), 2 * u * d1 * a, 2 * u * d2,
                 2 * v * d2 * cc], 0)  # (5, m, N)
  n = tf.shape(x)[0] * c
  if w.shape[1] == 1:  # Grayscale: (m, N) blocks, no channel axis (2x faster in XLA).
    jt = tf.concat([g, tf.reshape(-(w * g)[None] * dq, [5 * m, n])], 0)
  else:
    j_nl = -(g[None, :, :, None] * dq[..., None]) * w[None, :, None, :]  # (5, m, N, C)
    j_w = g[:, None, :, None] * tf.eye(c, dtype=g.dtype)[None, :, None, :]  # (m, C, N, C)
    jt = tf.concat([tf.reshape(j_w, [m * c, n]), tf.reshape(j_nl, [5 * m, n])], 0)
  r = tf.reshape(r, [n, 1])
  return (tf.matmul(jt, jt, transpose_b=True), tf.matmul(jt, r),
          tf.reduce_mean(tf.square(r)))


@tf.function(reduce_retracing=True)
def lm_step(jtj, jtr, lam):
  """delta solving (J^T J + lam diag(J^T J)) delta = -J^T r, in float64 and outside
  XLA (whose CPU Cholesky is ~50x slower than the LAPACK one); NaN if singular."""
  a = tf.cast(jtj, tf.float64)
  diag = tf.linalg.diag_part(a)
  # Marquardt scaling, floored so that parameters with no effect cannot jump.
  floor = 1e-6 * tf.reduce_mean(diag) + 1e-30
  damp = tf.cast(lam, tf.float64) * tf.maximum(diag, floor)
  chol = tf.linalg.cholesky(a + tf.linalg.diag(damp))
  delta = -tf.linalg.cholesky_solve(chol, tf.cast(jtr, tf.float64))
  return tf.cast(delta[:, 0], tf.float32)


@tf.function(jit_compile=True, reduce_retracing=True)
def lm_apply(x, y, w, mu, raw, delta, raw_max):
  """Parameters moved by `delta` (log-diagonals clipped to +-raw_max) and their MSE."""
  m = tf.shape(w)[0]
  c = tf.shape(w)[1]
  new_w = w + tf.reshape(delta[:m * c], [m, c])
  nl = tf.transpose(tf.reshape(delta[m * c:], [5, m]))
  new_mu = mu + nl[:, 0:2]
  new_raw = raw + nl[:, 2:5]
  logs = tf.clip_by_value(tf.stack([new_raw[:, 0], new_raw[:, 2]], 1), -raw_max, raw_max)
  new_raw = tf.stack([logs[:, 0], new_raw[:, 1], logs[:, 1]], 1)
  d = x[None, :, :] - new_mu[:, None, :]
  u = tf.exp(new_raw[:, 0:1]) * d[..., 0] + new_raw[:, 1:2] * d[..., 1]
  v = tf.exp(new_raw[:, 2:3]) * d[..., 1]
  pred = tf.matmul(tf.exp(-(u * u + v * v)), new_w, transpose_a=True)
  loss = tf.reduce_mean(tf.square(pred - y))
  return new_w, new_mu, new_raw, loss


def lm_trial(x, y, w, mu, raw, jtj, jtr, lam, raw_max):
  """One damped Gauss-Newton step; returns the new parameters and their MSE."""
  return lm_apply(x, y, w, mu, raw, lm_step(jtj, jtr, lam), raw_max)


@dataclasses.dataclass
class LMState:
  """Everything `fit_lm` needs to continue: current and best parameters (raw form),
  the damping, and the iteration counter. Serialised by the trainer."""
  w: np.ndarray
  mu: np.ndarray
  raw: np.ndarray
  loss: float
  best_w: np.ndarray
  best_mu: np.ndarray
  best_raw: np.ndarray
  best_loss: float
  lam: float = 1e-2
  iteration: int = 0
  stage: int = 0
  seconds: float = 0.0

  @classmethod
  def start(cls, params, target):
    w, mu, raw = params.raw()
    pred = GmFaceParams.from_raw(w, mu, raw, params.height, params.width).render(
        target.shape[0], target.shape[1])
    loss = float(np.mean((pred - target) ** 2))
    return cls(w, mu, raw, loss, w.copy(), mu.copy(), raw.copy(), loss)

  def arrays(self):
    return {k: getattr(self, k) for k in ("w", "mu", "raw", "best_w", "best_mu", "best_raw")}

  def scalars(self):
    return {k: getattr(self, k) for k in ("loss", "best_loss", "lam", "iteration", "stage",
                                          "seconds")}


def relocate(w, mu, raw, target, k, rng, failures=0):
  """Moves k Gaussians to peaks of the blurred residual; returns new (w, mu, raw).

  Each move is chosen greedily among all (Gaussian, peak) pairs by the squared error
  after re-solving every weight in closed form, so a Gaussian that is useless, or
  one of a group that cancel each other, is the one that moves. After `failures`
  stages in a row that did not help, the move is drawn among the (1 + failures)
  best pairs and from more peaks, so that retries explore.
  """
  h, wd, c = target.shape
  m = w.shape[0]
  k = min(k, m)
  y = target.reshape(-1, c).astype(np.float64)
  mu, raw = mu.astype(np.float64), raw.astype(np.float64)
  sigma_px = RELOCATED_SIGMA * max(h, wd) / np.sqrt(m)
  log_diag = np.log(max(h, wd) / (np.sqrt(2.0) * sigma_px))
  g = GmFaceParams.from_raw(w, mu, raw, h, wd).components(h, wd).reshape(m, -1).astype(
      np.float64)
  ridge = 1e-6 * max(float(np.einsum("ij,ij->", g, g)) / m, 1e-12)
  for _ in range(k):
    gram = g @ g.T + ridge * np.eye(m)
    b = g @ y
    weights = np.linalg.solve(gram, b)
    residual = (y - g.T @ weights).reshape(h, wd, c)
    peaks = residual_peaks(residual, 1 + failures, sigma_px, rng, 2 * (1 + failures))
    if not peaks:
      break
    scores = []
    for r, cc in peaks:
      new_mu = np.array([r / h, cc / wd])
      new_g = GmFaceParams.from_raw(np.zeros((1, c)), new_mu[None],
                                    np.array([[log_diag, 0.0, log_diag]]), h, wd
                                    ).components(h, wd).reshape(-1).astype(np.float64)
      cross = g @ new_g
      grams = np.repeat(gram[None], m, 0)
      bs = np.repeat(b[None], m, 0)
      idx = np.arange(m)
      grams[idx, idx, :] = cross[None, :]
      grams[idx, :, idx] = cross[None, :]
      grams[idx, idx, idx] = new_g @ new_g + ridge
      bs[idx, idx, :] = new_g @ y
      sol = np.linalg.solve(grams, bs)
      # ||y - G^T w||^2 at the least-squares w is ||y||^2 - b^T w (up to the ridge).
      err = -np.einsum("mkc,mkc->m", bs, sol)
      scores.extend((float(e), i, new_mu, new_g) for i, e in enumerate(err))
    scores.sort(key=lambda s: s[0])
    _, i, new_mu, new_g = scores[int(rng.integers(min(len(scores), 1 + failures)))]
    mu[i] = new_mu
    raw[i] = (log_diag, 0.0, log_diag)
    g[i] = new_g
  gram = g @ g.T + ridge * np.eye(m)
  weights = np.linalg.solve(gram, g @ y)
  return weights.astype(np.float32), mu.astype(np.float32), raw.astype(np.float32)


def fit_lm(target, state, iterations, *, relocate_every=80, relocate_count=4,
           relocate_until=0.8, time_limit=0.0, patience=0, seed=0, log_every=100,
           log=print, checkpoint=None, checkpoint_every=200, on_iteration=None):
  """Levenberg-Marquardt with relocation; updates and returns `state` (best kept).

  Args:
    target: H x W x C float image (the mean image for a common face).
    state: an `LMState` (from `LMState.start` or a checkpoint).
    iterations: total LM iterations (accepted or not).
    relocate_every: iterations per stage; 0 = never relocate.
    relocate_count: Gaussians moved at the end of each stage.
    relocate_until: no relocation after this fraction of the iterations (or of
      `time_limit`): the last stretch only refines.
    time_limit: stop after this many seconds of fitting (0 = no limit).
    patience: stop after this many stages in a row without a better model (0 = off).
    seed: seeds the choice of what to relocate (with the stage number).
    log_every: iterations between log lines (0 = silent).
    log: the logging function.
    checkpoint: called with the state every `checkpoint_every` iterations.
    checkpoint_every: see `checkpoint`.
    on_iteration: called with (seconds, best mse so far) after every iteration.
  """
  h, wd, c = target.shape
  x = tf.constant(pixel_coords(h, wd))
  y = tf.constant(target.reshape(-1, c).astype(np.float32))
  raw_max = tf.constant(max_log_diag(h, wd), tf.float32)
  w, mu, raw = (tf.constant(state.w), tf.constant(state.mu), tf.constant(state.raw))
  t0 = time.perf_counter() - state.seconds
  jtj, jtr, loss = lm_system(x, y, w, mu, raw)
  state.loss = float(loss)

  def elapsed():
    return time.perf_counter() - t0

  def keep_best():
    if state.loss < state.best_loss:
      state.best_w, state.best_mu, state.best_raw = w.numpy(), mu.numpy(), raw.numpy()
      state.best_loss = state.loss

  failed_stages = 0
  while state.iteration < iterations:
    if time_limit and elapsed() >= time_limit:
      break
    if patience and failed_stages >= patience:
      break
    nw, nmu, nraw, nloss = lm_trial(x, y, w, mu, raw, jtj, jtr,
                                    tf.constant(state.lam, tf.float32), raw_max)
    nloss = float(nloss)
    if nloss < state.loss:  # False for NaN: a failed factorisation is a rejection.
      w, mu, raw, state.loss = nw, nmu, nraw, nloss
      state.lam = max(state.lam / 3.0, 1e-7)
      jtj, jtr, _ = lm_system(x, y, w, mu, raw)
    else:
      state.lam = min(state.lam * 2.0, 1e7)
    state.iteration += 1
    if relocate_every and relocate_count and state.iteration % relocate_every == 0:
      improved = state.loss < state.best_loss
      failed_stages = 0 if improved else failed_stages + 1
      keep_best()
      late = (state.iteration >= relocate_until * iterations or
              (time_limit and elapsed() >= relocate_until * time_limit))
      if not late:
        state.stage += 1
        rng = np.random.default_rng([seed, state.stage])
        with single_threaded_blas():
          nw_, nmu_, nraw_ = relocate(state.best_w, state.best_mu, state.best_raw, target,
                                      relocate_count, rng, failures=failed_stages)
        w, mu, raw = tf.constant(nw_), tf.constant(nmu_), tf.constant(nraw_)
        jtj, jtr, loss = lm_system(x, y, w, mu, raw)
        state.loss = float(loss)
        state.lam = 1e-3
    if log_every and state.iteration % log_every == 0:
      log(f"lm {state.iteration:5d}  {elapsed():6.1f}s  mse {min(state.loss, state.best_loss):.6f}"
          f"  psnr {psnr(min(state.loss, state.best_loss)):.2f} dB  lambda {state.lam:.1e}")
    state.w, state.mu, state.raw = w.numpy(), mu.numpy(), raw.numpy()
    state.seconds = elapsed()
    if on_iteration is not None:
      on_iteration(state.seconds, min(state.loss, state.best_loss))
    if checkpoint is not None and state.iteration % checkpoint_every == 0:
      checkpoint(state)
  keep_best()
  state.w, state.mu, state.raw = w.numpy(), mu.numpy(), raw.numpy()
  state.seconds = elapsed()
  return state


psnr = image_io.psnr_from_mse  # the fit's MSE in dB
