"""SinGAN sample quality on natural photographs (Shaham et al., ICCV 2019, section 4).

Trains SinGAN on three photographs bundled with scikit-image (`coffee`, `chelsea`,
`rocket`), draws random samples started at scales 0, 1 and 2 (the paper's N, N-1,
N-2) and scores them: diversity (RGB and gray, `tfsingan.metrics.diversity`) and,
when the Keras ImageNet Inception-v3 weights are given or in the Keras cache, SIFID
against the training image (`tfsingan.metrics.sifid`, never downloaded).

Default (quick): 64 px (3-4 scales), 120 iterations a scale, 10 samples (under a
minute an image on 2 cores; numbers for smoke-checking, not for comparison with the paper).
--full: the paper's config (250 px, 2000 iterations a scale), 50 samples; hours
an image. Full runs keep their run directories in OUT/<image>/run and resume there.

Writes OUT/<image>/{train.png, start<k>/NN.png, grid.png, quality.json} and
OUT/singan_quality.json.

--compare_reference: tfsingan and the PyTorch reference (`torch_singan_reference`,
the original's training loop re-implemented) trained on the same pyramid of five
photographs at a small config (COMPARE_CONFIG), 50 samples per start scale, both
scored with the same SIFID and diversity; prints the table, writes
OUT/singan_vs_reference.json (and --results_json with the machine). Trained sides are
kept in OUT/<image>/{ours,reference}/ and reused.

  python -m benchmarks.singan_quality [--full] [--inception_weights=PATH] --out=DIR
  python -m benchmarks.singan_quality --compare_reference --inception_weights=fid.npz --out=DIR
"""

import dataclasses
import json
import os
import tempfile
import time

import numpy as np

from benchmarks.machine import machine_info

IMAGES = ("coffee", "chelsea", "rocket")
START_SCALES = (0, 1, 2)
# Overrides of the paper's SinGANConfig; {} is the paper's.
QUICK_CONFIG = {"max_size": 64, "iterations": 120, "lr_decay_at": 100,
                "checkpoint_every": 120, "image_every": 120}
FULL_CONFIG = {}
QUICK_SAMPLES = 10
FULL_SAMPLES = 50
SIFID_SKIPPED = "SIFID skipped: no Inception weights (pass --inception_weights=...)"


def photo(name):
  """A scikit-image sample photograph as uint8 RGB (the left view of a stereo pair)."""
  from skimage import data as skdata  # pylint: disable=import-outside-toplevel
  image = getattr(skdata, name)()
  return image[0] if isinstance(image, tuple) else image


def train_ours(name, config, run_dir):
  """Trains (or resumes, or finds finished) tfsingan on one photograph; returns seconds."""
  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io
  from tfsingan.singan import trainer
  # pylint: enable=import-outside-toplevel
  os.makedirs(run_dir, exist_ok=True)
  source = os.path.join(run_dir, f"{name}.png")
  if not os.path.exists(source):
    image_io.save_image(source, photo(name).astype(np.float32) / 255.0)
  t0 = time.perf_counter()
  trainer.run(dataclasses.replace(config, image=source), run_dir)
  return time.perf_counter() - t0


def score_samples(samples, reference, sifid=None, reference_key=None):
  """Diversity (RGB, gray) and, with a `tfsingan.metrics.sifid.SIFID`, per-sample SIFID.

  Args:
    samples: (N, H, W, 3) float [0, 1].
    reference: the training image, H x W x 3 float [0, 1].
    sifid: a SIFID scorer or None.
    reference_key: caches the reference's Inception statistics under this key.
  """
  from tfsingan.metrics.diversity import diversity  # pylint: disable=import-outside-toplevel
  out = {"num_samples": int(len(samples)),
         "diversity_rgb": diversity(samples, reference),
         "diversity_gray": diversity(samples, reference, gray=True)}
  if sifid is not None:
    values = [sifid(reference, s, real_key=reference_key) for s in samples]
    out["sifid_mean"] = float(np.mean(values))
    out["sifid_std"] = float(np.std(values))
    out["sifid"] = [float(v) for v in values]
  return out


