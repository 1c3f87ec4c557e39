"""Does a GANimation trained on synthetic faces edit expressions? Measured against truth.

On the held-out identities of a `tfsingan.synthetic` dataset (its test split), each
face x with AUs y_s is edited to the AUs y_t of another held-out face (a fixed,
seeded pairing). Because the renderer is deterministic, `render(identity, y_t)` is
the true edited face, so the edit can be scored directly:

  l1_edit      mean |G(x, y_t) - render(identity, y_t)|  (pixels in [0, 1])
  l1_unedited  mean |x - render(identity, y_t)|          (doing nothing)
  ratio        l1_edit / l1_unedited                     (acceptance: <= 0.5)
  l1_identity  mean |G(x, y_s) - x|                      (acceptance: small)
  attention    mean of the attention mask over the edits (acceptance: not saturated,
               and lower on the pixels the AU change moves than elsewhere)

plus PSNR, the same figures restricted to the pixels that the AU change moves (where
the true source and target renders differ), and, with `--regressor_workdir` (a model
from `python -m tfsingan.metrics.au_regressor`), the per-AU mean absolute error
between the AUs estimated on G(x, y_t) and y_t, next to that of the true renders
(the regressor's own floor) and of the unedited inputs (doing nothing).

The targets (issue 14, recalibrated: an AU change moves about 3% of the pixels, so
the whole-image ratio above, still reported, mostly measured the other 97%):

  moved_ratio     moved_l1_edit / moved_l1_unedited on the moved pixels  (<= 0.5)
  static_l1_edit  mean |G(x, y_t) - x| on the pixels the change does not move:
                  the colour leak of an edit                              (<= 0.002)
  static_l1_identity  the same for G(x, y_s), the identity edit (reported)
  au_mae_over_floor   au_mae_edit - au_mae_truth (0: as good as the truth)
  au_progress     (au_mae_unedited - au_mae_edit) / (au_mae_unedited - au_mae_truth):
                  the fraction of the way from doing nothing to the truth (reported)

The dataset may be procedural or made of warped photos (`--renderer=warp`): the
truth is `tfsingan.synthetic.dataset.render_identity` either way.

  python -m benchmarks.ganimation_acceptance --workdir=W --data_dir=D \
      [--regressor_workdir=R] [--out=benchmarks/results/ganimation_acceptance.json]
"""

import os
import sys
import time

import numpy as np

from benchmarks.machine import machine_info
from benchmarks.machine import write_result
from tfsingan.common import image_io
from tfsingan.errors import UserInputError

# Acceptance thresholds: issue 14's recalibration of the GANimation issue's.
MAX_MOVED_RATIO = 0.5  # wave 1 reached 0.84
MAX_STATIC_L1 = 0.002  # wave 1's identity L1 was 0.0045
MAX_RATIO = 0.5  # the whole-image ratio: reported, no longer a target
MAX_IDENTITY_L1 = 0.02
# "Neither near 0 nor near 1": a saturated mask (mean within 0.01 of either end)
# copies the input or repaints everything. The AU changes of the synthetic faces
# move about 3.5% of the pixels, so a working mask has a high mean; it must also
# be lower where the pixels move than where they do not.
ATTENTION_RANGE = (0.01, 0.99)
# Pixels whose true source and target renders differ by more than this (max over
# channels) count as "moved by the AU change".
MOVED_THRESHOLD = 0.02


def pair_targets(num, seed=0):
  """For each of `num` faces the index of another face whose AUs are its target."""
  rng = np.random.default_rng(seed)
  perm = rng.permutation(num)
  # A derangement: shift a random permutation by one so no face keeps its own AUs.
  pair = np.empty(num, np.int64)
  pair[perm] = np.roll(perm, 1)
  return pair


