"""Tests of export.saved_model: TF Serving SavedModels of GANimation and SinGAN runs,
compared with the Keras models, and the REST request bodies run through the signatures.

The runs are tiny run directories written as the trainers write them (untrained
weights; SinGAN's batch-norm statistics randomised); a slow test trains both
through the CLI and exports them through the export CLIs.
"""

import json
import os

import numpy as np
import pytest

import harness
from tfsingan import config as config_lib
from tfsingan.errors import UserInputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GAN_SIZE = 32
SINGAN_SIZES = [[18, 18], [21, 21], [24, 24]]
# What tests/test_export_*.py treat as the training-only modules.
TRAINING_MODULES = ("tfsingan.ganimation.model", "tfsingan.ganimation.losses",
                    "tfsingan.ganimation.trainer", "tfsingan.singan.model",
                    "tfsingan.singan.losses", "tfsingan.singan.trainer",
                    "tfsingan.common.gan_losses", "tfsingan.train")


cli = harness.run_cli
assert_one_line_error = harness.assert_one_error_line


def write_ganimation_run(root):
  """A 32 px, 8-channel GANimation run with untrained weights (as test_animate's)."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import networks  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  os.makedirs(root, exist_ok=True)
  keras.utils.set_random_seed(0)
  generator = networks.build_generator(GAN_SIZE, 8, 1, dtype="float32")
  generator.save_weights(os.path.join(root, inference.GENERATOR_WEIGHTS))
  config = GANimationConfig(image_size=GAN_SIZE, conv_dim=8, repeat_num=1, critic_layers=4)
  with open(os.path.join(root, inference.CONFIG_NAME), "w", encoding="utf-8") as f:
    f.write(config_lib.to_json(config))


def write_singan_run(root):
  """A 3-scale SinGAN run (18..24 px, 8 channels) laid out as the trainer writes it,
  with random batch-norm statistics (inference-mode BN is not the identity) and
  kernels scaled up (untrained N(0, 0.02) ones give a flat grey image)."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.config import SinGANConfig  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.networks import SinGANGenerator  # pylint: disable=import-outside-toplevel
  os.makedirs(root, exist_ok=True)
  keras.utils.set_random_seed(1)
  rng = np.random.default_rng(1)
  for n in range(len(SINGAN_SIZES)):
    gen = SinGANGenerator(8, 3, 5, seed=10 * n)
    gen.build(((None, None, None, 3), (None, None, None, 3)))
    for weight in gen.weights:
      if weight.path.endswith("kernel"):
        weight.assign(weight * 8.0)
    for block in gen.blocks:
      block.norm.moving_mean.assign(rng.normal(0, 0.05, 8).astype(np.float32))
      block.norm.moving_variance.assign(rng.uniform(0.5, 2.0, 8).astype(np.float32))
    folder = os.path.join(root, "scales", f"{n:02d}")
    os.makedirs(folder)
    gen.save_weights(os.path.join(folder, "generator.weights.h5"))
  state = {"channels": [8, 8, 8], "finished_scales": 3, "noise_amps": [1.0, 0.1, 0.05],
           "scale_factor": 0.93, "sizes": SINGAN_SIZES}
  with open(os.path.join(root, "state.json"), "w", encoding="utf-8") as f:
    json.dump(state, f)
  config = SinGANConfig(max_size=24, min_size=18, base_channels=8, max_channels=8)
  with open(os.path.join(root, "config.json"), "w", encoding="utf-8") as f:
    f.write(config_lib.to_json(config))
  z = rng.standard_normal((18, 18, 1)).astype(np.float32)
  np.save(os.path.join(root, "z_rec.npy"), np.repeat(z, 3, axis=2))


def cached_run(tmp_path_factory, name, writer):
  """One run directory per test session, shared by both export test modules."""
  root = tmp_path_factory.getbasetemp() / "export_runs" / name
  if not (root / "config.json").exists():
    writer(str(root))
  return str(root)


@pytest.fixture(scope="session")
def ganimation_run(tmp_path_factory):
  return cached_run(tmp_path_factory, "ganimation", write_ganimation_run)


