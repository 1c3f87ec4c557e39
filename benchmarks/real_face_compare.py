"""A learned GANimation (Pumarola et al., ECCV 2018) against the AU warp on held-out real faces: the targets of issue 14.

Runs `benchmarks.real_face_judge` twice on the same photos, once with the run of
--ganimation_workdir and once with the landmark warp (`--editor=warp`, the
baseline), and reports per emotion and swept AU, for the edit, the warp and the
unedited photo:

  happy_non_smiling   the "happy" edits judged happy, over the sources whose
                      unedited photo is not judged happy (target >= 80%);
  surprise_raised     the "surprise" edits whose p(surprise) rose by >= 0.3
                      (target on >= 60% of the sources);
  au12_at_1           the AU reader's AU12 on the AU12 sweep at 1.0 minus its
                      reading of the unedited photo (target >= 0.3);
  judged_intended     per emotion and overall; the learned editor should beat the warp;
  warp_truth_l1       inside the face's footprint, mean |GANimation edit - warp edit|
                      against mean |photo - warp edit| (doing nothing): the warp
                      renders are the ground truth the model was trained towards.

It also draws --figure: per photo, the face region of the source and of the six
emotion edits, GANimation above and warp below (looked at for the README).

  python -m benchmarks.real_face_compare --photos=HELD_OUT --ganimation_workdir=RUN \
      --out=benchmarks/results/real_face_compare.json \
      --figure=benchmarks/results/real_face_compare.png
"""

import os
import sys

import numpy as np

from benchmarks import real_face_judge as judge_lib
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib

SURPRISE_RISE = 0.3
TARGETS = {"happy_non_smiling": 0.8, "surprise_raised": 0.6, "au12_at_1": 0.3}


def targets(result):
  """The per-source figures of issue 14 from one `real_face_judge.evaluate` result."""
  rows = result["emotion_edits"]
  happy = [r for r in rows if r["emotion"] == "happy" and r["judged_unedited"] != "happy"]
  surprise = [r for r in rows if r["emotion"] == "surprise"]
  au12 = [r for r in result["sweep_edits"] if r["au"] == "AU12"]
  per_photo = {p["photo"]: p for p in result["per_photo"]}
  return {
      "happy_non_smiling": (float(np.mean([r["judged_edit"] == "happy" for r in happy]))
                            if happy else None),
      "happy_non_smiling_sources": [r["photo"] for r in happy],
      "happy_p": {r["photo"]: [round(r["p_intended_unedited"], 3),
                               round(r["p_intended_edit"], 3)] for r in rows
                  if r["emotion"] == "happy"},
      "surprise_raised": float(np.mean([r["p_intended_edit"] - r["p_intended_unedited"]
                                        >= SURPRISE_RISE for r in surprise])),
      "surprise_delta_p": {r["photo"]: round(r["p_intended_edit"] - r["p_intended_unedited"], 3)
                           for r in surprise},
      "au12_at_1": float(np.mean([r["readings"][-1] - per_photo[r["photo"]]["source_aus"][
          aus_lib.au_index("AU12")] for r in au12])),
      "au12_sweep_slope": result["sweeps"].get("AU12", {}).get("slope"),
      "judged_intended_edit": result["judged_intended_edit"],
      "judged_intended_unedited": result["judged_intended_unedited"],
      "judged_per_emotion": {e: v["judged_intended_edit"]
                             for e, v in result["per_emotion"].items()},
      "sweep_slopes": {au: v["slope"] for au, v in result["sweeps"].items()},
      "au_progress_preset_mean": result["au_progress_preset_mean"],
      "outside_changed_pixels_max": result["outside_changed_pixels_max"],
      "l1_face": result["l1_face"], "ssim_face": result["ssim_face"],
  }


def _face_window(photo, box, grow=0.35):
  x, y, w, h = box
  x0, y0 = max(0, int(x - grow * w)), max(0, int(y - grow * h))
  x1, y1 = min(photo.shape[1], int(x + w * (1 + grow))), min(photo.shape[0], int(y + h * (1 + grow)))
  return x0, y0, x1, y1


