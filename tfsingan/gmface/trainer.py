"""Fits GmFace (arXiv 2008.00752) to a face, or to the common face of a
folder: `run(config, workdir)`, called by `python -m tfsingan.train --model=gmface`.

The run directory gets `config.json` (the resolved options), `checkpoint.npz` (the
Levenberg-Marquardt state and its result, replaced atomically), `checkpoints/` (the
train_step phase: GmNet's parameters and Adam moments, a `RunCheckpoint`; re-running
the same command resumes either phase), and at the end
`gmface.npz` + `gmface.json` (the parameters), `reconstruction.png`,
`comparison.png` (target | reconstruction | 4 x |error|) and `metrics.json`. A
finished run is not fitted again.
"""

import io
import json
import os
import time

import cv2
import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.common import rundir
from tfsingan.common.progress import Progress
from tfsingan.errors import UserInputError
from tfsingan.gmface import fit
from tfsingan.gmface import initial
from tfsingan.gmface.params import GmFaceParams
from tfsingan.gmface.params import pixel_coords

MIN_SIDE = 2  # the smallest target whose gradient (the k-means placement) exists
ADAM_CHECKPOINTS = "checkpoints"


def _square(img, size):
  """Centre-crops to a square and resizes to size x size (0 = keep the size)."""
  if size == 0:
    return img
  img = image_io.centre_crop(img)
  if img.shape[0] != size:
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
      img = img[:, :, None]
  return np.ascontiguousarray(img, np.float32)


def load_targets(config):
  """(K, H, W, C) float32 targets in [0, 1] and a description of where they came from."""
  c = config.channels
  if config.data_dir:
    folder = config.data_dir
    if not os.path.isdir(folder):
      raise UserInputError(f"--data_dir: {folder} is not a folder; expected a folder of "
                           "aligned face images")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(image_io.IMAGE_EXTENSIONS))
    if not names:
      raise UserInputError(f"--data_dir: {folder} holds no images ({', '.join(image_io.IMAGE_EXTENSIONS)})")
    imgs = [_square(image_io.load_image(os.path.join(folder, n), channels=c,
                                        what="--data_dir", quiet=True),
                    config.image_size) for n in names]
    shapes = {im.shape for im in imgs}
    small = [n for n, im in zip(names, imgs) if min(im.shape[:2]) < MIN_SIDE]
    if small:
      raise UserInputError(f"--data_dir: {small[0]} is smaller than {MIN_SIDE}x{MIN_SIDE} px; "
                           f"use --image_size >= {MIN_SIDE} to resize the images")
    if len(shapes) > 1:
      raise UserInputError(f"--data_dir: images of different sizes {sorted(shapes)}; use "
                           "--image_size > 0 to resize them")
    return np.stack(imgs), f"common face of {len(imgs)} images in {folder}"
  if config.image:
    img = image_io.load_image(config.image, channels=c, what="--image")
    source = config.image
  else:
    img = image_io.bundled_face()
    img = image_io.to_gray(img) if c == 1 else img
    source = "bundled face (scikit-image astronaut)"
  target = _square(img, config.image_size)
  if min(target.shape[:2]) < MIN_SIDE:
    raise UserInputError(f"--image: {source} is {target.shape[1]}x{target.shape[0]} px; "
                         f"expected at least {MIN_SIDE}x{MIN_SIDE} (or --image_size >= "
                         f"{MIN_SIDE} to resize it)")
  return target[None], source


def _initial_params(config, target):
  h, w, c = target.shape
  if not config.init_from:
    return initial.initial_params(target, config.num_gaussians, config.seed)
  p = GmFaceParams.load(config.init_from, what="--init_from")
  if p.num_gaussians != config.num_gaussians:
    raise UserInputError(f"--init_from: {config.init_from} has {p.num_gaussians} Gaussians, "
                         f"--num_gaussians={config.num_gaussians}; expected the same number")
  weights = p.w
  if p.channels == 1 and c == 3:
    weights = np.repeat(weights, 3, axis=1)
  elif p.channels == 3 and c == 1:  # The gray of an RGB model is the luma of its weights.
    weights = weights @ np.array(image_io.LUMA)[:, None]
  return p.replace(w=weights, height=h, width=w, info={})


def _npz_bytes(**arrays):
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  return buf.getvalue()