def evaluate_image(name, config, out_dir, run_dir, *, num_samples, start_scales, sifid):
  """Trains (or resumes) SinGAN on one photograph, samples and scores; returns its dict."""
  # pylint: disable=import-outside-toplevel
  from tfsingan.common import checkpointing
  from tfsingan.common import image_io
  from tfsingan.singan.inference import TrainedSinGAN
  # pylint: enable=import-outside-toplevel
  train_seconds = train_ours(name, config, run_dir)
  model = TrainedSinGAN.load(run_dir)
  reference = np.asarray(model.reals[-1], np.float32)
  image_dir = os.path.join(out_dir, name)
  image_io.save_image(os.path.join(image_dir, "train.png"), reference)
  result = {"image": name, "sizes": [list(s) for s in model.sizes],
            "train_seconds": train_seconds, "per_start_scale": {}}
  rows, labels = [], []
  for k in start_scales:
    if k >= model.num_scales:
      result["per_start_scale"][str(k)] = {"skipped": f"only {model.num_scales} scales"}
      continue
    t0 = time.perf_counter()
    samples = model.sample(num_samples, start_scale=k, seed=k)
    for i, s in enumerate(samples):
      image_io.save_image(os.path.join(image_dir, f"start{k}", f"{i:02d}.png"), s)
    scores = score_samples(samples, reference, sifid, reference_key=name)
    scores["seconds"] = time.perf_counter() - t0
    result["per_start_scale"][str(k)] = scores
    rows.append([reference] + list(samples[:6]))
    labels.append(f"start {k}")
  if rows:
    image_io.save_image(os.path.join(image_dir, "grid.png"), image_io.make_grid(rows, labels))
  checkpointing.write_json(os.path.join(image_dir, "quality.json"), result)
  return result


# Side by side with the PyTorch reference (`benchmarks/torch_singan_reference.py`):
# both train on the same pyramid (tfsingan's `build_pyramid`) at a config small
# enough for 10 trainings on a shared 2-core machine: 56 px (3-4 scales), 200
# iterations a scale, the learning-rate drop at 80% as in the paper (1600 of 2000).
COMPARE_IMAGES = IMAGES + ("hubble_deep_field", "stereo_motorcycle")
COMPARE_CONFIG = {"max_size": 56, "iterations": 200, "lr_decay_at": 160,
                  "checkpoint_every": 100, "image_every": 200}
COMPARE_SAMPLES = 50
COMPARE_SIFID_TARGET = 1.10  # ours within 10% of the reference's SIFID


def _save_samples(path, samples_by_scale, meta):
  from tfsingan.common import checkpointing  # pylint: disable=import-outside-toplevel
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp.npz"
  np.savez(tmp, **{f"start{k}": v for k, v in samples_by_scale.items()})
  os.replace(tmp, path)
  checkpointing.write_json(os.path.splitext(path)[0] + ".json", meta)


def _load_samples(path):
  """({start scale: samples}, meta) written by _save_samples, or None if absent."""
  from tfsingan.common import checkpointing  # pylint: disable=import-outside-toplevel
  meta = checkpointing.read_json(os.path.splitext(path)[0] + ".json", default=None)
  if meta is None or not os.path.exists(path):
    return None
  with np.load(path) as data:
    return {int(k[len("start"):]): data[k] for k in data.files}, meta


def ours_samples(name, config, out_dir, num_samples, start_scales):
  """Trains tfsingan on `name` (OUT/<name>/ours/run, resumable) and samples each start scale."""
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  path = os.path.join(out_dir, name, "ours", "samples.npz")
  done = _load_samples(path)
  if done is not None:
    return done
  run_dir = os.path.join(out_dir, name, "ours", "run")
  seconds = train_ours(name, config, run_dir)
  model = TrainedSinGAN.load(run_dir)
  samples = {k: model.sample(num_samples, start_scale=k, seed=k) for k in start_scales
             if k < model.num_scales}
  meta = {"train_seconds": seconds, "sizes": [list(s) for s in model.sizes],
          "reference_image": os.path.join(run_dir, "pyramid",
                                          f"real_{model.num_scales - 1:02d}.png")}
  _save_samples(path, samples, meta)
  return samples, meta


