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

from tfsingan import flags as flag_lib
from tfsingan.synthetic import config as config_lib

flags.DEFINE_string("out", None, "Output folder (created; files in it are replaced).")
flag_lib.define_config_flags(config_lib.SyntheticConfig)

main = flag_lib.config_main(config_lib.SyntheticConfig, config_lib.run, out=None)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
