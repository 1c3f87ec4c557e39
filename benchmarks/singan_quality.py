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

  python -m benchmarks.singan_quality [--full] [--inception_weights=PATH] --out=DIR
"""

import dataclasses
import os
import tempfile
import time

import numpy as np

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
  """A scikit-image sample photograph as uint8 RGB."""
  from skimage import data as skdata  # pylint: disable=import-outside-toplevel
  return getattr(skdata, name)()


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
  from tfsingan.singan import trainer
  from tfsingan.singan.inference import TrainedSinGAN
  # pylint: enable=import-outside-toplevel
  os.makedirs(run_dir, exist_ok=True)
  source = os.path.join(run_dir, f"{name}.png")
  if not os.path.exists(source):
    image_io.save_image(source, photo(name).astype(np.float32) / 255.0)
  config = dataclasses.replace(config, image=source)
  t0 = time.perf_counter()
  trainer.run(config, run_dir)
  train_seconds = time.perf_counter() - t0
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
  flags.DEFINE_string("inception_weights", None, "Keras ImageNet InceptionV3 .h5 for SIFID; "
                      "default: the Keras cache; without it SIFID is skipped.")
  flags.DEFINE_list("images", list(IMAGES), "scikit-image sample photographs.")
  flags.DEFINE_string("out", "benchmarks/results/singan_quality", "Output folder.")
  app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit)