def reference_samples(name, config, out_dir, num_samples, start_scales, threads=1):
  """Trains the PyTorch reference on tfsingan's pyramid of `name` and samples each start scale."""
  # pylint: disable=import-outside-toplevel
  import torch
  from benchmarks import torch_singan_reference as ref
  from tfsingan.singan import trainer
  # pylint: enable=import-outside-toplevel
  path = os.path.join(out_dir, name, "reference", "samples.npz")
  done = _load_samples(path)
  if done is not None:
    return done
  # One thread: on a shared 2-core machine a second one mostly waits (measured: 30x30
  # iterations took longer with 2 threads than with 1 while other jobs ran).
  torch.set_num_threads(threads)
  pyr, reals = trainer.build_pyramid(photo(name).astype(np.float32) / 255.0, config)
  t0 = time.perf_counter()
  model, per_scale = ref.train_reference(reals, pyr.scale_factor, config.iterations,
                                         lr_decay_at=config.lr_decay_at, seed=config.seed)
  seconds = time.perf_counter() - t0
  samples = {k: model.sample(num_samples, start_scale=k, seed=k) for k in start_scales
             if k < len(reals)}
  meta = {"train_seconds": seconds, "seconds_per_scale": per_scale,
          "sizes": [list(s) for s in pyr.sizes], "torch": torch.__version__,
          "threads": threads}
  _save_samples(path, samples, meta)
  return samples, meta


def compare_with_reference(out_dir, sifid=None, images=COMPARE_IMAGES,
                           start_scales=START_SCALES, num_samples=COMPARE_SAMPLES,
                           config_overrides=None, which=("ours", "reference")):
  """Ours vs the PyTorch reference: SIFID and diversity per image and start scale.

  Trains what is missing (`which` picks the sides to train now; a side already in
  OUT/<image>/<side>/samples.npz is reused), then scores every image whose two sides
  are there. Returns the result dict (also in OUT/singan_vs_reference.json).
  """
  # pylint: disable=import-outside-toplevel
  from tfsingan.common import checkpointing
  from tfsingan.common import image_io
  from tfsingan.singan import trainer
  from tfsingan.singan.config import SinGANConfig
  # pylint: enable=import-outside-toplevel
  overrides = {**COMPARE_CONFIG, **(config_overrides or {})}
  config = SinGANConfig(**overrides)
  makers = {"ours": ours_samples, "reference": reference_samples}
  result = {"config_overrides": overrides, "num_samples": num_samples,
            "start_scales": list(start_scales), "images": {}}
  if sifid is not None:
    result.update(sifid_network=sifid.network, sifid_layer=sifid.layer,
                  inception_weights=sifid.weights_path, sifid_note=sifid.note)
  for name in images:
    for side in which:
      makers[side](name, config, out_dir, num_samples, start_scales)
    sides = {side: _load_samples(os.path.join(out_dir, name, side, "samples.npz"))
             for side in makers}
    if any(v is None for v in sides.values()):
      result["images"][name] = {"missing": [k for k, v in sides.items() if v is None]}
      continue
    _, pyramid = trainer.build_pyramid(photo(name).astype(np.float32) / 255.0, config)
    reference = np.asarray(pyramid[-1], np.float32)
    entry = {side: {"train_seconds": meta["train_seconds"], "per_start_scale": {}}
             for side, (_, meta) in sides.items()}
    entry["sizes"] = sides["ours"][1]["sizes"]
    rows, labels = [], []
    for k in start_scales:
      for side, (samples, _) in sides.items():
        if k in samples:
          entry[side]["per_start_scale"][str(k)] = score_samples(samples[k], reference, sifid,
                                                                 reference_key=name)
          rows.append([reference] + list(samples[k][:6]))
          labels.append(f"{side} start {k}")
    image_io.save_image(os.path.join(out_dir, name, "grid.png"), image_io.make_grid(rows, labels))
    result["images"][name] = entry
  summarise_comparison(result)
  checkpointing.write_json(os.path.join(out_dir, "singan_vs_reference.json"), result)
  return result


