"""Where a training step's time goes: the ops that take the most self time, for
SinGAN at one scale or GANimation's average iteration (128 px, batch 25), ours
(TensorFlow profiler, `tf.function` or XLA) or the PyTorch reference
(`torch.profiler`), grouped into convolutions (forward, backward, double-backward),
batch norm (fused kernel or composite ops), transposes and copies, the gradient
penalty. Writes a compact JSON.

Proportions are what this is for, so load matters less than for timings; run it with
one thread (and `nice`) on a shared machine. Profiling slows a step down by a few
per cent (one event per op).

  ONEDNN_MAX_CPU_ISA=AVX2 nice -n 10 python -m benchmarks.profile_step --model=singan \\
      --scale=7 --impl=tf --mode=function --out=benchmarks/results/profile_singan7.json
"""

import collections
import glob
import json
import os
import re
import tempfile
import time

from absl import app
from absl import flags

from benchmarks.machine import execution_info
from benchmarks.machine import machine_info
from benchmarks.machine import write_result

# Its own flag set: the step benchmarks it builds on (imported only when needed) define
# --out and --threads in the global one.
FLAGS = flags.FlagValues()
_F = {"flag_values": FLAGS}
flags.DEFINE_enum("model", "singan", ["singan", "ganimation"], "Which training step.", **_F)
flags.DEFINE_string("scale", "7", "SinGAN scale: an index or 'fine' (250 px image).", **_F)
flags.DEFINE_enum("impl", "tf", ["tf", "torch"], "Ours or the PyTorch reference.", **_F)
flags.DEFINE_enum("mode", "function", ["function", "xla", "chosen"],
                  "Ours: tf.function, XLA, or what training picks on this CPU.", **_F)
flags.DEFINE_integer("steps", 2, "Profiled SinGAN iterations (GANimation: average "
                     "iterations, each 4 critic-only and 1 critic + generator).", **_F)
flags.DEFINE_integer("threads", 1, "Threads (TensorFlow intra/inter op, torch).", **_F)
flags.DEFINE_integer("top", 25, "Ops listed by self time.", **_F)
flags.DEFINE_string("out", "", "JSON output.", **_F)

IMAGE_HW = (250, 250)  # the bundled face as singan_step times it


def pass_of(name):
  """forward / backward / double-backward from the op's scope (TF names a gradient op
  "gradient_tape/<forward op>"; the penalty's gradient of a gradient nests twice)."""
  depth = name.count("gradient_tape/")
  return ("forward", "backward", "double-backward")[min(depth, 2)]


def category(op, name=""):
  """The group of one op: its type (TF), HLO instruction (XLA) or aten name (torch)."""
  t = op.lower()
  if "conv" in t:
    if "backpropfilter" in t:
      return "conv backward (filter)"
    if "backpropinput" in t:
      return "conv backward (input)"
    if "backward" in t:
      return "conv backward"
    return "conv"
  if "fusedbatchnorm" in t or "batch_norm" in t:
    return "batch norm (fused)"
  if re.search(r"(^|/)norm(_\d+)?/", name) or "instance_norm" in t:
    return "batch norm (composite)"
  if "transpose" in t or t.startswith("copy") or "reorder" in t or "_copy_" in t:
    return "transpose / copy"
  return "other"


def _self_times(events):
  """[(metadata id, self ps)] of events on one timeline (nested by time)."""
  out, stack = [], []  # stack of [end, metadata id, duration, children]
  for e in sorted(events, key=lambda e: (e.offset_ps, -e.duration_ps)):
    while stack and e.offset_ps >= stack[-1][0]:
      end, mid, dur, kids = stack.pop()
      out.append((mid, dur - kids))
    if stack:
      stack[-1][3] += e.duration_ps
    stack.append([e.offset_ps + e.duration_ps, e.metadata_id, e.duration_ps, 0])
  out.extend((mid, dur - kids) for _, mid, dur, kids in stack)
  return out


# Host events that are the runtime, not an op of the step.
_RUNTIME = ("ExecutorState", "ThreadpoolListener", "Eager", "TFE_", "KernelAndDevice",
            "ValidateInput", "CpuExecutable", "Memory", "BlockUntilReady", "end: ",
            "step", "__inference", "Iterator", "FunctionRun", "ProcessFunctionLibrary")