def evaluate(workdir, data_dir, *, regressor_workdir=None, max_images=None, seed=0,
             batch_size=32):
  """Scores the run in `workdir` on the test split of the synthetic set `data_dir`.

  Returns a JSON-able dict (see the module docstring for the keys).
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import aus as aus_lib  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import data as data_lib  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import dataset as synth  # pylint: disable=import-outside-toplevel

  start = time.perf_counter()
  generator, config = inference.load_generator(workdir)
  size = config.image_size
  table = synth.load_identities(data_dir)
  paths, src_aus = data_lib.load_index(data_dir, split="test")
  if max_images:
    paths, src_aus = paths[:max_images], src_aus[:max_images]
  if len(paths) < 2:
    raise UserInputError(f"--data_dir: {data_dir}: fewer than 2 test images; expected a "
                         "dataset written by python -m tfsingan.synthetic")
  ids = [os.path.splitext(os.path.basename(p))[0] for p in paths]
  missing = [i for i in ids if i not in table]
  if missing:
    raise UserInputError(f"--data_dir: {data_dir}: {missing[0]} has no identity in "
                         "identities.json; expected a synthetic dataset")
  tgt_aus = src_aus[pair_targets(len(paths), seed)]

  @tf.function(reduce_retracing=True)
  def run(x01, aus):
    out, attention, _ = inference.animate(generator, x01, aus)
    return out, attention

  sums = {"floor": 0.0, "edit": 0.0, "edit_sq": 0.0, "unedited": 0.0, "unedited_sq": 0.0, "identity": 0.0,
          "attention": 0.0, "att_moved": 0.0, "att_static": 0.0,
          "moved_edit": 0.0, "moved_unedited": 0.0, "moved_pixels": 0.0,
          "static_edit": 0.0, "static_identity": 0.0}
  edited_all, truth_all, input_all = [], [], []
  n = len(paths)
  for lo in range(0, n, batch_size):
    hi = min(n, lo + batch_size)
    x = np.stack([data_lib.decode_face(p, size).numpy() for p in paths[lo:hi]])
    x = x.astype(np.float32) / 255.0
    truth = np.stack([synth.render_identity(table[i]["identity"], t, size)
                      for i, t in zip(ids[lo:hi], tgt_aus[lo:hi])]).astype(np.float32)
    source = np.stack([synth.render_identity(table[i]["identity"], s, size)
                       for i, s in zip(ids[lo:hi], src_aus[lo:hi])]).astype(np.float32)
    edited, attention = (t.numpy() for t in run(tf.constant(x), tf.constant(tgt_aus[lo:hi])))
    same, _ = run(tf.constant(x), tf.constant(src_aus[lo:hi]))
    err_edit = np.abs(edited - truth)
    err_none = np.abs(x - truth)
    moved = (np.abs(truth - source).max(axis=-1, keepdims=True) > MOVED_THRESHOLD)
    moved = np.broadcast_to(moved, truth.shape)
    sums["floor"] += np.abs(x - source).mean(axis=(1, 2, 3)).sum()
    sums["edit"] += err_edit.mean(axis=(1, 2, 3)).sum()
    sums["edit_sq"] += (err_edit ** 2).mean(axis=(1, 2, 3)).sum()
    sums["unedited"] += err_none.mean(axis=(1, 2, 3)).sum()
    sums["unedited_sq"] += (err_none ** 2).mean(axis=(1, 2, 3)).sum()
    sums["identity"] += np.abs(same.numpy() - x).mean(axis=(1, 2, 3)).sum()
    sums["static_edit"] += float(np.abs(edited - x)[~moved].sum())
    sums["static_identity"] += float(np.abs(same.numpy() - x)[~moved].sum())
    sums["attention"] += attention.mean(axis=(1, 2, 3)).sum()
    moved_px = moved[..., :1]
    sums["att_moved"] += float(attention[moved_px].sum())
    sums["att_static"] += float(attention[~moved_px].sum())
    sums["moved_edit"] += float(err_edit[moved].sum())
    sums["moved_unedited"] += float(err_none[moved].sum())
    sums["moved_pixels"] += float(moved.sum())
    if regressor_workdir:
      edited_all.append(edited)
      truth_all.append(truth)
      input_all.append(x)

  result = {
      "workdir": os.path.abspath(workdir),
      "data_dir": os.path.abspath(data_dir),
      "image_size": size,
      "test_images": n,
      "l1_input_vs_own_render": sums["floor"] / n,
      "l1_edit": sums["edit"] / n,
      "l1_unedited": sums["unedited"] / n,
      "psnr_edit_db": image_io.psnr_from_mse(sums["edit_sq"] / n),
      "psnr_unedited_db": image_io.psnr_from_mse(sums["unedited_sq"] / n),
      "l1_identity": sums["identity"] / n,
      "attention_mean": sums["attention"] / n,
      "moved_fraction": sums["moved_pixels"] / (n * size * size * 3),
  }
  result = {k: float(v) if isinstance(v, np.floating) else v for k, v in result.items()}
  result["ratio"] = result["l1_edit"] / max(result["l1_unedited"], 1e-12)
  if sums["moved_pixels"]:
    result["moved_l1_edit"] = sums["moved_edit"] / sums["moved_pixels"]
    result["moved_l1_unedited"] = sums["moved_unedited"] / sums["moved_pixels"]
    result["moved_ratio"] = result["moved_l1_edit"] / max(result["moved_l1_unedited"], 1e-12)
    pixels = sums["moved_pixels"] / 3
    result["attention_moved"] = sums["att_moved"] / pixels
    result["attention_static"] = sums["att_static"] / (n * size * size - pixels)
  static_values = n * size * size * 3 - sums["moved_pixels"]
  if static_values:
    result["static_l1_edit"] = sums["static_edit"] / static_values
    result["static_l1_identity"] = sums["static_identity"] / static_values
  if regressor_workdir:
    from tfsingan.metrics import au_regressor  # pylint: disable=import-outside-toplevel
    regressor = au_regressor.load_regressor(regressor_workdir)
    pred_fake = au_regressor.predict_aus(regressor, np.concatenate(edited_all))
    pred_true = au_regressor.predict_aus(regressor, np.concatenate(truth_all))
    pred_input = au_regressor.predict_aus(regressor, np.concatenate(input_all))
    fake_err = np.abs(pred_fake - tgt_aus).mean(axis=0)
    true_err = np.abs(pred_true - tgt_aus).mean(axis=0)
    result["au_mae_edit"] = float(fake_err.mean())
    result["au_mae_truth"] = float(true_err.mean())
    result["au_mae_unedited"] = float(np.abs(pred_input - tgt_aus).mean())
    result["au_mae_per_au"] = {name: {"edit": float(f), "truth": float(t)}
                               for name, f, t in zip(aus_lib.AU_NAMES, fake_err, true_err)}
    result["au_mae_over_floor"] = result["au_mae_edit"] - result["au_mae_truth"]
    result["au_progress"] = (result["au_mae_unedited"] - result["au_mae_edit"]) / max(
        result["au_mae_unedited"] - result["au_mae_truth"], 1e-12)
  lo_att, hi_att = ATTENTION_RANGE
  result["checks"] = {
      f"moved_ratio <= {MAX_MOVED_RATIO}": bool(result.get("moved_ratio", np.inf)
                                                <= MAX_MOVED_RATIO),
      f"static_l1_edit <= {MAX_STATIC_L1}": bool(result.get("static_l1_edit", np.inf)
                                                 <= MAX_STATIC_L1),
      f"l1_identity <= {MAX_IDENTITY_L1}": bool(result["l1_identity"] <= MAX_IDENTITY_L1),
      f"{lo_att} < attention_mean < {hi_att}": bool(lo_att < result["attention_mean"] < hi_att),
  }
  # Reported beside the targets, no longer one of them (see the module docstring).
  result["former_checks"] = {f"ratio <= {MAX_RATIO}": bool(result["ratio"] <= MAX_RATIO)}
  if "attention_moved" in result:
    result["checks"]["attention_moved < attention_static"] = bool(
        result["attention_moved"] < result["attention_static"])
  result["passed"] = all(result["checks"].values())
  result["seconds"] = time.perf_counter() - start
  return result


def print_table(result):
  rows = [("test images", result["test_images"], ""),
          ("L1 input vs its own render", result["l1_input_vs_own_render"], "(encoding, resize)"),
          ("L1 edit vs true render", result["l1_edit"], ""),
          ("L1 unedited vs true render", result["l1_unedited"], ""),
          ("ratio (whole image)", result["ratio"], "(no longer the target)"),
          ("PSNR edit / unedited", f"{result['psnr_edit_db']:.2f} / "
           f"{result['psnr_unedited_db']:.2f}", "dB"),
          ("L1 G(x, y_s) vs x", result["l1_identity"], ""),
          ("mean attention", result["attention_mean"], "")]
  if "moved_ratio" in result:
    rows.append((f"ratio on moved pixels (<= {MAX_MOVED_RATIO})", result["moved_ratio"],
                 f"{100 * result['moved_fraction']:.1f}% of pixels"))
  if "static_l1_edit" in result:
    rows.append((f"static L1 edit (<= {MAX_STATIC_L1})", result["static_l1_edit"],
                 "colour leak"))
    rows.append(("static L1 identity edit", result["static_l1_identity"], ""))
    rows.append(("attention moved / static",
                 f"{result['attention_moved']:.3f} / {result['attention_static']:.3f}", ""))
  if "au_mae_edit" in result:
    rows.append(("AU MAE edit / truth / unedited",
                 f"{result['au_mae_edit']:.3f} / {result['au_mae_truth']:.3f} / "
                 f"{result['au_mae_unedited']:.3f}", ""))
    rows.append(("AU MAE over the floor", result["au_mae_over_floor"],
                 f"progress {result['au_progress']:.2f} of the way to the truth"))
  for name, value, unit in rows:
    value = f"{value:.4f}" if isinstance(value, float) else str(value)
    print(f"{name:<30} {value:>16} {unit}")
  for check, ok in result["checks"].items():
    print(f"{'PASS' if ok else 'FAIL'}  {check}")


def main(argv):
  del argv
  from absl import flags  # pylint: disable=import-outside-toplevel
  f = flags.FLAGS
  if not f.workdir or not f.data_dir:
    raise UserInputError("--workdir and --data_dir: required; expected a GANimation run and "
                         "the synthetic dataset it was trained on")
  result = evaluate(f.workdir, f.data_dir, regressor_workdir=f.regressor_workdir,
                    max_images=f.max_images, seed=f.seed)
  print_table(result)
  write_result(f.out, {**result, "machine": machine_info()})
  return 0 if result["passed"] else 1


if __name__ == "__main__":
  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_string("workdir", None, "GANimation run directory.")
  flags.DEFINE_string("data_dir", None, "Synthetic dataset (python -m tfsingan.synthetic).")
  flags.DEFINE_string("regressor_workdir", None, "AU regressor run (optional).")
  flags.DEFINE_integer("max_images", None, "Use at most this many test images.")
  flags.DEFINE_integer("seed", 0, "Seed of the source/target pairing.")
  flags.DEFINE_string("out", None, "Write the results as JSON here.")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
