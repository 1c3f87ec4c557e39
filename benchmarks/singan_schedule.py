"""SinGAN's paper schedule against --schedule=concurrent (ConSinGAN, Hinz et al., WACV 2021).

Trains both schedules on one scikit-image photograph at a reduced config, in this
process one after the other, and reports training CPU seconds (user + sys of the
process, `resource.getrusage`) and wall seconds, and SIFID of 50 random samples
(start scale 0) against the training image with FID's Inception (block 0, converted by
`python -m tfsingan.metrics.fid_inception`; skipped without --inception_weights).
SIFID values are comparable between the two rows, not with the paper's (other weights).

  nice -n 10 python -m benchmarks.singan_schedule --inception_weights=fid_inception.npz \
      --results_json=benchmarks/results/singan_schedule.json
"""

import dataclasses
import os
import resource
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

from benchmarks.machine import execution_info
from benchmarks.machine import machine_info
from benchmarks.machine import write_result

flags.DEFINE_string("image", "coffee", "scikit-image photograph.")
flags.DEFINE_integer("max_size", 64, "Long side of the training image.")
flags.DEFINE_integer("min_size", 16, "Short side of the coarsest scale.")
flags.DEFINE_integer("paper_iterations", 200, "Iterations a scale, paper schedule.")
flags.DEFINE_integer("concurrent_iterations", 100, "Iterations a stage, concurrent "
                     "(half the paper's, as ConSinGAN's 1000 to SinGAN's 2000).")
flags.DEFINE_integer("num_stages", 4, "Concurrent stages: ConSinGAN's 6 at 250 px is 2/3 of the "
                     "paper's 9 scales; 4 is about that share of the paper's 5 at 64 px.")
flags.DEFINE_list("schedules", ["paper", "concurrent"], "Which schedules to train (the "
                  "ratios need both; the paper row is deterministic: seeded, same config).")
flags.DEFINE_integer("num_samples", 50, "Samples scored per schedule.")
flags.DEFINE_string("inception_weights", None, "fid_inception.npz; none: SIFID skipped.")
flags.DEFINE_string("results_json", None, "Where to write the JSON result.")


def _cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def train(config, image, run_dir):
  """Trains one schedule; returns (TrainedSinGAN, cpu seconds, wall seconds)."""
  # pylint: disable=import-outside-toplevel
  from tfsingan.singan import trainer
  from tfsingan.singan.inference import TrainedSinGAN
  # pylint: enable=import-outside-toplevel
  cpu0, wall0 = _cpu_seconds(), time.perf_counter()
  trainer.run(dataclasses.replace(config, image=image), run_dir)
  cpu, wall = _cpu_seconds() - cpu0, time.perf_counter() - wall0
  return TrainedSinGAN.load(run_dir), cpu, wall


def run(image_name, schedules, num_samples, inception_weights=None):
  """{"rows": [...], ...}: one row a schedule, with the ratios concurrent / paper."""
  # pylint: disable=import-outside-toplevel
  from benchmarks.singan_quality import photo
  from tfsingan.common import image_io
  from tfsingan.singan.config import SinGANConfig
  # pylint: enable=import-outside-toplevel
  sifid = None
  if inception_weights:
    from tfsingan.metrics import sifid as sifid_lib  # pylint: disable=import-outside-toplevel
    sifid = sifid_lib.SIFID(inception_weights, "block1")
  rows = []
  with tempfile.TemporaryDirectory(prefix="singan_schedule_") as tmp:
    image = os.path.join(tmp, f"{image_name}.png")
    image_io.save_image(image, photo(image_name).astype(np.float32) / 255.0)
    for name, overrides in schedules.items():
      config = SinGANConfig(**overrides)
      model, cpu, wall = train(config, image, os.path.join(tmp, name))
      row = {"schedule": name, "overrides": overrides, "scales": model.num_scales,
             "sizes": [list(s) for s in model.sizes], "channels":
             [g.channels for g in model.generators], "cpu_seconds": cpu, "wall_seconds": wall}
      if sifid is not None:
        reference = np.asarray(model.reals[-1], np.float32)
        samples = model.sample(num_samples, start_scale=0, seed=1)
        values = [sifid(reference, s, real_key=name) for s in samples]
        row.update(sifid_mean=float(np.mean(values)), sifid_std=float(np.std(values)))
      rows.append(row)
  result = {"image": image_name, "rows": rows, "num_samples": num_samples,
            "sifid": sifid.description if sifid else "skipped (no --inception_weights)"}
  if len(rows) == 2:
    paper, conc = rows
    result["cpu_ratio"] = conc["cpu_seconds"] / paper["cpu_seconds"]
    result["wall_ratio"] = conc["wall_seconds"] / paper["wall_seconds"]
    if "sifid_mean" in paper:
      result["sifid_ratio"] = conc["sifid_mean"] / paper["sifid_mean"]
  return result


def format_table(result):
  lines = [f"{'schedule':<11} {'scales':>6} {'CPU s':>8} {'wall s':>8} {'SIFID':>8}"]
  for r in result["rows"]:
    sifid = f"{r['sifid_mean']:.4f}" if "sifid_mean" in r else "skipped"
    lines.append(f"{r['schedule']:<11} {r['scales']:>6} {r['cpu_seconds']:>8.1f} "
                 f"{r['wall_seconds']:>8.1f} {sifid:>8}")
  for key in ("cpu_ratio", "wall_ratio", "sifid_ratio"):
    if key in result:
      lines.append(f"{key} (concurrent / paper): {result[key]:.3f}")
  return "\n".join(lines)


def main(argv):
  del argv
  f = flags.FLAGS
  common = {"max_size": f.max_size, "min_size": f.min_size, "checkpoint_every": 10_000,
            "image_every": 10_000, "log_every": 50}
  schedules = {
      "paper": {**common, "iterations": f.paper_iterations,
                "lr_decay_at": int(0.8 * f.paper_iterations)},
      "concurrent": {**common, "schedule": "concurrent", "num_stages": f.num_stages,
                     "iterations": f.concurrent_iterations,
                     "lr_decay_at": int(0.8 * f.concurrent_iterations)},
  }
  schedules = {k: v for k, v in schedules.items() if k in f.schedules}
  t0 = time.perf_counter()
  result = run(f.image, schedules, f.num_samples, f.inception_weights)
  result.update(machine=machine_info(), execution=execution_info(),
                load_average=list(os.getloadavg()), wall_seconds=time.perf_counter() - t0,
                niceness=os.nice(0))
  print(format_table(result))
  print(f"SIFID: {result['sifid']}; CPU {result['machine']['cpu_model']}; wall times under "
        f"load (load average {result['load_average'][0]:.1f})")
  if f.results_json:
    write_result(f.results_json, result)
    print(f"wrote {f.results_json}")


if __name__ == "__main__":
  app.run(main)
