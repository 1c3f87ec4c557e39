"""Tests of export.tflite: builtin-only TFLite models of GANimation and of SinGAN's coarse
scales, run with ai_edge_litert and compared with Keras (float32, float16) and with
the float32 model (int8 PSNR)."""

import json
import os

import numpy as np
import pytest

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
  mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
  return 10.0 * np.log10(1.0 / max(mse, 1e-12))


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
  assert interpreter.get_signature_list() == {
      "animate": {"inputs": ["aus", "image"], "outputs": ["attention", "color", "image"]}}
  details = interpreter.get_signature_runner("animate").get_input_details()
  assert list(details["image"]["shape"]) == [1, GAN_SIZE, GAN_SIZE, 3]
  assert list(details["aus"]["shape"]) == [1, 17]
  interpreter, _ = runner(converted["singan", "none"][0], "sample")
  assert interpreter.get_signature_list() == {
      "sample": {"inputs": ["noise_0", "noise_1"], "outputs": ["image"]}}


def test_ganimation_parity_with_keras(converted, ganimation_run):
  image, aus = random_faces(4, seed=7)
  want = keras_ganimation(ganimation_run, image, aus)
  outputs = {}
  for q in QUANTIZATIONS:
    _, run = runner(converted["ganimation", q][0], "animate")
    outs = [run(image=image[i:i + 1], aus=aus[i:i + 1]) for i in range(4)]
    outputs[q] = {k: np.concatenate([o[k] for o in outs]) for k in ("image", "attention", "color")}
  for name in ("image", "attention", "color"):
    assert np.abs(outputs["none"][name] - want[name]).max() < 1e-4, name
    assert np.abs(outputs["float16"][name] - want[name]).max() < 1e-2, name
  # The criterion, on the edited image (untrained weights: about 31 dB here;
  # trained runs measure higher, see the benchmark).
  assert psnr(outputs["int8"]["image"], outputs["none"]["image"]) > 30.0


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