def comparison_rows(result):
  """One row per image and start scale: SIFID and diversity of both sides, the ratio."""
  rows = []
  for name, entry in result["images"].items():
    if "missing" in entry:
      continue
    for k in result["start_scales"]:
      ours = entry["ours"]["per_start_scale"].get(str(k))
      theirs = entry["reference"]["per_start_scale"].get(str(k))
      if ours is None or theirs is None:
        continue
      row = {"image": name, "start_scale": k, "diversity_ours": ours["diversity_rgb"],
             "diversity_reference": theirs["diversity_rgb"]}
      if "sifid_mean" in ours:
        row.update(sifid_ours=ours["sifid_mean"], sifid_reference=theirs["sifid_mean"],
                   sifid_ratio=ours["sifid_mean"] / max(theirs["sifid_mean"], 1e-12))
      rows.append(row)
  return rows


def summarise_comparison(result):
  """Adds rows, per-start-scale means (ratio of the means) and the verdict to `result`."""
  rows = comparison_rows(result)
  result["rows"] = rows
  result["mean"] = {}
  for k in result["start_scales"]:
    at_k = [r for r in rows if r["start_scale"] == k]
    if not at_k:
      continue
    mean = {key: float(np.mean([r[key] for r in at_k])) for key in at_k[0]
            if key not in ("image", "start_scale", "sifid_ratio")}
    if "sifid_ours" in mean:
      mean["sifid_ratio"] = mean["sifid_ours"] / max(mean["sifid_reference"], 1e-12)
      mean["within_target"] = bool(mean["sifid_ratio"] <= COMPARE_SIFID_TARGET)
    result["mean"][str(k)] = mean
  return result


def format_comparison(result):
  """The table printed by --compare_reference."""
  lines = [f"{'image':<18} {'start':>5} {'SIFID ours':>10} {'reference':>10} {'ratio':>6} "
           f"{'div ours':>8} {'reference':>9}"]
  lines.append("-" * len(lines[0]))
  def fmt(row, label, k):
    sifid = (f"{row['sifid_ours']:10.4f} {row['sifid_reference']:10.4f} {row['sifid_ratio']:6.2f}"
             if "sifid_ours" in row else f"{'-':>10} {'-':>10} {'-':>6}")
    return (f"{label:<18} {k:>5} {sifid} {row['diversity_ours']:8.3f} "
            f"{row['diversity_reference']:9.3f}")
  for row in result["rows"]:
    lines.append(fmt(row, row["image"], row["start_scale"]))
  for k, mean in result["mean"].items():
    lines.append(fmt(mean, "mean", k))
  return "\n".join(lines)


def run(quick=True, inception_weights=None, out_dir="benchmarks/results/singan_quality",
        images=IMAGES, start_scales=START_SCALES, num_samples=None, config_overrides=None,
        sifid_layer="block1"):
  """Trains and scores every image; returns {"images": {name: ...}, "mean": ..., ...}.

  Args:
    quick: the quick config (64 px) instead of the paper's.
    inception_weights: the Inception-v3 weights file, or None for no SIFID.
    out_dir: where samples and per-image JSON go.
    images: names of scikit-image sample photographs.
    start_scales: generation start scales (0 = coarsest).
    num_samples: samples per start scale (default 10 quick, 50 full).
    config_overrides: SinGANConfig fields replacing the chosen config's (tests).
    sifid_layer: the Inception layer of SIFID.
  """
  from tfsingan.common import checkpointing  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.config import SinGANConfig  # pylint: disable=import-outside-toplevel
  overrides = {**(QUICK_CONFIG if quick else FULL_CONFIG), **(config_overrides or {})}
  config = SinGANConfig(**overrides)
  num_samples = num_samples or (QUICK_SAMPLES if quick else FULL_SAMPLES)
  sifid = None
  if inception_weights:
    from tfsingan.metrics import sifid as sifid_lib  # pylint: disable=import-outside-toplevel
    sifid = sifid_lib.SIFID(inception_weights, sifid_layer)
  result = {"config_overrides": overrides, "num_samples": num_samples,
            "start_scales": list(start_scales), "images": {}}
  if sifid is None:
    result["sifid_note"] = SIFID_SKIPPED
  else:
    result["sifid_layer"] = sifid.layer
    result["inception_weights"] = sifid.weights_path
  os.makedirs(out_dir, exist_ok=True)
  with tempfile.TemporaryDirectory(prefix="singan_quality_") as tmp:
    for name in images:
      # Quick runs train from scratch each time; full runs keep (and resume) theirs.
      run_dir = os.path.join(tmp if quick else out_dir, name, "run")
      result["images"][name] = evaluate_image(name, config, out_dir, run_dir,
                                              num_samples=num_samples,
                                              start_scales=start_scales, sifid=sifid)
  result["mean"] = {}
  for k in start_scales:
    scored = [r["per_start_scale"][str(k)] for r in result["images"].values()
              if "diversity_rgb" in r["per_start_scale"].get(str(k), {})]
    if scored:
      keys = [key for key in ("diversity_rgb", "diversity_gray", "sifid_mean") if key in scored[0]]
      result["mean"][str(k)] = {key: float(np.mean([s[key] for s in scored])) for key in keys}
  result["machine"] = machine_info()
  checkpointing.write_json(os.path.join(out_dir, "singan_quality.json"), result)
  return result


