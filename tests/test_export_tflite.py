"""Tests of export.tflite: builtin-only TFLite models of GANimation and of SinGAN's coarse
scales, run with ai_edge_litert and compared with Keras (float32, float16) and with
the float32 model (int8 PSNR on random images, synthetic faces and real photos); the
int8 GANimation graph is int8 from its inputs to its outputs, and its float models
use only ops of the TFLite GPU delegate."""

import glob
import json
import os

import numpy as np
import pytest
import skimage.metrics

from test_export_saved_model import assert_one_line_error
from test_export_saved_model import cli
from test_export_saved_model import ganimation_run  # pylint: disable=unused-import
from test_export_saved_model import keras_ganimation
from test_export_saved_model import random_faces
from test_export_saved_model import singan_run  # pylint: disable=unused-import
from test_export_saved_model import unit
from test_export_saved_model import GAN_SIZE
from test_export_saved_model import SINGAN_SIZES
from tfsingan.errors import UserInputError

QUANTIZATIONS = ("none", "float16", "int8")
SINGAN_SCALES = 2  # the coarse scales exported
REAL_FACES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "..", "shared", "data", "real_faces")


@pytest.fixture(scope="module")
def converted(ganimation_run, singan_run):
  """{(family, quantization): (tflite bytes, sidecar)} for both tiny runs."""
  from export import tflite  # pylint: disable=import-outside-toplevel
  out = {}
  for q in QUANTIZATIONS:
    out["ganimation", q] = tflite.build(ganimation_run, q, calibration_samples=16)
    out["singan", q] = tflite.build(singan_run, q, scales=SINGAN_SCALES, calibration_samples=16)
  return out


def runner(model, key):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
  interpreter = Interpreter(model_content=model, num_threads=2)
  return interpreter, interpreter.get_signature_runner(key)


