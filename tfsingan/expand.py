"""SinGANimation: one face photo in, a labelled expression dataset out.

Usage:
  python -m tfsingan.expand --flagfile=configs/singanimation.cfg \
      --image=PHOTO --ganimation_workdir=G --out=DIR [--singan_mode=per_expression]
  python -m tfsingan.expand --flagfile=configs/singanimation.cfg --editor=warp \
      --image=PHOTO --out=DIR

1. Finds and crops the face (as `python -m tfsingan.animate`; or --box=x,y,w,h).
2. Makes N expressions with GANimation (or, with --editor=warp, the landmark warp of
   tfsingan/synthetic/warp.py, no model needed), each pasted back into the photo:
   `source` (the photo), `sweep_<AU>_<level>` (each AU of --sweep_aus at 0, 0.33,
   0.66, 1), `emotion_<name>` (the --emotions presets) and `interp_<name>_<i>`
   (--interpolate_steps expressions between the source and each emotion).
3. Makes --variants (M) images of each with SinGAN started at --start_scale
   (1 = the paper's N-1, 2 = N-2): --singan_mode=shared trains one SinGAN on the
   photo and injects every expression image at that scale; per_expression trains
   one SinGAN per expression image and samples it from that scale.
   --variant_noise_gain multiplies the noise from that scale on; with
   --variant_face_gain it applies outside the face (the hull of its dense
   landmarks) and --variant_face_gain inside it.
4. Writes images/, manifest.csv, contact_sheet.png (see tfsingan/singanimation/).

SinGAN's own options are flags too (the same as `python -m tfsingan.train
--model=singan`: --max_size, --iterations, ...), so SinGAN flagfiles can be
included; --seed seeds both SinGAN training and the variants, --image is SinGAN's
training image in shared mode, and --gen_start_scale is refused on the command
line (--start_scale is used; a flagfile may still set it). Without --image the bundled face is used.

Running the same command again skips what exists and finishes an interrupted job;
an --out holding a job with other settings is refused. `--dry_run` prints the
resolved settings. Load the result with
`tfsingan.singanimation.manifest.load_manifest_dataset(DIR)`.
"""

import os

from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.common import precision as precision_lib
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error
from tfsingan.singan.config import SinGANConfig
from tfsingan.singanimation.config import SinGANimationConfig

flags.DEFINE_string("out", None, "Output folder (created; an unfinished job there resumes).")
flags.DEFINE_boolean("dry_run", False, "Print the resolved settings as JSON and exit.")
flags.DEFINE_enum("model", "singan", ["singan"], "Set by the SinGAN flagfiles that a "
                  "SinGANimation flagfile includes; only singan.")
flag_lib.define_config_flags(SinGANimationConfig, SinGANConfig)
FLAGS = flags.FLAGS


@exit_on_user_error
def main(argv):
  flag_lib.no_arguments(argv)
  if flag_lib.given_on_command_line("gen_start_scale"):
    raise UserInputError("--gen_start_scale is a sampling option of tfsingan.sample, not "
                         "used here; expand injects each expression at --start_scale "
                         "(1 = the paper's N-1, 2 = N-2)")
  config = flag_lib.config_from_flags(SinGANimationConfig)
  singan_config = flag_lib.config_from_flags(SinGANConfig)
  if not FLAGS.dry_run:
    flag_lib.require(FLAGS.out, "out", "the output folder")
    if config.editor == "ganimation":
      flag_lib.require(config.ganimation_workdir, "ganimation_workdir",
                       "a trained GANimation run (python -m tfsingan.train --model=ganimation)"
                       " or --editor=warp")
  # Imported late: it loads TensorFlow, and bad flags should fail fast.
  from tfsingan.singanimation import pipeline  # pylint: disable=import-outside-toplevel
  # --precision=auto: a resumed job (or a reused --singan_workdir) keeps its precision.
  recorded = None
  if config.singan_workdir:
    recorded = precision_lib.recorded_precision(
        os.path.join(config.singan_workdir, "config.json"))
  if recorded is None and FLAGS.out:
    recorded = precision_lib.recorded_precision(os.path.join(FLAGS.out, pipeline.STATE),
                                                group="singan")
  singan_config = precision_lib.resolve_config(singan_config, recorded)
  if FLAGS.dry_run:
    print(pipeline.resolved_json(config, singan_config))
  else:
    pipeline.run(config, singan_config, FLAGS.out)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
