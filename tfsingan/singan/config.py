"""SinGAN training configuration; the defaults are the paper's (Shaham et al., ICCV 2019)."""

import dataclasses

from tfsingan.common.precision import PRECISIONS
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

COARSEST_REC_NOISE = ("fixed", "redrawn")
SCHEDULES = ("paper", "concurrent")
# What --schedule=concurrent changes where a flag is left at the paper's default: the
# settings of tohinz/ConSinGAN's main_train.py / config.py (Hinz et al., WACV 2021):
# niter 1000, lr decay at 0.8 x niter, nfc 64 at every stage.
CONCURRENT_DEFAULTS = {"iterations": 1000, "lr_decay_at": 800, "base_channels": 64,
                       "max_channels": 64}


@dataclasses.dataclass(frozen=True)
class SinGANConfig:
  """Every SinGAN option; `configs/singan*.cfg` override these defaults."""

  image: str = field("", help="Training image (PNG/JPEG). Empty: the bundled face.")
  # Pyramid.
  max_size: int = field(250, help="Long side the image is resized to (at most).", low=1,
                        high=100_000)
  min_size: int = field(25, help="Short side of the coarsest scale.", low=1, high=100_000)
  scale_factor: float = field(0.75, help="Nominal factor between scales; the real one is "
                              "recomputed per image.", above=0.0, below=1.0)
  # Networks.
  base_channels: int = field(32, help="Width at the coarsest scales.", low=1, high=1024)
  max_channels: int = field(128, help="Largest width.", low=1, high=1024)
  double_every: int = field(4, help="Width doubles every this many scales.", low=1)
  kernel_size: int = field(3, help="Convolution kernel size.", low=1, high=15)
  num_layers: int = field(5, help="Convolutions per network (head, body, tail).", low=3, high=64)
  # Training.
  iterations: int = field(2000, help="Iterations per scale.", low=1)
  d_steps: int = field(3, help="Critic steps per iteration.", low=1)
  g_steps: int = field(3, help="Generator steps per iteration.", low=1)
  learning_rate: float = field(5e-4, help="Adam learning rate for G and D.", above=0.0)
  beta1: float = field(0.5, help="Adam beta1.", low=0.0, below=1.0)
  beta2: float = field(0.999, help="Adam beta2.", low=0.0, below=1.0)
  lr_decay_at: int = field(1600, help="Iteration at which the learning rates drop.", low=0)
  lr_decay: float = field(0.1, help="Factor of the learning-rate drop.", above=0.0)
  lambda_gp: float = field(0.1, help="Gradient-penalty weight.", low=0.0)
  alpha: float = field(10.0, help="Reconstruction-loss weight (100 for super-resolution).", low=0.0)
  noise_amp: float = field(0.1, help="Noise std at scale n = noise_amp x RMSE of the "
                           "upsampled reconstruction.", above=0.0)
  init_from_previous: bool = field(True, help="Start a scale from the previous scale's "
                                   "weights when the width did not change.")
  coarsest_rec_noise: str = field(
      "fixed", choices=COARSEST_REC_NOISE,
      help="The coarsest scale's reconstruction noise z*: fixed (the paper; drawn once) or "
           "redrawn every iteration (what tamarott/SinGAN's training.py does; it weakens the "
           "reconstruction, which raises the next scale's noise amplitude).")
  # Schedule.
  schedule: str = field(
      "paper", choices=SCHEDULES,
      help="paper: one scale at a time, the others frozen (SinGAN). concurrent: ConSinGAN "
           "(Hinz et al., WACV 2021): --num_stages stages on a pyramid with more of them at "
           "low resolution, the top --train_depth trained together, the lower ones at "
           "--lr_scale per stage down; flags left at the paper's default take ConSinGAN's "
           "(1000 iterations, decay at 800, 64 channels).")
  train_depth: int = field(3, help="concurrent: stages trained at once (ConSinGAN: 3).",
                           low=1, high=64)
  lr_scale: float = field(0.1, help="concurrent: learning-rate factor per stage below the "
                          "newest (ConSinGAN: 0.1).", above=0.0, high=1.0)
  num_stages: int = field(6, help="concurrent: stages of the rescaled pyramid (ConSinGAN's "
                          "train_stages: 6).", low=1, high=64)
  # Execution.
  precision: str = field("auto", help="Compute precision; auto: mixed_bfloat16 on CPUs with "
                         "AVX512_BF16/AMX, mixed_float16 on GPUs >= 7.0, else float32.",
                         choices=PRECISIONS)
  jit_compile: bool = field(False, help="Compile the train step of every scale with XLA "
                            "(else per scale, see --xla_max_pixels).", resume="execution")
  # Chosen at run start for this CPU's kind when -1 (tfsingan/common/execution.py) and
  # recorded in config.json; they change the kernels, never the numerics' definition.
  xla_max_pixels: int = field(-1, help="Scales of at most this many pixels (H x W) compile "
                              "their step with XLA; -1: chosen for this CPU; 0: none.",
                              resume="execution", low=-1)
  xla_min_iterations: int = field(-1, help="... but only scales of at least this many "
                                  "iterations (compiling costs seconds); -1: chosen for "
                                  "this CPU.", resume="execution", low=-1)
  fused_bn_min_pixels: int = field(-1, help="BatchNorm takes the fused kernel from this many "
                                   "pixels on; -1: chosen for this CPU.", resume="execution",
                                   low=-1)
  seed: int = field(0, help="Random seed (weights, noise).", low=0)
  checkpoint_every: int = field(200, help="Mid-scale checkpoint interval (iterations).",
                                resume="execution", low=1)
  log_every: int = field(50, help="TensorBoard scalar interval (iterations).",
                         resume="execution", low=1)
  image_every: int = field(500, help="TensorBoard image interval (iterations).",
                           resume="execution", low=1)
  gen_start_scale: int = field(0, help="Default start scale for samples (0 = coarsest; "
                               "k = the paper's N-k).", resume="execution", low=0)

  def __post_init__(self):
    check_ranges(self)
    if self.kernel_size % 2 == 0:
      raise UserInputError(f"--kernel_size={self.kernel_size}: expected an odd size")
    if self.min_size > self.max_size:
      raise UserInputError(f"--min_size={self.min_size} is larger than "
                           f"--max_size={self.max_size}")
    if self.precision not in PRECISIONS:
      raise UserInputError(f"--precision={self.precision}: expected one of {PRECISIONS}")
    if self.schedule not in SCHEDULES:
      raise UserInputError(f"--schedule={self.schedule}: expected one of {SCHEDULES}")
    if self.coarsest_rec_noise not in COARSEST_REC_NOISE:
      raise UserInputError(f"--coarsest_rec_noise={self.coarsest_rec_noise}: expected one "
                           f"of {COARSEST_REC_NOISE}")

  @property
  def padding(self):
    """Zero padding of G's input so the valid convolutions keep the size."""
    return (self.kernel_size // 2) * self.num_layers


def resolve_schedule(config):
  """The config with --schedule=concurrent's defaults (CONCURRENT_DEFAULTS) filled into
  the fields left at the paper's default; the paper schedule is returned as it is."""
  if config.schedule != "concurrent":
    return config
  paper = SinGANConfig()
  return dataclasses.replace(config, **{
      k: v for k, v in CONCURRENT_DEFAULTS.items() if getattr(config, k) == getattr(paper, k)})
