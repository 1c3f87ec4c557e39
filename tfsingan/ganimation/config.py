"""Options of GANimation training (Pumarola et al., ECCV 2018); defaults are the paper's.

Loss reductions behind the weights (see `tfsingan.ganimation.losses`):
  adversarial  mean over patches and batch, weight 1 (the public code's lambda_D_prob);
  lambda_gp    mean over the batch of (||grad||_2 per example - 1)^2;
  lambda_au    squared error averaged over batch and the 17 AUs. The public code
               uses 4000 * MSE / batch = 160 * MSE at its batch of 25; 160 keeps that
               strength at every batch size;
  lambda_cyc   L1 averaged over pixels, channels and batch;
  lambda_mask  mean of the attention mask, once for the forward and once for the
               cycle mask;
  lambda_tv    total variation summed over each mask and averaged over the batch
               (again for both masks). The public code sums over the batch too, with
               1e-5 at batch 25: 2.5e-4 per example keeps that strength.
  lambda_paired  not in the paper (0 = its objective): L1 averaged over pixels and
               channels between G(x | y_t) and the exact render of x's identity
               showing y_t, for images a renderer made (tfsingan.ganimation.pairs);
               averaged over the batch, unpaired images counting 0.
"""

import dataclasses

from tfsingan.common.precision import PRECISIONS
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class GANimationConfig:
  """GANimation training options (one absl flag each)."""

  data_dir: str = field("", help="Dataset folder: imgs/, aus_openface.pkl, train_ids.csv, "
                        "test_ids.csv (the original GANimation format).", resume="notice")
  strict: bool = field(False, help="Refuse the dataset at the first image without usable "
                       "AUs or a complete image file, instead of skipping it with a counted "
                       "warning.", resume="execution")
  image_size: int = field(128, help="Height and width of the face crops the model sees.", low=8,
                          high=2048)
  batch_size: int = field(25, help="Global batch size (split over devices by --strategy).",
                          resume="notice", low=1, high=4096)
  epochs: int = field(30, help="Training epochs; the last --decay_epochs decay the "
                      "learning rate linearly to 0.", resume="notice", low=1)
  decay_epochs: int = field(10, help="Epochs at the end over which the learning rate "
                            "falls linearly to 0.", resume="notice", low=0)
  iterations: int = field(0, help="Critic iterations in total; 0 = --epochs x batches per "
                          "epoch. The decay then covers the last decay_epochs/epochs of them.",
                          resume="notice", low=0)
  learning_rate: float = field(1e-4, help="Adam learning rate of both networks.", resume="notice",
                               above=0.0)
  beta1: float = field(0.5, help="Adam beta1.", resume="notice", low=0.0, below=1.0)
  beta2: float = field(0.999, help="Adam beta2.", resume="notice", low=0.0, below=1.0)
  lambda_gp: float = field(10.0, help="Gradient penalty weight.", resume="notice", low=0.0)
  lambda_au: float = field(160.0, help="AU regression weight (per-element mean squared "
                           "error; 160 = the public code's 4000/batch at batch 25).",
                           resume="notice", low=0.0)
  lambda_cyc: float = field(10.0, help="Cycle (L1, mean) weight.", resume="notice", low=0.0)
  lambda_mask: float = field(0.1, help="Weight of the mean attention of each mask.",
                             resume="notice", low=0.0)
  lambda_tv: float = field(2.5e-4, help="Weight of each mask's total variation (summed over "
                           "pixels, mean over the batch).", resume="notice", low=0.0)
  lambda_paired: float = field(0.0, help="Weight of an L1 loss between G(x | y_t) and the "
                               "render of x's identity showing y_t, for renderer images "
                               "(synthetic or warp sets, or merged from them); 0 = the "
                               "paper's unpaired objective.", resume="notice", low=0.0)
  paired_moved_weight: float = field(0.0, help="With --lambda_paired: extra weight of the "
                                     "paired L1 on the pixels where the pair differs from "
                                     "the generator's input (the ones an AU change moves); "
                                     "0 = every pixel alike.", resume="notice", low=0.0,
                                     high=1e6)
  warp_guided: bool = field(False, help="Refine the AU warp instead of editing the photo: "
                            "the generator's input is the landmark warp of the face "
                            "(tfsingan/synthetic/warp.py) and --data_dir a pair set of "
                            "python -m tfsingan.prepare.warp_pairs (no cycle pass; use "
                            "--lambda_paired > 0). Editing warps the photo first.")
  critic_steps: int = field(5, help="Critic updates per generator update.", resume="notice", low=1)
  target_noise: float = field(0.1, help="Uniform noise added to the target AUs.", resume="notice",
                              low=0.0, high=1.0)
  flip: bool = field(True, help="Random horizontal flips of the training faces.", resume="notice")
  conv_dim: int = field(64, help="Channels of the first convolution of both networks.", low=1,
                        high=1024)
  repeat_num: int = field(6, help="Residual blocks in the generator.", low=0, high=64)
  critic_layers: int = field(6, help="Stride-2 convolutions of the critic "
                             "(image_size must be a multiple of 2**critic_layers).",
                             low=1, high=10)
  precision: str = field("auto", help="Numerics of training; auto: mixed_bfloat16 on CPUs "
                         "with AVX512_BF16/AMX, mixed_float16 on GPUs >= 7.0, else float32.",
                         choices=PRECISIONS, resume="notice")
  strategy: str = field("default", help="'mirrored' splits each batch over all local "
                        "devices (tf.distribute.MirroredStrategy); 'multi_worker' over "
                        "the devices of every worker in the TF_CONFIG environment variable "
                        "(tf.distribute.MultiWorkerMirroredStrategy; --workdir must be a "
                        "folder every worker reads at the same path).", choices=STRATEGIES,
                        resume="execution")
  save_memory: bool = field(True, help="Run the generator's forward pass again for its "
                            "update instead of keeping it from the critic step: about 1.2 GB "
                            "less at 128 px / batch 25, one more forward pass per generator "
                            "update.", resume="execution")
  jit_compile: bool = field(False, help="Compile the training step with XLA whatever the CPU "
                            "(else as --xla says).", resume="execution")
  xla: int = field(-1, help="1: compile the training step with XLA, 0: tf.function; -1: "
                   "chosen for this CPU and precision at run start "
                   "(tfsingan/common/execution.py) and recorded in config.json.",
                   resume="execution", low=-1, high=1)
  seed: int = field(0, help="Random seed (weights, data order, noise).", resume="notice", low=0)
  deterministic: bool = field(False, help="Deterministic ops and data order (slower).",
                              resume="notice")
  log_every: int = field(100, help="Iterations between logged scalars.", resume="execution", low=1)
  image_every: int = field(1000, help="Iterations between TensorBoard image summaries.",
                           resume="execution", low=1)
  checkpoint_every: int = field(1000, help="Iterations between checkpoints.", resume="execution",
                                low=1)
  num_samples: int = field(4, help="Faces shown in the TensorBoard image summaries.",
                           resume="execution", low=1, high=64)

  def __post_init__(self):
    check_ranges(self)
    if self.decay_epochs > self.epochs:
      raise UserInputError(f"--decay_epochs={self.decay_epochs}: cannot exceed "
                           f"--epochs={self.epochs}")
    factor = 2 ** self.critic_layers
    if self.image_size % factor:
      raise UserInputError(
          f"--image_size={self.image_size}: must be a multiple of 2**critic_layers = {factor}")
    if self.precision not in PRECISIONS:
      raise UserInputError(f"--precision={self.precision}: expected one of {PRECISIONS}")
    if self.strategy not in STRATEGIES:
      raise UserInputError(f"--strategy={self.strategy}: expected one of {STRATEGIES}")
