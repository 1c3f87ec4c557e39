"""SinGAN training-step speed: seconds per iteration at coarse, middle and fine scales.

For the paper config on a 250 px image, each (scale, execution mode, precision) is
timed in its own subprocess (clean memory peak, no shared caches): eager,
`tf.function` and XLA, float32 and mixed_bfloat16. When PyTorch is installed, the
same iterations of a re-implementation of the original code
(`benchmarks/torch_singan_reference.py`) are timed in the same run, so the ratios
compare like with like on this machine. Prints a table, writes JSON.

  python -m benchmarks.singan_step --image=PATH --out=benchmarks/results/singan_step.json
"""

import dataclasses
import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

from benchmarks.machine import describe_execution
from benchmarks.machine import execution_info
from benchmarks.machine import machine_info
from benchmarks.machine import set_threads
from benchmarks.machine import write_result

flags.DEFINE_string("image", "", "Training image (default: the bundled face at 250x250).")
flags.DEFINE_list("scales", ["coarse", "middle", "fine"], "coarse, middle, fine or indices.")
flags.DEFINE_list("modes", ["eager", "function", "xla", "chosen"],
                  "Execution modes; chosen: what training picks for this CPU and scale "
                  "(tfsingan/common/execution.py).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Precisions.")
flags.DEFINE_integer("iters", 3, "Timed iterations per measurement (coarse/middle).")
flags.DEFINE_integer("fine_iters", 2, "Timed iterations at the finest scale.")
flags.DEFINE_integer("warmup", 1, "Untimed iterations after tracing/compilation.")
flags.DEFINE_enum("torch", "auto", ["auto", "on", "off"], "Time the PyTorch reference too.")
flags.DEFINE_list("eager_scales", ["coarse", "middle", "fine"],
                  "Scales at which eager mode is timed (it is slow to trace nothing).")
flags.DEFINE_integer("threads", 0, "Threads of TensorFlow (intra and inter op) and of the "
                     "PyTorch reference (0: all cores). With 1, the CPU seconds per "
                     "iteration measure the work even on a loaded machine.")
flags.DEFINE_string("out", "benchmarks/results/singan_step.json", "JSON output.")
flags.DEFINE_string("worker", "", "Internal: run one measurement (JSON spec).")
FLAGS = flags.FLAGS

ITERATIONS_PER_SCALE = 2000  # the paper's schedule, for the extrapolation


def _training_image(path):
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  if path:
    return image_io.load_image(path, what="--image")
  import cv2  # pylint: disable=import-outside-toplevel
  return cv2.resize(image_io.bundled_face(), (250, 250), interpolation=cv2.INTER_CUBIC)


def conv_flops(size, channels, kernel=3, layers=5, out_channels=3, pad=5, generator=True):
  """Multiply-add FLOPs (x2) of one forward pass of a SinGAN G (padded input) or D."""
  h, w = size
  if generator:
    h, w = h + 2 * pad, w + 2 * pad
  total, cin = 0, 3
  for i in range(layers):
    cout = channels if i < layers - 1 else (out_channels if generator else 1)
    h, w = h - (kernel - 1), w - (kernel - 1)
    total += 2 * kernel * kernel * cin * cout * h * w
    cin = cout
  return total


def iteration_flops(size, channels, d_steps=3, g_steps=3):
  """Convolution FLOPs of one iteration at this scale, frozen scales excluded.

  Forward-equivalents per critic step: G forward 1; D on real and fake 2 forward +
  4 backward; gradient penalty 1 forward + 1 input-gradient + 4 for its second-order
  backward: G + 12 D. Per generator step: fake and reconstruction, 2 G forward + 4 G
  backward, D 1 forward + 1 input-gradient: 6 G + 2 D. Total 21 G + 42 D for 3 + 3.
  """
  fg = conv_flops(size, channels, generator=True)
  fd = conv_flops(size, channels, generator=False)
  return d_steps * (fg + 12 * fd) + g_steps * (6 * fg + 2 * fd)


