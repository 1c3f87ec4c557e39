"""Samples from a trained SinGAN: `python -m tfsingan.sample --workdir=DIR --out=DIR2`.

`--gen_start_scale` counts from the coarsest scale as 0 (the original code's
convention); the paper numbers scales N (coarsest) .. 0, so the paper's N-1 and
N-2 are `--gen_start_scale=1` and `2`. Several values give one grid row each.
"""

import os

from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error

flags.DEFINE_string("workdir", None, "Run directory of a trained SinGAN.")
flags.DEFINE_string("out", None, "Output folder for the PNGs and grid.png.")
flags.DEFINE_integer("num_samples", 8, "Samples per start scale.")
flags.DEFINE_list("gen_start_scale", ["0"], "Start scale(s): 0 = coarsest (paper's N), "
                  "k = the paper's N-k. Several give one grid row each.")
flags.DEFINE_float("scale_h", 1.0, "Output height relative to the training image.")
flags.DEFINE_float("scale_w", 1.0, "Output width relative to the training image.")
flags.DEFINE_integer("seed", 0, "Noise seed.")
FLAGS = flags.FLAGS


def _start_scales(values):
  try:
    return [int(v) for v in values]
  except ValueError:
    raise UserInputError(f"--gen_start_scale={','.join(values)}: expected integers, e.g. 0,1,2")


def write_samples(model, out, num_samples, start_scales, scale_h=1.0, scale_w=1.0, seed=0):
  """Writes `start{k}_{i}.png` for every start scale and a labelled `grid.png`."""
  os.makedirs(out, exist_ok=True)
  for k in start_scales:
    model.check_start_scale(k)
  n_max = model.num_scales - 1
  rows, labels = [], []
  for k in start_scales:
    images = model.sample(num_samples, start_scale=k, scale_h=scale_h, scale_w=scale_w,
                          seed=seed + 1000 * k)
    for i, img in enumerate(images):
      image_io.save_image(os.path.join(out, f"start{k}_{i:03d}.png"), img)
    real = model.reals[-1] if model.reals is not None else images[0] * 0
    rows.append([real] + list(images))
    labels.append(f"N-{k}" if k else "N (random)")
  grid = image_io.make_grid(rows, labels)
  image_io.save_image(os.path.join(out, "grid.png"), grid)
  print(f"wrote {len(start_scales) * num_samples} samples and {os.path.join(out, 'grid.png')}"
        f" (rows: start scales {start_scales} of 0..{n_max}; first column: training image)")
  return grid


@exit_on_user_error
def main(argv):
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {argv[1:]}")
  workdir = flag_lib.require(FLAGS.workdir, "workdir", "a trained SinGAN run directory")
  out = flag_lib.require(FLAGS.out, "out", "the output folder")
  if FLAGS.num_samples < 1:
    raise UserInputError(f"--num_samples={FLAGS.num_samples}: expected a positive integer")
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  model = TrainedSinGAN.load(workdir)
  write_samples(model, out, FLAGS.num_samples, _start_scales(FLAGS.gen_start_scale),
                FLAGS.scale_h, FLAGS.scale_w, FLAGS.seed)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
