"""Options of GmFace fitting ("GmFace: A Mathematical Model for Face
Image Representation Using Multi-Gaussian", arXiv 2008.00752).

Two solvers share one model (`tfsingan.gmface.model.GmNet`):
  lm    Levenberg-Marquardt on the MSE with relocation of useless Gaussians
        (`tfsingan.gmface.fit`), then `--iterations` steps of `GmNet.train_step` on
        the paper's loss (MSE + alpha x peak error) if `--iterations` > 0.
  adam  only `GmNet.train_step` (the paper's GmNet training): Adam, `--batch_size`
        pixels per step (the paper: 256) or the full image (0).
"""

import dataclasses

from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

SOLVERS = ("lm", "adam")
COLORS = ("gray", "rgb")
PEAK_LOSSES = ("max", "smooth")


@dataclasses.dataclass(frozen=True)
class GmFaceConfig:
  """GmFace fitting options (one absl flag each)."""

  image: str = field("", help="Face image to fit (PNG/JPEG). Empty (and no --data_dir): "
                     "the bundled face.")
  data_dir: str = field("", help="Folder of aligned face images: fit their common "
                        "(average) face instead of one --image.")
  init_from: str = field("", help="Run directory (or gmface.npz) of a fitted model to start "
                         "from, e.g. the common face when fitting a personal face; "
                         "relocation is then off and individual.npz holds the change "
                         "of every Gaussian (the individual characteristics).")
  num_gaussians: int = field(80, help="m, the number of Gaussians (6 parameters each in "
                             "gray; the paper's best: 80).", low=1, high=100_000)
  image_size: int = field(120, help="Targets are resized to this height and width (the "
                          "paper: 120); 0 keeps the image's own size.", low=0, high=8192)
  color: str = field("gray", help="gray: one weight per Gaussian (the paper); rgb: three.",
                     choices=COLORS)
  solver: str = field("lm", help="lm: Levenberg-Marquardt + relocation (fast); adam: "
                      "GmNet.train_step only.", choices=SOLVERS)
  lm_iterations: int = field(2000, help="Levenberg-Marquardt iterations (solver lm).", low=0)
  relocate_every: int = field(80, help="LM iterations between relocations of the least "
                              "useful Gaussians; 0 = never.", low=0)
  relocate_count: int = field(4, help="Gaussians relocated each time.", low=0)
  time_limit: float = field(0.0, help="Seconds of Levenberg-Marquardt at most (0 = no "
                            "limit); the fit then stops with the best model so far.", low=0.0)
  iterations: int = field(0, help="GmNet.train_step iterations on the paper's loss (solver "
                          "adam: the whole fit; solver lm: a polish after LM).", low=0)
  batch_size: int = field(0, help="Pixels per train_step (the paper: 256); 0 = the full "
                          "image.", low=0)
  learning_rate: float = field(0.01, help="Adam learning rate of the centres (weights x3, "
                               "log-widths x10), cosine-decayed to 0 over --iterations.", above=0.0)
  alpha: float = field(0.01, help="Weight of the peak absolute error in the train_step "
                       "loss (MSE + alpha x peak); LM minimises the MSE alone.", low=0.0)
  peak_loss: str = field("max", help="max: the paper's max |error| (gradient through the "
                         "worst pixel); smooth: log-sum-exp relaxation.",
                         choices=PEAK_LOSSES)
  peak_tau: float = field(0.01, help="Temperature of the smooth peak loss.", above=0.0)
  seed: int = field(0, help="Random seed (initial centres, relocation, pixel batches).", low=0)
  jit_compile: bool = field(True, help="Compile train_step with XLA.")
  checkpoint_every: int = field(200, help="Iterations between checkpoints.", low=1)
  log_every: int = field(100, help="Iterations between log lines (0 = quiet).", resume="execution",
                         low=0)

  def __post_init__(self):
    if self.num_gaussians < 1:
      raise UserInputError(f"--num_gaussians={self.num_gaussians}: must be >= 1 (the "
                           "number of Gaussians; the paper's best is 80)")
    check_ranges(self)
    if self.image and self.data_dir:
      raise UserInputError("--image and --data_dir both given; expected one target: an "
                           "image, or a folder for the common face")
    if self.image_size < 0 or 0 < self.image_size < 2:
      raise UserInputError(f"--image_size={self.image_size}: expected 0 (keep) or >= 2")
    for name, allowed in (("color", COLORS), ("solver", SOLVERS), ("peak_loss", PEAK_LOSSES)):
      if getattr(self, name) not in allowed:
        raise UserInputError(f"--{name}={getattr(self, name)}: expected one of {allowed}")
    if self.solver == "adam" and self.iterations == 0:
      raise UserInputError("--solver=adam with --iterations=0 would not fit anything; "
                           "expected --iterations > 0")

  @property
  def channels(self):
    return 1 if self.color == "gray" else 3