def tf_op_stats(logdir):
  """{(op type, full name): self seconds} of the xplane the TF profiler wrote."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=import-outside-toplevel
  stats = collections.Counter()
  for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
      space.ParseFromString(f.read())
    for plane in space.planes:
      names = {k: v.name for k, v in plane.event_metadata.items()}
      for line in plane.lines:
        for mid, ps in _self_times(line.events):
          label = names.get(mid, "")
          if not label or label.startswith(_RUNTIME):
            continue
          # TF ops are "scope/name:Type"; XLA's thunks are HLO names ("convolution.3").
          name, _, op = label.rpartition(":") if ":" in label else ("", "", label)
          stats[(op, name)] += ps * 1e-12
  return stats


def summarise(stats, total, top, tf_names=True):
  """The compact JSON: groups (category x pass), penalty share, top ops by self time."""
  groups, ops, penalty = collections.Counter(), collections.Counter(), 0.0
  for (op, name), sec in stats.items():
    group = category(op, name)
    if tf_names and name:
      group += f" / {pass_of(name)}"
    groups[group] += sec
    ops[op] += sec
    penalty += sec if "gradient_penalty" in name else 0.0
  profiled = sum(stats.values()) or 1e-12
  share = lambda s: round(s / profiled, 4)
  return {"step_seconds": total, "profiled_op_seconds": profiled,
          "groups": {g: {"s": round(s, 4), "share": share(s)} for g, s in groups.most_common()},
          "gradient_penalty_share": share(penalty) if tf_names else None,
          "top_ops": [{"op": op, "s": round(s, 4), "share": share(s)}
                      for op, s in ops.most_common(top)]}


def _singan_sizes():
  from tfsingan.singan import scales  # pylint: disable=import-outside-toplevel
  return [list(s) for s in scales.scale_schedule(*IMAGE_HW).sizes]


def _tf_steps(model, mode, scale, threads):
  """(one unit of work, description): the SinGAN iteration or GANimation's average
  iteration, built as the step benchmarks build them."""
  if model == "singan":
    from benchmarks import singan_step  # pylint: disable=import-outside-toplevel
    spec = {"scale": scale, "sizes": _singan_sizes(), "precision": "float32",
            "mode": mode, "threads": threads}
    step, _, config, chosen = singan_step.build_step(spec)
    return (lambda: float(step()["d_loss"])), {"xla": bool(config.jit_compile), **chosen}
  from benchmarks import ganimation_step  # pylint: disable=import-outside-toplevel
  from tfsingan.common import execution  # pylint: disable=import-outside-toplevel
  jit = (mode == "xla" if mode != "chosen"
         else execution.ganimation_uses_xla("float32", execution.cpu_kind()))
  critic_fn, full_fn, batch, _ = ganimation_step.build_iteration("float32", jit, 128, 25,
                                                                  threads)

  def average():
    for _ in range(ganimation_step.CRITIC_STEPS - 1):
      float(critic_fn(batch)["d_loss"])
    float(full_fn(batch)["d_loss"])
  return average, {"xla": jit}


def _torch_steps(model, scale, threads):
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(threads)
  if model == "singan":
    from benchmarks import torch_singan_reference as ref  # pylint: disable=import-outside-toplevel
    trainer = ref.ScaleTrainer.with_random_frozen(*IMAGE_HW, scale)
    return trainer.iteration
  from benchmarks import ganimation_step  # pylint: disable=import-outside-toplevel
  iteration = ganimation_step.torch_iteration(128, 25, threads)[0]

  def average():
    for _ in range(ganimation_step.CRITIC_STEPS - 1):
      iteration(False)
    iteration(True)
  return average


def profile(model="singan", scale="7", impl="tf", mode="function", steps=2, threads=1,
            top=25):
  """Profiles `steps` units of work after one warm-up; returns the compact JSON dict."""
  if model == "singan":
    scale = len(_singan_sizes()) - 1 if scale == "fine" else int(scale)
  if impl == "torch":
    import torch  # pylint: disable=import-outside-toplevel
    work, used = _torch_steps(model, scale, threads), {"threads": threads}
    work()
    t0 = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
      for _ in range(steps):
        work()
    total = (time.perf_counter() - t0) / steps
    stats = collections.Counter({(e.key, ""): e.self_cpu_time_total * 1e-6
                                 for e in prof.key_averages()})
    result = summarise(stats, total, top, tf_names=False)
  else:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    work, chosen = _tf_steps(model, mode, scale, threads)
    work()
    with tempfile.TemporaryDirectory() as logdir:
      t0 = time.perf_counter()
      tf.profiler.experimental.start(logdir)
      for _ in range(steps):
        work()
      tf.profiler.experimental.stop()
      total = (time.perf_counter() - t0) / steps
      result = summarise(tf_op_stats(logdir), total, top)
    used = execution_info(threads, **chosen)
  size = _singan_sizes()[scale] if model == "singan" else [128, 128]
  return {"model": model, "scale": scale if model == "singan" else None, "size": size,
          "impl": impl, "mode": mode if impl == "tf" else "eager", "steps": steps,
          "precision": "float32", "execution": used, **result,
          "machine": machine_info(gpus=[])}


def main(argv):
  del argv
  result = profile(FLAGS.model, FLAGS.scale, FLAGS.impl, FLAGS.mode, FLAGS.steps,
                   FLAGS.threads, FLAGS.top)
  print(json.dumps({k: result[k] for k in ("model", "scale", "impl", "mode", "step_seconds",
                                           "groups", "gradient_penalty_share")}, indent=1))
  write_result(FLAGS.out, result)


def _parse(argv):
  rest = FLAGS(argv)
  flags.FLAGS.mark_as_parsed()  # the global set (absl's own, the imported benchmarks')
  return rest


if __name__ == "__main__":
  app.run(main, flags_parser=_parse)