@pytest.fixture(scope="session")
def singan_run(tmp_path_factory):
  return cached_run(tmp_path_factory, "singan", write_singan_run)


@pytest.fixture(scope="module")
def models(tmp_path_factory, ganimation_run, singan_run):
  """Both runs exported into one models/ folder; SinGAN samples from scale 1 and
  regenerates from scale 2 (the paper's N-1 and N-2)."""
  from export import saved_model  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("serving") / "models"
  gan = saved_model.export(ganimation_run, str(root / "faces"), 1)
  sin = saved_model.export(singan_run, str(root / "singan"), 3, start_scale=1, inject_scale=2)
  return str(root), gan, sin


@pytest.fixture(scope="module")
def loaded(models):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  _, gan, sin = models
  return tf.saved_model.load(gan), tf.saved_model.load(sin)


def random_faces(batch, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.uniform(0, 1, (batch, GAN_SIZE, GAN_SIZE, 3)).astype(np.float32),
          rng.uniform(0, 1, (batch, 17)).astype(np.float32))


def keras_ganimation(workdir, image, aus):
  """The Keras generator on [0, 1] inputs, outputs mapped to [0, 1] as the export does."""
  from tfsingan.ganimation import aus as aus_lib  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  generator, _ = inference.load_generator(workdir)
  out, attention, colour = generator((image * 2 - 1, aus_lib.tile_aus(aus, GAN_SIZE, GAN_SIZE)))
  return {"image": unit(out), "attention": np.asarray(attention), "color": unit(colour)}


def unit(x):
  return np.clip((np.asarray(x) + 1) / 2, 0, 1)


def spec_of(signature):
  """{name: (shape, dtype)} of a signature's inputs and of its outputs."""
  _, inputs = signature.structured_input_signature
  return ({k: (tuple(v.shape.as_list()), v.dtype.name) for k, v in inputs.items()},
          {k: (tuple(v.shape.as_list()), v.dtype.name)
           for k, v in signature.structured_outputs.items()})


# ------------------------------------------------------------------ GANimation
def test_ganimation_signatures(loaded):
  gan, _ = loaded
  assert {"serving_default", "animate_uint8"} <= set(gan.signatures)
  s = GAN_SIZE
  for name, dtype in (("serving_default", "float32"), ("animate_uint8", "uint8")):
    inputs, outputs = spec_of(gan.signatures[name])
    assert inputs == {"image": ((None, s, s, 3), dtype), "aus": ((None, 17), "float32")}
    assert outputs == {"image": ((None, s, s, 3), dtype), "attention": ((None, s, s, 1), dtype),
                       "color": ((None, s, s, 3), dtype)}


def test_saved_model_cli_shows_the_named_signature(models):
  _, gan, _ = models
  result = cli("tensorflow.python.tools.saved_model_cli", "show", "--dir", gan,
               "--tag_set", "serve", "--signature_def", "serving_default")
  assert result.returncode == 0, result.stderr[-2000:]
  text = result.stdout
  for name in ("inputs['image']", "inputs['aus']", "outputs['image']", "outputs['attention']",
               "outputs['color']"):
    assert name in text
  assert f"shape: (-1, {GAN_SIZE}, {GAN_SIZE}, 3)" in text and "shape: (-1, 17)" in text


def test_ganimation_saved_model_matches_keras(loaded, ganimation_run):
  gan, _ = loaded
  image, aus = random_faces(3)
  want = keras_ganimation(ganimation_run, image, aus)
  got = gan.signatures["serving_default"](image=image, aus=aus)
  for name in ("image", "attention", "color"):
    np.testing.assert_allclose(got[name].numpy(), want[name], atol=1e-5, err_msg=name)
  pixels = np.round(image * 255).astype(np.uint8)
  got8 = gan.signatures["animate_uint8"](image=pixels, aus=aus)
  want8 = keras_ganimation(ganimation_run, pixels.astype(np.float32) / 255, aus)
  for name in ("image", "attention", "color"):
    assert got8[name].dtype.name == "uint8"
    diff = np.abs(got8[name].numpy().astype(int) - np.round(want8[name] * 255).astype(int))
    assert diff.max() <= 1, name


