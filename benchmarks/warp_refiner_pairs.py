"""Does the warp-guided GANimation correct the warp? Scored against real frames it never saw.

On the test split of a pair set (`python -m tfsingan.prepare.warp_pairs`: the last
frames of the video, kept out of training), each pair is the warp of one frame onto a
near frame's landmarks and that real frame. This compares, inside the face hull (where
the target is the real frame), the real frame with:

  warp      the warp as it is (what `--editor=warp` shows);
  refined   the warp-guided generator's output on it (what the shipped model shows);

as mean L1 and SSIM (on grey, inside the hull's bounding box), per pair and averaged.

  python -m benchmarks.warp_refiner_pairs --data_dir=PAIRS --ganimation_workdir=RUN \
      --out=benchmarks/results/warp_refiner_pairs.json
"""

import os
import sys

import numpy as np

from tfsingan.errors import UserInputError


def score(data_dir, workdir, split="test"):
  """The figures of the module docstring, as a dict."""
  # pylint: disable=import-outside-toplevel
  from skimage.metrics import structural_similarity
  from benchmarks.machine import machine_info
  from tfsingan.common import image_io
  from tfsingan.ganimation import inference
  from tfsingan.ganimation import layouts
  from tfsingan.prepare import warp_pairs
  # pylint: enable=import-outside-toplevel
  generator, config = inference.load_generator(workdir)
  if not config.warp_guided:
    raise UserInputError(f"--ganimation_workdir={workdir}: not a warp-guided run "
                         "(trained without --warp_guided)")
  paths, aus = layouts.load_index(data_dir, split, quiet=True)
  if not paths:
    raise UserInputError(f"--data_dir={data_dir}: no {split} pairs")
  rows = []
  for path, target_aus, warped_path in zip(paths, aus, warp_pairs.warped_paths(data_dir, paths)):
    real = image_io.load_image(path, channels=3, quiet=True)
    warped = image_io.load_image(warped_path, channels=3, quiet=True)
    size = config.image_size
    if real.shape[0] != size:
      import cv2  # pylint: disable=import-outside-toplevel
      real, warped = (cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA)
                      for x in (real, warped))
    refined = inference.edit(generator, warped, np.clip(target_aus, 0.0, 1.0))[0]
    # The hull: where the target is the real frame (warp_pairs keeps the warp outside).
    face = np.abs(real - warped).max(axis=2) > 0
    if face.sum() < 16:
      continue
    ys, xs = np.nonzero(face)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    row = {"pair": os.path.basename(path)}
    for name, image in (("warp", warped), ("refined", refined)):
      row[f"l1_{name}"] = float(np.abs(image - real)[face].mean())
      row[f"ssim_{name}"] = float(structural_similarity(
          image_io.to_gray(image)[box][..., 0], image_io.to_gray(real)[box][..., 0],
          data_range=1.0))
    rows.append(row)
  mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "pair"}
  better = float(np.mean([r["l1_refined"] < r["l1_warp"] for r in rows]))
  return {"data_dir": os.path.abspath(data_dir), "workdir": os.path.abspath(workdir),
          "split": split, "pairs": len(rows), "mean": mean,
          "refined_closer_fraction": better, "per_pair": rows, "machine": machine_info()}


def format_table(result):
  m = result["mean"]
  return "\n".join([
      f"{result['pairs']} {result['split']} pairs of {result['data_dir']}",
      f"{'':<10}{'L1 to the real frame':>22}{'SSIM':>8}",
      f"{'warp':<10}{m['l1_warp']:>22.4f}{m['ssim_warp']:>8.3f}",
      f"{'refined':<10}{m['l1_refined']:>22.4f}{m['ssim_refined']:>8.3f}",
      f"refined closer than the warp on {result['refined_closer_fraction']:.0%} of the pairs"])


def main(argv):
  del argv
  from absl import flags  # pylint: disable=import-outside-toplevel
  from benchmarks.machine import write_result  # pylint: disable=import-outside-toplevel
  f = flags.FLAGS
  if not f.data_dir or not f.ganimation_workdir:
    raise UserInputError("--data_dir and --ganimation_workdir: required; expected a pair set "
                         "of tfsingan.prepare.warp_pairs and a warp-guided GANimation run")
  result = score(f.data_dir, f.ganimation_workdir, f.split)
  print(format_table(result))
  write_result(f.out, result)
  return 0


if __name__ == "__main__":
  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_string("data_dir", None, "A pair set of python -m tfsingan.prepare.warp_pairs.")
  flags.DEFINE_string("ganimation_workdir", None, "A warp-guided GANimation run.")
  flags.DEFINE_string("split", "test", "Which split's pairs.")
  flags.DEFINE_string("out", "benchmarks/results/warp_refiner_pairs.json", "Result JSON.")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