def _worker(spec):
  """Times one configuration; prints one JSON line."""
  import resource  # pylint: disable=import-outside-toplevel
  res = _time_tf(spec)
  res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
  print("RESULT " + json.dumps(res), flush=True)


# The PyTorch reference runs in a process of its own too (clean memory peak, no
# TensorFlow loaded beside torch).
_TORCH_WORKER = """
import json, resource, sys
from benchmarks import torch_singan_reference as ref
spec = json.loads(sys.argv[1])
h, w = spec["image_hw"]
res = ref.time_iterations(h, w, spec["scale"], iters=spec["iters"], warmup=spec["warmup"],
                          threads=spec.get("threads") or None)
print("RESULT " + json.dumps({
    "seconds_per_iter": res["seconds_per_iter"], "first_call_s": None,
    "cpu_per_wall": res["cpu_per_wall"], "cpu_s_per_iter": res["cpu_seconds_per_iter"],
    "execution": {"threads": res["threads"]},
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def build_step(spec):
  """(step function, model, config, chosen) of one spec: scale spec["scale"] of an
  in-memory pyramid of spec["sizes"] (random reals, z* and frozen scales), built as the
  trainer builds it, for spec["mode"] and spec["precision"]."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfsingan.common import execution  # pylint: disable=import-outside-toplevel
  from tfsingan.singan import scales  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.concurrent import scale_model  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.config import SinGANConfig  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.networks import build_scale_networks  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.pyramid import RunPyramid  # pylint: disable=import-outside-toplevel

  set_threads(spec.get("threads", 0))
  sizes = [tuple(s) for s in spec["sizes"]]
  n = spec["scale"]
  config = SinGANConfig(precision=spec["precision"], jit_compile=spec["mode"] == "xla")
  chosen = {}
  if spec["mode"] == "chosen":
    config = execution.resolve_singan(config, quiet=True)
    execution.apply_batch_norm_threshold(config)
    config = dataclasses.replace(config,
                                 jit_compile=execution.singan_scale_uses_xla(config, sizes[n]))
    chosen = {"cpu_kind": execution.cpu_kind(), "jit_compile": config.jit_compile,
              "fused_bn_min_pixels": config.fused_bn_min_pixels}
  widths = [scales.channels_at(i) for i in range(n + 1)]
  frozen = [build_scale_networks(widths[i], config, seed=i)[0] for i in range(n)]
  gen, critic = build_scale_networks(widths[n], config, seed=100)
  rng = np.random.default_rng(0)
  reals = [rng.uniform(0, 1, (*size, 3)).astype(np.float32) for size in sizes[:n + 1]]
  z_rec = rng.standard_normal((*sizes[0], 3)).astype(np.float32)
  pyramid = RunPyramid.in_memory(sizes[:n + 1], reals, z_rec, frozen,
                                 [1.0] + [0.1] * max(0, n - 1))
  model = scale_model(gen, critic, pyramid.next_scale(config), config)
  model.compile()
  if spec["mode"] == "eager":
    step = model.train_step
  else:
    step = tf.function(model.train_step, jit_compile=config.jit_compile)
  return step, model, config, chosen


