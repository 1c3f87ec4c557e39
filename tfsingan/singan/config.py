"""SinGAN training configuration; the defaults are the paper's (Shaham et al., ICCV 2019)."""

import dataclasses

from tfsingan.common.precision import PRECISIONS
from tfsingan.config import field
from tfsingan.errors import UserInputError

COARSEST_REC_NOISE = ("fixed", "redrawn")


@dataclasses.dataclass(frozen=True)
class SinGANConfig:
  """Every SinGAN option; `configs/singan*.cfg` override these defaults."""

  image: str = field("", help="Training image (PNG/JPEG). Empty: the bundled face.")
  # Pyramid.
  max_size: int = field(250, help="Long side the image is resized to (at most).")
  min_size: int = field(25, help="Short side of the coarsest scale.")
  scale_factor: float = field(0.75, help="Nominal factor between scales; the real one is "
                              "recomputed per image.")
  # Networks.
  base_channels: int = field(32, help="Width at the coarsest scales.")
  max_channels: int = field(128, help="Largest width.")
  double_every: int = field(4, help="Width doubles every this many scales.")
  kernel_size: int = field(3, help="Convolution kernel size.")
  num_layers: int = field(5, help="Convolutions per network (head, body, tail).")
  # Training.
  iterations: int = field(2000, help="Iterations per scale.")
  d_steps: int = field(3, help="Critic steps per iteration.")
  g_steps: int = field(3, help="Generator steps per iteration.")
  learning_rate: float = field(5e-4, help="Adam learning rate for G and D.")
  beta1: float = field(0.5, help="Adam beta1.")
  beta2: float = field(0.999, help="Adam beta2.")
  lr_decay_at: int = field(1600, help="Iteration at which the learning rates drop.")
  lr_decay: float = field(0.1, help="Factor of the learning-rate drop.")
  lambda_gp: float = field(0.1, help="Gradient-penalty weight.")
  alpha: float = field(10.0, help="Reconstruction-loss weight (100 for super-resolution).")
  noise_amp: float = field(0.1, help="Noise std at scale n = noise_amp x RMSE of the "
                           "upsampled reconstruction.")
  init_from_previous: bool = field(True, help="Start a scale from the previous scale's "
                                   "weights when the width did not change.")
  coarsest_rec_noise: str = field(
      "fixed", choices=COARSEST_REC_NOISE,
      help="The coarsest scale's reconstruction noise z*: fixed (the paper; drawn once) or "
           "redrawn every iteration (what tamarott/SinGAN's training.py does; it weakens the "
           "reconstruction, which raises the next scale's noise amplitude).")
  # Execution.
  precision: str = field("auto", help="Compute precision; auto: mixed_bfloat16 on CPUs with "
                         "AVX512_BF16/AMX, mixed_float16 on GPUs >= 7.0, else float32.",
                         choices=PRECISIONS)
  jit_compile: bool = field(False, help="Compile the train step with XLA.")
  seed: int = field(0, help="Random seed (weights, noise).")
  checkpoint_every: int = field(200, help="Mid-scale checkpoint interval (iterations).")
  log_every: int = field(50, help="TensorBoard scalar interval (iterations).")
  image_every: int = field(500, help="TensorBoard image interval (iterations).")
  gen_start_scale: int = field(0, help="Default start scale for samples (0 = coarsest; "
                               "k = the paper's N-k).")

  def __post_init__(self):
    positive = ("max_size", "min_size", "base_channels", "max_channels", "double_every",
                "kernel_size", "iterations", "d_steps", "g_steps", "checkpoint_every",
                "log_every", "image_every")
    for name in positive:
      if getattr(self, name) < 1:
        raise UserInputError(f"--{name}={getattr(self, name)}: expected a positive integer")
    if self.num_layers < 3:
      raise UserInputError(f"--num_layers={self.num_layers}: expected at least 3 "
                           "(head, body, tail)")
    if self.kernel_size % 2 == 0:
      raise UserInputError(f"--kernel_size={self.kernel_size}: expected an odd size")
    if self.min_size > self.max_size:
      raise UserInputError(f"--min_size={self.min_size} is larger than "
                           f"--max_size={self.max_size}")
    if not 0.0 < self.scale_factor < 1.0:
      raise UserInputError(f"--scale_factor={self.scale_factor}: expected a value in (0, 1)")
    for name in ("learning_rate", "noise_amp"):
      if not getattr(self, name) > 0.0:
        raise UserInputError(f"--{name}={getattr(self, name)}: expected a positive number")
    for name in ("lambda_gp", "alpha"):
      if not getattr(self, name) >= 0.0:
        raise UserInputError(f"--{name}={getattr(self, name)}: expected a number >= 0")
    if self.precision not in PRECISIONS:
      raise UserInputError(f"--precision={self.precision}: expected one of {PRECISIONS}")
    if self.coarsest_rec_noise not in COARSEST_REC_NOISE:
      raise UserInputError(f"--coarsest_rec_noise={self.coarsest_rec_noise}: expected one "
                           f"of {COARSEST_REC_NOISE}")
    if self.gen_start_scale < 0:
      raise UserInputError(f"--gen_start_scale={self.gen_start_scale}: expected >= 0")

  @property
  def padding(self):
    """Zero padding of G's input so the valid convolutions keep the size."""
    return (self.kernel_size // 2) * self.num_layers
