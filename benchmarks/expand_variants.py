"""SinGANimation's variants (thesis ch. 5): varied enough, and do they keep their label?

For each SinGAN setting (`--max_sizes`: the size the photo is downsampled to before
SinGAN; `--noise_modes`: the coarsest scale's reconstruction noise, the paper's fixed
z* or the original code's `redrawn`), one SinGAN is trained on the photo (the demo's
SinGAN flags otherwise: pass --flagfile=configs/singan_demo.cfg) and `expand`
(`tfsingan.singanimation.pipeline.run`, the code `python -m tfsingan.expand` runs)
makes the source and the six emotion expressions (`--editor`: warp or a GANimation
run) with `--variants` images of each from every start scale of `--start_scales`.
Then, per start scale:

  diversity     the SinGAN paper's (section 4): the per-pixel std over the M
                variants of an expression, averaged over pixels and channels, over
                the std of that expression image; the mean over expressions;
  agreement     the fraction of variants whose top FER2013 class
                (`tfsingan.judges.emotion`) is that of their expression image, both
                at the SinGAN's size with the same face box;
  au_drift      the mean over variants and the 17 AUs of |AU reading of the variant -
                AU reading of its expression image| (`tfsingan.faces.AUReader`), and
                the largest per-AU mean (`au_drift_max`);
  intended      the fraction of the emotion expressions' variants judged as the
                intended emotion (beside it, of the expression images themselves);
  diversity_face, diversity_outside
                the same diversity (the same normaliser: the expression image's std)
                over the pixels inside the face's hull (its 478 dense landmarks, at
                the SinGAN's size) and outside it: diversity = face_fraction x
                diversity_face + (1 - face_fraction) x diversity_outside.

`--face_gains` sweeps expand's `--variant_face_gain` (the noise gain inside the face,
`--noise_gains` being the gain outside it; -1: no face region, one gain everywhere);
`--variant_seeds` repeats every setting with other seeds of the variants (the SinGAN
stays the one of --seed).

Start scale 0 (the paper's N) cannot take an injected image (there is no coarser
scale to downsample it to): its row is the SinGAN's own random samples, scored
against every expression, i.e. what is left of an expression when it is dropped.

  python -m benchmarks.expand_variants --flagfile=configs/singan_demo.cfg \
      --max_sizes=48,64 --noise_modes=fixed,redrawn --editor=warp \
      --workdir=runs/bench_expand --out=benchmarks/results/expand_variants.json

SinGAN runs and expand outputs are kept in --workdir and reused. Prints the table;
the JSON (written after every setting) holds it with the machine.
"""

import dataclasses
import os
import sys
import time

import numpy as np

from tfsingan.errors import UserInputError

# The choice of defaults (issue 14): diversity and label agreement together.
MIN_DIVERSITY = 0.15
MIN_AGREEMENT = 0.9


def _ints(spec, what):
  try:
    return [int(s) for s in str(spec).split(",") if s.strip()]
  except ValueError:
    raise UserInputError(f"--{what}={spec}: expected comma-separated integers") from None


def _scaled_detection(det, factor):
  from tfsingan.faces import detection  # pylint: disable=import-outside-toplevel
  box = tuple(int(round(v * factor)) for v in det.box)
  return detection.Detection(box, np.asarray(det.landmarks5, np.float32) * factor,
                             det.confidence, det.detector)


class Scorer:
  """The judges on images of the SinGAN's size, with the face of the photo."""

  def __init__(self, photo, size, emotion_model=None, face_landmarker=None):
    # pylint: disable=import-outside-toplevel
    import cv2
    from tfsingan import faces
    from tfsingan.judges import emotion
    from tfsingan.singanimation import face_region
    det = faces.detect(photo)
    if not det:
      raise UserInputError("--image: no face found")
    self.det = _scaled_detection(det[0], size[1] / photo.shape[1])
    self.judge = emotion.EmotionJudge(emotion_model)
    self.reader = faces.AUReader(face_landmarker)
    self.emotion = emotion
    # The face's hull (expand's face region, no feather) at the SinGAN's size.
    hull = 1.0 - face_region.outside_mask(face_region.read_face(photo, face_landmarker)[0],
                                          photo.shape, feather=0.0)
    self.face = cv2.resize(hull, (size[1], size[0]), interpolation=cv2.INTER_AREA) >= 0.5

  def labels(self, images):
    crops = np.stack([self.emotion.gray_face(im, self.det.box) for im in images])
    probs = self.judge.probabilities(crops)
    return [self.emotion.LABELS[k] for k in probs.argmax(axis=1)]

  def aus(self, images):
    return np.stack([self.reader.read(im, self.det).aus for im in images]).astype(np.float64)


