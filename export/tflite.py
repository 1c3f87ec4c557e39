"""Converts a GANimation or SinGAN run to a TFLite model for Android (builtin ops only).

Usage:
  python -m export.tflite --workdir=RUN --out=F.tflite
      [--quantize=none|float16|dynamic|int8] [--scales=K] [--calibration_samples=64]

Writes F.tflite and F.json (the sidecar: signature, input shapes and ranges, AU
names and order, image size, quantization, ops, source run). Batch size 1.

GANimation (Pumarola et al., ECCV 2018): signature `animate`, inputs `image`
(1, S, S, 3) float32 RGB in [0, 1] and `aus` (1, 17) float32 in [0, 1] (tiled
inside the graph) -> outputs `image`, `color` (1, S, S, 3) and `attention`
(1, S, S, 1) in [0, 1]; signature `animate_uint8` (not in int8 files), the same
with uint8 images (0..255) in and out, on the same weights. The graph is the generator's
`portable_ops` form (instance norm without SQUARED_DIFFERENCE / MEAN, tanh through
the sigmoid): in int8 every layer runs on XNNPACK's int8 kernels, and `animate`
uses only ops that the GPU delegate documents (GPU_DELEGATE_OPS) plus RSQRT.
SinGAN (Shaham et al., ICCV 2019): the first K = --scales scales (default: all),
signature `sample`, inputs `noise_0` (1, H_0, W_0, 1) and `noise_n` (1, H_n, W_n, 3)
unit normal maps -> output `image` (1, H_K-1, W_K-1, 3) in [0, 1]. Noise is an
input because the Android side draws it (random ops are not worth a delegate
fallback).

Quantization: none (float32); float16 (float16 weights, float32 compute on CPU);
dynamic (int8 weights, activations quantized on the fly); int8 (int8 weights and
activations calibrated on --calibration_samples inputs: faces of the run's
training data, or synthetic faces when it is not on this machine, for GANimation;
unit normal noise for SinGAN). `animate` and `sample` keep float32 inputs and
outputs in every mode, so one Android code path serves all four files. Conversion allows TFLite builtin ops
only (no Flex / SELECT_TF_OPS): a model that would need one is refused.
"""

import dataclasses
import functools
import os
import re
import shutil
import tempfile


from export import cli
from tfsingan.common import checkpointing
from tfsingan.common import rundir
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
UINT8_SIGNATURE = "animate_uint8"

