"""SinGANimation over a folder (or CSV) of face photos, as an Apache Beam pipeline.

Usage:
  python -m tfsingan.expand_many --flagfile=configs/singanimation.cfg \
      --input=DIR_OR_CSV --ganimation_workdir=G --out=OUT \
      [--runner=DirectRunner|DataflowRunner|FlinkRunner|SparkRunner] [Beam options]

One Beam element per photo; each runs `python -m tfsingan.expand`'s pipeline into
OUT/<photo id>/ with the flags of `expand` (the same flags, shared by every photo;
see `python -m tfsingan.expand --help`). A CSV input (columns photo, and optionally
id, box, source_aus) may give a photo its own --box and --source_aus. Besides each
photo's own output it writes OUT/<photo id>/examples.tfrecord (tf.train.Example
records), one merged OUT/manifest.csv and OUT/failures.json for the photos that failed
(retried --retries times, never stopping the others). Running it again skips the
finished photos. Load the result with
`tfsingan.singanimation.records.load_tfrecord_dataset(OUT)` (or
`manifest.load_manifest_dataset(OUT)` from the PNG files).

Needs the `beam` extra: pip install 'tfsingan[beam]'. Every argument that is not a
flag of expand or expand_many goes to Beam (e.g. --direct_num_workers=2
--direct_running_mode=multi_processing, or Dataflow's --project, --region,
--temp_location); see README.md for the other runners.
"""

import functools

from absl import app
from absl import flags

from tfsingan import expand  # pylint: disable=unused-import  # defines expand's flags
from tfsingan import flags as flag_lib
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error
from tfsingan.singan.config import SinGANConfig
from tfsingan.singanimation.config import ExpandManyConfig
from tfsingan.singanimation.config import SinGANimationConfig

flag_lib.define_config_flags(ExpandManyConfig)
FLAGS = flags.FLAGS

# Flags of expand that are per photo here (or would stop a photo half-way).
_PER_PHOTO = {"image": "the photos come from --input",
              "singan_workdir": "each photo trains its own SinGAN in OUT/<photo id>/singan",
              "stop_after": "a photo is expanded whole or not at all"}


@exit_on_user_error
def main(argv):
  for name, why in _PER_PHOTO.items():
    if FLAGS[name].present:
      raise UserInputError(f"--{name} is not an expand_many flag: {why}")
  many_config = flag_lib.config_from_flags(ExpandManyConfig)
  config = flag_lib.config_from_flags(SinGANimationConfig)
  singan_config = flag_lib.config_from_flags(SinGANConfig)
  flag_lib.require(many_config.input, "input", "a folder of photos or a CSV listing them")
  if not FLAGS.dry_run:
    flag_lib.require(FLAGS.out, "out", "the output folder")
    flag_lib.require(config.ganimation_workdir, "ganimation_workdir",
                     "a trained GANimation run (python -m tfsingan.train --model=ganimation)")
  try:
    from tfsingan.singanimation import many  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    if "apache_beam" not in str(e):
      raise
    raise UserInputError("expand_many needs Apache Beam: pip install 'tfsingan[beam]'") from None
  options = many.check_beam_args(argv[1:] + [f"--runner={many_config.runner}"])
  photos = many.read_photos(many_config.input)
  if FLAGS.dry_run:
    from tfsingan.singanimation import pipeline  # pylint: disable=import-outside-toplevel
    print(pipeline.resolved_json(config, singan_config))
    print(f"{len(photos)} photos: " + ", ".join(p.id for p in photos))
    return
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  inference.load_generator(config.ganimation_workdir)  # a bad run fails every photo: fail now
  print(f"expand_many: {len(photos)} photos -> {FLAGS.out} ({many_config.runner})", flush=True)
  counts = many.run(config, singan_config, photos, FLAGS.out, options=options,
                    retries=many_config.retries)
  print(f"expand_many: {counts['photos_done']} done, {counts['photos_skipped']} skipped, "
        f"{counts['photos_failed']} failed; {counts['rows']} images in "
        f"{FLAGS.out}/manifest.csv", flush=True)
  if counts["failures"]:
    first = sorted(counts["failures"].items())[0]
    raise UserInputError(f"{len(counts['failures'])} of {len(photos)} photos failed (see "
                         f"{FLAGS.out}/{many.FAILURES}), e.g. {first[0]}: {first[1]}")


if __name__ == "__main__":
  app.run(main, flags_parser=functools.partial(flag_lib.parse_flags_or_exit, known_only=True))
