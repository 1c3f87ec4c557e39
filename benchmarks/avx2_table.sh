#!/bin/bash
# Issue 19's table on an IDLE machine: SinGAN scales 0, 7 and the finest (PyTorch
# reference, tf.function, XLA, the chosen execution) and GANimation's average iteration
# (128 px, batch 25: reference vs chosen), float32, 2 threads, under
# ONEDNN_MAX_CPU_ISA=AVX2 (with XLA_FLAGS=--xla_cpu_max_isa=AVX2, so that XLA's own
# code generation is held to AVX2 too: the oneDNN cap alone leaves XLA's fusions on
# AVX-512) and as is (reference, tf.function and the chosen execution).
# Needs torch importable (pip install -e '.[reference]', or PYTHONPATH to a torch install).
#   bash benchmarks/avx2_table.sh [OUT_DIR]   (default benchmarks/results)
# QUICK=1 uses the smallest counts (a check that it runs, not figures).
set -euo pipefail
OUT=${1:-benchmarks/results}
PY=${PYTHON:-python}
THREADS=${THREADS:-2}
ITERS=3; FINE=3; GAN=2
if [ "${QUICK:-0}" = 1 ]; then ITERS=1; FINE=1; GAN=1; fi
echo "estimated wall time on 2 idle cores: about 25 min (AVX2 12 min, as is 8 min, GANimation 2 x 2 min)"
mkdir -p "$OUT"
S="$PY -m benchmarks.singan_step --scales=0,7,fine --precisions=float32 --iters=$ITERS --fine_iters=$FINE --warmup=0 --torch=on --threads=$THREADS"
G="$PY -m benchmarks.ganimation_step --iterations=$GAN --precisions=float32 --xla_precisions=float32 --torch=true --torch_iterations=$GAN --pipeline_images=0 --threads=$THREADS"
ONEDNN_MAX_CPU_ISA=AVX2 XLA_FLAGS=--xla_cpu_max_isa=AVX2 $S --modes=function,xla,chosen --out="$OUT/avx2_table_singan_avx2.json"
ONEDNN_MAX_CPU_ISA=AVX2 XLA_FLAGS=--xla_cpu_max_isa=AVX2 $G --out="$OUT/avx2_table_ganimation_avx2.json"
$S --modes=function,chosen --out="$OUT/avx2_table_singan_asis.json"
$G --xla_precisions= --out="$OUT/avx2_table_ganimation_asis.json"
echo "done: $OUT/avx2_table_*.json"
