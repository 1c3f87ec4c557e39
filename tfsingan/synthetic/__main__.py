"""Writes a synthetic GANimation dataset (Pumarola et al., 2018 layout) of procedural faces.

  python -m tfsingan.synthetic --out=DIR --num=2000 --size=128 [--seed=0 --test_fraction=0.1]
"""

from absl import app
from absl import flags

import tfsingan.flags
from tfsingan.errors import UserInputError, exit_on_user_error

_OUT = flags.DEFINE_string("out", None, "Output folder (created; files in it are replaced).")
_NUM = flags.DEFINE_integer("num", 2000, "Number of images.")
_SIZE = flags.DEFINE_integer("size", 128, "Image side in pixels.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed: the same seed writes the same bytes.")
_TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.1,
                                    "Fraction of identities held out as the test split.")
_PER_IDENTITY = flags.DEFINE_integer("images_per_identity", 5,
                                     "Images (different AUs) per identity.")
_FORMAT = flags.DEFINE_enum("format", "jpg", ["jpg", "png"],
                            "jpg (quality 95, like real face datasets) or png (lossless).")
_WORKERS = flags.DEFINE_integer("workers", 0, "Processes (0 = number of CPUs, at most 8).")


@exit_on_user_error
def main(argv):
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {' '.join(argv[1:])}; use --flag=value")
  if not _OUT.value:
    raise UserInputError("--out: missing; expected the folder to write the dataset into")
  from tfsingan.synthetic.dataset import generate  # pylint: disable=import-outside-toplevel
  generate(_OUT.value, _NUM.value, size=_SIZE.value, seed=_SEED.value,
           test_fraction=_TEST_FRACTION.value, images_per_identity=_PER_IDENTITY.value,
           image_format=_FORMAT.value, workers=_WORKERS.value or None)


if __name__ == "__main__":
  app.run(main, flags_parser=tfsingan.flags.parse_flags_or_exit)
