"""How a training step runs on this CPU: XLA or not per SinGAN scale, the fused
BatchNorm threshold, and XLA or not for GANimation's step, chosen at run start from the
instruction set oneDNN may use.

The numerics do not depend on these choices (only the kernels and the graph do); the
precision is chosen apart (`tfsingan.common.precision`). Each choice is a config field
with an "auto" value (-1), replaced at run start by `resolve_singan` and written to
the run's config.json as what ran (resume kind "execution": a resumed run on another
machine chooses again for that machine).

The CPU kind is the *effective* one: the CPU flags of /proc/cpuinfo capped by
`ONEDNN_MAX_CPU_ISA` (how the tests and benchmarks emulate an AVX2-only machine on an
AVX-512 one; TensorFlow itself still sees the AVX-512 flags in CPUID there).

Thresholds (measured with `benchmarks/singan_step.py`, see the README's "Speed on
AVX2-only CPUs"): on AVX2-only CPUs TensorFlow's oneDNN convolutions take the
im2col + GEMM path for NHWC tensors, whose weight gradient ran at about a third of the
forward's speed, while XLA's convolutions (its own kernels, not oneDNN) kept their
speed in the backward passes; so XLA wins there at every measured scale. On AVX-512
CPUs oneDNN's direct kernels win from the middle scales on, and XLA only pays at the
small coarse scales, where a `tf.function` step is dominated by per-op overhead.
"""

import dataclasses
import os
import sys

from tfsingan.common import precision as precision_lib

AUTO = -1

# Ordered from the least to the most capable; `cpu_kind` never returns more than the
# CPU has, and never more than ONEDNN_MAX_CPU_ISA allows.
KINDS = ("baseline", "avx2", "avx512", "avx512_bf16")

# ONEDNN_MAX_CPU_ISA values (oneDNN docs, "CPU Dispatcher Control") -> the kind they cap at.
_ISA_CAPS = {
    "SSE41": "baseline", "AVX": "baseline",
    "AVX2": "avx2", "AVX2_VNNI": "avx2", "AVX2_VNNI_2": "avx2",
    "AVX512_CORE": "avx512", "AVX512_CORE_VNNI": "avx512",
}


@dataclasses.dataclass(frozen=True)
class SinGANExecution:
  """The execution choices of one CPU kind for SinGAN.

  Args:
    xla_max_pixels: float32 scales of at most this many pixels (H x W) compile their
      step with XLA (0: none).
    xla_max_pixels_mixed: the same under mixed precision (XLA's CPU bfloat16 is slow).
    xla_min_iterations: ... and only when a scale runs at least this many iterations
      (XLA's compilation costs tens of seconds; a short scale does not earn it back).
    fused_bn_min_pixels: `PerExampleBatchNorm` takes the fused kernel from this many
      pixels on.
  """

  xla_max_pixels: int
  xla_max_pixels_mixed: int
  xla_min_iterations: int
  fused_bn_min_pixels: int


_EVERY_SCALE = 10**9
# Measured per kind (see the module docstring and the README); "baseline" CPUs (no
# AVX2) have not been measured and get the AVX2 choices.
SINGAN = {
    "avx2": SinGANExecution(xla_max_pixels=_EVERY_SCALE, xla_max_pixels_mixed=32 * 32,
                            xla_min_iterations=500, fused_bn_min_pixels=56 * 56),
    # As is on the idle AVX512-BF16/AMX Xeon (2 threads, float32, seconds per iteration,
    # tf.function / XLA; benchmarks/results/avx2_table_singan_asis_crossover.json):
    # 25x25 0.079 / 0.031, 40x40 0.091 / 0.070, 63x63 0.407 / 0.432, 80x80 0.556 / 0.670,
    # 100x100 0.877 / 1.090, 126x126 1.394 / 1.70-1.83, 250x250 18.1 / 21.3. So XLA up to
    # 40x40 (50x50 not measured) and oneDNN's kernels above. "avx512" without bfloat16
    # was not measured: the same float32 kernels, so the same choice.
    "avx512": SinGANExecution(xla_max_pixels=40 * 40, xla_max_pixels_mixed=32 * 32,
                              xla_min_iterations=500, fused_bn_min_pixels=56 * 56),
    "avx512_bf16": SinGANExecution(xla_max_pixels=40 * 40,
                                   xla_max_pixels_mixed=32 * 32, xla_min_iterations=500,
                                   fused_bn_min_pixels=56 * 56),
}
SINGAN["baseline"] = SINGAN["avx2"]


@dataclasses.dataclass(frozen=True)
class GANimationExecution:
  """The execution choices of one CPU kind for GANimation's training step.

  Args:
    xla: the float32 step compiles with XLA (else `tf.function`).
    xla_mixed: the same under mixed precision.
  """

  xla: bool
  xla_mixed: bool