def truth_and_figure(photos_dir, workdir, figure=None, tile=160):
  """Warp-truth L1 per emotion (GANimation vs warp, photo vs warp) and the figure."""
  import cv2  # pylint: disable=import-outside-toplevel
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import photos as warp_photos  # pylint: disable=import-outside-toplevel
  editor = judge_lib.Editor(workdir)
  reader = faces.AUReader()
  emotions = sorted(aus_lib.EMOTIONS)
  targets_ = np.stack([aus_lib.emotion_aus(e) for e in emotions])
  l1 = {e: {"edit_vs_warp": [], "photo_vs_warp": []} for e in emotions}
  rows = []
  for path in judge_lib.list_photos(photos_dir):
    photo = image_io.load_image(path, channels=3, what="--photos", quiet=True)
    found = faces.detect(photo)
    if not found:
      continue
    aligned = faces.align(photo, found[0].landmarks5, size=editor.size)
    x0, y0, region = faces.footprint(aligned.matrix, aligned.size, photo.shape)
    h, w = region.shape
    learned = editor(photo, aligned, targets_)
    warper = warp_photos.WarpEditor(photo, source_aus="auto", reader=reader)
    warped = [warper(t) for t in targets_]
    for e, a, b in zip(emotions, learned, warped):
      win = (slice(y0, y0 + h), slice(x0, x0 + w))
      l1[e]["edit_vs_warp"].append(float(np.abs(a[win] - b[win])[region].mean()))
      l1[e]["photo_vs_warp"].append(float(np.abs(photo[win] - b[win])[region].mean()))
    wx0, wy0, wx1, wy1 = _face_window(photo, found[0].box)

    def cut(img):
      return cv2.resize(img[wy0:wy1, wx0:wx1], (tile, tile), interpolation=cv2.INTER_AREA)

    rows.append(np.concatenate([cut(photo)] + [cut(a) for a in learned], axis=1))
    rows.append(np.concatenate([cut(photo)] + [cut(b) for b in warped], axis=1))
  summary = {e: {k: float(np.mean(v)) for k, v in d.items()} for e, d in l1.items() if d["edit_vs_warp"]}
  for v in summary.values():
    v["ratio"] = v["edit_vs_warp"] / max(v["photo_vs_warp"], 1e-12)
  if figure and rows:
    sheet = np.concatenate(rows, axis=0)
    header = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    for i, name in enumerate(["source"] + emotions):
      cv2.putText(header, name, (i * tile + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                  cv2.LINE_AA)
    image_io.save_image(figure, np.concatenate([header.astype(np.float32) / 255.0, sheet],
                                               axis=0))
  return summary


def compare(photos_dir, workdir, figure=None):
  learned = judge_lib.evaluate(photos_dir, workdir, editor="ganimation")
  warp = judge_lib.evaluate(photos_dir, None, editor="warp")
  a, b = targets(learned), targets(warp)
  result = {
      "photos_dir": os.path.abspath(photos_dir), "workdir": os.path.abspath(workdir),
      "photos": [p["photo"] for p in learned["per_photo"]],
      "ganimation": a, "warp": b, "targets": TARGETS,
      "holds": {
          "happy_non_smiling": bool(a["happy_non_smiling"] is not None
                                    and a["happy_non_smiling"] >= TARGETS["happy_non_smiling"]),
          "surprise_raised": a["surprise_raised"] >= TARGETS["surprise_raised"],
          "au12_at_1": a["au12_at_1"] >= TARGETS["au12_at_1"],
          "learned_beats_warp_on_judge": a["judged_intended_edit"] > b["judged_intended_edit"],
      },
      "warp_truth_l1": truth_and_figure(photos_dir, workdir, figure),
      "machine": learned["machine"], "seconds": learned["seconds"] + warp["seconds"],
      "full": {"ganimation": learned, "warp": warp},
  }
  return result


def format_table(result):
  a, b = result["ganimation"], result["warp"]
  lines = [f"{len(result['photos'])} held-out photos: {', '.join(result['photos'])}",
           f"{'figure':<34}{'GANimation':>12}{'warp':>10}{'target':>10}"]
  for key, label in (("happy_non_smiling", "happy judged happy (non-smiling)"),
                     ("surprise_raised", "surprise dp >= 0.3 (fraction)"),
                     ("au12_at_1", "AU12 at 1.0 - photo's AU12"),
                     ("judged_intended_edit", "judged as intended (all)")):
    t = TARGETS.get(key)
    lines.append(f"{label:<34}{_fmt(a[key]):>12}{_fmt(b[key]):>10}"
                 f"{'' if t is None else f'>= {t}':>10}")
  lines.append(f"{'judged as intended (unedited)':<34}{_fmt(a['judged_intended_unedited']):>12}")
  for emo in a["judged_per_emotion"]:
    lines.append(f"  {emo:<32}{_fmt(a['judged_per_emotion'][emo]):>12}"
                 f"{_fmt(b['judged_per_emotion'][emo]):>10}")
  for au in a["sweep_slopes"]:
    lines.append(f"  sweep {au} slope{'':<21}{_fmt(a['sweep_slopes'][au]):>12}"
                 f"{_fmt(b['sweep_slopes'][au]):>10}")
  lines.append(f"{'outside pixels changed (max)':<34}{a['outside_changed_pixels_max']:>12}"
               f"{b['outside_changed_pixels_max']:>10}")
  lines.append(f"{'inside the face L1 / SSIM':<34}{a['l1_face']:>7.4f}/{a['ssim_face']:.3f}"
               f"  {b['l1_face']:.4f}/{b['ssim_face']:.3f}")
  for emo, v in result["warp_truth_l1"].items():
    lines.append(f"  warp-truth L1 {emo:<12} edit {v['edit_vs_warp']:.4f} "
                 f"photo {v['photo_vs_warp']:.4f} ratio {v['ratio']:.2f}")
  lines += [f"{'HOLDS' if ok else 'FAILS'}  {k}" for k, ok in result["holds"].items()]
  return "\n".join(lines)


def _fmt(value):
  return "-" if value is None else f"{value:.2f}"


def main(argv):
  del argv
  from absl import flags  # pylint: disable=import-outside-toplevel
  from benchmarks.machine import write_result  # pylint: disable=import-outside-toplevel
  f = flags.FLAGS
  if not f.photos or not f.ganimation_workdir:
    raise UserInputError("--photos and --ganimation_workdir: required; expected a folder of "
                         "held-out face photos and a trained GANimation run")
  result = compare(f.photos, f.ganimation_workdir, f.figure or None)
  print(format_table(result))
  write_result(f.out, result)
  return 0


if __name__ == "__main__":
  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_string("photos", None, "Folder of real face photos held out of training.")
  flags.DEFINE_string("ganimation_workdir", None, "GANimation run directory.")
  flags.DEFINE_string("out", "benchmarks/results/real_face_compare.json", "JSON output.")
  flags.DEFINE_string("figure", "benchmarks/results/real_face_compare.png", "PNG output.")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
