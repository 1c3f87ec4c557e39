"""The SinGAN pyramid of one run directory (Shaham et al., ICCV 2019), grown scale by scale.

`RunPyramid` is the one owner of a run's pyramid files: training grows it (`start`,
`finish_scale`), resume reads it back (`load_networks`, `roll_back`), and sampling,
the applications, export and the benchmarks load its generators (`load_generators`).
It also hands out what the next scale trains on (`next_scale`: a `ScaleInputs`), for
the trainer and, from an in-memory pyramid (`RunPyramid.in_memory`), the benchmarks and
the tests. The file checks live in `tfsingan.singan.run_files`; the layout is unchanged
since the first runs (`tests/data/network_layout_v1.json`), so old run directories load.
"""

import dataclasses
import os

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.singan import generate
from tfsingan.singan import run_files
from tfsingan.singan import scales
from tfsingan.singan.networks import SinGANGenerator
from tfsingan.singan.networks import build_scale_networks

_EMPTY = {"finished_scales": 0, "noise_amps": [], "channels": [], "sizes": [],
          "scale_factor": None}


@dataclasses.dataclass(frozen=True, eq=False)
class ScaleInputs:
  """What training stage n takes from its pyramid (Shaham et al., ICCV 2019, sec. 2.2;
  on the concurrent schedule stages lo..n train together, Hinz et al., WACV 2021).

  Attributes:
    n: the newest stage, trained from scratch.
    lo: the lowest stage trained (n on the paper's schedule).
    sizes: (height, width) of stages 0..n.
    real: stage n's training image, H x W x 3 in [-1, 1].
    noise_amp: stage n's noise amplitude: 1 at the coarsest, else the config's
      noise_amp x the RMSE of the upsampled reconstruction entering stage n.
    prev_rec: the upsampled reconstruction entering stage lo (zeros at lo = 0).
    z_rec: z*, the coarsest stage's fixed reconstruction noise, H0 x W0 x 3.
    generators: the finished generators of stages 0..n-1 (0..lo-1 stay frozen,
      lo..n-1 train further).
    noise_amps: their noise amplitudes.
  """
  n: int
  lo: int
  sizes: tuple
  real: np.ndarray
  noise_amp: float
  prev_rec: np.ndarray
  z_rec: np.ndarray
  generators: tuple
  noise_amps: tuple

  @property
  def frozen_generators(self):
    return self.generators[:self.lo]

  @property
  def lower_generators(self):
    return self.generators[self.lo:]


def reconstruction_prev(generators, noise_amps, z_rec, sizes, n):
  """The upsampled reconstruction entering scale n (zeros at n = 0), H x W x 3."""
  if n == 0:
    return np.zeros((*sizes[0], 3), np.float32)
  rec = generate.run_scales(generators[:n], noise_amps,
                            generate.reconstruction_noises(z_rec, sizes[:n]), sizes)
  return generate.upsample(rec, sizes[n])[0].numpy()