def score(scorer, expressions, variants):
  """Figures of one start scale: `expressions` {name: image}, `variants` {name: (M, ...)}."""
  from tfsingan.judges import emotion  # pylint: disable=import-outside-toplevel
  from tfsingan.metrics.diversity import diversity  # pylint: disable=import-outside-toplevel
  div, agree, drift, intended, intended_expr, per_expression = [], [], [], [], [], {}
  for name, image in expressions.items():
    samples = variants[name]
    label = scorer.labels([image])[0]
    labels = scorer.labels(samples)
    d = np.abs(scorer.aus(samples) - scorer.aus([image]))  # (M, 17)
    std = np.asarray(samples, np.float64).std(axis=0).mean(axis=-1) / np.asarray(
        image, np.float64).std()
    row = {"diversity": diversity(samples, image), "label": label,
           "diversity_face": float(std[scorer.face].mean()),
           "diversity_outside": float(std[~scorer.face].mean()),
           "agreement": float(np.mean([l == label for l in labels])),
           "au_drift": float(d.mean()), "variant_labels": labels}
    preset = name[len("emotion_"):] if name.startswith("emotion_") else None
    if preset:
      want = emotion.PRESET_LABELS[preset]
      row["intended"] = float(np.mean([l == want for l in labels]))
      intended.append(row["intended"])
      intended_expr.append(float(label == want))
    div.append([row["diversity"], row["diversity_face"], row["diversity_outside"]])
    agree.append(row["agreement"])
    drift.append(d)
    per_expression[name] = row
  drift = np.concatenate(drift)
  div = np.mean(div, axis=0)
  return {"diversity": float(div[0]), "diversity_face": float(div[1]),
          "diversity_outside": float(div[2]), "face_fraction": float(scorer.face.mean()),
          "agreement": float(np.mean(agree)),
          "au_drift": float(drift.mean()), "au_drift_max": float(drift.mean(axis=0).max()),
          "intended": float(np.mean(intended)) if intended else None,
          "intended_expression": float(np.mean(intended_expr)) if intended_expr else None,
          "per_expression": per_expression}


def run_setting(photo, image_spec, singan_config, start_scales, *, variant_modes, variants,
                editor, ganimation_workdir, workdir, seed, scorer_args, noise_gains=(1.0,),
                face_gains=(-1.0,), face_feather=0.15, variant_seeds=None):
  """Trains one SinGAN, expands the photo from every start scale, scores each."""
  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io
  from tfsingan.common.resize import imresize_np
  from tfsingan.singan.inference import TrainedSinGAN
  from tfsingan.singanimation import pipeline
  from tfsingan.singanimation.config import SinGANimationConfig
  singan_workdir = os.path.join(workdir, "singan")
  rows, seconds = [], {}
  scorer = None
  variant_seeds = variant_seeds or [seed]
  for vseed, mode, gain, face_gain, k in ((s, m, g, f, k) for s in variant_seeds
                                          for m in variant_modes for g in noise_gains
                                          for f in face_gains for k in start_scales):
    # inject cannot start at N: its row reads the expressions of the N-1 job.
    start = max(k, 1) if mode == "inject" else k
    name = f"expand_s{start}" if mode == "inject" else f"transfer_s{start}"
    name += "" if gain == 1.0 else f"_gain{gain:g}"
    if face_gain >= 0:
      name += f"_face{face_gain:g}" + ("" if face_feather == 0.15 else f"_f{face_feather:g}")
    name += "" if vseed == seed else f"_seed{vseed}"
    out = os.path.join(workdir, name)
    config = SinGANimationConfig(
        image=image_spec, editor=editor, ganimation_workdir=ganimation_workdir,
        sweep_aus="", emotions="all", interpolate_steps=0, variants=variants,
        start_scale=start, singan_workdir=singan_workdir, seed=vseed, variant_mode=mode,
        variant_noise_gain=gain, variant_face_gain=face_gain,
        variant_face_feather=face_feather)
    t0 = time.perf_counter()
    pipeline.run(config, singan_config, out)
    seconds[name] = round(time.perf_counter() - t0, 1)
    model = TrainedSinGAN.load(singan_workdir)
    size = model.sizes[-1]
    expressions = {}
    for e in pipeline.expressions_lib.plan_expressions(config):
      image = image_io.load_image(os.path.join(out, pipeline.expression_file(e.name)),
                                  quiet=True)
      expressions[e.name] = np.clip(imresize_np(image, size), 0.0, 1.0)
    if start != k:  # inject at N: the SinGAN's random samples, whatever the expression
      samples = model.sample(variants, start_scale=0, seed=vseed)
      found = {e: samples for e in expressions}
    else:
      found = {e: np.stack([image_io.load_image(os.path.join(
          out, pipeline.variant_file(e, k, v)), quiet=True) for v in range(variants)])
               for e in expressions}
    scorer = scorer or Scorer(photo, size, **scorer_args)
    row = score(scorer, expressions, found)
    row.update(variant_mode=mode, start_scale=k, num_scales=model.num_scales, size=list(size),
               noise_gain=gain, face_gain=face_gain, variant_seed=vseed,
               face_feather=face_feather if face_gain >= 0 else None)
    rows.append(row)
  return rows, seconds