def rest_predict(signature, body):
  """What TF Serving's REST predict does with a request body, on a loaded signature:
  row ("instances") or columnar ("inputs") format in, the same format out."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  request = json.loads(body)
  _, specs = signature.structured_input_signature
  if "instances" in request:
    rows = request["instances"]
    if not isinstance(rows[0], dict):  # one unnamed input
      rows = [{next(iter(specs)): r} for r in rows]
    columns = {k: [r[k] for r in rows] for k in specs}
  else:
    columns = request["inputs"]
    if not isinstance(columns, dict):
      columns = {next(iter(specs)): columns}
  feed = {k: tf.constant(np.asarray(v), dtype=specs[k].dtype) for k, v in columns.items()}
  out = {k: v.numpy().tolist() for k, v in signature(**feed).items()}
  if "instances" in request:
    n = len(request["instances"])
    return json.dumps({"predictions": [{k: v[i] for k, v in out.items()} for i in range(n)]})
  return json.dumps({"outputs": out})


def test_rest_bodies_run_through_the_ganimation_signatures(loaded):
  gan, _ = loaded
  image, aus = random_faces(2, seed=3)
  direct = gan.signatures["serving_default"](image=image, aus=aus)
  rows = json.dumps({"signature_name": "serving_default",
                     "instances": [{"image": image[i].tolist(), "aus": aus[i].tolist()}
                                   for i in range(2)]})
  reply = json.loads(rest_predict(gan.signatures["serving_default"], rows))
  assert len(reply["predictions"]) == 2
  for i in range(2):
    for name in ("image", "attention", "color"):
      np.testing.assert_allclose(reply["predictions"][i][name], direct[name].numpy()[i],
                                 atol=1e-6)
  pixels = np.round(image * 255).astype(np.uint8)
  columns = json.dumps({"signature_name": "animate_uint8",
                        "inputs": {"image": pixels.tolist(), "aus": aus.tolist()}})
  reply = json.loads(rest_predict(gan.signatures["animate_uint8"], columns))
  want = gan.signatures["animate_uint8"](image=pixels, aus=aus)
  np.testing.assert_array_equal(np.array(reply["outputs"]["image"]), want["image"].numpy())
  assert np.array(reply["outputs"]["attention"]).shape == (2, GAN_SIZE, GAN_SIZE, 1)


# --------------------------------------------------------------------- SinGAN
def test_singan_signatures(loaded, models):
  _, sin = loaded
  assert {"serving_default", "sample", "sample_seed", "regenerate"} <= set(sin.signatures)
  image = {"image": ((None, 24, 24, 3), "float32")}
  assert spec_of(sin.signatures["sample"]) == (
      {"noise_1": ((None, 21, 21, 3), "float32"), "noise_2": ((None, 24, 24, 3), "float32")},
      image)
  assert spec_of(sin.signatures["sample_seed"]) == ({"seed": ((None,), "int64")}, image)
  assert spec_of(sin.signatures["serving_default"]) == ({"seed": ((None,), "int64")}, image)
  assert spec_of(sin.signatures["regenerate"]) == (
      {"image": ((None, 24, 24, 3), "float32"), "seed": ((None,), "int64")}, image)
  with open(os.path.join(models[2], "assets.extra", "tfsingan_export.json"),
            encoding="utf-8") as f:
    info = json.load(f)
  assert info["family"] == "singan" and info["sizes"] == SINGAN_SIZES
  assert info["signatures"]["sample"]["start_scale"] == 1
  assert info["signatures"]["regenerate"]["inject_scale"] == 2


def test_singan_signatures_match_the_keras_pyramid(loaded, singan_run):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from export import common  # pylint: disable=import-outside-toplevel
  from tfsingan.singan import generate  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  _, sin = loaded
  model = TrainedSinGAN.load(singan_run)
  sizes = tuple(tuple(s) for s in SINGAN_SIZES)
  rng = np.random.default_rng(5)
  noises = [rng.standard_normal((2, h, w, 3)).astype(np.float32) for h, w in SINGAN_SIZES[1:]]
  # Keras: the reconstruction enters scale 1, as TrainedSinGAN.sample does.
  prev = tf.repeat(generate.upsample(model.reconstructions()[0], (21, 21)), 2, axis=0)
  want = unit(model.compiled_run(1, sizes)(tuple(noises), prev))
  got = sin.signatures["sample"](noise_1=noises[0], noise_2=noises[1])["image"].numpy()
  np.testing.assert_allclose(got, want, atol=1e-5)
  assert got.std() > 0.01  # not a constant image
  # The seed signatures draw their noise with common.SinGANGraphs.seed_noises.
  graphs = common.SinGANGraphs(model)
  seeds = np.array([4, 9], np.int64)
  seeded = graphs.seed_noises(tf.constant(seeds), 1)
  want = sin.signatures["sample"](noise_1=seeded[0], noise_2=seeded[1])["image"].numpy()
  got = sin.signatures["sample_seed"](seed=seeds)["image"].numpy()
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert not np.allclose(got[0], got[1])
  # Batch 1 against batch 2: oneDNN's kernels depend on the batch size and the CPU
  # (bit-equal with AVX-512, 1.2e-7 apart with AVX2 only), so a round-off tolerance;
  # a seed that drew other noise would move pixels by > 1e-2.
  np.testing.assert_allclose(sin.signatures["sample_seed"](seed=seeds[:1])["image"][0],
                             got[0], rtol=0, atol=1e-5)
  # regenerate: the image enters scale 2 in place of the coarser scales' output.
  image = rng.uniform(0, 1, (2, 24, 24, 3)).astype(np.float32)
  seeded = graphs.seed_noises(tf.constant(seeds), 2)
  want = unit(model.compiled_run(2, sizes)(tuple(seeded), tf.constant(image * 2 - 1)))
  got = sin.signatures["regenerate"](image=image, seed=seeds)["image"].numpy()
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_rest_bodies_run_through_the_singan_signatures(loaded):
  _, sin = loaded
  rows = json.dumps({"signature_name": "sample_seed", "instances": [3, 8]})
  reply = json.loads(rest_predict(sin.signatures["sample_seed"], rows))
  want = sin.signatures["sample_seed"](seed=np.array([3, 8], np.int64))["image"].numpy()
  got = np.array([p["image"] for p in reply["predictions"]])
  np.testing.assert_allclose(got, want, atol=1e-6)
  image = np.random.default_rng(0).uniform(0, 1, (1, 24, 24, 3))
  columns = json.dumps({"signature_name": "regenerate",
                        "inputs": {"image": image.tolist(), "seed": [11]}})
  reply = json.loads(rest_predict(sin.signatures["regenerate"], columns))
  assert np.array(reply["outputs"]["image"]).shape == (1, 24, 24, 3)


# ------------------------------------------------------ layout, config, errors
def test_serving_layout_and_models_config(models, singan_run):
  from export import saved_model  # pylint: disable=import-outside-toplevel
  root, gan, sin = models
  assert gan == os.path.join(root, "faces", "1") and sin == os.path.join(root, "singan", "3")
  for folder in (gan, sin):
    assert os.path.isfile(os.path.join(folder, "saved_model.pb"))
    assert os.path.isdir(os.path.join(folder, "variables"))
  assert sorted(os.listdir(os.path.join(root, "faces"))) == ["1"]  # no temporary left
  text = open(os.path.join(root, "models.config"), encoding="utf-8").read()
  assert text.count("config {") == 2
  assert "name: 'faces'" in text and "base_path: '/models/singan'" in text
  # A version that exists is never overwritten; re-exporting a name keeps one entry.
  with pytest.raises(UserInputError, match="already exists"):
    saved_model.export(singan_run, os.path.join(root, "singan"), 3)
  saved_model.update_model_config(os.path.join(root, "models.config"), "faces")
  text = open(os.path.join(root, "models.config"), encoding="utf-8").read()
  assert text.count("config {") == 2 and text.count("name: 'faces'") == 1


def test_bad_input(ganimation_run, singan_run, tmp_path):
  from export import saved_model  # pylint: disable=import-outside-toplevel
  with pytest.raises(UserInputError, match="holds no training run"):
    saved_model.export(str(tmp_path / "none"), str(tmp_path / "m"))
  with pytest.raises(UserInputError, match="--start_scale=3"):
    saved_model.export(singan_run, str(tmp_path / "m"), start_scale=3)
  with pytest.raises(UserInputError, match="--inject_scale=0"):
    saved_model.export(singan_run, str(tmp_path / "m"), inject_scale=0)
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(UserInputError, match="cannot create"):
    saved_model.export(ganimation_run, str(blocker / "models" / "faces"))
  other = tmp_path / "gm"
  other.mkdir()
  (other / "config.json").write_text(json.dumps({"num_points": 3}))
  with pytest.raises(UserInputError, match="not a GANimation or SinGAN config"):
    saved_model.export(str(other), str(tmp_path / "m"))


def test_cli_writes_a_version_and_refuses_bad_input(singan_run, tmp_path):
  out = str(tmp_path / "models" / "demo")
  result = cli("export.saved_model", f"--workdir={singan_run}", f"--out={out}",
               "--version=2")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "wrote" in result.stdout and os.path.isfile(os.path.join(out, "2", "saved_model.pb"))
  assert_one_line_error(cli("export.saved_model", f"--workdir={singan_run}", f"--out={out}",
                            "--version=2"), "already exists")


def test_export_never_imports_training_code(ganimation_run, singan_run, tmp_path):
  """Exporting both families loads no critic trainer, optimizer or loss module."""
  script = f"""
