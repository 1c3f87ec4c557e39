"""Scores generated images: SIFID and diversity (SinGAN, Shaham et al., 2019), AU error (GANimation, Pumarola et al., 2018).

  python -m tfsingan.evaluate --metric=sifid --real=train.png --fake=samples/ \
      [--inception_weights=inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5] --out=eval/
  python -m tfsingan.evaluate --metric=diversity --real=train.png --fake=samples/ --out=eval/
  python -m tfsingan.evaluate --metric=au_error --fake=out/ --targets=out/manifest.csv \
      --au_regressor=runs/au_regressor [--synthetic_dir=data/synthetic] --out=eval/

Writes OUT/<metric>.json (summary, settings, per-image values), OUT/<metric>.csv
(one row per image or group) and OUT/<metric>.png (a bar chart).

--real is one image (every generated image is compared with it: the SinGAN case)
or a folder (pairs are matched by file stem). --fake is a folder of images, or a
folder of sub-folders, one group each (e.g. one per generation start scale). A
`--targets` CSV with a `start_scale` column (the SinGANimation manifest) also
groups the images. See `tfsingan.metrics.au_error` for the targets format.
"""
from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.metrics import evaluation

flags.DEFINE_string("out", None, "Output folder for <metric>.json/.csv/.png.")
flag_lib.define_config_flags(evaluation.EvaluateConfig)


# evaluation.run checks --metric and --fake before --out.
main = flag_lib.config_main(evaluation.EvaluateConfig, evaluation.run, out=None)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
