"""The options of `python -m tfsingan.synthetic`: faces with known action units (the harness of GANimation, Pumarola et al., 2018)."""

import dataclasses

from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

RENDERERS = ("procedural", "warp")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """What `python -m tfsingan.synthetic` writes into --out."""

  num: int = field(2000, help="Number of images.", low=1, high=10_000_000)
  size: int = field(128, help="Image side in pixels.", low=16, high=4096)
  seed: int = field(0, help="Seed: the same seed writes the same bytes.", low=0)
  test_fraction: float = field(0.1, help="Fraction of identities held out as the test split.",
                               low=0.0, high=1.0)
  images_per_identity: int = field(5, help="Images (different AUs) per identity.", low=1)
  format: str = field("jpg", help="jpg (quality 95, like real face datasets) or png "
                      "(lossless).", choices=("jpg", "png"))
  workers: int = field(0, help="Processes (0 = number of CPUs, at most 8; procedural "
                       "renderer).", low=0, high=256)
  renderer: str = field("procedural", help="procedural faces, or warps of the real photos in "
                        "--photos.", choices=RENDERERS)
  photos: str = field(None, help="--renderer=warp: the folder of face photos.")
  face_landmarker: str = field(None, help="--renderer=warp: MediaPipe's face_landmarker.task "
                               "(default: the installed copy).")

  def __post_init__(self):
    check_ranges(self)


def run(config, out):
  """Writes the dataset of `config` into `out` (`dataset.generate` or `photos.generate`)."""
  if not out:
    raise UserInputError("--out: missing; expected the folder to write the dataset into")
  common = dict(size=config.size, seed=config.seed, test_fraction=config.test_fraction,
                images_per_identity=config.images_per_identity, image_format=config.format)
  if config.renderer == "warp":
    if not config.photos:
      raise UserInputError("--photos: missing; expected the folder of face photos that "
                           "--renderer=warp turns into identities")
    from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
    return photos.generate(out, config.photos, config.num,
                           face_landmarker=config.face_landmarker, **common)
  if config.photos:
    raise UserInputError("--photos: given with --renderer=procedural; expected "
                         "--renderer=warp to use photos")
  from tfsingan.synthetic.dataset import generate  # pylint: disable=import-outside-toplevel
  return generate(out, config.num, workers=config.workers or None, **common)
