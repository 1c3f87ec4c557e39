"""Trains the AU regressor of `tfsingan.metrics.au_regressor`:
`python -m tfsingan.metrics.au_regressor --data_dir=DIR --workdir=W [options]`."""

from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.metrics.au_regressor import AURegressorConfig
from tfsingan.metrics.au_regressor import train

flags.DEFINE_string("data_dir", None, "AU-labelled dataset (synthetic or GANimation layout).")
flags.DEFINE_string("workdir", None, "Folder for the weights and config.")
flag_lib.define_config_flags(AURegressorConfig)


# Options are checked before the paths.
main = flag_lib.config_main(AURegressorConfig, train, data_dir="the dataset folder",
                            workdir="the output folder")


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