import sys
from export import saved_model, tflite
saved_model.export({ganimation_run!r}, {str(tmp_path / 'm' / 'g')!r})
saved_model.export({singan_run!r}, {str(tmp_path / 'm' / 's')!r})
tflite.build({ganimation_run!r}, "int8", calibration_samples=2)
loaded = [m for m in {TRAINING_MODULES!r} if m in sys.modules]
assert not loaded, loaded
print("clean")
"""
  result = harness.run_python("-c", script)
  assert result.returncode == 0 and "clean" in result.stdout, result.stderr[-3000:]


@pytest.mark.slow
def test_cli_trained_runs_export_end_to_end(tmp_path):
  """Trains the tiny GANimation and SinGAN through tfsingan.train, then exports both
  with the CLIs and checks a served output against Keras."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  data, gan_run, sin_run = (str(tmp_path / n) for n in ("data", "gan", "sin"))
  assert cli("tfsingan.synthetic", f"--out={data}", "--num=40", "--size=32").returncode == 0
  result = cli("tfsingan.train", "--flagfile=configs/ganimation_tiny.cfg", f"--data_dir={data}",
               f"--workdir={gan_run}")
  assert result.returncode == 0, result.stderr[-2000:]
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  face = str(tmp_path / "face.png")
  image_io.save_image(face, image_io.bundled_face(24))
  result = cli("tfsingan.train", "--flagfile=configs/singan_tiny.cfg", f"--image={face}",
               f"--workdir={sin_run}")
  assert result.returncode == 0, result.stderr[-2000:]
  for run, name in ((gan_run, "gan"), (sin_run, "sin")):
    result = cli("export.saved_model", f"--workdir={run}", f"--out={tmp_path / 'models' / name}")
    assert result.returncode == 0, result.stderr[-2000:]
    result = cli("export.tflite", f"--workdir={run}", f"--out={tmp_path / (name + '.tflite')}",
                 "--quantize=int8", "--calibration_samples=8")
    assert result.returncode == 0, result.stderr[-2000:]
  served = tf.saved_model.load(str(tmp_path / "models" / "gan" / "1"))
  image, aus = random_faces(2)
  got = served.signatures["serving_default"](image=image, aus=aus)
  want = keras_ganimation(gan_run, image, aus)
  np.testing.assert_allclose(got["image"].numpy(), want["image"], atol=1e-5)
  with open(tmp_path / "gan.json", encoding="utf-8") as f:
    assert json.load(f)["calibration"].startswith("8 training faces")
