"""What the step benchmarks record about where they ran (benchmarks/machine.py)."""

from benchmarks import machine


def test_execution_info_records_kind_onednn_threads_and_choices(monkeypatch):
  monkeypatch.setattr(machine.precision_lib, "read_cpu_flags",
                      lambda: ["sse4_2", "avx2", "fma", "avx512f", "avx512_bf16"])
  monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
  monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
  info = machine.execution_info(1, xla=True, batch_norm="fused")
  assert info == {"cpu_flags": ["avx2", "avx512_bf16", "avx512f", "fma"], "cpu_kind": "avx2",
                  "onednn": True, "threads": 1, "xla": True, "batch_norm": "fused"}
  line = machine.describe_execution(info)
  assert line.startswith("execution: avx2 CPU (flags avx2 avx512_bf16 avx512f fma)")
  assert "xla=True" in line and "threads=1" in line
  monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
  monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
  info = machine.execution_info(0)
  assert info["onednn"] is False and info["cpu_kind"] == "avx512_bf16" and info["threads"] >= 1
