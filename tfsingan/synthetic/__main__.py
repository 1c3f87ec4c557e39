"""Writes a synthetic GANimation dataset (Pumarola et al., 2018 layout) of procedural faces or warped photos.

  python -m tfsingan.synthetic --out=DIR --num=2000 --size=128 [--seed=0 --test_fraction=0.1]
  python -m tfsingan.synthetic --renderer=warp --photos=DIR --out=DIR [--num=2000 ...]

--renderer=procedural draws faces with known AUs (tfsingan/synthetic/faces.py);
--renderer=warp makes identities of the faces in --photos (and augmented copies of
them) and their expressions by warping the photo's landmarks
(tfsingan/synthetic/photos.py, warp.py); the test split holds whole photos.
"""

from absl import app
from absl import flags

import tfsingan.flags
from tfsingan.errors import UserInputError, exit_on_user_error

_OUT = flags.DEFINE_string("out", None, "Output folder (created; files in it are replaced).")
_NUM = flags.DEFINE_integer("num", 2000, "Number of images.", lower_bound=1, upper_bound=10_000_000)
_SIZE = flags.DEFINE_integer("size", 128, "Image side in pixels.", lower_bound=16, upper_bound=4096)
_SEED = flags.DEFINE_integer("seed", 0, "Seed: the same seed writes the same bytes.", lower_bound=0)
_TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.1,
                                    "Fraction of identities held out as the test split.",
                                    lower_bound=0.0, upper_bound=1.0)
_PER_IDENTITY = flags.DEFINE_integer("images_per_identity", 5,
                                     "Images (different AUs) per identity.", lower_bound=1)
_FORMAT = flags.DEFINE_enum("format", "jpg", ["jpg", "png"],
                            "jpg (quality 95, like real face datasets) or png (lossless).")
_WORKERS = flags.DEFINE_integer("workers", 0, "Processes (0 = number of CPUs, at most 8; "
                                 "procedural renderer).", lower_bound=0, upper_bound=256)
_RENDERER = flags.DEFINE_enum("renderer", "procedural", ["procedural", "warp"],
                              "procedural faces, or warps of the real photos in --photos.")
_PHOTOS = flags.DEFINE_string("photos", None, "--renderer=warp: the folder of face photos.")
_LANDMARKER = flags.DEFINE_string("face_landmarker", None, "--renderer=warp: MediaPipe's "
                                  "face_landmarker.task (default: the installed copy).")


@exit_on_user_error
def main(argv):
  tfsingan.flags.no_arguments(argv)
  if not _OUT.value:
    raise UserInputError("--out: missing; expected the folder to write the dataset into")
  common = dict(size=_SIZE.value, seed=_SEED.value, test_fraction=_TEST_FRACTION.value,
                images_per_identity=_PER_IDENTITY.value, image_format=_FORMAT.value)
  if _RENDERER.value == "warp":
    if not _PHOTOS.value:
      raise UserInputError("--photos: missing; expected the folder of face photos that "
                           "--renderer=warp turns into identities")
    from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
    photos.generate(_OUT.value, _PHOTOS.value, _NUM.value, face_landmarker=_LANDMARKER.value,
                    **common)
    return
  if _PHOTOS.value:
    raise UserInputError("--photos: given with --renderer=procedural; expected "
                         "--renderer=warp to use photos")
  from tfsingan.synthetic.dataset import generate  # pylint: disable=import-outside-toplevel
  generate(_OUT.value, _NUM.value, workers=_WORKERS.value or None, **common)


if __name__ == "__main__":
  app.run(main, flags_parser=tfsingan.flags.parse_flags_or_exit)