class RunPyramid:
  """The scales of a run: sizes, widths, noise amplitudes, z*, reals and weights.

  Args:
    workdir: the run directory (None: an in-memory pyramid, see `in_memory`).
    state: the parsed state.json (None: a run that has not started).

  Attributes:
    workdir: the run directory.
    data: state.json's dict (written after a scale's weights are in place).
    generators: the finished scales' generators in memory, for training the next
      scale (`next_scale`); the trainer fills it as it loads and trains them.
  """

  def __init__(self, workdir, state=None):
    self.workdir = workdir
    self.data = state or {k: (list(v) if isinstance(v, list) else v)
                          for k, v in _EMPTY.items()}
    self.generators = []
    self._reals = None
    self._z_rec = None

  @classmethod
  def open(cls, workdir):
    """The run's pyramid (empty when state.json is absent); refuses a damaged state."""
    return cls(workdir, run_files.read_state(workdir))

  @classmethod
  def in_memory(cls, sizes, reals, z_rec, generators=(), noise_amps=()):
    """A pyramid of no run directory whose finished scales are `generators` (benchmarks,
    tests): `next_scale` hands out what training would; writing it is refused.

    Args:
      sizes: (height, width) of every scale.
      reals: the training images in [0, 1], one a scale.
      z_rec: z* of the coarsest scale, H0 x W0 x 3.
      generators, noise_amps: the finished scales' generators and noise amplitudes.
    """
    generators = list(generators)
    pyramid = cls(None, {"finished_scales": len(generators),
                         "noise_amps": [float(a) for a in noise_amps],
                         "channels": [int(g.channels) for g in generators],
                         "sizes": [list(s) for s in sizes], "scale_factor": None})
    pyramid.generators = generators
    pyramid._reals = list(reals)
    pyramid._z_rec = np.asarray(z_rec, np.float32)
    return pyramid

  def _run_path(self, *parts):
    if self.workdir is None:
      raise ValueError("an in-memory RunPyramid has no run directory to write")
    return os.path.join(self.workdir, *parts)

  @property
  def state_path(self):
    return self._run_path(run_files.STATE)

  @property
  def finished(self):
    return int(self.data["finished_scales"])

  @property
  def sizes(self):
    return [tuple(int(v) for v in s) for s in self.data["sizes"]]

  @property
  def num_scales(self):
    return len(self.data["sizes"])

  @property
  def noise_amps(self):
    return [float(a) for a in self.data["noise_amps"][:self.finished]]

  @property
  def channels(self):
    return [int(c) for c in self.data["channels"][:self.finished]]

  @property
  def seconds_per_iter(self):
    return list(self.data.get("seconds_per_iter", []))

  @property
  def reals(self):
    """The training images in [0, 1], coarsest first (None when not written)."""
    if self._reals is None:
      self._reals = run_files.read_reals(self.workdir)
    return self._reals

  def widths(self, config):
    """Every scale's channel count under `config` (doubling every `double_every`)."""
    return [scales.channels_at(n, config.base_channels, config.max_channels,
                               config.double_every) for n in range(self.num_scales)]

  def weights_path(self, n, network="generator"):
    return run_files.weights_path(self._run_path(), n, network)

  # Growing.
  def start(self, sizes, scale_factor, reals=None):
    """Writes a new run's pyramid: reals.npz and one PNG a scale (unless None: runs
    made for benchmarks), then state.json."""
    self.data["sizes"] = [list(s) for s in sizes]
    self.data["scale_factor"] = float(scale_factor)
    os.makedirs(self._run_path(), exist_ok=True)
    if reals is None:
      checkpointing.write_json(self.state_path, self.data)
      return
    for n, real in enumerate(reals):
      image_io.save_image(os.path.join(self.workdir, "pyramid", f"real_{n:02d}.png"), real)
    run_files.write_reals(self.workdir, reals)
    self._reals = list(reals)
    checkpointing.write_json(self.state_path, self.data)

  def z_rec(self, seed=None):
    """z* of the coarsest scale; drawn from `seed` and written when absent (training),
    refused as missing when `seed` is None (sampling)."""
    if self._z_rec is not None:
      return self._z_rec
    z = run_files.read_z_rec(self.workdir, self.sizes[0])
    if z is not None:
      self._z_rec = z
      return z
    if seed is None:
      raise UserInputError(f"--workdir={self.workdir}: {run_files.Z_REC} is missing; every "
                           "scale depends on it: start again in a new --workdir")
    rng = np.random.default_rng(seed)
    size = self.sizes[0]
    z = np.repeat(rng.standard_normal((size[0], size[1], 1)).astype(np.float32), 3, axis=2)
    run_files.write_z_rec(self._run_path(), z)
    self._z_rec = z
    return z

  def next_scale(self, config):
    """The `ScaleInputs` of the next scale to train (`finished`), from the reals, z* and
    the finished generators in `generators`; with --schedule=concurrent its stages
    lo..n are ConSinGAN's `train_depth` top stages."""
    n = self.finished
    if len(self.generators) != n:
      raise ValueError(f"the pyramid holds {len(self.generators)} generators in memory "
                       f"for {n} finished scales")
    sizes, noise_amps = self.sizes, self.noise_amps
    z_rec = self.z_rec(seed=config.seed)
    real = self.reals[n] * 2.0 - 1.0
    prev_rec = reconstruction_prev(self.generators, noise_amps, z_rec, sizes, n)
    noise_amp = 1.0 if n == 0 else config.noise_amp * float(
        np.sqrt(np.mean((real - prev_rec) ** 2)))
    lo = n
    if config.schedule == "concurrent":
      lo = scales.trained_stages(n, config.train_depth)[0]
    if lo < n:
      prev_rec = reconstruction_prev(self.generators, noise_amps, z_rec, sizes, lo)
    return ScaleInputs(n=n, lo=lo, sizes=tuple(sizes[:n + 1]), real=real,
                       noise_amp=noise_amp, prev_rec=prev_rec, z_rec=z_rec,
                       generators=tuple(self.generators), noise_amps=tuple(noise_amps))

  def save_networks(self, n, generator, critic=None):
    checkpointing.save_weights(generator, self.weights_path(n, "generator"))
    if critic is not None:
      checkpointing.save_weights(critic, self.weights_path(n, "critic"))

  def finish_scale(self, n, generator, critic, noise_amp, seconds_per_iter):
    """Writes scale n's weights, then marks it finished in state.json."""
    self.save_networks(n, generator, critic)
    self.data.setdefault("seconds_per_iter", []).append(float(seconds_per_iter))
    self.data["noise_amps"].append(float(noise_amp))
    self.data["channels"].append(int(generator.channels))
    self.data["finished_scales"] += 1
    checkpointing.write_json(self.state_path, self.data)

  def roll_back(self, n):
    """Marks scales n.. unfinished (their weights are damaged or depend on damaged ones)."""
    for key in ("noise_amps", "channels", "seconds_per_iter"):
      if key in self.data:
        self.data[key] = self.data[key][:n]
    self.data["finished_scales"] = n
    checkpointing.write_json(self.state_path, self.data)

  # Loading.
  def load_networks(self, n, config, width):
    """Scale n's built (generator, critic) with the weights of the run."""
    gen, critic = build_scale_networks(width, config)
    run_files.load_weights(gen, self.workdir, n, "generator")
    run_files.load_weights(critic, self.workdir, n, "critic")
    return gen, critic

  def load_generators(self, config, num_scales=None):
    """The finished scales' generators (all, or the first `num_scales`), for sampling."""
    if self.finished == 0:
      raise UserInputError(f"--workdir={self.workdir}: no scale has finished training yet")
    count = self.finished if num_scales is None else min(self.finished, num_scales)
    generators = []
    for n in range(count):
      gen = SinGANGenerator(self.channels[n], config.kernel_size, config.num_layers,
                            name=f"generator_{n}")
      gen.build(((None, None, None, 3), (None, None, None, 3)))
      run_files.load_weights(gen, self.workdir, n)
      generators.append(gen)
    return generators
