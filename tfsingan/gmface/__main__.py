"""Uses a fitted GmFace (arXiv 2008.00752): render, transform, dissect.

  python -m tfsingan.gmface render --params=W --size=480 --out=face480.png
  python -m tfsingan.gmface transform --params=W --rotate=15 --scale=1.2 \\
      --translate=0.05,0 --out=W/edited
  python -m tfsingan.gmface dissect --params=W --k=8 --out=W/dissect.png

`--params` is a run directory or a gmface.npz / gmface.json file.
"""

import os

from absl import app
from absl import flags
import numpy as np

from tfsingan import flags as flag_lib
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error
from tfsingan.gmface import transforms
from tfsingan.gmface.params import GmFaceParams

COMMANDS = ("render", "transform", "dissect")

flags.DEFINE_string("params", None, "Fitted model: run directory, gmface.npz or gmface.json.")
flags.DEFINE_string("out", None, "Output: an image (render, dissect) or a path prefix "
                    "(transform writes PREFIX.npz/.json/.png and PREFIX_check.png).")
flags.DEFINE_string("size", None, "Render size: N or HxW (default: the fitted size).")
flags.DEFINE_string("translate", "0,0", "transform: shift (rows, columns) in fractions "
                    "of height and width.")
flags.DEFINE_float("scale", 1.0, "transform: scale factor about --center.", lower_bound=0.01,
                   upper_bound=100.0)
flags.DEFINE_float("rotate", 0.0, "transform: degrees, counter-clockwise, about --center.",
                   lower_bound=-3600.0, upper_bound=3600.0)
flags.DEFINE_string("center", "0.5,0.5", "transform: centre (row, column) in fractions.")
flags.DEFINE_integer("k", 8, "dissect: number of largest-weight components shown.", lower_bound=1,
                     upper_bound=100_000)
FLAGS = flags.FLAGS


def parse_size(text, params):
  if not text:
    return params.height, params.width
  parts = text.lower().split("x")
  try:
    size = [int(p) for p in parts]
  except ValueError:
    size = []
  if len(size) == 1:
    size = size * 2
  if len(size) != 2 or min(size) < 1 or max(size) > 8192:
    raise UserInputError(f"--size={text}: expected N or HxW with 1 <= N <= 8192")
  return tuple(size)


def parse_pair(text, name):
  try:
    a, b = (float(v) for v in text.split(","))
  except ValueError:
    raise UserInputError(f"--{name}={text}: expected two numbers 'rows,columns'") from None
  if not (np.isfinite(a) and np.isfinite(b)):
    raise UserInputError(f"--{name}={text}: expected finite numbers")
  return a, b


def _require_out():
  return flag_lib.require(FLAGS.out, "out", "where to write the result")


def render_cmd(params):
  h, w = parse_size(FLAGS.size, params)
  out = _require_out()
  image_io.save_image(out, np.clip(params.render(h, w), 0, 1))
  print(f"wrote {out} ({h}x{w} from a model fitted at {params.height}x{params.width})")


def transform_cmd(params):
  h, w = parse_size(FLAGS.size, params)
  prefix = os.path.splitext(_require_out())[0]
  matrix, offset = transforms.transform_matrix(
      h, w, translate=parse_pair(FLAGS.translate, "translate"), scale=FLAGS.scale,
      rotate=FLAGS.rotate, center=parse_pair(FLAGS.center, "center"))
  edited = transforms.pixel_affine(params, matrix, offset, h, w)
  edited.info = dict(params.info, transform={
      "translate": FLAGS.translate, "scale": FLAGS.scale, "rotate": FLAGS.rotate,
      "center": FLAGS.center})
  edited.save(prefix + ".npz")
  by_params = edited.render(h, w)
  # The same map on the rendered image, for comparison inside the valid region.
  by_image, valid = transforms.warp_image(params.render(h, w), matrix, offset)
  diff = np.abs(by_params - by_image) * valid[..., None]
  mse = float(np.mean(diff[valid] ** 2)) if valid.any() else float("nan")
  image_io.save_image(prefix + ".png", np.clip(by_params, 0, 1))
  image_io.save_image(prefix + "_check.png", image_io.make_grid(
      [[np.clip(params.render(h, w), 0, 1), np.clip(by_params, 0, 1),
        np.clip(by_image, 0, 1), np.clip(4 * diff, 0, 1)]]))
  print(f"wrote {prefix}.npz/.json/.png and {prefix}_check.png (original | edited "
        f"parameters | warped image | 4 x difference); parameter vs image transform "
        f"mse {mse:.2e} over {valid.mean():.0%} of the pixels")


def dissect_cmd(params):
  h, w = parse_size(FLAGS.size, params)
  out = _require_out()
  comps, partial, order = transforms.dissect(params, FLAGS.k, h, w)
  full = params.render(h, w)
  rows = [[c[..., None] for c in comps], [np.clip(partial, 0, 1), np.clip(full, 0, 1)]]
  image_io.save_image(out, image_io.make_grid(rows))
  print(f"wrote {out}: the {len(order)} largest-|w| Gaussians at unit peak (indices "
        f"{order.tolist()}, w {np.round(params.w[order].mean(1), 3).tolist()}); second "
        f"row: these {len(order)} together, and all {params.num_gaussians}")


@exit_on_user_error
def main(argv):
  if len(argv) != 2 or argv[1] not in COMMANDS:
    raise UserInputError(f"expected one command, {' | '.join(COMMANDS)}, got "
                         f"{' '.join(argv[1:]) or 'none'}")
  params = GmFaceParams.load(flag_lib.require(FLAGS.params, "params",
                                              "a run directory or gmface.npz"))
  {"render": render_cmd, "transform": transform_cmd, "dissect": dissect_cmd}[argv[1]](params)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
