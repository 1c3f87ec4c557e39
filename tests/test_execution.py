"""Per-CPU execution choices (tfsingan/common/execution.py): the effective CPU kind
under ONEDNN_MAX_CPU_ISA, and what SinGAN picks per scale from it."""

import dataclasses

import pytest

from tfsingan.common import execution
from tfsingan.common.layers import PerExampleBatchNorm
from tfsingan.errors import UserInputError
from tfsingan.singan.config import SinGANConfig

BF16_CPU = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"]
AVX512_CPU = ["sse4_2", "avx", "avx2", "fma", "avx512f"]
AVX2_CPU = ["sse4_2", "avx", "avx2", "fma"]


@pytest.mark.parametrize("flags, environ, kind", [
    (BF16_CPU, {}, "avx512_bf16"),
    (AVX512_CPU, {}, "avx512"),
    (AVX2_CPU, {}, "avx2"),
    (["sse4_2", "avx"], {}, "baseline"),
    (["avx2", "fma", "amx_bf16", "amx_tile"], {}, "avx512_bf16"),
    # The AVX2 emulation: the CPU has bfloat16, oneDNN may not use more than AVX2.
    (BF16_CPU, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "avx2"),
    (BF16_CPU, {"DNNL_MAX_CPU_ISA": "avx512_core"}, "avx512"),
    (BF16_CPU, {"ONEDNN_MAX_CPU_ISA": "ALL"}, "avx512_bf16"),
    # A cap above what the CPU has never raises its kind.
    (AVX2_CPU, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "avx2"),
])
def test_cpu_kind_is_the_effective_one(flags, environ, kind):
  assert execution.cpu_kind(flags, environ) == kind


def test_resolve_fills_only_auto_fields_and_depends_on_precision():
  f32 = execution.resolve_singan(SinGANConfig(precision="float32"), AVX2_CPU, {}, quiet=True)
  mixed = execution.resolve_singan(SinGANConfig(precision="mixed_bfloat16"), BF16_CPU, {},
                                   quiet=True)
  chosen = execution.SINGAN
  assert f32.xla_max_pixels == chosen["avx2"].xla_max_pixels
  assert mixed.xla_max_pixels == chosen["avx512_bf16"].xla_max_pixels_mixed
  assert f32.fused_bn_min_pixels == chosen["avx2"].fused_bn_min_pixels
  given = SinGANConfig(precision="float32", xla_max_pixels=0, fused_bn_min_pixels=7)
  kept = execution.resolve_singan(given, AVX2_CPU, {}, quiet=True)
  assert kept.xla_max_pixels == 0 and kept.fused_bn_min_pixels == 7
  assert kept.xla_min_iterations == chosen["avx2"].xla_min_iterations
  # Nothing left to choose: the same object back.
  assert execution.resolve_singan(kept, AVX2_CPU, {}, quiet=True) is kept


def test_xla_per_scale_by_pixels_and_iterations():
  config = SinGANConfig(precision="float32", xla_max_pixels=50 * 50, xla_min_iterations=100,
                        fused_bn_min_pixels=0, iterations=2000)
  assert execution.singan_scale_uses_xla(config, (50, 50))
  assert not execution.singan_scale_uses_xla(config, (50, 51))
  short = dataclasses.replace(config, iterations=99)
  assert not execution.singan_scale_uses_xla(short, (25, 25))
  # --jit_compile forces XLA at every scale; xla_max_pixels=0 turns it off.
  assert execution.singan_scale_uses_xla(dataclasses.replace(short, jit_compile=True),
                                         (250, 250))
  assert not execution.singan_scale_uses_xla(dataclasses.replace(config, xla_max_pixels=0),
                                             (25, 25))


@pytest.mark.parametrize("flags, environ, xla_at_126", [
    (AVX2_CPU, {}, True),
    (BF16_CPU, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, True),
    (BF16_CPU, {}, False),
    (AVX512_CPU, {}, False),
])
def test_float32_xla_by_cpu_kind(flags, environ, xla_at_126):
  # Measured (the table's comments): XLA wins every float32 scale on AVX2; on AVX-512
  # oneDNN's kernels win from the middle scales on, XLA only at the coarse ones.
  config = execution.resolve_singan(SinGANConfig(precision="float32", iterations=2000),
                                    flags, environ, quiet=True)
  assert execution.singan_scale_uses_xla(config, (25, 25))
  assert execution.singan_scale_uses_xla(config, (126, 126)) == xla_at_126
  assert execution.singan_scale_uses_xla(config, (250, 250)) == xla_at_126


def test_batch_norm_threshold_is_applied_and_auto_is_this_cpus():
  before = PerExampleBatchNorm.FUSED_MIN_PIXELS
  try:
    execution.apply_batch_norm_threshold(SinGANConfig(fused_bn_min_pixels=123))
    assert PerExampleBatchNorm.FUSED_MIN_PIXELS == 123
    execution.apply_batch_norm_threshold(SinGANConfig())
    assert (PerExampleBatchNorm.FUSED_MIN_PIXELS
            == execution.SINGAN[execution.cpu_kind()].fused_bn_min_pixels)
  finally:
    PerExampleBatchNorm.FUSED_MIN_PIXELS = before


@pytest.mark.parametrize("name", ["xla_max_pixels", "xla_min_iterations",
                                  "fused_bn_min_pixels"])
def test_execution_fields_refuse_below_auto(name):
  with pytest.raises(UserInputError, match=name):
    SinGANConfig(**{name: -2})


@dataclasses.dataclass(frozen=True)
class _GANimationLike:
  precision: str = "float32"
  xla: int = execution.AUTO


@pytest.mark.parametrize("flags, environ, precision", [
    (AVX2_CPU, {}, "float32"),
    (BF16_CPU, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "float32"),
    (BF16_CPU, {}, "float32"),
    (BF16_CPU, {}, "mixed_bfloat16"),
    (AVX512_CPU, {}, "mixed_float16"),
])
def test_ganimation_auto_resolves_per_kind_and_precision(flags, environ, precision, capsys):
  kind = execution.cpu_kind(flags, environ)
  chosen = execution.resolve_ganimation(_GANimationLike(precision), flags, environ)
  table = execution.GANIMATION[kind]
  expected = table.xla if precision == "float32" else table.xla_mixed
  assert chosen.xla == int(expected) and chosen.xla in (0, 1)
  assert f"execution: {kind} CPU -> xla={int(expected)}" in capsys.readouterr().err
  # An explicit choice is kept, and nothing is said.
  for given in (0, 1):
    kept = _GANimationLike(precision, given)
    assert execution.resolve_ganimation(kept, flags, environ) is kept
  assert capsys.readouterr().err == ""
