"""Sampling from a trained SinGAN (Shaham et al., ICCV 2019, sec. 3-4).

Needs only the run directory's generators and state: no critic, optimizer or loss.
"""

import os

import cv2
import numpy as np
import tensorflow as tf

from tfsingan import config as config_lib
from tfsingan.common import resources
from tfsingan.common import rundir
from tfsingan.errors import UserInputError
from tfsingan.singan import generate
from tfsingan.singan import scales
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.pyramid import RunPyramid


class TrainedSinGAN:
  """A trained pyramid: generators, noise amplitudes, sizes and z*.

  Scale indices count from the coarsest (0) as in the original code; the paper's
  scale N-k is index k (`start_scale=1` is the paper's N-1).

  Args:
    generators: per-scale generators, coarsest first.
    noise_amps: per-scale noise standard deviations.
    sizes: per-scale (height, width) of the training pyramid.
    z_rec: the coarsest reconstruction noise z*, H x W x 3.
    reals: per-scale training images in [0, 1] (optional).
    config: the run's SinGANConfig (optional).
  """

  def __init__(self, generators, noise_amps, sizes, z_rec, reals=None, config=None):
    self.generators = list(generators)
    self.noise_amps = [float(a) for a in noise_amps]
    self.sizes = [tuple(int(v) for v in s) for s in sizes]
    self.z_rec = np.asarray(z_rec, np.float32)
    self.reals = reals
    self.config = config
    self._rec = None
    self._runs = {}
    self.gain_map = None  # (H x W map, first scale it multiplies): with_noise_gain

  @property
  def num_scales(self):
    return len(self.generators)

  @classmethod
  def load(cls, workdir, num_scales=None):
    """Loads the finished scales of a run (all of them, or the first `num_scales`)."""
    config = config_lib.from_dict(SinGANConfig, rundir.check_family(workdir, "singan"))
    pyramid = RunPyramid.open(workdir)
    generators = pyramid.load_generators(config, num_scales)
    z_rec = pyramid.z_rec()
    return cls(generators, pyramid.noise_amps[:len(generators)], pyramid.sizes, z_rec,
               pyramid.reals, config)

  def with_noise_gain(self, gain, start_scale):
    """The same model with its noise amplitudes times `gain` from `start_scale` on (the
    scales before it, and so the reconstruction entering it, unchanged).

    `gain` is a number or a map (H x W, >= 0, any size: resized to every scale, as
    `expand --variant_face_gain` protects the face): the noise of pixel (y, x) at a
    scale is then amplitude x the map there.
    """
    if np.ndim(gain) == 0:
      amps = [a * gain if n >= start_scale else a for n, a in enumerate(self.noise_amps)]
      return TrainedSinGAN(self.generators, amps, self.sizes, self.z_rec, self.reals,
                           self.config)
    gain = np.asarray(gain, np.float32)
    if gain.ndim != 2 or min(gain.shape) < 1 or not np.all(np.isfinite(gain)) or gain.min() < 0:
      raise UserInputError(f"noise gain map: expected a finite H x W map >= 0, got shape "
                           f"{gain.shape}")
    out = TrainedSinGAN(self.generators, self.noise_amps, self.sizes, self.z_rec, self.reals,
                        self.config)
    out.gain_map = (gain, start_scale)
    return out

  def reconstructions(self):
    """The reconstruction path's output at every scale (B=1, in [-1, 1])."""
    if self._rec is None:
      noises = generate.reconstruction_noises(self.z_rec, self.sizes[:self.num_scales])
      x, out = None, []
      for n in range(self.num_scales):
        if n > 0:
          x = generate.upsample(x, self.sizes[n])
        x = generate.run_scales(self.generators, self.noise_amps, noises, self.sizes,
                                prev=x, start=n, stop=n + 1)
        out.append(x)
      self._rec = out
    return self._rec

  def check_start_scale(self, start_scale):
    if not 0 <= start_scale < self.num_scales:
      raise UserInputError(f"--gen_start_scale={start_scale}: expected 0..{self.num_scales - 1}"
                           f" (0 = coarsest, the paper's N; k = the paper's N-k)")

  def sample(self, num, start_scale=0, scale_h=1.0, scale_w=1.0, seed=0, batch_size=8,
             prev=None):
    """`num` random samples as float32 num x H x W x 3 in [0, 1].

    Scales before `start_scale` follow the reconstruction path (their structure is
    the training image's); from `start_scale` on, fresh noise. `scale_h`/`scale_w`
    change the output size: every scale's noise map is resized, and the
    reconstruction entering `start_scale` is resized to the new size, which works
    for any start scale (the original code fails there).

    Args:
      num: number of samples.
      start_scale: first scale that gets random noise (0 = coarsest).
      scale_h, scale_w: output size relative to the training image.
      seed: noise seed.
      batch_size: samples generated per call.
      prev: optional image (1 x H x W x 3 in [-1, 1]) injected at `start_scale` instead
        of the reconstruction (paint-to-image, harmonization, editing).
    """
    self.check_start_scale(start_scale)
    if not (scale_h > 0 and scale_w > 0):
      raise UserInputError(f"--scale_h/--scale_w must be positive, got {scale_h}, {scale_w}")
    sizes = scales.scaled_sizes(self.sizes[:self.num_scales], scale_h, scale_w)
    self.check_memory(num, sizes[-1], batch_size)
    if prev is None and start_scale > 0:
      prev = self.reconstructions()[start_scale - 1]
    if prev is not None:
      prev = generate.upsample(tf.convert_to_tensor(prev, tf.float32), sizes[start_scale])
    run = self.compiled_run(start_scale, tuple(sizes))
    out = []
    for first in range(0, num, batch_size):
      b = min(batch_size, num - first)
      noises = self._sample_noise(seed, range(first, first + b), sizes, start_scale)
      p = (tf.zeros([b, *sizes[start_scale], 3]) if prev is None else
           tf.repeat(prev, b, axis=0))
      out.append(run(noises, p).numpy())
    out = np.concatenate(out)
    if not np.all(np.isfinite(out)):
      raise UserInputError("the generated samples hold NaN or infinite values: the run's "
                           "weights, noise amplitudes (state.json) or z_rec.npy are damaged; "
                           "train again in a new --workdir")
    return np.clip((out + 1.0) / 2.0, 0.0, 1.0)

  def check_memory(self, num, size, batch_size=8):
    """Refuses `num` samples of `size` (h, w) that this machine cannot hold: the
    outputs plus, per batch, about 4 live activations of the widest network."""
    h, w = size
    width = max(g.channels for g in self.generators)
    need = 4 * h * w * (3 * num + 4 * min(num, batch_size) * width)
    resources.check_fits(need, f"{num} sample(s) of {w}x{h} px ({width} channels inside)",
                         "lower --scale_h/--scale_w (or --sr_factor) or --num_samples")

  def _sample_noise(self, seed, indices, sizes, start):
    """Noise of each sample from its own (seed, index) stream, so sample i is the
    same whatever the batch size or the number of samples asked for."""
    per_sample = []
    for i in indices:
      rng = tf.random.Generator.from_seed(seed * 1_000_003 + i)
      per_sample.append([generate.draw_noise(rng, 1, sizes[n], n == 0)
                         for n in range(start, self.num_scales)])
    return tuple(tf.concat(maps, axis=0) for maps in zip(*per_sample))

  def compiled_run(self, start, sizes):
    """A cached tf.function `(noises, prev) -> image` running scales start.. at `sizes`."""
    key = (start, sizes)
    if key not in self._runs:
      self._runs[key] = self._make_run(start, sizes)
    return self._runs[key]

  def _make_run(self, start, sizes):
    gens, amps = self.generators, list(self.noise_amps)
    if self.gain_map is not None:
      gain, first = self.gain_map
      for n in range(max(start, first), len(gens)):
        amps[n] = tf.constant(amps[n] * _resized(gain, sizes[n])[None, :, :, None])

    @tf.function(reduce_retracing=True)
    def run(noises, prev):
      noise_by_scale = dict(zip(range(start, len(gens)), noises))
      return generate.run_scales(gens, amps, noise_by_scale, sizes, prev=prev, start=start)

    return run


def _resized(gain, size):
  """A gain map at `size` (h, w): area-averaged (bilinear when enlarging)."""
  h, w = int(size[0]), int(size[1])
  shrink = h <= gain.shape[0] and w <= gain.shape[1]
  return cv2.resize(gain, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
