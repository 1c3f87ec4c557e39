"""Scores folders of generated images and writes the report: the library of `python -m tfsingan.evaluate`.

SIFID and diversity (SinGAN, Shaham et al., 2019), AU error (GANimation, Pumarola et
al., 2018); `run(EvaluateConfig(...), out)` computes one metric, writes
OUT/<metric>.json/.csv/.png and prints a summary (see `tfsingan/evaluate.py` for the
inputs each metric takes).
"""

import csv
import dataclasses
import io
import json
import os
import re

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.config import field
from tfsingan.errors import UserInputError

METRICS = ("sifid", "diversity", "au_error")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
  """What `python -m tfsingan.evaluate` scores."""

  metric: str = field(None, help="What to compute.", choices=METRICS)
  real: str = field(None, help="Real image (file) or folder of real images (matched to --fake "
                    "by file stem). sifid, diversity.")
  fake: str = field(None, help="Folder of generated images (or of sub-folders, one group "
                    "each).")
  inception_weights: str = field(
      None, help="FID Inception weights converted by python -m tfsingan.metrics.fid_inception, "
      "or the Keras ImageNet InceptionV3 .h5 (with or without top); default: the Keras cache "
      "(~/.keras/models). Never downloaded.")
  sifid_layer: str = field("block1", help="Inception layer of SIFID; block1 (64 channels) is "
                           "SinGAN's.", choices=("block1", "block2", "block3"))
  au_regressor: str = field(None, help="Folder of a trained AU regressor.")
  targets: str = field(None, help="CSV describing the generated images: file + 17 AU columns "
                       "(au_error), optional start_scale.")
  group_by: str = field("start_scale", help="Column of --targets that groups the images.")
  synthetic_dir: str = field(None, help="Synthetic dataset of the source faces: adds "
                             "ground-truth L1/PSNR to au_error.")


def _natural(name):
  """'start_9' before 'start_10'."""
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_images(folder, what="--fake"):
  """Image files directly in `folder`, sorted by name (UserInputError if none)."""
  if not folder or not os.path.isdir(folder):
    raise UserInputError(f"{what}: {folder!r} is not a folder; expected a folder of images")
  files = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                 if f.lower().endswith(image_io.IMAGE_EXTENSIONS) and not f.startswith("."))
  return files


def grouped_images(folder, targets_path=None, group_by="start_scale"):
  """{group: [paths]} from a folder of images or of sub-folders of images."""
  files = list_images(folder)
  if files:
    groups = {"all": files}
  else:
    subdirs = sorted((d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))),
                     key=_natural)
    groups = {d: list_images(os.path.join(folder, d)) for d in subdirs}
    groups = {d: g for d, g in groups.items() if g}
  if not groups:
    raise UserInputError(f"--fake: {folder} holds no images (PNG/JPEG/...); expected "
                         "generated images or sub-folders of them")
  if targets_path and len(groups) == 1:
    column = _read_column(targets_path, group_by)
    if column is not None:
      regrouped = {}
      for path in next(iter(groups.values())):
        name = os.path.basename(path)
        key = column.get(name, column.get(os.path.splitext(name)[0], "unlisted"))
        regrouped.setdefault(f"{group_by}={key}", []).append(path)
      groups = dict(sorted(regrouped.items(), key=lambda kv: _natural(kv[0])))
  return groups


def _read_column(path, column):
  """{file name and stem: value of `column`} of a CSV, or None if it lacks the column."""
  if not os.path.isfile(path):
    raise UserInputError(f"--targets: file not found: {path}")
  with open(path, newline="", encoding="utf-8-sig") as f:
    reader = csv.DictReader(f)
    fields = [h.strip() for h in (reader.fieldnames or [])]
    if "file" not in fields or column not in fields:
      return None
    out = {}
    for row in reader:
      row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
      name = os.path.basename(row["file"])
      out[name] = out[os.path.splitext(name)[0]] = row[column]
  return out


def _load(path, what):
  from tfsingan.common.image_io import load_image  # pylint: disable=import-outside-toplevel
  return load_image(path, what=what, quiet=True)


def _summary(values):
  v = np.asarray(values, np.float64)
  return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}


