"""Photos and videos in, a GANimation training set (the original on-disk format) out.

Usage:
  python -m tfsingan.prepare --input=DIR_OR_FILES --out=DATA [--size=128]
      [--every=auto|N] [--openface_csv=DIR] [--faces=largest|all] [--test_fraction=0.1]
      [--workers=1] [--dry_run]

Writes DATA/imgs/, aus_openface.pkl, train_ids.csv, test_ids.csv (read as they
are by `python -m tfsingan.train --model=ganimation --data_dir=DATA`), plus
index.csv, report.json and contact_sheet.png; see tfsingan/prepare/pipeline.py.
Running the same command again skips what is done and finishes an interrupted
job; an --out holding anything else is refused, untouched. Bad input ends with
one `error:` line and exit code 2; an input without a usable face is reported.
"""

from absl import app
from absl import flags

from tfsingan import config as config_lib
from tfsingan import flags as flag_lib
from tfsingan.errors import exit_on_user_error
from tfsingan.prepare.config import PrepareConfig

flags.DEFINE_string("out", None, "Output folder (created; an unfinished job there resumes).")
flags.DEFINE_boolean("dry_run", False, "Print the resolved settings as JSON and exit.")
flag_lib.define_config_flags(PrepareConfig)
FLAGS = flags.FLAGS


@exit_on_user_error
def main(argv):
  flag_lib.no_arguments(argv)
  config = flag_lib.config_from_flags(PrepareConfig)
  if FLAGS.dry_run:
    print(config_lib.to_json(config))
    return
  out = flag_lib.require(FLAGS.out, "out", "the folder to write the dataset into")
  from tfsingan.prepare import pipeline  # pylint: disable=import-outside-toplevel
  pipeline.run(config, out)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