# Measured with `benchmarks/ganimation_step.py --threads=1` (CPU seconds per average
# iteration, 128 px, batch 25, float32; the README's "Speed on AVX2-only CPUs"): on an
# AVX512-BF16/AMX Xeon `tf.function` 11.6 s, XLA 13.4 s (oneDNN's direct AVX-512 kernels
# win); under ONEDNN_MAX_CPU_ISA=AVX2 XLA was 1.47x the PyTorch reference's speed,
# `tf.function` 1.39x (a later 1-iteration run: reference 28.8 s, tf.function 18.3 s,
# XLA 18.6 s, a tie); mixed_bfloat16 there: tf.function 5.0 s, XLA 13.6 s. On the idle
# Xeon with 2 threads under the AVX2 cap (benchmarks/avx2_table.sh,
# benchmarks/results/avx2_table_ganimation_avx2.json) tf.function won: 9.93 s per average
# iteration against XLA 11.04 s and the reference's 13.74 s, so AVX2 takes tf.function
# too. "avx512" without bfloat16 was not measured: it gets the
# AVX512-BF16 choice (the same float32 kernels). Mixed precision never uses XLA (its CPU
# bfloat16 convolutions are slow, as for SinGAN).
GANIMATION = {
    "avx2": GANimationExecution(xla=False, xla_mixed=False),
    "avx512": GANimationExecution(xla=False, xla_mixed=False),
    "avx512_bf16": GANimationExecution(xla=False, xla_mixed=False),
}
GANIMATION["baseline"] = GANIMATION["avx2"]


def _cpu_own_kind(cpu_flags):
  flags = set(cpu_flags)
  if "avx512_bf16" in flags or any(f.startswith("amx") for f in flags):
    return "avx512_bf16"
  if "avx512f" in flags:
    return "avx512"
  if "avx2" in flags and "fma" in flags:
    return "avx2"
  return "baseline"


def cpu_kind(cpu_flags=None, environ=None):
  """The kind of this CPU (one of KINDS) as oneDNN may use it.

  Args:
    cpu_flags: /proc/cpuinfo flags (default: read them).
    environ: the environment (default os.environ), for ONEDNN_MAX_CPU_ISA.
  """
  environ = os.environ if environ is None else environ
  flags = precision_lib.read_cpu_flags() if cpu_flags is None else cpu_flags
  kind = _cpu_own_kind(flags)
  isa = environ.get("ONEDNN_MAX_CPU_ISA", environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
  cap = _ISA_CAPS.get(isa)
  if cap is not None and KINDS.index(cap) < KINDS.index(kind):
    kind = cap
  return kind


def singan_choices(config, kind):
  """{field: value} this CPU kind picks for the "auto" execution fields of `config`
  (whose precision is already resolved)."""
  chosen = SINGAN[kind]
  mixed = precision_lib.policy(config.precision) != "float32"
  values = {"xla_max_pixels": chosen.xla_max_pixels_mixed if mixed else chosen.xla_max_pixels,
            "xla_min_iterations": chosen.xla_min_iterations,
            "fused_bn_min_pixels": chosen.fused_bn_min_pixels}
  return {k: v for k, v in values.items() if getattr(config, k) == AUTO}


def _chosen(config, kind, updates, quiet):
  if not updates:
    return config
  if not quiet:
    text = ", ".join(f"{k}={v}" for k, v in updates.items())
    print(f"execution: {kind} CPU -> {text}", file=sys.stderr, flush=True)
  return dataclasses.replace(config, **updates)


def resolve_singan(config, cpu_flags=None, environ=None, quiet=False):
  """`config` with its "auto" execution fields set for this CPU; says what it chose."""
  kind = cpu_kind(cpu_flags, environ)
  return _chosen(config, kind, singan_choices(config, kind), quiet)


def ganimation_uses_xla(precision, kind):
  """Whether GANimation's training step compiles with XLA on this CPU kind at
  `precision` (a resolved one: float32, mixed_bfloat16 or mixed_float16)."""
  chosen = GANIMATION[kind]
  return chosen.xla_mixed if precision_lib.policy(precision) != "float32" else chosen.xla


def resolve_ganimation(config, cpu_flags=None, environ=None, quiet=False):
  """`config` (a GANimationConfig whose precision is resolved) with `xla` set for this
  CPU when it is "auto" (-1): 1 (XLA) or 0 (`tf.function`); says what it chose.
  (`--jit_compile`, a bool as in the other families, forces XLA whatever `xla` says.)"""
  if config.xla != AUTO:
    return config
  kind = cpu_kind(cpu_flags, environ)
  jit = int(ganimation_uses_xla(config.precision, kind))
  return _chosen(config, kind, {"xla": jit}, quiet)


def singan_scale_uses_xla(config, size):
  """Whether the scale of `size` (H, W) compiles its step with XLA under `config`."""
  if config.jit_compile:
    return True
  if config.xla_max_pixels == AUTO:  # not resolved (library use): this machine's choice
    config = resolve_singan(config, quiet=True)
  return (size[0] * size[1] <= config.xla_max_pixels
          and config.iterations >= config.xla_min_iterations)


def apply_batch_norm_threshold(config):
  """Sets the process-wide fused BatchNorm threshold from `config` (auto: this CPU's)."""
  from tfsingan.common.layers import PerExampleBatchNorm  # pylint: disable=import-outside-toplevel
  value = config.fused_bn_min_pixels
  if value == AUTO:
    value = SINGAN[cpu_kind()].fused_bn_min_pixels
  PerExampleBatchNorm.FUSED_MIN_PIXELS = int(value)
