"""Trains a SinGAN pyramid scale by scale, resumably (Shaham et al., ICCV 2019).

Run directory:
  config.json            the resolved SinGANConfig and "model": "singan"
  pyramid/reals.npz      the training pyramid (float32 in [0, 1]), and one PNG a scale
  z_rec.npy              the fixed reconstruction noise z* of the coarsest scale
  scales/NN/             generator.weights.h5, critic.weights.h5 of each finished scale
  state.json             finished scales, their sizes, widths and noise amplitudes
  checkpoints/           the latest mid-scale checkpoint (networks, optimizers, RNG)
  tb/                    TensorBoard: losses per scale, reconstructions, samples
The folder is checked, created and locked by `tfsingan.common.rundir.prepare`; the
pyramid's files are owned by `tfsingan.singan.pyramid.RunPyramid`.
"""

import dataclasses
import math
import os
import time

import numpy as np
import tensorflow as tf

from tfsingan.common import checkpointing
from tfsingan.common import execution
from tfsingan.common import image_io
from tfsingan.common import precision as precision_lib
from tfsingan.common import rundir
from tfsingan.common.progress import Progress
from tfsingan.common.progress import format_seconds
from tfsingan.common.resize import imresize_np
from tfsingan.errors import UserInputError
from tfsingan.singan import run_files
from tfsingan.singan import scales
from tfsingan.singan.concurrent import scale_model
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.config import resolve_schedule
from tfsingan.singan.networks import build_scale_networks
from tfsingan.singan.pyramid import RunPyramid

def load_training_image(config):
  """The training image as float32 RGB in [0, 1] (the bundled face if none given)."""
  if not config.image:
    image_io.notice("no --image given; training on the bundled face (scikit-image astronaut)")
    return image_io.bundled_face()
  return image_io.load_image(config.image, what="--image")


def build_pyramid(image, config):
  """(Pyramid, list of per-scale images in [0, 1]) for a float RGB image."""
  h, w = image.shape[:2]
  try:
    if config.schedule == "concurrent":
      pyr = scales.concurrent_schedule(h, w, min_size=config.min_size,
                                       max_size=config.max_size, num_stages=config.num_stages)
    else:
      pyr = scales.scale_schedule(h, w, min_size=config.min_size, max_size=config.max_size,
                                  scale_factor=config.scale_factor)
  except ValueError as e:
    raise UserInputError(f"--image: {e}")
  if pyr.resize_to != (h, w):
    image_io.notice(f"image {w}x{h} resized to {pyr.resize_to[1]}x{pyr.resize_to[0]} "
                    f"(--max_size={config.max_size})")
    image = imresize_np(image, pyr.resize_to)
  reals = [np.clip(imresize_np(image, size), 0.0, 1.0) for size in pyr.sizes]
  return pyr, reals


def _pyramid(workdir, config):
  """(pyramid, new): the run's pyramid, or a new one built from --image (not yet written)."""
  pyramid = RunPyramid.open(workdir)
  if pyramid.num_scales and pyramid.reals is not None:
    return pyramid, None
  pyr, reals = build_pyramid(load_training_image(config), config)
  return pyramid, (pyr, reals)


def _load_finished(pyramid, config, widths):
  """Loads the finished scales' generators into `pyramid.generators`; returns the last
  critic. A damaged scale is trained again."""
  pyramid.generators.clear()
  critic = None
  for n in range(pyramid.finished):
    try:
      gen, critic_n = pyramid.load_networks(n, config, widths[n])
    except run_files.DamagedScale as e:
      kept = f" (scales 0..{n - 1} kept)" if n else ""
      image_io.notice(f"{e.problem}; training scales {n}..{len(widths) - 1} again{kept}")
      pyramid.roll_back(n)
      checkpointing.RunCheckpoint(os.path.join(pyramid.workdir, "checkpoints")).clear()
      break
    pyramid.generators.append(gen)
    critic = critic_n
  return critic


