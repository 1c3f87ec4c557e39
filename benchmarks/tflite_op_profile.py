"""Op-by-op latency profile of a .tflite model (LiteRT, XNNPACK on CPU).

Used on the GANimation generator (Pumarola et al., ECCV 2018) to find what keeps
its int8 export slow. The Python interpreter of ai_edge_litert has no per-op
profiler (the C++ benchmark tool that has one is not on PyPI), so each operator
is cut out into a model of its own (same tensors, quantization and constant
buffers) and timed alone with the default op resolver: what XNNPACK takes runs
as a delegate, what it rejects runs on TFLite's builtin kernel, as it would in
the whole graph. The table gives, per op type and input dtype, the count, the
time share, how many XNNPACK took, and the sum against the whole model timed in
the same run (the difference is the cost of the partition boundaries and of the
interpreter's per-invoke overhead).

  python -m benchmarks.tflite_op_profile --model=F.tflite [--model=G.tflite ...]
      [--threads=2] [--iters=20] --out=benchmarks/results/tflite_op_profile.json
"""

import collections
import copy
import os
import statistics
import time

from absl import app
from absl import flags

from tfsingan import flags as flag_lib

FLAGS = flags.FLAGS


def _schema():
  from ai_edge_litert import schema_py_generated as schema  # pylint: disable=import-outside-toplevel
  return schema


def _dtype_name(tensor_type):
  schema = _schema()
  names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
  return names.get(tensor_type, str(tensor_type)).lower()


def _op_name(model, op):
  from ai_edge_litert.tools import flatbuffer_utils  # pylint: disable=import-outside-toplevel
  return flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)


def single_op_models(model_bytes, subgraph=0):
  """(index, op name, input dtypes, output dtype, output shape, one-op .tflite bytes)
  for every operator of `subgraph`, in execution order."""
  from ai_edge_litert.tools import flatbuffer_utils  # pylint: disable=import-outside-toplevel
  schema = _schema()
  model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
  graph = model.subgraphs[subgraph]
  out = []
  for index, op in enumerate(graph.operators):
    buffers = [schema.BufferT()]
    tensors, remap, inputs = [], {}, []

    def add(t, is_input, buffers=buffers, tensors=tensors, remap=remap, inputs=inputs):
      if t < 0:
        return t
      if t not in remap:
        tensor = copy.copy(graph.tensors[t])
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if data is not None and len(data):
          buffers.append(schema.BufferT(data=data))
          tensor.buffer = len(buffers) - 1
        else:
          tensor.buffer = 0
          if is_input:
            inputs.append(len(tensors))
        remap[t] = len(tensors)
        tensors.append(tensor)
      return remap[t]

    new_op = copy.copy(op)
    new_op.inputs = [add(t, True) for t in op.inputs]
    new_op.outputs = [add(t, False) for t in op.outputs]
    new_op.intermediates = [add(t, False) for t in (op.intermediates or [])] or None
    one = schema.ModelT()
    one.version = model.version
    one.operatorCodes = model.operatorCodes
    one.buffers = buffers
    one.subgraphs = [schema.SubGraphT(tensors=tensors, inputs=inputs,
                                      outputs=list(new_op.outputs), operators=[new_op],
                                      name="op")]
    first_out = graph.tensors[op.outputs[0]]
    out.append((index, _op_name(model, op),
                tuple(_dtype_name(tensors[i].type) for i in new_op.inputs if i in inputs),
                _dtype_name(first_out.type), [int(d) for d in first_out.shape],
                bytes(flatbuffer_utils.convert_object_to_bytearray(one))))
  return out


def _random_inputs(interpreter, rng):
  import numpy as np  # pylint: disable=import-outside-toplevel
  for detail in interpreter.get_input_details():
    dtype, shape = detail["dtype"], detail["shape"]
    if np.issubdtype(dtype, np.integer):
      info = np.iinfo(dtype)
      value = rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dtype)
    else:  # positive: RSQRT and LOG stay finite
      value = rng.uniform(0.5, 1.5, shape).astype(dtype)
    interpreter.set_tensor(detail["index"], value)


