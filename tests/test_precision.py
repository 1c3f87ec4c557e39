"""--precision=auto: resolution from fake CPU flags and fake GPUs (tfsingan.common.precision)."""

import dataclasses
import json

import pytest

from tfsingan.common import precision
from tfsingan.ganimation.config import GANimationConfig
from tfsingan.singan.config import SinGANConfig

# Flags as /proc/cpuinfo lists them on the machines we meet.
AVX2_EPYC = "fpu sse4_2 avx f16c fma avx2 bmi2".split()
BF16_EPYC = AVX2_EPYC + "avx512f avx512bw avx512_vnni avx512_bf16".split()
AVX512_NO_BF16 = AVX2_EPYC + "avx512f avx512bw avx512_vnni".split()
SAPPHIRE_RAPIDS = AVX512_NO_BF16 + "amx_bf16 amx_tile amx_int8".split()
NO_ENV = {}


@pytest.mark.parametrize("flags,want", [
    (AVX2_EPYC, "float32"),
    (AVX512_NO_BF16, "float32"),
    (BF16_EPYC, "mixed_bfloat16"),
    (SAPPHIRE_RAPIDS, "mixed_bfloat16"),
    ([], "float32"),  # no /proc/cpuinfo (macOS, some containers)
])
def test_auto_on_cpus(flags, want):
  assert precision.resolve_precision("auto", flags, [], NO_ENV)[0] == want


@pytest.mark.parametrize("env", [{"ONEDNN_MAX_CPU_ISA": "AVX2"},
                                 {"ONEDNN_MAX_CPU_ISA": "avx512_core"},
                                 {"DNNL_MAX_CPU_ISA": "AVX512_CORE_VNNI"},
                                 {"TF_ENABLE_ONEDNN_OPTS": "0"}])
def test_onednn_capped_below_bf16_counts_as_no_bf16(env):
  assert precision.resolve_precision("auto", BF16_EPYC, [], env)[0] == "float32"


@pytest.mark.parametrize("env", [{"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},
                                 {"ONEDNN_MAX_CPU_ISA": "ALL"},
                                 {"TF_ENABLE_ONEDNN_OPTS": "1"}])
def test_onednn_settings_that_keep_bf16(env):
  assert precision.resolve_precision("auto", BF16_EPYC, [], env)[0] == "mixed_bfloat16"


@pytest.mark.parametrize("gpus,want", [
    ([("Tesla T4", (7, 5))], "mixed_float16"),
    ([("Tesla V100", (7, 0))], "mixed_float16"),
    # bfloat16 on Ampere and later is not chosen: never run on a GPU here.
    ([("A100", (8, 0)), ("A100", (8, 0))], "mixed_float16"),
    ([("Tesla P100", (6, 0))], "float32"),
    ([("A100", (8, 0)), ("Tesla K80", (3, 7))], "float32"),  # the slowest decides
    ([("unknown", None)], "float32"),
])
def test_auto_on_gpus_ignores_the_cpu(gpus, want):
  assert precision.resolve_precision("auto", BF16_EPYC, gpus, NO_ENV)[0] == want


@pytest.mark.parametrize("given", precision.POLICIES)
def test_explicit_values_are_kept_everywhere(given):
  for flags, gpus in ((AVX2_EPYC, []), (BF16_EPYC, []), ([], [("P100", (6, 0))])):
    assert precision.resolve_precision(given, flags, gpus, NO_ENV) == (given, "given")


def test_override_variable_and_unknown_values():
  env = {precision.OVERRIDE: "float32"}
  assert precision.resolve_precision("auto", BF16_EPYC, [], env)[0] == "float32"
  with pytest.raises(ValueError, match=precision.OVERRIDE):
    precision.resolve_precision("auto", BF16_EPYC, [], {precision.OVERRIDE: "fp8"})
  with pytest.raises(ValueError, match="float64"):
    precision.resolve_precision("float64", BF16_EPYC, [], NO_ENV)


def test_reads_the_flags_line_of_cpuinfo(tmp_path):
  info = tmp_path / "cpuinfo"
  info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n"
                  "\nprocessor\t: 1\nflags\t\t: fpu avx2 avx512_bf16\n")
  assert precision.read_cpu_flags(str(info)) == ["fpu", "avx2", "avx512_bf16"]
  assert precision.read_cpu_flags(str(tmp_path / "absent")) == []


def test_defaults_are_auto_and_resolve_to_a_policy(capsys):
  for cls in (SinGANConfig, GANimationConfig):
    config = cls() if cls is SinGANConfig else cls(data_dir="d")
    assert config.precision == "auto"
    resolved = precision.resolve_config(config)
    # The suite pins auto (tests/conftest.py) so that every CPU runs float32.
    assert resolved.precision == "float32"
    assert dataclasses.replace(resolved, precision="auto") == config
  assert "precision: auto -> float32" in capsys.readouterr().err
  explicit = SinGANConfig(precision="mixed_bfloat16")
  assert precision.resolve_config(explicit) is explicit


def test_a_resumed_run_keeps_its_recorded_precision(tmp_path, capsys):
  path = tmp_path / "config.json"
  assert precision.recorded_precision(str(path)) is None
  path.write_text(json.dumps({"precision": "mixed_bfloat16", "image": ""}))
  recorded = precision.recorded_precision(str(path))
  assert recorded == "mixed_bfloat16"
  assert precision.resolve_config(SinGANConfig(), recorded).precision == "mixed_bfloat16"
  assert "kept on resume" in capsys.readouterr().err
  path.write_text("{trunc")
  assert precision.recorded_precision(str(path)) is None
  state = tmp_path / "job.json"
  state.write_text(json.dumps({"singan": {"precision": "float32"}}))
  assert precision.recorded_precision(str(state), group="singan") == "float32"


def test_ganimation_networks_get_the_runs_policy_and_the_global_one_is_left_alone():
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import trainer  # pylint: disable=import-outside-toplevel
  config = GANimationConfig(data_dir="d", image_size=16, conv_dim=4, repeat_num=1,
                            critic_layers=2, precision="mixed_bfloat16")
  before = keras.mixed_precision.global_policy().name
  model = trainer.build(config, total=10, decay=0)
  assert keras.mixed_precision.global_policy().name == before == "float32"
  for net in (model.generator, model.critic):
    assert net.dtype_policy.name == "mixed_bfloat16"
    # Every layer computes in bfloat16 but the critic's heads (float32 by design).
    kinds = {layer.name: layer.compute_dtype for layer in net._flatten_layers(include_self=False)}  # pylint: disable=protected-access
    assert {n for n, d in kinds.items() if d != "bfloat16"} <= {"score_conv", "au_conv"}, kinds
    assert sum(d == "bfloat16" for d in kinds.values()) >= 4
    assert all(v.dtype == "float32" for v in net.variables)