# The ops that the TFLite GPU delegate documents for float32 / float16 models
# ("GPU ML operations support", https://ai.google.dev/edge/litert/performance/gpu,
# the same list as https://www.tensorflow.org/lite/performance/gpu).
GPU_DELEGATE_OPS = frozenset((
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXP",
    "FULLY_CONNECTED", "LOGICAL_AND", "LOGISTIC", "LSTM", "MAX_POOL_2D", "MAXIMUM",
    "MINIMUM", "MUL", "PAD", "PRELU", "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    "SOFTMAX", "STRIDED_SLICE", "SUB", "TRANSPOSE_CONV"))
# Outside that list but taken by the delegate, with where that is written:
GPU_DELEGATE_EXTRA_OPS = {
    # Instance norm needs 1 / sqrt(variance); no listed op computes it. The delegate's
    # op parser maps RSQRT to its elementwise RSQRT kernel
    # (tensorflow/lite/delegates/gpu/common/model_builder.cc).
    "RSQRT": "tensorflow/lite/delegates/gpu/common/model_builder.cc",
    # float16 weights: "the GPU delegate will not perform this dequantization, since it
    # can operate on float16 data" (https://www.tensorflow.org/lite/performance/
    # post_training_float16_quant); only DEQUANTIZE of float16 constants counts.
    "DEQUANTIZE": "https://www.tensorflow.org/lite/performance/post_training_float16_quant",
}


def model_ops(model_bytes):
  """Sorted names of the operators a .tflite flatbuffer uses (custom ops by their code)."""
  from ai_edge_litert import schema_py_generated as schema  # pylint: disable=import-outside-toplevel
  names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
  model = schema.Model.GetRootAsModel(model_bytes, 0)
  ops = set()
  for i in range(model.OperatorCodesLength()):
    code = model.OperatorCodes(i)
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
      ops.add((code.CustomCode() or b"?").decode())
    else:
      ops.add(names.get(builtin, str(builtin)))
  return sorted(ops)


def signature_ops(model_bytes):
  """{signature key: sorted names of the operators its subgraph runs}."""
  from ai_edge_litert.tools import flatbuffer_utils  # pylint: disable=import-outside-toplevel
  model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
  out = {}
  for signature in model.signatureDefs or []:
    graph = model.subgraphs[signature.subgraphIndex]
    out[signature.signatureKey.decode()] = sorted(
        {flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in graph.operators})
  return out


def gpu_delegate_gaps(model_bytes, signature):
  """The operators of `signature` that the GPU delegate neither documents
  (GPU_DELEGATE_OPS) nor takes as a written exception (GPU_DELEGATE_EXTRA_OPS), as
  sorted names; a DEQUANTIZE counts unless its input is a float16 constant."""
  from ai_edge_litert import schema_py_generated as schema  # pylint: disable=import-outside-toplevel
  from ai_edge_litert.tools import flatbuffer_utils  # pylint: disable=import-outside-toplevel
  model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
  index = {s.signatureKey.decode(): s.subgraphIndex for s in model.signatureDefs or []}
  graph = model.subgraphs[index[signature]]
  gaps = set()
  for op in graph.operators:
    name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
    if name in GPU_DELEGATE_OPS:
      continue
    if name == "DEQUANTIZE":
      source = graph.tensors[op.inputs[0]]
      constant = source.buffer and model.buffers[source.buffer].data is not None
      if source.type == schema.TensorType.FLOAT16 and constant:
        continue
    elif name in GPU_DELEGATE_EXTRA_OPS:
      continue
    gaps.add(name)
  return sorted(gaps)


def non_builtin_ops(ops):
  """The custom and Flex (SELECT_TF_OPS) operators among `model_ops` names."""
  from ai_edge_litert import schema_py_generated as schema  # pylint: disable=import-outside-toplevel
  builtin = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")} - {"CUSTOM"}
  return [op for op in ops if op not in builtin]


def _quantize_options(converter, quantize, representative):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  if quantize == "none":
    return
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if quantize == "float16":
    converter.target_spec.supported_types = [tf.float16]
  elif quantize == "int8":
    converter.representative_dataset = representative
    # int8 kernels for every op that has one, float builtins for the rest
    # (float I/O); still never a Flex op.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]


def convert(saved_model_dir, signature_keys, quantize="none", representative=None):
  """SavedModel signatures (a key or a list of keys) -> .tflite bytes with builtin ops
  only. With several keys, an int8 `representative` yields (key, inputs) pairs.

  Raises UserInputError naming the ops when the graph needs Flex or custom ops.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tensorflow.lite.python.convert import ConverterError  # pylint: disable=import-outside-toplevel
  if quantize not in QUANTIZATIONS:
    raise UserInputError(f"--quantize={quantize}: expected one of {', '.join(QUANTIZATIONS)}")
  if quantize == "int8" and representative is None:
    raise ValueError("int8 needs a representative dataset")
  if isinstance(signature_keys, str):
    signature_keys = [signature_keys]
  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                       signature_keys=list(signature_keys))
  _quantize_options(converter, quantize, representative)
  try:
    model = converter.convert()
  except ConverterError as e:
    text = str(e)
    if "Flex" in text or "Select TF" in text or "not supported" in text:
      ops = sorted(set(_ops_in_error(text)))
      raise UserInputError(
          f"TFLite conversion: the graph needs TensorFlow ops that are not TFLite builtins"
          f"{' (' + ', '.join(ops) + ')' if ops else ''}; the export allows builtin ops only "
          "so that the model runs on the standard Android runtime") from None
    raise
  extra = non_builtin_ops(model_ops(model))
  if extra:
    raise UserInputError(f"TFLite conversion: the model uses non-builtin ops {extra}; "
                         "expected builtin ops only")
  return model


def _ops_in_error(text):
  return re.findall(r"'(?:tf|mhlo|stablehlo)\.([A-Za-z0-9_]+)'", text)


def ganimation_calibration(config, num, seed=0):
  """(description, generator of {"image", "aus"} batches of one) for int8 calibration:
  faces of the run's training data when its --data_dir is here, else synthetic faces."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import data  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  size = config.image_size
  paths = None
  if config.data_dir and os.path.isdir(config.data_dir):
    try:
      paths, aus = data.load_index(config.data_dir, "train")
    except UserInputError:
      paths = None
  if paths:
    picks = rng.choice(len(paths), size=min(num, len(paths)), replace=False)
    described = f"{len(picks)} training faces of {config.data_dir}"

    def faces():
      for i in picks:
        # Target AUs: another face's, as in training.
        yield _load_face(paths[i], size), aus[rng.integers(len(aus))]
  else:
    from tfsingan import synthetic  # pylint: disable=import-outside-toplevel
    described = f"{num} synthetic faces (training data not found)"

    def faces():
      for _ in range(num):
        face = synthetic.render(synthetic.sample_identity(rng), synthetic.sample_aus(rng),
                                size=size)
        yield face, synthetic.sample_aus(rng)

  def representative():
    for face, target in faces():
      yield "animate", {"image": np.asarray(face, np.float32)[None],
                        "aus": np.asarray(target, np.float32)[None]}

  return described, representative


def _load_face(path, size):
  import cv2  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  img = image_io.centre_crop(image_io.load_image(path, quiet=True))
  return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def singan_calibration(specs, num, seed=0):
  import numpy as np  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)

  def representative():
    for _ in range(num):
      yield "sample", {s.name: rng.standard_normal(s.shape.as_list()).astype(np.float32)
                       for s in specs}

  return f"{num} draws of unit normal noise", representative


def build(workdir, quantize="none", *, scales=None, calibration_samples=64, seed=0):
  """Converts a run; returns (tflite bytes, sidecar dict)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from export import common  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import aus as aus_lib  # pylint: disable=import-outside-toplevel
  if quantize not in QUANTIZATIONS:
    raise UserInputError(f"--quantize={quantize}: expected one of {', '.join(QUANTIZATIONS)}")
  if calibration_samples < 1:
    raise UserInputError(f"--calibration_samples={calibration_samples}: expected >= 1")
  family = common.detect_family(workdir)
  if family == "ganimation":
    if scales is not None:
      raise UserInputError("--scales is a SinGAN option; this is a GANimation run")
    graphs, config = common.GANimationGraphs.load(workdir)
    key, modules = "animate", [graphs.generator]
    endpoints = [(key, graphs.animate, graphs.input_signature(batch=1))]
    io = functools.partial(common.ganimation_io, config.image_size, batch=1,
                           warp_guided=config.warp_guided)
    signatures = {key: io()}
    if quantize != "int8":
      # Pixels in and out, on the same weights: +0.1% file size at 128 px. Not in
      # int8 files: the int8 quantizer gave the ops before the uint8 outputs' x 255
      # that product's scale (up to 120 levels off on a 32 px model).
      endpoints.append((UINT8_SIGNATURE, graphs.animate_uint8,
                        graphs.input_signature(batch=1, dtype=tf.uint8)))
      signatures[UINT8_SIGNATURE] = io("uint8")
    described, representative = ganimation_calibration(config, calibration_samples, seed)
    info = {"image_size": config.image_size, "au_names": list(aus_lib.AU_NAMES),
            **io(), "signatures": signatures}
  else:
    graphs = common.SinGANGraphs.load(workdir, scales)
    key, modules = "sample", graphs.model.generators
    specs = graphs.noise_specs(0, batch=1)
    endpoints = [(key, graphs.sample(0), specs)]
    described, representative = singan_calibration(specs, calibration_samples, seed)
    h, w = graphs.sizes[-1]
    info = {**common.singan_scales(graphs),
            "inputs": {s.name: {"shape": s.shape.as_list(), "dtype": "float32",
                                "distribution": "standard normal"} for s in specs},
            "outputs": {"image": {"shape": [1, h, w, 3], "dtype": "float32",
                                  "range": [0.0, 1.0]}}}
  archive = common.make_archive(modules, endpoints)
  tmp = tempfile.mkdtemp(prefix="tfsingan-tflite-")
  try:
    archive.write_out(tmp, verbose=False)
    model = convert(tmp, [name for name, _, _ in endpoints], quantize,
                    representative if quantize == "int8" else None)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  info = common.sidecar(family, workdir, format="tflite", signature=key, quantization=quantize,
                        io_dtype="float32", ops=model_ops(model),
                        gpu_delegate_gaps={name: gpu_delegate_gaps(model, name)
                                           for name, _, _ in endpoints}, **info)
  if quantize == "int8":
    info["calibration"] = described
  return model, info


def export(workdir, out, quantize="none", *, scales=None, calibration_samples=64, seed=0):
  """Writes `out` (.tflite) and its sidecar (`out` with .json for .tflite); returns both
  paths."""
  if not out.endswith(".tflite"):
    raise UserInputError(f"--out={out}: expected a file name ending in .tflite")
  rundir.check_file_path(out, "--out")
  from export import common  # pylint: disable=import-outside-toplevel
  from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
  common.detect_family(workdir)
  common.check_writable_parent(out)
  with rundir.lock(out, "--out", inside=False):
    model, info = build(workdir, quantize, scales=scales,
                        calibration_samples=calibration_samples, seed=seed)
    sidecar_path = out[:-len(".tflite")] + ".json"
    atomic_write_bytes(out, model)
    checkpointing.write_json(sidecar_path, {**info, "size_bytes": len(model)})
  return out, sidecar_path


@dataclasses.dataclass(frozen=True)
class TFLiteConfig:
  """What `python -m export.tflite` writes, besides --workdir and --out."""

  quantize: str = field("none", help="none, float16, dynamic or int8.")
  scales: int = field(None, help="SinGAN: number of coarse scales exported (default: all "
                      "trained scales).", low=1)
  calibration_samples: int = field(64, help="int8: representative inputs for the activation "
                                   "ranges.", low=1, high=100_000)
  seed: int = field(0, help="int8: seed of the calibration inputs.", low=0)

  def __post_init__(self):
    check_ranges(self)


def run(config, workdir, out):
  """`export` with the options of `config`; says what it wrote."""
  if config.quantize not in QUANTIZATIONS:
    raise UserInputError(f"--quantize={config.quantize}: expected one of "
                         f"{', '.join(QUANTIZATIONS)}")
  path, sidecar_path = export(workdir, out, config.quantize, scales=config.scales,
                              calibration_samples=config.calibration_samples, seed=config.seed)
  print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB, {config.quantize}) and "
        f"{sidecar_path}", flush=True)
  return path, sidecar_path


PROGRAM = cli.Program(TFLiteConfig, run,
                      out_help="Output .tflite file (the sidecar .json goes beside it).",
                      out_what="the .tflite file to write")
main, define_flags = PROGRAM.main, PROGRAM.define_flags

if __name__ == "__main__":
  PROGRAM.start()