class _Checkpoint:
  """`checkpoint.npz`: phase, LM state, GmNet parameters and Adam moments."""

  def __init__(self, workdir):
    self.path = os.path.join(workdir, "checkpoint.npz")

  def load(self):
    if not os.path.exists(self.path):
      return None
    try:
      with np.load(self.path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
      data["meta"] = json.loads(str(data["meta"]))
      return data
    except Exception as e:  # pylint: disable=broad-except
      raise UserInputError(f"{self.path} is damaged ({type(e).__name__}); delete it to "
                           "start the fit again") from None

  def save(self, meta, **arrays):
    image_io.atomic_write_bytes(self.path, _npz_bytes(meta=np.array(json.dumps(meta)),
                                                      **arrays))


def _adam_phase(config, targets, params, workdir, saved, log):
  """`config.iterations` steps of GmNet.train_step; returns the fitted params."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfsingan.gmface.model import GmNet  # pylint: disable=import-outside-toplevel
  k, h, w, c = targets.shape
  model = GmNet(config.num_gaussians, c, config.alpha, config.peak_loss, config.peak_tau)
  model.set_params(params)
  model.compile(learning_rate=config.learning_rate, decay_steps=config.iterations)
  ckpt = checkpointing.RunCheckpoint(
      os.path.join(workdir, ADAM_CHECKPOINTS), gmnet=model,
      **{f"adam_{key}": opt for key, opt in model.group_optimizers.items()})
  restored = ckpt.restore()
  start = 0
  if restored is not None:
    start = int(restored["step"])
    log(f"{workdir}: resuming train_step at step {start} of {config.iterations}")
  elif saved is not None and saved["meta"]["phase"] == "adam" and "opt_0" in saved:
    # Runs written before checkpoints/ kept the Adam moments in checkpoint.npz
    # (`opt_{i}`, in `optimizer_variables` order): read once, then saved as above.
    start = saved["meta"]["step"]
    for i, v in enumerate(model.optimizer_variables()):
      v.assign(saved[f"opt_{i}"])
  x_all = pixel_coords(h, w)
  y_all = targets.reshape(k, h * w, c)
  if k == 1:
    y_all = y_all[0]
  full = config.batch_size == 0 or config.batch_size >= h * w
  step_fn = tf.function(model.train_step, jit_compile=config.jit_compile)
  x_full, y_full = tf.constant(x_all), tf.constant(y_all)
  t0 = time.perf_counter()

  progress = Progress(config.iterations, "GmFace train_step", done=start)
  logs = {}
  for step in range(start, config.iterations):
    if full:
      logs = step_fn((x_full, y_full))
    else:
      idx = np.random.default_rng([config.seed, step]).choice(h * w, config.batch_size,
                                                              replace=False)
      yb = y_all[idx] if k == 1 else y_all[:, idx]
      logs = step_fn((tf.constant(x_all[idx]), tf.constant(yb)))
    if config.log_every and (step + 1) % config.log_every == 0:
      log(f"train_step {step + 1:6d}  {time.perf_counter() - t0:6.1f}s  "
          f"mse {float(logs['mse']):.6f}  peak {float(logs['peak']):.4f}")
    if (step + 1) % config.checkpoint_every == 0:
      ckpt.save(step + 1, {"step": step + 1})
    progress.update(step + 1)
  progress.close()
  return model.get_params(h, w), time.perf_counter() - t0


def run(config, workdir, log=print):
  """Fits GmFace as configured; returns the metrics dict (also in metrics.json)."""
  with rundir.prepare(workdir, config, family="gmface") as run_dir:
    return _fit(config, workdir, log, run_dir)


def _fit(config, workdir, log, run_dir):
  metrics_path = os.path.join(workdir, "metrics.json")
  metrics = checkpointing.read_json(metrics_path)
  if metrics is not None:
    if metrics.get("finished"):
      log(f"{workdir}: already fitted (psnr {metrics['psnr']:.2f} dB); not fitting again")
      return metrics
  targets, source = load_targets(config)
  # With the MSE, fitting K images at once equals fitting their pixel mean.
  target = targets.mean(0)
  h, w, c = target.shape
  ckpt = _Checkpoint(workdir)
  saved = ckpt.load()
  t_start = time.perf_counter()
  lm_seconds = 0.0
  lm_iters = 0
  if saved is not None:
    log(f"{workdir}: resuming from the {saved['meta']['phase']} checkpoint")
    if saved["meta"]["phase"] == "lm":
      state = fit.LMState(**{k: saved[k] for k in ("w", "mu", "raw", "best_w", "best_mu",
                                                     "best_raw")},
                          **saved["meta"]["lm"])
      params = None
    else:
      params = GmFaceParams(saved["w"], saved["mu"], saved["L"], h, w)
      lm_seconds = saved["meta"].get("lm_seconds", 0.0)
      lm_iters = saved["meta"].get("lm_iterations", 0)
      state = None
  else:
    params = _initial_params(config, target)
    state = (fit.LMState.start(params, target)
             if config.solver == "lm" and config.lm_iterations > 0 else None)
  init_params = _initial_params(config, target) if config.init_from else None
  # Written once the inputs are known to be good, so a typo does not claim the workdir.
  run_dir.start()

  if state is not None:
    def save_lm(s):
      ckpt.save({"phase": "lm", "lm": s.scalars()}, **s.arrays())
    log(f"fitting {config.num_gaussians} Gaussians to {source} ({h}x{w}x{c}) with "
        f"Levenberg-Marquardt; start mse {state.best_loss:.6f}")
    # From a common face, Gaussian i stays Gaussian i (no relocation), so that
    # individual.npz holds the personal characteristics of each component.
    state = fit.fit_lm(target, state, config.lm_iterations,
                       relocate_every=0 if config.init_from else config.relocate_every,
                       relocate_count=config.relocate_count,
                       time_limit=config.time_limit, seed=config.seed,
                       log_every=config.log_every, log=log, checkpoint=save_lm,
                       checkpoint_every=config.checkpoint_every)
    lm_seconds, lm_iters = state.seconds, state.iteration
    params = GmFaceParams.from_raw(state.best_w, state.best_mu, state.best_raw, h, w)
    ckpt.save({"phase": "adam", "step": 0, "lm_seconds": lm_seconds,
               "lm_iterations": lm_iters}, w=params.w, mu=params.mu, L=params.L)
    saved = ckpt.load()
  adam_seconds = 0.0
  if config.iterations > 0:
    log(f"train_step on MSE + {config.alpha} x peak ({config.peak_loss}), "
        f"{'full image' if config.batch_size == 0 else f'{config.batch_size} pixels'} "
        "per step")
    params, adam_seconds = _adam_phase(config, targets, params, workdir, saved, log)

  recon = params.render(h, w)
  err = recon - target
  mse = float(np.mean(err ** 2))
  metrics = {
      "finished": True,
      "source": source,
      "num_gaussians": config.num_gaussians,
      "num_parameters": int(config.num_gaussians * (5 + c)),
      "size": [h, w, c],
      "mse": mse,
      "psnr": fit.psnr(mse),
      "max_abs_error": float(np.abs(err).max()),
      "lm_iterations": lm_iters,
      "lm_seconds": lm_seconds,
      "train_step_iterations": config.iterations,
      "train_step_seconds": adam_seconds,
      "seconds_this_session": time.perf_counter() - t_start,
  }
  if targets.shape[0] > 1:
    metrics["mse_to_each_image"] = float(np.mean((recon[None] - targets) ** 2))
  params.info = {"source": source, "mse": mse, "psnr": metrics["psnr"],
                 "init_from": config.init_from}
  params.save(os.path.join(workdir, "gmface.npz"))
  if init_params is not None:
    # The paper's personal face = common face + individual characteristics.
    image_io.atomic_write_bytes(os.path.join(workdir, "individual.npz"), _npz_bytes(
        w=params.w - init_params.w, mu=params.mu - init_params.mu,
        L=params.L - init_params.L))
  image_io.save_image(os.path.join(workdir, "target.png"), target)
  image_io.save_image(os.path.join(workdir, "reconstruction.png"), np.clip(recon, 0, 1))
  image_io.save_image(os.path.join(workdir, "comparison.png"), image_io.make_grid(
      [[target, np.clip(recon, 0, 1), np.clip(4 * np.abs(err), 0, 1)]]))
  image_io.atomic_write_bytes(metrics_path,
                              (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode())
  log(f"{workdir}: mse {mse:.6f}  psnr {metrics['psnr']:.2f} dB  "
      f"({metrics['num_parameters']} parameters, lm {lm_seconds:.1f}s, "
      f"train_step {adam_seconds:.1f}s)")
  return metrics