def evaluate_sifid(real, groups, *, weights=None, layer="block1", scorer=None):
  """SIFID of every generated image against its real image; see `tfsingan.metrics.sifid`."""
  from tfsingan.metrics import sifid as sifid_lib  # pylint: disable=import-outside-toplevel
  if os.path.isdir(real or ""):
    reals = {os.path.splitext(os.path.basename(p))[0]: p for p in list_images(real, "--real")}
    if not reals:
      raise UserInputError(f"--real: {real} holds no images")
  elif real and os.path.isfile(real):
    reals = None
  else:
    raise UserInputError(f"--real: {real!r} not found; expected the training image or a "
                         "folder of real images")
  pairs = []
  missing = []
  for group, paths in groups.items():
    for p in paths:
      stem = os.path.splitext(os.path.basename(p))[0]
      r = real if reals is None else reals.get(stem)
      if r is None:
        missing.append(os.path.basename(p))
      pairs.append((group, p, r))
  if missing:
    raise UserInputError(f"--real: no real image with the stem of {len(missing)} generated "
                         f"image(s), e.g. {missing[0]}; pairs are matched by file stem")
  scorer = scorer or sifid_lib.SIFID(weights, layer)
  rows = []
  for group, p, r in pairs:
    real_img, fake_img = _load(r, "--real"), _load(p, "--fake")
    if real_img.shape != fake_img.shape:
      raise UserInputError(f"--fake: {p} is {fake_img.shape[1]}x{fake_img.shape[0]} but its "
                           f"real image {r} is {real_img.shape[1]}x{real_img.shape[0]}; "
                           "expected the same size")
    rows.append({"group": group, "fake": p, "real": r,
                 "sifid": scorer(real_img, fake_img, real_key=r)})
  summary = {
      "metric": "sifid", "layer": scorer.layer, "network": scorer.description,
      "layer_description": sifid_lib.LAYERS.get(scorer.layer, scorer.layer),
      "inception_weights": scorer.weights_path, "note": scorer.note,
      **_summary([r["sifid"] for r in rows]),
      "groups": {g: _summary([r["sifid"] for r in rows if r["group"] == g]) for g in groups},
      "pairs": rows,
  }
  return summary, rows


def evaluate_diversity(real, groups):
  """SinGAN diversity of each group of samples, normalised by the training image's std."""
  from tfsingan.metrics.diversity import diversity  # pylint: disable=import-outside-toplevel
  if not real or not os.path.isfile(real):
    raise UserInputError(f"--real: {real!r} is not a file; expected the training image")
  reference = _load(real, "--real")
  rows = []
  for group, paths in groups.items():
    samples = [_load(p, "--fake") for p in paths]
    sizes = sorted({s.shape[:2] for s in samples})
    if len(sizes) > 1:
      raise UserInputError(f"--fake: group {group} has images of different sizes {sizes}; "
                           "expected equally sized samples")
    rows.append({"group": group, "n": len(samples),
                 "diversity_rgb": diversity(samples, reference),
                 "diversity_gray": diversity(samples, reference, gray=True)})
  summary = {"metric": "diversity", "real": real,
             "definition": "mean over pixels of the per-pixel std over samples / std of "
                           "the training image (SinGAN, section 4)",
             "groups": {r["group"]: r for r in rows}}
  return summary, rows


def evaluate_au_error(groups, targets_path, regressor_dir, synthetic_dir=None, regressor=None):
  """AU MAE of the regressor's estimates vs the targets; optional synthetic ground truth."""
  from tfsingan.ganimation.aus import AU_NAMES  # pylint: disable=import-outside-toplevel
  from tfsingan.metrics import au_error  # pylint: disable=import-outside-toplevel
  from tfsingan.metrics import au_regressor  # pylint: disable=import-outside-toplevel
  if not targets_path:
    raise UserInputError(f"--targets is required for au_error; {au_error.TARGETS_HELP}")
  targets = au_error.read_targets(targets_path)
  entries = [(g, p) for g, paths in groups.items() for p in paths]
  _, rows_t = au_error.match_targets(targets, [p for _, p in entries])
  if regressor is None:
    if not regressor_dir:
      raise UserInputError("--au_regressor is required for au_error: the folder written by "
                           "python -m tfsingan.metrics.au_regressor")
    regressor = au_regressor.load_regressor(regressor_dir)
  images = [_load(p, "--fake") for _, p in entries]
  target_aus = np.stack([t["aus"] for t in rows_t])
  errors = au_error.au_errors(au_regressor.predict_aus(regressor, images), target_aus)
  rows = []
  for (group, path), t, err, img in zip(entries, rows_t, errors, images):
    row = {"group": group, "file": path, "mae": float(err.mean())}
    row.update({f"{a}_err": float(e) for a, e in zip(AU_NAMES, err)})
    if synthetic_dir:
      from tfsingan.synthetic import true_target  # pylint: disable=import-outside-toplevel
      source = t.get("source") or t.get("source_id")
      if not source:
        raise UserInputError(f"--synthetic_dir needs a `source` column in {targets_path} "
                             "naming the input face of each generated image")
      if img.shape[0] != img.shape[1]:
        raise UserInputError(f"--fake: {path} is not square; synthetic faces are square")
      truth = true_target(synthetic_dir, source, t["aus"], img.shape[0])
      row["gt_l1"], row["gt_psnr"] = au_error.l1_psnr(img, truth)
    rows.append(row)
  per_au = errors.mean(axis=0)
  summary = {"metric": "au_error", "scale": "AU intensity / 5, in [0, 1]",
             "au_regressor": regressor_dir, **_summary([r["mae"] for r in rows]),
             "per_au_mae": dict(zip(AU_NAMES, map(float, per_au))),
             "per_au_std": dict(zip(AU_NAMES, map(float, errors.std(axis=0)))),
             "groups": {g: _summary([r["mae"] for r in rows if r["group"] == g])
                        for g in groups}}
  if regressor_dir:
    try:
      with open(os.path.join(regressor_dir, au_regressor.CONFIG_NAME), encoding="utf8") as f:
        summary["regressor_held_out_mae"] = json.load(f).get("result", {}).get("test_mae")
    except (OSError, ValueError):
      pass
  if synthetic_dir:
    summary["ground_truth"] = {"l1": _summary([r["gt_l1"] for r in rows]),
                               "psnr_db": _summary([r["gt_psnr"] for r in rows])}
  summary["images"] = rows
  return summary, rows