def _time_tf(spec):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfsingan.common.layers import PerExampleBatchNorm  # pylint: disable=import-outside-toplevel
  step, model, config, chosen = build_step(spec)
  sizes, n = spec["sizes"], spec["scale"]
  t0 = time.perf_counter()
  float(step()["d_loss"])
  first = time.perf_counter() - t0
  for _ in range(spec["warmup"]):
    float(step()["d_loss"])
  t0, c0 = time.perf_counter(), time.process_time()
  for _ in range(spec["iters"]):
    logs = step()
  float(logs["d_loss"])
  seconds = (time.perf_counter() - t0) / spec["iters"]
  cpu_seconds = (time.process_time() - c0) / spec["iters"]
  # The frozen scales' share: drawing the random input (all coarser generators
  # forward, in-graph resizes) once per critic step.
  draw = tf.function(model.random_input, jit_compile=config.jit_compile)
  draw()
  t0 = time.perf_counter()
  for _ in range(3):
    out = draw()
  float(tf.reduce_sum(out[1]))
  frozen = (time.perf_counter() - t0) / 3 * config.d_steps
  fused = sizes[n][0] * sizes[n][1] >= PerExampleBatchNorm.FUSED_MIN_PIXELS
  used = execution_info(spec.get("threads", 0), xla=bool(config.jit_compile),
                        batch_norm="fused" if fused else "composite")
  return {"seconds_per_iter": seconds, "cpu_s_per_iter": cpu_seconds, "first_call_s": first,
          "frozen_scales_s_per_iter": frozen, "execution": used,
          **({"chosen": chosen} if chosen else {})}