def main(argv):
  del argv
  # pylint: disable=import-outside-toplevel
  from absl import flags
  from tfsingan.errors import UserInputError
  from tfsingan.metrics import sifid as sifid_lib
  # pylint: enable=import-outside-toplevel
  f = flags.FLAGS
  weights = None
  try:
    weights = sifid_lib.find_inception_weights(f.inception_weights)
  except UserInputError:
    if f.inception_weights:
      raise
    print(SIFID_SKIPPED)
  if f.compare_reference:
    from benchmarks.run_all import machine_info  # pylint: disable=import-outside-toplevel
    from tfsingan.common import checkpointing  # pylint: disable=import-outside-toplevel
    sifid = sifid_lib.SIFID(weights, "block1") if weights else None
    images = f.images if f.images != list(IMAGES) else list(COMPARE_IMAGES)
    t0 = time.perf_counter()
    try:
      overrides = json.loads(f.config_overrides) if f.config_overrides else None
    except ValueError as e:
      raise UserInputError(f"--config_overrides: not JSON ({e}); expected e.g. "
                           '\'{"coarsest_rec_noise": "redrawn"}\'') from None
    result = compare_with_reference(f.out, sifid, images, config_overrides=overrides,
                                    which=() if f.score_only else ("ours", "reference"))
    result.update(machine=machine_info(), load_average=list(os.getloadavg()),
                  wall_seconds=time.perf_counter() - t0)
    if sifid is not None:
      print(f"SIFID: {sifid.description} ({sifid.note})")
    print(format_comparison(result))
    if f.results_json:
      checkpointing.write_json(f.results_json, result)
      print(f"wrote {f.results_json}")
    return
  result = run(not f.full, weights, f.out, f.images)
  for k, mean in result["mean"].items():
    text = ", ".join(f"{key} {value:.4f}" for key, value in mean.items())
    print(f"start scale {k}: {text} (mean over {len(result['images'])} images)")
  print(f"wrote {os.path.join(f.out, 'singan_quality.json')}")


if __name__ == "__main__":
  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_boolean("full", False, "The paper's config (hours an image) instead of the "
                       "quick one (64 px, 120 iterations a scale).")
  flags.DEFINE_string("inception_weights", None, "FID Inception .npz (python -m "
                      "tfsingan.metrics.fid_inception) or Keras ImageNet InceptionV3 .h5 for "
                      "SIFID; default: the Keras cache; without it SIFID is skipped.")
  flags.DEFINE_boolean("compare_reference", False, "Ours vs the PyTorch reference "
                       "(benchmarks/torch_singan_reference.py) on five photographs at a "
                       "small config (56 px, 200 iterations a scale), 50 samples per start "
                       "scale; resumes from OUT.")
  flags.DEFINE_boolean("score_only", False, "With --compare_reference: train nothing, score "
                       "the images whose two sides are in OUT.")
  flags.DEFINE_string("config_overrides", None, "With --compare_reference: JSON of "
                      "SinGANConfig fields for our side (the reference ignores them).")
  flags.DEFINE_string("results_json", None, "With --compare_reference: also write the "
                      "result, with the machine, here.")
  flags.DEFINE_list("images", list(IMAGES), "scikit-image sample photographs.")
  flags.DEFINE_string("out", "benchmarks/results/singan_quality", "Output folder.")
  app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit)