def write_report(out_dir, metric, summary, rows):
  """<metric>.json, <metric>.csv and <metric>.png in `out_dir` (atomic writes)."""
  from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
  from tfsingan.metrics.charts import save_chart  # pylint: disable=import-outside-toplevel
  os.makedirs(out_dir, exist_ok=True)
  atomic_write_bytes(os.path.join(out_dir, f"{metric}.json"),
                     json.dumps(checkpointing.json_safe(summary), indent=2, allow_nan=False).encode("utf8"))
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
  writer.writeheader()
  for r in rows:
    writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()})
  atomic_write_bytes(os.path.join(out_dir, f"{metric}.csv"), buf.getvalue().encode("utf8"))
  chart = os.path.join(out_dir, f"{metric}.png")
  if metric == "sifid":
    g = summary["groups"]
    save_chart(chart, list(g), [v["mean"] for v in g.values()], [v["std"] for v in g.values()],
               title=f"SIFID ({summary['network']}), mean +- std per group", ylabel="SIFID")
  elif metric == "diversity":
    g = summary["groups"]
    save_chart(chart, list(g), [v["diversity_rgb"] for v in g.values()],
               title="diversity (RGB) per group", ylabel="std / std(train)")
  else:
    save_chart(chart, list(summary["per_au_mae"]), list(summary["per_au_mae"].values()),
               list(summary["per_au_std"].values()),
               title=f"AU error per AU (mean {summary['mean']:.3f}), +- std", ylabel="|AU err|")
  return [os.path.join(out_dir, f"{metric}{ext}") for ext in (".json", ".csv", ".png")]


def run_evaluation(metric, *, fake, out, real=None, inception_weights=None, sifid_layer="block1",
                   au_regressor=None, targets=None, group_by="start_scale", synthetic_dir=None):
  """Computes one metric and writes its report; returns the summary dict."""
  if metric not in METRICS:
    raise UserInputError(f"--metric: {metric!r}; expected one of {', '.join(METRICS)}")
  groups = grouped_images(fake, targets, group_by)
  if metric == "sifid":
    summary, rows = evaluate_sifid(real, groups, weights=inception_weights, layer=sifid_layer)
  elif metric == "diversity":
    summary, rows = evaluate_diversity(real, groups)
  else:
    summary, rows = evaluate_au_error(groups, targets, au_regressor, synthetic_dir)
  summary["files"] = write_report(out, metric, summary, rows)
  return summary


def run(config, out):
  """Computes `config.metric`, writes its report into `out`, prints a summary; returns it."""
  if not config.metric:
    raise UserInputError("--metric is required: sifid, diversity or au_error")
  if not config.fake:
    raise UserInputError("--fake is required: a folder of generated images")
  if not out:
    raise UserInputError("--out is required: the folder for the report")
  metric = config.metric
  summary = run_evaluation(
      metric, fake=config.fake, out=out, real=config.real,
      inception_weights=config.inception_weights, sifid_layer=config.sifid_layer,
      au_regressor=config.au_regressor, targets=config.targets, group_by=config.group_by,
      synthetic_dir=config.synthetic_dir)
  if metric == "sifid":
    print(f"SIFID ({summary['network']}; {summary['layer']}: {summary['layer_description']}) = "
          f"{summary['mean']:.4f} +- {summary['std']:.4f} over {summary['n']} images")
    print(f"note: {summary['note']}")
  elif metric == "diversity":
    for g, r in summary["groups"].items():
      print(f"diversity {g}: rgb {r['diversity_rgb']:.4f}, gray {r['diversity_gray']:.4f} "
            f"({r['n']} samples)")
  else:
    print(f"AU error (MAE, [0, 1] scale) = {summary['mean']:.4f} over {summary['n']} images")
    if "ground_truth" in summary:
      gt = summary["ground_truth"]
      print(f"ground truth: L1 {gt['l1']['mean']:.4f}, PSNR {gt['psnr_db']['mean']:.2f} dB")
  print("wrote " + ", ".join(summary["files"]))
  return summary
