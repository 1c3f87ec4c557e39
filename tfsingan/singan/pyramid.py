"""The SinGAN pyramid of one run directory (Shaham et al., ICCV 2019), grown scale by scale.

`RunPyramid` is the one owner of a run's pyramid files: training grows it (`start`,
`finish_scale`), resume reads it back (`load_networks`, `roll_back`), and sampling,
the applications, export and the benchmarks load its generators (`load_generators`).
The file checks live in `tfsingan.singan.run_files`; the layout is unchanged since
the first runs (`tests/data/network_layout_v1.json`), so old run directories load.
"""

import os

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.singan import run_files
from tfsingan.singan.networks import SinGANGenerator
from tfsingan.singan.networks import build_scale_networks

_EMPTY = {"finished_scales": 0, "noise_amps": [], "channels": [], "sizes": [],
          "scale_factor": None}


class RunPyramid:
  """The scales of a run: sizes, widths, noise amplitudes, z*, reals and weights.

  Args:
    workdir: the run directory.
    state: the parsed state.json (None: a run that has not started).

  Attributes:
    workdir: the run directory.
    data: state.json's dict (written after a scale's weights are in place).
  """

  def __init__(self, workdir, state=None):
    self.workdir = workdir
    self.data = state or {k: (list(v) if isinstance(v, list) else v)
                          for k, v in _EMPTY.items()}
    self._reals = None

  @classmethod
  def open(cls, workdir):
    """The run's pyramid (empty when state.json is absent); refuses a damaged state."""
    return cls(workdir, run_files.read_state(workdir))

  @property
  def state_path(self):
    return os.path.join(self.workdir, run_files.STATE)

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

  def weights_path(self, n, network="generator"):
    return run_files.weights_path(self.workdir, n, network)

  # Growing.
  def start(self, sizes, scale_factor, reals=None):
    """Writes a new run's pyramid: reals.npz and one PNG a scale (unless None: runs
    made for benchmarks), then state.json."""
    self.data["sizes"] = [list(s) for s in sizes]
    self.data["scale_factor"] = float(scale_factor)
    os.makedirs(self.workdir, exist_ok=True)
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
    z = run_files.read_z_rec(self.workdir, self.sizes[0])
    if z is not None:
      return z
    if seed is None:
      raise UserInputError(f"--workdir={self.workdir}: {run_files.Z_REC} is missing; every "
                           "scale depends on it: start again in a new --workdir")
    rng = np.random.default_rng(seed)
    size = self.sizes[0]
    z = np.repeat(rng.standard_normal((size[0], size[1], 1)).astype(np.float32), 3, axis=2)
    run_files.write_z_rec(self.workdir, z)
    return z

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