def _run_worker(spec):
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
  if spec["kind"] == "torch":
    cmd = [sys.executable, "-c", _TORCH_WORKER, json.dumps(spec)]
  else:
    cmd = [sys.executable, "-m", "benchmarks.singan_step", f"--worker={json.dumps(spec)}"]
  proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
  for line in proc.stdout.splitlines():
    if line.startswith("RESULT "):
      return json.loads(line[len("RESULT "):])
  return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def _conv_roofline(precision, size=(250, 250), channels=128, jit_compile=False, chain=8):
  """GFLOP/s of 3x3 `channels`->`channels` convolutions at `size`: the CPU's practical
  peak for this scale's layers (forward only; the backward passes run slower).

  `chain` convolutions run in one compiled function, so that at the small coarse
  sizes the figure is not the dispatch overhead of a single call.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  dtype = tf.bfloat16 if "bfloat16" in precision else tf.float32
  x = tf.cast(tf.random.normal([1, *size, channels]), dtype)
  k = tf.cast(tf.random.normal([3, 3, channels, channels]), dtype) * 0.05

  @tf.function(jit_compile=jit_compile)
  def convs():
    y = x
    for _ in range(chain):
      y = tf.nn.conv2d(y, k, 1, "SAME")
    return y

  convs()
  reps = max(3, int(2e8 // (size[0] * size[1] * channels * channels)))
  t0 = time.perf_counter()
  for _ in range(reps):
    out = convs()
  float(tf.reduce_sum(tf.cast(out[0, 0, 0], tf.float32)))
  seconds = (time.perf_counter() - t0) / (reps * chain)
  return 2 * 9 * channels * channels * size[0] * size[1] / seconds / 1e9


def run(image="", scale_list=("coarse", "middle", "fine"), modes=("eager", "function", "xla"),
        precisions=("float32", "mixed_bfloat16"), iters=3, fine_iters=2, warmup=1,
        torch_mode="auto", eager_scales=("coarse", "middle", "fine"), scale_modes=None,
        threads=0):
  """Times every (scale, mode, precision), each in its own subprocess.

  Args:
    image: training image path ("" = the bundled face at 250x250).
    scale_list: "coarse", "middle", "fine" or scale indices.
    modes: execution modes among eager, function, xla.
    precisions: float32 and/or mixed_bfloat16.
    iters: timed iterations at coarse/middle scales; `fine_iters` at the finest.
    warmup: untimed iterations after the first call.
    torch_mode: "auto", "on" or "off": also time the PyTorch reference.
    eager_scales: scales at which eager mode is timed.
    scale_modes: optional {scale name or index: [modes]} overriding `modes` there.
    threads: TensorFlow's and PyTorch's threads in each measurement (0: all cores).

  Returns:
    {"image_hw", "sizes", "scale_factor", "rows", "summary", "cpu_count"}.
  """
  from tfsingan.singan import scales  # pylint: disable=import-outside-toplevel
  machine = machine_info()
  print_execution(machine, threads)
  image = _training_image(image)
  pyr = scales.scale_schedule(*image.shape[:2])
  sizes = [list(s) for s in pyr.sizes]
  last = len(sizes) - 1
  # "middle": the scale closest to half the finest size (126 px of 250).
  middle = min(range(last + 1), key=lambda s: abs(sizes[s][0] - sizes[last][0] / 2))
  named = {"coarse": 0, "middle": middle, "fine": last}

  def index(s):
    return named[s] if s in named else int(s)

  picked = [index(s) for s in scale_list]
  eager_at = {index(s) for s in eager_scales}
  modes_at = {index(s): list(m) for s, m in (scale_modes or {}).items()}
  torch_ok = torch_mode == "on"
  if torch_mode == "auto":
    try:
      import torch  # pylint: disable=import-outside-toplevel,unused-import
      torch_ok = True
    except ImportError:
      torch_ok = False
  rows = []
  for n in picked:
    n_iters = fine_iters if n == last else iters
    base = {"scale": n, "sizes": sizes, "iters": n_iters, "warmup": warmup,
            "image_hw": list(image.shape[:2]), "threads": threads}
    if torch_ok:
      res = _run_worker({**base, "kind": "torch"})
      rows.append({"scale": n, "impl": "pytorch-reference", "mode": "eager",
                   "precision": "float32", **res})
      _print_row(rows[-1], sizes)
    for precision in precisions:
      for mode in modes_at.get(n, modes):
        if mode == "eager" and n not in eager_at:
          continue
        res = _run_worker({**base, "kind": "tf", "mode": mode, "precision": precision})
        rows.append({"scale": n, "impl": "tfsingan", "mode": mode, "precision": precision,
                     **res})
        _print_row(rows[-1], sizes)
  summary = _summarise(rows, sizes, last, torch_ok)
  return {"image_hw": list(image.shape[:2]), "sizes": sizes,
          "scale_factor": pyr.scale_factor, "rows": rows, "summary": summary,
          "cpu_count": os.cpu_count(), "threads": threads or os.cpu_count(),
          "execution": execution_info(threads), "machine": machine}


def print_execution(machine, threads=0):
  """Prints the CPU, its flags and what `chosen` picks for the paper config here."""
  from tfsingan.common import execution  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.config import SinGANConfig  # pylint: disable=import-outside-toplevel
  kind = execution.cpu_kind()
  print(f"CPU: {machine['cpu_model']}, {machine['cpu_count']} cores, flags "
        f"{' '.join(machine['cpu_flags'])}; env {machine['env'] or '{}'}; effective kind "
        f"{kind}", flush=True)
  print(describe_execution(execution_info(threads)), flush=True)
  for precision in ("float32", "mixed_bfloat16"):
    choices = execution.singan_choices(SinGANConfig(precision=precision), kind)
    print(f"chosen execution ({precision}): " + ", ".join(f"{k}={v}" for k, v in
                                                          choices.items()), flush=True)


def main(argv):
  del argv
  if FLAGS.worker:
    _worker(json.loads(FLAGS.worker))
    return
  result = run(FLAGS.image, FLAGS.scales, FLAGS.modes, FLAGS.precisions, FLAGS.iters,
               FLAGS.fine_iters, FLAGS.warmup, FLAGS.torch, FLAGS.eager_scales,
               threads=FLAGS.threads)
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
  print(json.dumps(result["summary"], indent=2))
  write_result(FLAGS.out, result)


def _print_row(row, sizes):
  h, w = sizes[row["scale"]]
  sec = row.get("seconds_per_iter")
  text = f"{sec:8.3f} s/it" if sec is not None else f"ERROR {row.get('error')}"
  if row.get("cpu_s_per_iter") is not None:
    text += f" ({row['cpu_s_per_iter']:.3f} CPU s)"
  used = row.get("execution", {})
  if "xla" in used:
    text += f" [xla={used['xla']} bn={used['batch_norm']} threads={used['threads']}]"
  first = row.get("first_call_s")
  print(f"scale {row['scale']:2d} {w}x{h} {row['impl']:18s} {row['mode']:8s} "
        f"{row['precision']:15s} {text}  first call {first or 0:6.1f} s  "
        f"peak {row.get('peak_rss_mb', 0):7.0f} MB", flush=True)


def _summarise(rows, sizes, last, torch_ok):
  """Ratios against the PyTorch reference, GFLOP/s, extrapolated training time."""
  from tfsingan.singan import scales  # pylint: disable=import-outside-toplevel

  def best(scale, precision, impl="tfsingan"):
    cands = [r for r in rows if r["scale"] == scale and r["impl"] == impl
             and r["precision"] == precision and "seconds_per_iter" in r]
    return min(cands, key=lambda r: r["seconds_per_iter"]) if cands else None

  out = {"per_scale": {}}
  for scale in sorted({r["scale"] for r in rows}):
    entry = {}
    for precision in ("float32", "mixed_bfloat16"):
      b = best(scale, precision)
      if b:
        entry[precision] = {"mode": b["mode"], "seconds_per_iter": b["seconds_per_iter"]}
    ref = best(scale, "float32", "pytorch-reference")
    if ref:
      entry["pytorch_reference_s"] = ref["seconds_per_iter"]
      for precision in ("float32", "mixed_bfloat16"):
        if precision in entry:
          entry[f"speedup_{precision}"] = (ref["seconds_per_iter"] /
                                           entry[precision]["seconds_per_iter"])
    out["per_scale"][str(scale)] = entry
  fine = out["per_scale"].get(str(last), {})
  flops = iteration_flops(sizes[last], scales.channels_at(last))
  out["fine_iteration_gflop"] = flops / 1e9
  for precision in ("float32", "mixed_bfloat16"):
    if precision in fine:
      out[f"fine_gflops_per_s_{precision}"] = flops / fine[precision]["seconds_per_iter"] / 1e9
      out[f"conv_roofline_gflops_{precision}"] = _conv_roofline(precision)
  # The coarsest scale: achieved GFLOP/s against the same roofline at its size and
  # width (XLA, the mode that runs this scale fastest), and what a given speed-up
  # over the reference would need.
  coarse = out["per_scale"].get("0", {})
  if "float32" in coarse:
    flops = iteration_flops(sizes[0], scales.channels_at(0))
    out["coarse_iteration_gflop"] = flops / 1e9
    out["coarse_gflops_per_s_float32"] = flops / coarse["float32"]["seconds_per_iter"] / 1e9
    out["coarse_conv_roofline_gflops_float32"] = _conv_roofline(
        "float32", tuple(sizes[0]), scales.channels_at(0), jit_compile=True)
    if "pytorch_reference_s" in coarse:
      out["coarse_gflops_per_s_needed_for_3x"] = flops / (coarse["pytorch_reference_s"] / 3) / 1e9
  # Full training: seconds per iteration modelled as a + b x (H W width^2), fitted to
  # the measured scales, summed over every scale x 2000 iterations.
  for impl, precision in (("tfsingan", "float32"), ("tfsingan", "mixed_bfloat16"),
                          ("pytorch-reference", "float32")):
    points = [(sizes[s][0] * sizes[s][1] * scales.channels_at(s) ** 2,
               best(s, precision, impl)["seconds_per_iter"])
              for s in sorted({r["scale"] for r in rows}) if best(s, precision, impl)]
    if len(points) >= 2:
      xs, ys = zip(*points)
      n = len(xs)
      mx, my = sum(xs) / n, sum(ys) / n
      b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
      a = max(0.0, my - b * mx)
      total = sum(a + b * h * w * scales.channels_at(s) ** 2
                  for s, (h, w) in enumerate(sizes)) * ITERATIONS_PER_SCALE
      out[f"extrapolated_hours_{impl}_{precision}"] = total / 3600.0
  return out


if __name__ == "__main__":
  app.run(main)
