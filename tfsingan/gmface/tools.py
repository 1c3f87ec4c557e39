"""The commands of `python -m tfsingan.gmface` on a fitted GmFace (arXiv 2008.00752):
render, transform, dissect (see tfsingan/gmface/__main__.py)."""

import dataclasses
import os

import numpy as np

from tfsingan.common import image_io
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError
from tfsingan.gmface import transforms
from tfsingan.gmface.params import GmFaceParams

COMMANDS = ("render", "transform", "dissect")


@dataclasses.dataclass(frozen=True)
class GmFaceToolConfig:
  """The options of `python -m tfsingan.gmface COMMAND`."""

  params: str = field(None, help="Fitted model: run directory, gmface.npz or gmface.json.")
  out: str = field(None, help="Output: an image (render, dissect) or a path prefix (transform "
                   "writes PREFIX.npz/.json/.png and PREFIX_check.png).")
  size: str = field(None, help="Render size: N or HxW (default: the fitted size).")
  translate: str = field("0,0", help="transform: shift (rows, columns) in fractions of height "
                         "and width.")
  scale: float = field(1.0, help="transform: scale factor about --center.", low=0.01,
                       high=100.0)
  rotate: float = field(0.0, help="transform: degrees, counter-clockwise, about --center.",
                        low=-3600.0, high=3600.0)
  center: str = field("0.5,0.5", help="transform: centre (row, column) in fractions.")
  k: int = field(8, help="dissect: number of largest-weight components shown.", low=1,
                 high=100_000)

  def __post_init__(self):
    check_ranges(self)


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


def render(config, params):
  h, w = parse_size(config.size, params)
  out = config.out
  image_io.save_image(out, np.clip(params.render(h, w), 0, 1))
  print(f"wrote {out} ({h}x{w} from a model fitted at {params.height}x{params.width})")


def transform(config, params):
  h, w = parse_size(config.size, params)
  prefix = os.path.splitext(config.out)[0]
  matrix, offset = transforms.transform_matrix(
      h, w, translate=parse_pair(config.translate, "translate"), scale=config.scale,
      rotate=config.rotate, center=parse_pair(config.center, "center"))
  edited = transforms.pixel_affine(params, matrix, offset, h, w)
  edited.info = dict(params.info, transform={
      "translate": config.translate, "scale": config.scale, "rotate": config.rotate,
      "center": config.center})
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


def dissect(config, params):
  h, w = parse_size(config.size, params)
  out = config.out
  comps, partial, order = transforms.dissect(params, config.k, h, w)
  full = params.render(h, w)
  rows = [[c[..., None] for c in comps], [np.clip(partial, 0, 1), np.clip(full, 0, 1)]]
  image_io.save_image(out, image_io.make_grid(rows))
  print(f"wrote {out}: the {len(order)} largest-|w| Gaussians at unit peak (indices "
        f"{order.tolist()}, w {np.round(params.w[order].mean(1), 3).tolist()}); second "
        f"row: these {len(order)} together, and all {params.num_gaussians}")


def run(config, command):
  """Loads --params and runs `command` (one of COMMANDS) on it."""
  if command not in COMMANDS:
    raise UserInputError(f"expected one command, {' | '.join(COMMANDS)}, got "
                         f"{command or 'none'}")
  if not config.params:
    raise UserInputError("--params is required: a run directory or gmface.npz")
  params = GmFaceParams.load(config.params)
  if not config.out:
    raise UserInputError("--out is required: where to write the result")
  {"render": render, "transform": transform, "dissect": dissect}[command](config, params)