class RunEta:
  """Seconds left in a run, from the per-scale costs measured so far and each scale's
  known work (`scales.iteration_work`).

  Seconds per iteration grow with the work as `work ** beta`: beta = 0 where a fixed
  per-iteration overhead dominates (tiny scales), 1 where the convolutions do. beta is
  the log-log slope over the finished scales, clamped to [0, 1]; with fewer than two
  finished scales it is 0.5, which is off by at most sqrt(work ratio) either way. The
  level comes from the current scale once it has run MIN_STEADY iterations after its
  first, else from the last finished scale. The first iteration of a scale (networks
  built, step traced) is its setup, timed apart and charged once to every later scale.
  Taking the traced first iterations as typical and fitting a free line through two
  noisy points made the total ETA swing 58:08 -> 1:32:56 -> 35:02 in the first two
  minutes of `make demo`.

  Args:
    work: `scales.iteration_work` of every scale.
    iterations: iterations per scale.
    timed: {scale: steady seconds per iteration} of scales finished earlier (resume).
  """

  MIN_STEADY = 3  # iterations after the first before a scale's own rate is used
  PRIOR_BETA = 0.5

  def __init__(self, work, iterations, timed=None):
    self.work = list(work)
    self.iterations = int(iterations)
    self.timed = dict(timed or {})
    self.setups = []
    self._n = self._t_start = self._t_first = self._first_done = self._per_iter = None
    self._steps = 0

  def start_scale(self, n, now):
    self._n, self._t_start, self._t_first, self._per_iter = n, now, None, None
    self._steps = 0

  def step(self, done, now):
    """Records that the current scale has `done` iterations at time `now`; returns
    the seconds left in the run (None while nothing is measured)."""
    self._steps += 1
    if self._t_first is None:
      self._t_first, self._first_done = now, done
      self.setups.append(now - self._t_start)
    steady = done - self._first_done
    if steady >= self.MIN_STEADY:
      self._per_iter = (now - self._t_first) / steady
    return self.remaining_seconds(self._n, done, self._per_iter)

  def finish_scale(self, now):
    """Ends the current scale; returns (and keeps) its seconds per iteration."""
    if self._per_iter is None:  # too few iterations for a steady rate: all of them
      self._per_iter = (now - self._t_start) / max(1, self._steps)
    self.timed[self._n] = self._per_iter
    return self._per_iter

  def beta(self, finished):
    """Exponent of `seconds per iteration ~ work ** beta` over {scale: seconds}."""
    xs = [math.log(self.work[s]) for s in finished]
    ys = [math.log(finished[s]) for s in finished]
    if len(set(xs)) < 2:
      return self.PRIOR_BETA
    slope = float(np.polyfit(xs, ys, 1)[0])  # least squares over the finished scales
    return min(max(slope, 0.0), 1.0)

  def remaining_seconds(self, n, done, seconds_per_iter):
    """Seconds left with scale n at `done` iterations, running at `seconds_per_iter`
    (None: not measured yet, predicted from the finished scales)."""
    finished = {s: t for s, t in self.timed.items() if s != n and t > 0}
    beta = self.beta(finished)
    if seconds_per_iter is not None:
      ref = n
      level = seconds_per_iter
    elif finished:
      ref = max(finished)
      level = finished[ref]
    else:
      return None

    def per_iter(k):
      return level * (self.work[k] / self.work[ref]) ** beta

    setup = sum(self.setups) / len(self.setups) if self.setups else 0.0
    later = sum(setup + self.iterations * per_iter(k) for k in range(n + 1, len(self.work)))
    return per_iter(n) * (self.iterations - done) + later


def run(config: SinGANConfig, workdir: str):
  """Trains (or resumes, or finds finished) the SinGAN run in `workdir`."""
  config = resolve_schedule(config)
  config = precision_lib.resolve_config(
      config, precision_lib.recorded_precision(os.path.join(workdir, "config.json")))
  config = execution.resolve_singan(config)
  with rundir.prepare(workdir, config, family="singan") as run_dir:
    pyramid, new = _pyramid(workdir, config)  # the image is checked before any write
    run_dir.start()
    if new:
      pyramid.start(new[0].sizes, new[0].scale_factor, new[1])
    return _train(config, pyramid)


def _train(config, pyramid):
  workdir = pyramid.workdir
  sizes = pyramid.sizes
  num_scales = len(sizes)
  widths = pyramid.widths(config)
  execution.apply_batch_norm_threshold(config)
  pyramid.z_rec(seed=config.seed)  # drawn and written before the first scale trains
  critic_prev = _load_finished(pyramid, config, widths)
  if pyramid.finished >= num_scales:
    print(f"run in {workdir} is already trained ({num_scales} scales); nothing to do")
    return pyramid.data
  print(f"SinGAN: {num_scales} scales, factor {pyramid.data['scale_factor']:.4f}, sizes "
        f"{sizes[0][1]}x{sizes[0][0]} .. {sizes[-1][1]}x{sizes[-1][0]}"
        + (f"; resuming at scale {pyramid.finished}" if pyramid.finished else ""))
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tb"))
  work = scales.iteration_work(sizes, widths)
  if config.schedule == "concurrent":
    work = scales.concurrent_work(work, config.train_depth)
  eta = RunEta(work, config.iterations,
               dict(enumerate(pyramid.seconds_per_iter)))
  t_start = time.monotonic()
  for n in range(pyramid.finished, num_scales):
    gen, critic = _train_scale(config, pyramid, critic_prev, writer, eta)
    frozen, _ = build_scale_networks(widths[n], config)
    frozen.set_weights(gen.get_weights())
    pyramid.generators.append(frozen)
    critic_prev = critic
  print(f"finished {num_scales} scales in {format_seconds(time.monotonic() - t_start)}; "
        f"sample with: python -m tfsingan.sample --workdir={workdir}")
  return run_files.read_state(workdir)