def psnr(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return skimage.metrics.peak_signal_noise_ratio(b, a, data_range=1.0) if np.any(a != b) else 120.0


def singan_noises(batches, seed=0):
  rng = np.random.default_rng(seed)
  return [{f"noise_{n}": rng.standard_normal((1, h, w, 1 if n == 0 else 3)).astype(np.float32)
           for n, (h, w) in enumerate(SINGAN_SIZES[:SINGAN_SCALES])} for _ in range(batches)]


def keras_singan(workdir, noises):
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  model = TrainedSinGAN.load(workdir, num_scales=SINGAN_SCALES)
  sizes = tuple(tuple(s) for s in SINGAN_SIZES[:SINGAN_SCALES])
  maps = tuple(np.repeat(noises["noise_0"], 3, axis=3) if n == 0 else noises[f"noise_{n}"]
               for n in range(SINGAN_SCALES))
  h, w = sizes[0]
  return unit(model.compiled_run(0, sizes)(maps, np.zeros((1, h, w, 3), np.float32)))


def test_no_flex_or_custom_op_in_any_model(converted):
  from export import tflite  # pylint: disable=import-outside-toplevel
  for (family, q), (model, info) in converted.items():
    ops = tflite.model_ops(model)
    assert tflite.non_builtin_ops(ops) == [], (family, q, ops)
    assert info["ops"] == ops
    interpreter, _ = runner(model, info["signature"])
    # The interpreter's own view: Flex ops would show up as custom "Flex..." kernels.
    names = {op["op_name"] for op in interpreter._get_ops_details()}  # pylint: disable=protected-access
    assert not any(n.startswith("Flex") or n == "CUSTOM" for n in names), (family, q, names)
    assert "CONV_2D" in names


def test_a_graph_needing_flex_is_refused(tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from export import common  # pylint: disable=import-outside-toplevel
  from export import tflite  # pylint: disable=import-outside-toplevel

  def bicubic(x):  # ResizeBicubic has no TFLite builtin
    return {"y": tf.image.resize(x, [8, 8], method="bicubic")}

  archive = common.make_archive([], [("f", bicubic, [tf.TensorSpec([1, 4, 4, 3], name="x")])])
  archive.write_out(str(tmp_path / "sm"), verbose=False)
  with pytest.raises(UserInputError, match=r"not TFLite builtins \(ResizeBicubic\)"):
    tflite.convert(str(tmp_path / "sm"), "f")


def test_named_signatures(converted):
  _, info = converted["ganimation", "none"]
  interpreter, _ = runner(converted["ganimation", "none"][0], "animate")
  names = {"inputs": ["aus", "image"], "outputs": ["attention", "color", "image"]}
  assert interpreter.get_signature_list() == {"animate": names, "animate_uint8": names}
  int8, _ = runner(converted["ganimation", "int8"][0], "animate")
  assert int8.get_signature_list() == {"animate": names}
  for key, dtype in (("animate", np.float32), ("animate_uint8", np.uint8)):
    details = interpreter.get_signature_runner(key).get_input_details()
    assert list(details["image"]["shape"]) == [1, GAN_SIZE, GAN_SIZE, 3]
    assert details["image"]["dtype"] == dtype and details["aus"]["dtype"] == np.float32
    assert list(details["aus"]["shape"]) == [1, 17]
    outputs = interpreter.get_signature_runner(key).get_output_details()
    assert {v["dtype"] for v in outputs.values()} == {dtype}
  assert info["signatures"]["animate_uint8"]["inputs"]["image"]["dtype"] == "uint8"
  interpreter, _ = runner(converted["singan", "none"][0], "sample")
  assert interpreter.get_signature_list() == {
      "sample": {"inputs": ["noise_0", "noise_1"], "outputs": ["image"]}}


def test_ganimation_parity_with_keras(converted, ganimation_run):
  image, aus = random_faces(4, seed=7)
  want = keras_ganimation(ganimation_run, image, aus)
  outputs = {q: run_each(converted["ganimation", q][0], "animate", image, aus)
             for q in QUANTIZATIONS}
  for name in ("image", "attention", "color"):
    assert np.abs(outputs["none"][name] - want[name]).max() < 1e-4, name
    assert np.abs(outputs["float16"][name] - want[name]).max() < 1e-2, name
  # The criterion, on the edited image (untrained weights: about 31 dB here;
  # trained runs measure higher, see the benchmark).
  assert psnr(outputs["int8"]["image"], outputs["none"]["image"]) > 30.0


def synthetic_faces(num, seed=3):
  """Procedural faces (tfsingan.synthetic) at the test size: not the calibration's
  (seed 0), with target AUs."""
  from tfsingan import synthetic  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  faces = [synthetic.render(synthetic.sample_identity(rng), synthetic.sample_aus(rng),
                            size=GAN_SIZE) for _ in range(num)]
  return np.stack(faces).astype(np.float32), rng.uniform(0, 1, (num, 17)).astype(np.float32)


def real_faces():
  """The largest face that the LBP cascade finds in each photo of
  ../shared/data/real_faces, a square of 1.5x its box, at the test size (photos where
  it finds none are left out); skips when the folder is absent."""
  import cv2  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import faces  # pylint: disable=import-outside-toplevel
  paths = sorted(glob.glob(os.path.join(REAL_FACES, "*.jpg")))
  if not paths:
    pytest.skip(f"no real face photos in {os.path.abspath(REAL_FACES)} (shared data absent)")
  crops = []
  for path in paths:
    photo = image_io.load_image(path, quiet=True)
    found = faces.detect_faces(photo)
    if found:
      x, y, w, h = found[0]
      side = min(int(1.5 * max(w, h)), *photo.shape[:2])
      x0 = min(max(0, x + w // 2 - side // 2), photo.shape[1] - side)
      y0 = min(max(0, y + h // 2 - side // 2), photo.shape[0] - side)
      crops.append(cv2.resize(photo[y0:y0 + side, x0:x0 + side], (GAN_SIZE, GAN_SIZE),
                              interpolation=cv2.INTER_AREA))
  assert len(crops) >= 3, f"faces found in only {len(crops)} of {len(paths)} photos"
  rng = np.random.default_rng(5)
  return np.stack(crops), rng.uniform(0, 1, (len(crops), 17)).astype(np.float32)


def run_each(model, key, image, aus):
  """Runs `key` on each example (the models have batch 1); dict of stacked outputs."""
  _, run = runner(model, key)
  outs = [run(image=image[i:i + 1], aus=aus[i:i + 1]) for i in range(len(image))]
  return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


@pytest.mark.parametrize("faces", ["synthetic", "real"])
def test_int8_psnr_on_faces(converted, faces):
  # int8 is calibrated on synthetic faces of another seed (the tiny run has no
  # training data here); the real photos are never seen by the calibration.
  image, aus = synthetic_faces(8) if faces == "synthetic" else real_faces()
  want = run_each(converted["ganimation", "none"][0], "animate", image, aus)["image"]
  got = run_each(converted["ganimation", "int8"][0], "animate", image, aus)["image"]
  assert want.std() > 0.05  # faces, not a flat image
  # The criterion; this untrained tiny run measured 36.2 dB (synthetic) and
  # 37.7 dB (real) with the graph of `portable_ops`, 29.1 / 29.7 dB before.
  assert psnr(got, want) > 30.0


@pytest.mark.parametrize("q", ["none", "float16"])
def test_animate_uint8_matches_animate(converted, q):
  image, aus = real_faces() if os.path.isdir(REAL_FACES) else synthetic_faces(4)
  pixels = np.round(image * 255).astype(np.uint8)
  model = converted["ganimation", q][0]
  want = run_each(model, "animate", pixels.astype(np.float32) / 255, aus)
  got = run_each(model, "animate_uint8", pixels, aus)
  for name in ("image", "attention", "color"):
    assert got[name].dtype == np.uint8
    diff = np.abs(got[name].astype(np.int64) - np.round(np.clip(want[name], 0, 1) * 255))
    # The same graph in both signatures: only a value that rounds the other way at
    # .5 (float rounding in the /255 and x255) may move by one level.
    assert diff.max() <= 1, (name, diff.max())
    assert diff.mean() < 0.01, (name, diff.mean())


def test_int8_ganimation_is_int8_inside(converted):
  """Only the signature boundary converts: QUANTIZE of the two float inputs and
  DEQUANTIZE of the three outputs; every other op of `animate` reads and writes int8
  (before `portable_ops`, 19 QUANTIZE / 20 DEQUANTIZE pairs sat inside the graph,
  around each instance norm's NEG)."""
  from ai_edge_litert import schema_py_generated as schema  # pylint: disable=import-outside-toplevel
  from ai_edge_litert.tools import flatbuffer_utils  # pylint: disable=import-outside-toplevel
  model = flatbuffer_utils.read_model_from_bytearray(bytearray(converted["ganimation", "int8"][0]))
  signature = {s.signatureKey.decode(): s for s in model.signatureDefs}["animate"]
  graph = model.subgraphs[signature.subgraphIndex]
  float_ops = {}
  for op in graph.operators:
    tensors = [t for t in list(op.inputs) + list(op.outputs) if t >= 0]
    if any(graph.tensors[t].type == schema.TensorType.FLOAT32 for t in tensors):
      name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
      float_ops.setdefault(name, set()).update(tensors)
  assert sorted(float_ops) == ["DEQUANTIZE", "QUANTIZE"], sorted(float_ops)
  floats = {t for t in float_ops["QUANTIZE"] | float_ops["DEQUANTIZE"]
            if graph.tensors[t].type == schema.TensorType.FLOAT32}
  assert floats == set(graph.inputs) | set(graph.outputs)


@pytest.mark.parametrize("q", ["none", "float16"])
def test_ganimation_float_models_use_gpu_delegate_ops(converted, q):
  from export import tflite  # pylint: disable=import-outside-toplevel
  model, info = converted["ganimation", q]
  assert tflite.gpu_delegate_gaps(model, "animate") == []
  assert info["gpu_delegate_gaps"]["animate"] == []
  # The uint8 signature adds its conversions at the ends (CPU) and nothing else.
  assert set(tflite.gpu_delegate_gaps(model, "animate_uint8")) <= {"CAST", "ROUND"}


def test_gpu_delegate_check_names_an_op_outside_the_set(tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from export import common  # pylint: disable=import-outside-toplevel
  from export import tflite  # pylint: disable=import-outside-toplevel

  def tanh_and_tile(x):  # TANH and BROADCAST_TO are not in the documented list
    return {"y": tf.broadcast_to(tf.tanh(x) + tf.math.rsqrt(x * x + 1.0), [2, 4, 4, 3])}

  archive = common.make_archive([], [("f", tanh_and_tile, [tf.TensorSpec([1, 4, 4, 3], name="x")])])
  archive.write_out(str(tmp_path / "sm"), verbose=False)
  for q in ("none", "float16"):
    model = tflite.convert(str(tmp_path / "sm"), "f", q)
    assert tflite.gpu_delegate_gaps(model, "f") == ["BROADCAST_TO", "TANH"]


def test_singan_parity_with_keras(converted, singan_run):
  draws = singan_noises(4)
  want = np.concatenate([keras_singan(singan_run, d) for d in draws])
  got = {}
  for q in QUANTIZATIONS:
    _, run = runner(converted["singan", q][0], "sample")
    got[q] = np.concatenate([run(**d)["image"] for d in draws])
  assert got["none"].shape == (4, *SINGAN_SIZES[SINGAN_SCALES - 1], 3)
  assert np.abs(got["none"] - want).max() < 1e-4
  assert np.abs(got["float16"] - want).max() < 1e-2
  assert psnr(got["int8"], got["none"]) > 30.0
  assert want.std() > 0.05


def test_sidecars(converted, ganimation_run, singan_run):
  _, info = converted["ganimation", "int8"]
  assert info["family"] == "ganimation" and info["signature"] == "animate"
  assert info["quantization"] == "int8" and info["io_dtype"] == "float32"
  assert info["image_size"] == GAN_SIZE and len(info["au_names"]) == 17
  assert info["au_names"][8] == "AU12" and info["inputs"]["aus"]["range"] == [0.0, 1.0]
  assert info["inputs"]["image"]["shape"] == [1, GAN_SIZE, GAN_SIZE, 3]
  assert info["source_run"] == os.path.abspath(ganimation_run)
  assert info["calibration"] == "16 synthetic faces (training data not found)"
  _, info = converted["singan", "float16"]
  assert info["family"] == "singan" and info["num_scales"] == SINGAN_SCALES
  assert info["sizes"] == SINGAN_SIZES[:SINGAN_SCALES]
  assert info["inputs"]["noise_0"]["shape"] == [1, 18, 18, 1]
  assert info["outputs"]["image"]["shape"] == [1, 21, 21, 3]
  assert info["source_run"] == os.path.abspath(singan_run) and "calibration" not in info


def test_cli_writes_model_and_sidecar(singan_run, tmp_path):
  out = str(tmp_path / "android" / "singan.tflite")
  result = cli("export.tflite", f"--workdir={singan_run}", f"--out={out}", "--quantize=dynamic",
               "--scales=2")
  assert result.returncode == 0, result.stderr[-2000:]
  with open(out[:-len(".tflite")] + ".json", encoding="utf-8") as f:
    info = json.load(f)
  assert info["quantization"] == "dynamic" and info["num_scales"] == 2
  assert info["size_bytes"] == os.path.getsize(out)


@pytest.mark.parametrize("args,message", [
    (["--quantize=int4"], "--quantize=int4"),
    (["--scales=4"], "--scales=4"),
    (["--out=model.bin"], "ending in .tflite"),
])
def test_cli_bad_input_is_one_line_exit_2(singan_run, tmp_path, args, message):
  given = {a.split("=")[0] for a in args}
  base = {"--workdir": singan_run, "--out": str(tmp_path / "m.tflite")}
  argv = [f"{k}={v}" for k, v in base.items() if k not in given] + args
  assert_one_line_error(cli("export.tflite", *argv), message)
  assert not os.path.exists(tmp_path / "m.tflite")


def test_library_bad_input(ganimation_run, singan_run, tmp_path):
  from export import tflite  # pylint: disable=import-outside-toplevel
  with pytest.raises(UserInputError, match="holds no training run"):
    tflite.export(str(tmp_path / "none"), str(tmp_path / "m.tflite"))
  with pytest.raises(UserInputError, match="--scales is a SinGAN option"):
    tflite.build(ganimation_run, scales=2)
  with pytest.raises(UserInputError, match="--scales=0"):
    tflite.build(singan_run, scales=0)
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(UserInputError, match="cannot create"):
    tflite.export(singan_run, str(blocker / "m.tflite"))
  (tmp_path / "dir.tflite").mkdir()
  with pytest.raises(UserInputError, match="is a directory"):
    tflite.export(singan_run, str(tmp_path / "dir.tflite"))
