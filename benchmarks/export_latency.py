"""Export latency: size and median latency (batch 1, 2 threads) of the exported models.

For the GANimation generator (Pumarola et al., ECCV 2018) at 128 px and SinGAN's
(Shaham et al., ICCV 2019) coarse scales, times Keras eager, Keras `tf.function`,
the reloaded SavedModel signature and TFLite float32 / float16 / int8 (run with
ai_edge_litert; the three files timed in turn, round-robin), all in one process on
the same inputs; reports each as a ratio to Keras eager, int8 against float32
(speed and file size) and the CPU's model and flags (XNNPACK picks its int8 kernels
from them: AVX2, AVX512-VNNI, AVX-VNNI). Prints a table, writes JSON.

  python -m benchmarks.export_latency [--ganimation_workdir=W] [--singan_workdir=W]
      [--singan_scales=3] [--quick] --out=benchmarks/results/export_latency.json

Without a workdir, a run with random weights of the paper architecture is written
to a temporary folder and timed (GANimation: 128 px, conv_dim 64, 6 residual
blocks; SinGAN: the first --singan_scales scales of a 250 px image, 32 channels):
latency and size do not depend on the weight values. --quick times 32 px /
8-channel models a few times, to check that the script runs; its figures mean
nothing. Time on an idle machine: the timings of a shared one are not results.
"""

import os
import statistics
import tempfile
import time

from absl import app
from absl import flags

from benchmarks.machine import machine_info
from benchmarks.machine import write_result
from tfsingan import flags as flag_lib

THREADS = 2
FLAGS = flags.FLAGS


def _time(fn, warmup, iters):
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1000.0 * statistics.median(times)


def _time_interleaved(fns, warmup, iters):
  """{name: median ms} of `fns` ({name: callable}) timed in turn, one call each per
  round."""
  for _ in range(warmup):
    for fn in fns.values():
      fn()
  times = {name: [] for name in fns}
  for _ in range(iters):
    for name, fn in fns.items():
      start = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - start)
  return {name: 1000.0 * statistics.median(t) for name, t in times.items()}


def _folder_bytes(path):
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
             for f in files)


