"""Where a benchmark ran: one `machine_info()` that every benchmark JSON records.

Figures from one machine say little about another: oneDNN picks its kernels by the
CPU's instruction sets (AVX2, AVX-512, AVX512_BF16, AMX), and bfloat16 is native on
some CPUs and emulated, slower, on others; a shared machine's load changes timings.
"""

import os
import platform

from tfsingan.common import precision as precision_lib

# The flags that decide oneDNN's kernels and whether bfloat16 is native.
# avx_vnni and avx512_vnni also pick XNNPACK's int8 kernels (LiteRT on CPU).
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                     "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8", "amx_fp16")


def write_result(path, result):
  """Writes a benchmark's result to `path` (nothing when empty) as standard JSON,
  atomically, and says so."""
  from tfsingan.common import checkpointing  # pylint: disable=import-outside-toplevel
  if path:
    checkpointing.write_json(path, checkpointing.json_safe(result))
    print(f"wrote {path}", flush=True)


def cpu_model(path="/proc/cpuinfo"):
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def machine_info(gpus=None):
  """CPU model and flags, cores, load average, what --precision=auto resolves to here,
  the oneDNN settings in force, and the versions of the packages that matter."""
  from importlib import metadata  # pylint: disable=import-outside-toplevel
  flags = precision_lib.read_cpu_flags()
  gpus = precision_lib.visible_gpus() if gpus is None else gpus
  auto, reason = precision_lib.resolve_precision("auto", flags, gpus)
  info = {
      "cpu_model": cpu_model(),
      "cpu_flags": sorted(set(flags) & set(FLAGS_OF_INTEREST)),
      "cpu_count": os.cpu_count(),
      "load_average": list(os.getloadavg()),
      "gpus": [{"name": name, "compute_capability": cap} for name, cap in gpus],
      "precision_auto": auto,
      "precision_auto_reason": reason,
      "env": {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS",
                                          precision_lib.OVERRIDE) if k in os.environ},
      "platform": platform.platform(),
      "python": platform.python_version(),
  }
  for package in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "torch"):
    try:
      info[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      pass
  return info


def set_threads(threads):
  """Limits TensorFlow (intra- and inter-op pools, which XLA's CPU runtime shares) to
  `threads` (0: leave TensorFlow's default, all cores). Call before any TF op runs.

  With one thread, a run's CPU seconds per iteration are the work itself even on a
  machine whose other jobs take the cores (its wall time is not)."""
  if threads:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def execution_info(threads=0, **choices):
  """What a timing ran with: the CPU's flags, the effective CPU kind (capped by
  ONEDNN_MAX_CPU_ISA, `tfsingan.common.execution.cpu_kind`), whether TensorFlow's
  oneDNN ops were on, the threads, and `choices` (XLA or not, BatchNorm path, ...)."""
  from tfsingan.common import execution  # pylint: disable=import-outside-toplevel
  flags = precision_lib.read_cpu_flags()
  return {"cpu_flags": sorted(set(flags) & set(FLAGS_OF_INTEREST)),
          "cpu_kind": execution.cpu_kind(flags),
          "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip() not in ("0", "false"),
          "threads": threads or os.cpu_count(), **choices}


def describe_execution(info):
  """One printable line of `execution_info`."""
  rest = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("cpu_flags", "cpu_kind"))
  return f"execution: {info['cpu_kind']} CPU (flags {' '.join(info['cpu_flags'])}): {rest}"