def median_invoke_us(model_bytes, threads, warmup, iters, seed=0):
  """(median microseconds of one `invoke`, whether XNNPACK took any node)."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  interpreter = Interpreter(model_content=model_bytes, num_threads=threads)
  interpreter.allocate_tensors()
  delegated = any(o["op_name"] == "DELEGATE" for o in interpreter._get_ops_details())  # pylint: disable=protected-access
  _random_inputs(interpreter, np.random.default_rng(seed))
  for _ in range(warmup):
    interpreter.invoke()
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    interpreter.invoke()
    times.append(time.perf_counter() - start)
  return 1e6 * statistics.median(times), delegated


def profile(model_bytes, threads=2, warmup=2, iters=20):
  """Per-op rows and the whole model's median, timed in one run."""
  rows = []
  for index, name, in_types, out_type, shape, one in single_op_models(model_bytes):
    us, delegated = median_invoke_us(one, threads, warmup, iters)
    rows.append({"index": index, "op": name, "input_dtypes": list(in_types),
                 "output_dtype": out_type, "output_shape": shape, "xnnpack": delegated,
                 "median_us": us})
  whole_us, _ = median_invoke_us(model_bytes, threads, warmup, iters)
  return {"ops": rows, "whole_model_ms": whole_us / 1000.0,
          "sum_of_ops_ms": sum(r["median_us"] for r in rows) / 1000.0,
          "by_type": by_type(rows)}


def by_type(rows):
  """[{op, dtype, count, xnnpack, ms, share}], slowest first; dtype is the first
  non-constant input's (the output's for ops without one)."""
  groups = collections.defaultdict(lambda: {"count": 0, "xnnpack": 0, "us": 0.0})
  for r in rows:
    dtype = r["input_dtypes"][0] if r["input_dtypes"] else r["output_dtype"]
    if r["op"] in ("QUANTIZE", "DEQUANTIZE"):
      dtype = f"{dtype}->{r['output_dtype']}"
    g = groups[r["op"], dtype]
    g["count"] += 1
    g["xnnpack"] += int(r["xnnpack"])
    g["us"] += r["median_us"]
  total = sum(g["us"] for g in groups.values()) or 1.0
  table = [{"op": op, "dtype": dtype, "count": g["count"], "xnnpack": g["xnnpack"],
            "ms": g["us"] / 1000.0, "share": g["us"] / total}
           for (op, dtype), g in groups.items()]
  return sorted(table, key=lambda r: -r["ms"])


def format_table(name, result):
  lines = [f"{name}: whole model {result['whole_model_ms']:.2f} ms, sum of ops "
           f"{result['sum_of_ops_ms']:.2f} ms",
           f"  {'op':<20}{'dtype':<18}{'count':>6}{'xnnpack':>9}{'ms':>9}{'share':>8}"]
  for r in result["by_type"]:
    lines.append(f"  {r['op']:<20}{r['dtype']:<18}{r['count']:>6}{r['xnnpack']:>9}"
                 f"{r['ms']:>9.2f}{100 * r['share']:>7.1f}%")
  return "\n".join(lines)


def define_flags():
  flags.DEFINE_multi_string("model", None, ".tflite files to profile.")
  flags.DEFINE_integer("threads", 2, "Interpreter threads.")
  flags.DEFINE_integer("iters", 20, "Timed invokes per op.")
  flags.DEFINE_string("out", None, "JSON output.")


def main(argv):
  del argv
  from benchmarks.machine import machine_info  # pylint: disable=import-outside-toplevel
  from benchmarks.machine import write_result  # pylint: disable=import-outside-toplevel
  results = {"threads": FLAGS.threads,
             "machine": {**machine_info(), "load_average_start": os.getloadavg()},
             "models": {}}
  for path in FLAGS.model or []:
    with open(path, "rb") as f:
      result = profile(f.read(), FLAGS.threads, iters=FLAGS.iters)
    name = os.path.splitext(os.path.basename(path))[0]
    results["models"][name] = result
    print(format_table(name, result), flush=True)
  results["machine"]["load_average_end"] = os.getloadavg()
  write_result(FLAGS.out, results)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