def write_random_ganimation_run(root, image_size, conv_dim, repeat_num):
  """A GANimation run directory with random weights (nothing trained)."""
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import networks  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  os.makedirs(root, exist_ok=True)
  generator = networks.build_generator(image_size, conv_dim, repeat_num, dtype="float32")
  generator.save_weights(os.path.join(root, inference.GENERATOR_WEIGHTS))
  config = GANimationConfig(image_size=image_size, conv_dim=conv_dim, repeat_num=repeat_num,
                            critic_layers=min(6, (image_size // 2).bit_length() - 1))
  with open(os.path.join(root, inference.CONFIG_NAME), "w", encoding="utf-8") as f:
    f.write(rundir.to_json(config, "ganimation"))


def write_random_singan_run(root, image_size, num_scales, base_channels=32):
  """A SinGAN run directory with random weights for the first `num_scales` scales of
  an `image_size` square image (the paper's pyramid and widths)."""
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.singan import scales  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.config import SinGANConfig  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.networks import SinGANGenerator  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.pyramid import RunPyramid  # pylint: disable=import-outside-toplevel
  config = SinGANConfig(max_size=image_size, min_size=min(25, image_size),
                        base_channels=base_channels)
  pyramid = scales.scale_schedule(image_size, image_size, min_size=config.min_size,
                                  max_size=config.max_size)
  sizes = [list(s) for s in pyramid.sizes[:num_scales]]
  channels = [scales.channels_at(n, base_channels, config.max_channels) for n in
              range(len(sizes))]
  run = RunPyramid(root)
  run.start(sizes, pyramid.scale_factor)
  for n, width in enumerate(channels):
    # Distinct seeds: identical weight tensors would be stored once by the converter.
    gen = SinGANGenerator(width, config.kernel_size, config.num_layers, seed=100 * n)
    gen.build(((None, None, None, 3), (None, None, None, 3)))
    run.finish_scale(n, gen, None, 1.0 if n == 0 else 0.1, 0.0)
  with open(os.path.join(root, rundir.CONFIG_NAME), "w", encoding="utf-8") as f:
    f.write(rundir.to_json(config, "singan"))
  run.z_rec(seed=0)


def _measure(name, graphs_fn, specs, feed, modules, workdir, tflite_kwargs, warmup, iters,
             tmp):
  """Times one model in every form; returns its JSON entry."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  from export import common  # pylint: disable=import-outside-toplevel
  from export import tflite  # pylint: disable=import-outside-toplevel
  forms = {}
  keras_bytes = sum(int(v.numpy().nbytes) for m in modules for v in m.weights)
  args = [feed[s.name] for s in specs]
  forms["keras_eager"] = {"median_ms": _time(lambda: graphs_fn(*args), warmup, iters),
                          "size_bytes": keras_bytes}
  compiled = tf.function(graphs_fn, input_signature=specs)
  forms["keras_function"] = {"median_ms": _time(lambda: compiled(*args), warmup + 1, iters),
                             "size_bytes": keras_bytes}
  folder = os.path.join(tmp, f"{name}_saved_model")
  common.make_archive(modules, [("serve", graphs_fn, specs)]).write_out(folder, verbose=False)
  signature = tf.saved_model.load(folder).signatures["serve"]
  forms["saved_model"] = {"median_ms": _time(lambda: signature(**feed), warmup + 1, iters),
                          "size_bytes": _folder_bytes(folder)}
  runners = {}
  for q, label in (("none", "tflite_float32"), ("float16", "tflite_float16"),
                   ("int8", "tflite_int8")):
    model, info = tflite.build(workdir, q, **tflite_kwargs)
    runner = Interpreter(model_content=model, num_threads=THREADS).get_signature_runner(
        info["signature"])
    runners[label] = lambda r=runner: r(**feed)
    forms[label] = {"size_bytes": len(model)}
  # Round-robin, so that a change of load on a shared machine hits the three
  # files alike and their ratios hold.
  for label, ms in _time_interleaved(runners, warmup, iters).items():
    forms[label]["median_ms"] = ms
  eager = forms["keras_eager"]["median_ms"]
  for entry in forms.values():
    entry["speedup_vs_keras_eager"] = eager / entry["median_ms"]
  return {"forms": forms,
          "int8_size_vs_float32": (forms["tflite_int8"]["size_bytes"]
                                   / forms["tflite_float32"]["size_bytes"]),
          "tflite_int8_speedup_vs_float32": (forms["tflite_float32"]["median_ms"]
                                             / forms["tflite_int8"]["median_ms"]),
          "tflite_float32_speedup_vs_keras_eager":
              forms["tflite_float32"]["speedup_vs_keras_eager"]}


def run(quick=False, ganimation_workdir=None, singan_workdir=None, singan_scales=3,
        iters=None, calibration_samples=None):
  """Measures both models; returns the JSON-able results."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from export import common  # pylint: disable=import-outside-toplevel
  try:
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)
  except RuntimeError:  # TensorFlow already initialised by the caller
    pass
  iters = iters or (3 if quick else 30)
  warmup = 1 if quick else 3
  calibration = calibration_samples or (4 if quick else 64)
  rng = np.random.default_rng(0)
  # XNNPACK picks its kernels from CPUID (AVX2, AVX512-VNNI, AVX-VNNI, ...) with no
  # switch to cap them: machine_info records the flags.
  results = {"threads": THREADS, "batch": 1, "iterations": iters, "quick": quick,
             "machine": machine_info(),
             "models": {}}
  with tempfile.TemporaryDirectory(prefix="export-latency-") as tmp:
    if not ganimation_workdir:
      ganimation_workdir = os.path.join(tmp, "ganimation_run")
      size, dim, blocks = (32, 8, 1) if quick else (128, 64, 6)
      write_random_ganimation_run(ganimation_workdir, size, dim, blocks)
      gan_source = f"random weights, {size} px, conv_dim {dim}, {blocks} residual blocks"
    else:
      gan_source = os.path.abspath(ganimation_workdir)
    graphs, config = common.GANimationGraphs.load(ganimation_workdir)
    s = config.image_size
    feed = {"image": rng.uniform(0, 1, (1, s, s, 3)).astype(np.float32),
            "aus": rng.uniform(0, 1, (1, 17)).astype(np.float32)}
    entry = _measure("ganimation", graphs.animate, graphs.input_signature(batch=1), feed,
                     [graphs.generator], ganimation_workdir,
                     {"calibration_samples": calibration}, warmup, iters, tmp)
    results["models"]["ganimation"] = {"source": gan_source, "image_size": s, **entry}

    if not singan_workdir:
      singan_workdir = os.path.join(tmp, "singan_run")
      size = 64 if quick else 250
      write_random_singan_run(singan_workdir, size, singan_scales, 8 if quick else 32)
      sin_source = f"random weights, first {singan_scales} scales of a {size} px pyramid"
    else:
      sin_source = os.path.abspath(singan_workdir)
    sin = common.SinGANGraphs.load(singan_workdir, singan_scales)
    specs = sin.noise_specs(0, batch=1)
    feed = {sp.name: rng.standard_normal(sp.shape.as_list()).astype(np.float32)
            for sp in specs}
    entry = _measure("singan", sin.sample(0), specs, feed, sin.model.generators,
                     singan_workdir, {"scales": singan_scales,
                                      "calibration_samples": calibration}, warmup, iters, tmp)
    results["models"]["singan_coarse"] = {"source": sin_source, "scales": singan_scales,
                                          "sizes": [list(x) for x in sin.sizes], **entry}
  results["machine"]["load_average_end"] = os.getloadavg()
  return results


def format_table(results):
  machine = results["machine"]
  lines = [f"batch 1, {results['threads']} threads, median of {results['iterations']} runs"
           + (" (--quick: not a measurement)" if results["quick"] else ""),
           f"{machine['cpu_model']}, flags {' '.join(machine['cpu_flags'])}, load average "
           f"{machine['load_average'][0]:.1f} at start"]
  for name, model in results["models"].items():
    lines.append(f"\n{name} ({model['source']})")
    lines.append(f"  {'form':<16}{'median ms':>11}{'vs eager':>10}{'size MB':>10}")
    for form, entry in model["forms"].items():
      lines.append(f"  {form:<16}{entry['median_ms']:>11.2f}"
                   f"{entry['speedup_vs_keras_eager']:>9.2f}x"
                   f"{entry['size_bytes'] / 1e6:>10.2f}")
    lines.append(f"  TFLite float32 vs Keras eager: "
                 f"{model['tflite_float32_speedup_vs_keras_eager']:.2f}x faster (target >= 2x); "
                 f"int8 / float32 size: {model['int8_size_vs_float32']:.2f} (target <= 0.33)")
    lines.append(f"  TFLite int8 vs float32: "
                 f"{model['tflite_int8_speedup_vs_float32']:.2f}x faster (target >= 2x)")
  return "\n".join(lines)


def define_flags():
  flags.DEFINE_string("ganimation_workdir", None, "A GANimation run (default: random weights "
                      "of the paper architecture).")
  flags.DEFINE_string("singan_workdir", None, "A SinGAN run (default: random weights).")
  flags.DEFINE_integer("singan_scales", 3, "Coarse SinGAN scales in the model.")
  flags.DEFINE_integer("iters", None, "Timed runs per form (default 30; 3 with --quick).")
  flags.DEFINE_integer("calibration_samples", None, "int8 calibration inputs (default 64).")
  flags.DEFINE_boolean("quick", False, "Tiny models, few runs: checks that the script runs.")
  flags.DEFINE_string("out", "benchmarks/results/export_latency.json", "JSON output.")


def main(argv):
  del argv
  results = run(FLAGS.quick, FLAGS.ganimation_workdir, FLAGS.singan_workdir,
                FLAGS.singan_scales, FLAGS.iters, FLAGS.calibration_samples)
  print(format_table(results), flush=True)
  write_result(FLAGS.out, results)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
