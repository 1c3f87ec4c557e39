"""`--precision=auto`: the Keras mixed-precision policy this machine runs fastest and right.

Mixed precision as in Micikevicius et al., "Mixed Precision Training" (ICLR 2018):
float32 variables, float16 or bfloat16 compute.

  GPU, compute capability >= 7.0 (tensor cores)   mixed_float16
  GPU below 7.0                                   float32
  CPU with AVX512_BF16 or AMX                     mixed_bfloat16
  any other CPU                                   float32

bfloat16 on CPUs without native bfloat16 instructions is emulated by oneDNN and slower
than float32, so a CPU counts as bfloat16-capable only if /proc/cpuinfo lists
`avx512_bf16` or an `amx_*` flag *and* oneDNN may use it: `ONEDNN_MAX_CPU_ISA` capped
below AVX512_CORE_BF16 (e.g. `AVX2`, how the tests emulate an AVX2-only machine) or
`TF_ENABLE_ONEDNN_OPTS=0` count as "no bfloat16". bfloat16 on GPUs of capability
>= 8.0 is not chosen: it has never been run on a GPU in this project.

`TFSINGAN_AUTO_PRECISION=<policy>` in the environment makes `auto` resolve to that
policy on any machine: the test suite sets float32 (tests/conftest.py), so every CPU
runs the same numerics there.

A run keeps the precision it was started with: `auto` on a resumed run adopts the
precision recorded in its config.json, even where this machine would resolve
differently (a run's numerics never change half-way, and the comparison of a
resumed run's settings does not refuse it).
"""

import dataclasses
import json
import os
import sys

from tfsingan.errors import UserInputError

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
PRECISIONS = ("auto",) + POLICIES
OVERRIDE = "TFSINGAN_AUTO_PRECISION"

# oneDNN's ONEDNN_MAX_CPU_ISA values (oneDNN docs, "CPU Dispatcher Control") that still
# allow native bfloat16; any other value caps oneDNN below it.
_BF16_ISAS = frozenset({"ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16",
                        "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512",
                        "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512",
                        "AVX10_2_512_AMX_2"})


def cpu_has_bf16(cpu_flags, environ=None):
  """True if the CPU flags name native bfloat16 and the environment lets oneDNN use it."""
  environ = os.environ if environ is None else environ
  isa = environ.get("ONEDNN_MAX_CPU_ISA", environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
  if isa and isa not in _BF16_ISAS:
    return False
  if environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() in ("0", "false", "False"):
    return False
  flags = set(cpu_flags)
  return "avx512_bf16" in flags or any(f.startswith("amx") for f in flags)


def resolve_precision(requested, cpu_flags, gpus, environ=None):
  """(policy, reason) for `requested` on a machine with these CPU flags and GPUs.

  Args:
    requested: one of PRECISIONS; anything but "auto" is returned unchanged.
    cpu_flags: the CPU's feature flags as in /proc/cpuinfo ("avx2", "avx512_bf16", ...).
    gpus: one (name, (major, minor) compute capability or None) per visible GPU.
    environ: the environment (default os.environ), for ONEDNN_MAX_CPU_ISA and
      TF_ENABLE_ONEDNN_OPTS.
  """
  if requested not in PRECISIONS:
    raise ValueError(f"precision {requested!r}: expected one of {PRECISIONS}")
  if requested != "auto":
    return requested, "given"
  environ = os.environ if environ is None else environ
  forced = environ.get(OVERRIDE, "").strip()
  if forced:
    if forced not in POLICIES:
      raise ValueError(f"{OVERRIDE}={forced!r}: expected one of {POLICIES}")
    return forced, f"{OVERRIDE}={forced}"
  if gpus:
    caps = [cap for _, cap in gpus]
    if all(cap is not None and tuple(cap) >= (7, 0) for cap in caps):
      low = min(tuple(cap) for cap in caps)
      return "mixed_float16", f"GPU compute capability {low[0]}.{low[1]} >= 7.0"
    return "float32", "a GPU below compute capability 7.0 (or of unknown capability)"
  if cpu_has_bf16(cpu_flags, environ):
    return "mixed_bfloat16", "CPU with native bfloat16 (avx512_bf16 / amx)"
  return "float32", "CPU without native bfloat16 (avx512_bf16 / amx) usable by oneDNN"


def read_cpu_flags(path="/proc/cpuinfo"):
  """The first processor's feature flags (empty where /proc/cpuinfo is absent)."""
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith(("flags", "Features")):
          return line.split(":", 1)[1].split()
  except OSError:
    pass
  return []


def visible_gpus():
  """(name, compute capability) of each GPU TensorFlow sees."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  out = []
  for gpu in tf.config.list_physical_devices("GPU"):
    details = tf.config.experimental.get_device_details(gpu)
    out.append((details.get("device_name", gpu.name), details.get("compute_capability")))
  return out


def machine_precision():
  """(policy, reason) that `auto` resolves to on this machine."""
  try:
    # The override wins over any GPU (resolve_precision): then listing the GPUs, which
    # imports TensorFlow (4 s of CPU), is skipped.
    gpus = [] if os.environ.get(OVERRIDE, "").strip() else visible_gpus()
    return resolve_precision("auto", read_cpu_flags(), gpus)
  except ValueError as e:
    raise UserInputError(f"--precision=auto: {e}") from None


def policy(precision):
  """The Keras policy name of `precision` ("auto" resolved for this machine, quietly)."""
  return machine_precision()[0] if precision == "auto" else precision


def recorded_precision(path, group=None):
  """The precision a run's config.json (or `group` of a job's JSON state) records, or
  None (no run, unreadable, or none recorded)."""
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
    value = (data.get(group) if group else data).get("precision")
  except (OSError, ValueError, AttributeError):
    return None
  return value if value in POLICIES else None


def resolve_config(config, recorded=None, quiet=False):
  """`config` with precision "auto" replaced by this machine's policy (or `recorded`,
  the precision of the run being resumed); says on stderr what it chose and why."""
  if getattr(config, "precision", None) != "auto":
    return config
  if recorded in POLICIES:
    chosen, reason = recorded, "the run's recorded precision, kept on resume"
  else:
    chosen, reason = machine_precision()
  if not quiet:
    print(f"precision: auto -> {chosen} ({reason})", file=sys.stderr, flush=True)
  return dataclasses.replace(config, precision=chosen)