def format_table(rows):
  lines = ["| downsampled to | z* | variants | noise gain (outside) | face gain | start | "
           "diversity | inside the face / outside | label agreement | AU drift (max AU) | "
           "judged intended: variants / expressions | meets |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    name = "N" if r["start_scale"] == 0 else f"N-{r['start_scale']}"
    meets = r["diversity"] >= MIN_DIVERSITY and r["agreement"] >= MIN_AGREEMENT
    lines.append(
        f"| {r['max_size']} px ({r['num_scales']} scales) | {r['noise_mode']} | "
        f"{r.get('variant_mode', 'inject')} | {r.get('noise_gain', 1.0):g} | "
        f"{_face_gain_text(r)} | {name} | {r['diversity']:.3f} | "
        f"{r.get('diversity_face', float('nan')):.3f} / "
        f"{r.get('diversity_outside', float('nan')):.3f} | {r['agreement']:.2f} | "
        f"{r['au_drift']:.3f} "
        f"({r['au_drift_max']:.3f}) | {r['intended']:.2f} / {r['intended_expression']:.2f} | "
        f"{'yes' if meets else 'no'} |")
  return "\n".join(lines)


def _face_gain_text(row):
  gain = row.get("face_gain", -1.0)
  return "-" if gain < 0 else f"{gain:g} (feather {row['face_feather']:g})"


def _floats(spec, what, low):
  try:
    values = [float(g) for g in str(spec).split(",") if g.strip()]
  except ValueError:
    raise UserInputError(f"--{what}={spec}: expected comma-separated numbers") from None
  if not values or not all(low <= g <= 100.0 for g in values):
    raise UserInputError(f"--{what}={spec}: expected numbers in [{low:g}, 100]")
  return values


def main(argv):
  del argv
  # pylint: disable=import-outside-toplevel
  from absl import flags
  from benchmarks.machine import machine_info
  from tfsingan import flags as flag_lib
  from tfsingan.common import checkpointing
  from tfsingan.common import image_io
  from tfsingan.common import precision as precision_lib
  from tfsingan.singan.config import SinGANConfig
  f = flags.FLAGS
  sizes, start_scales = _ints(f.max_sizes, "max_sizes"), _ints(f.start_scales, "start_scales")
  gains = _floats(f.noise_gains, "noise_gains", 0.0)
  face_gains = _floats(f.face_gains, "face_gains", -1.0)
  if any(-1.0 < g < 0.0 for g in face_gains):
    raise UserInputError(f"--face_gains={f.face_gains}: expected -1 (no face region) or gains "
                         "in [0, 100]")
  variant_seeds = _ints(f.variant_seeds, "variant_seeds") or None
  if variant_seeds and min(variant_seeds) < 0:
    raise UserInputError(f"--variant_seeds={f.variant_seeds}: expected integers >= 0")
  if not 0.0 <= f.face_feather <= 1.0:
    raise UserInputError(f"--face_feather={f.face_feather}: expected a number in [0, 1]")
  modes = [m.strip() for m in f.noise_modes.split(",") if m.strip()]
  variant_modes = [m.strip() for m in f.variant_modes.split(",") if m.strip()]
  from tfsingan.singanimation.config import VARIANT_MODES
  if not variant_modes or set(variant_modes) - set(VARIANT_MODES):
    raise UserInputError(f"--variant_modes={f.variant_modes}: expected some of "
                         f"{', '.join(VARIANT_MODES)}")
  if f.editor == "ganimation" and not f.ganimation_workdir:
    raise UserInputError("--ganimation_workdir: required with --editor=ganimation")
  base = flag_lib.config_from_flags(SinGANConfig)
  configs = {(s, m): precision_lib.resolve_config(
      dataclasses.replace(base, max_size=s, coarsest_rec_noise=m), None)
             for s in sizes for m in modes}  # every flag checked before any training
  image_spec = f.image or "bundled:grace_hopper"
  photo = image_io.load_image(image_spec, what="--image")
  result = {"machine": machine_info(), "image": image_spec, "editor": f.editor,
            "variant_modes": variant_modes, "face_gains": face_gains,
            "face_feather": f.face_feather,
            "ganimation_workdir": f.ganimation_workdir, "variants": f.variants,
            "singan": dataclasses.asdict(base), "min_diversity": MIN_DIVERSITY,
            "min_agreement": MIN_AGREEMENT, "rows": [], "seconds": {}}
  for (size, mode), config in configs.items():
    workdir = os.path.join(f.workdir, f"{mode}_{size}")
    rows, seconds = run_setting(
        photo, image_spec, config, start_scales, variant_modes=variant_modes,
        variants=f.variants, editor=f.editor,
        ganimation_workdir=f.ganimation_workdir, workdir=workdir, seed=base.seed,
        scorer_args={"emotion_model": f.emotion_model or None}, noise_gains=gains,
        face_gains=face_gains, face_feather=f.face_feather, variant_seeds=variant_seeds)
    for r in rows:
      r.update(max_size=size, noise_mode=mode)
    result["rows"] += rows
    result["seconds"][f"{mode}_{size}"] = seconds
    if f.out:
      checkpointing.write_json(f.out, result)
  print(format_table(result["rows"]))
  if f.out:
    print(f"wrote {f.out}")
  return 0


if __name__ == "__main__":
  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error
  from tfsingan.singan.config import SinGANConfig

  flags.DEFINE_enum("model", "singan", ["singan"], "Set by the SinGAN flagfiles; only singan.")
  tfsingan.flags.define_config_flags(SinGANConfig)
  flags.DEFINE_string("max_sizes", "48,64", "Sizes the photo is downsampled to before SinGAN.")
  flags.DEFINE_string("noise_modes", "fixed,redrawn",
                      "--coarsest_rec_noise settings (fixed: the paper's z*).")
  flags.DEFINE_string("variant_modes", "inject,transfer", "expand's --variant_mode settings.")
  flags.DEFINE_string("start_scales", "0,1,2", "Start scales (0 = N, 1 = N-1, 2 = N-2).")
  flags.DEFINE_string("noise_gains", "1", "expand's --variant_noise_gain settings.")
  flags.DEFINE_string("face_gains", "-1", "expand's --variant_face_gain settings (-1: none).")
  flags.DEFINE_float("face_feather", 0.15, "expand's --variant_face_feather.")
  flags.DEFINE_string("variant_seeds", "", "Seeds of the variants (expand's --seed; the "
                      "SinGAN keeps --seed); default: --seed.")
  flags.DEFINE_integer("variants", 8, "Variants of each expression.", lower_bound=2)
  flags.DEFINE_enum("editor", "warp", ["warp", "ganimation"], "What makes the expressions.")
  flags.DEFINE_string("ganimation_workdir", "", "GANimation run (--editor=ganimation).")
  flags.DEFINE_string("emotion_model", None, "FER2013 emotion_model.hdf5 (default: fer's).")
  flags.DEFINE_string("workdir", "runs/bench_expand", "SinGAN runs and expand outputs (reused).")
  flags.DEFINE_string("out", "benchmarks/results/expand_variants.json", "JSON output.")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