def _train_scale(config, pyramid, critic_prev, writer, eta):
  """Trains the pyramid's next scale n (stages lo..n with --schedule=concurrent); writes
  its weights and marks it finished in state.json."""
  n, widths = pyramid.finished, pyramid.widths(config)
  eta.start_scale(n, time.monotonic())
  gen, critic = build_scale_networks(widths[n], config, seed=config.seed + 17 * n)
  if config.init_from_previous and n > 0 and widths[n] == widths[n - 1]:
    gen.set_weights(pyramid.generators[n - 1].get_weights())
    critic.set_weights(critic_prev.get_weights())
  inputs = pyramid.next_scale(config)
  lo = inputs.lo
  # XLA or not is chosen per scale (the step's graph differs: see SinGANScale.train_step).
  config = dataclasses.replace(
      config, jit_compile=execution.singan_scale_uses_xla(config, inputs.sizes[n]))
  model = scale_model(gen, critic, inputs, config, seed=config.seed * 1000 + n)
  model.compile()
  lower = {}
  for j, gen_i in enumerate(inputs.lower_generators):  # the concurrent schedule's
    lower[f"generator_{lo + j}"] = gen_i
    lower[f"g_optimizer_{lo + j}"] = model.lower_optimizers[j]
  ckpt = checkpointing.RunCheckpoint(
      os.path.join(pyramid.workdir, "checkpoints"), generator=gen, critic=critic,
      g_optimizer=model.g_optimizer, d_optimizer=model.d_optimizer, rng=model.rng, **lower)
  start = 0
  # The pointer says which scale the checkpoint is of (another scale's networks have
  # other shapes); the version itself holds the iteration.
  meta = ckpt.latest()
  if meta is not None and meta.get("scale") == n:
    meta = ckpt.restore()
    start = int(meta["iteration"])
    print(f"resuming scale {n} at iteration {start}")
  step = tf.function(model.train_step, jit_compile=model.config.jit_compile)
  sizes = pyramid.sizes
  h, w = sizes[n]
  progress = Progress(config.iterations, f"scale {n}/{len(sizes) - 1} {w}x{h}x{widths[n]}",
                      done=start)
  logs = {}
  for it in range(start, config.iterations):
    logs = step()
    done = it + 1
    if done % config.log_every == 0 or done == config.iterations:
      values = {k: float(v) for k, v in logs.items()}
      if not all(np.isfinite(list(values.values()))):
        raise FloatingPointError(f"scale {n} iteration {done}: non-finite losses {values}")
      with writer.as_default(step=done):
        for k, v in values.items():
          tf.summary.scalar(f"scale_{n:02d}/{k}", v)
    if done % config.image_every == 0 or done == config.iterations:
      _log_images(model, writer, n, done)
    if done % config.checkpoint_every == 0 and done < config.iterations:
      ckpt.save(meta={"scale": n, "iteration": done})
    left = eta.step(done, time.monotonic())
    extra = "" if left is None else "total ETA " + format_seconds(left)
    if logs and (done % 10 == 0 or done == config.iterations):
      extra = f"rec {float(logs['rec_loss']):.4f} {extra}"
    progress.update(done, extra)
  seconds_per_iter = eta.finish_scale(time.monotonic())
  for j, gen_i in enumerate(inputs.lower_generators):  # trained further, before
    pyramid.save_networks(lo + j, gen_i)  # state.json says stage n is done
  pyramid.finish_scale(n, gen, critic, inputs.noise_amp, seconds_per_iter)
  ckpt.clear()
  writer.flush()
  return gen, critic


def _log_images(model, writer, n, step):
  rec = model.reconstruct(training=False)
  z, prev = model.random_input()
  fake = model.generate(z, prev, False)
  with writer.as_default(step=step):
    tf.summary.image(f"scale_{n:02d}/reconstruction", (rec + 1.0) / 2.0)
    tf.summary.image(f"scale_{n:02d}/sample", tf.clip_by_value((fake + 1.0) / 2.0, 0, 1))
