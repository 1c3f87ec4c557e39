"""Tests of the GANimation training step, trainer and inference (Pumarola et al., ECCV 2018)."""

import dataclasses
import glob
import json
import os
import pickle
import textwrap

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

import harness
from tfsingan.common import execution
from tfsingan.errors import UserInputError
from tfsingan.ganimation import inference
from tfsingan.ganimation import losses
from tfsingan.ganimation import model as model_lib
from tfsingan.ganimation import networks
from tfsingan.ganimation import trainer
from tfsingan.ganimation.config import GANimationConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")


# ------------------------------------------------------------------ helpers
def write_tiny_dataset(root, num=24, size=32, seed=0):
  """Format-A data whose pixels depend on the AUs: background colour = AU01, AU02,
  AU04; a box of colour AU05-AU07 whose height follows AU12 and width AU25."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(root, "imgs"), exist_ok=True)
  table, names = {}, []
  yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
  for i in range(num):
    aus = rng.uniform(0, 1, 17).astype(np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = aus[0:3]
    box = (np.abs(yy - 0.5) < 0.1 + 0.35 * aus[8]) & (np.abs(xx - 0.5) < 0.1 + 0.35 * aus[14])
    img[box] = aus[3:6]
    name = f"face{i:03d}"
    cv2.imwrite(os.path.join(root, "imgs", name + ".png"),
                (img[:, :, ::-1] * 255 + 0.5).astype(np.uint8))
    table[name] = aus * 5.0  # OpenFace's 0..5 scale
    names.append(name + ".png")
  with open(os.path.join(root, "aus_openface.pkl"), "wb") as f:
    pickle.dump(table, f)
  with open(os.path.join(root, "train_ids.csv"), "w") as f:
    f.write("\n".join(names[4:]) + "\n")
  with open(os.path.join(root, "test_ids.csv"), "w") as f:
    f.write("\n".join(names[:4]) + "\n")
  return str(root)


def tiny_config(data_dir, **overrides):
  return harness.tiny_config("ganimation", data_dir=data_dir, **overrides)


def random_batch(batch=2, size=32, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)), tf.float32),
          "aus": tf.constant(rng.uniform(0, 1, (batch, 17)), tf.float32),
          "target_aus": tf.constant(rng.uniform(0, 1, (batch, 17)), tf.float32)}


def tiny_model(optimizer=None, **lambdas):
  keras.utils.set_random_seed(0)
  g, d = networks.build_networks(32, conv_dim=8, repeat_num=1, critic_layers=4)
  m = model_lib.GANimationModel(g, d, **lambdas)
  make = optimizer or (lambda: model_lib.make_optimizer(1e-3, 0.5, 0.999, total_steps=100,
                                                        decay_steps=0))
  m.compile(d_optimizer=make(), g_optimizer=make())
  return m


def snapshot(net):
  return [w.numpy().copy() for w in net.trainable_weights]


def changed(before, net):
  return any(not np.array_equal(b, w.numpy()) for b, w in zip(before, net.trainable_weights))


def read_scalars(workdir, tag):
  out = []
  for path in sorted(glob.glob(os.path.join(workdir, "tb", "events.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        if v.tag == tag:
          out.append((event.step, float(tf.make_ndarray(v.tensor))))
  return sorted(out)


# --------------------------------------------------------- gradient routing
def test_each_loss_term_reaches_only_its_network():
  m = tiny_model()
  b = random_batch()
  g_vars, d_vars = m.generator.trainable_variables, m.critic.trainable_variables
  with tf.GradientTape(persistent=True) as tape:
    fake, attention, _ = m.generator((b["image"], b["target_aus"]))
    _, d_terms = m.critic_losses(b["image"], b["aus"], tf.stop_gradient(fake))
    _, g_terms = m.generator_losses(b["image"], b["aus"], b["target_aus"], fake, attention)

  def reaches(term, variables):
    grads = tape.gradient(term, variables)
    return any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)

  for name in ("d_adv", "gp", "d_au"):  # the critic's terms see fakes as constants
    assert reaches(d_terms[name], d_vars), name
    assert not reaches(d_terms[name], g_vars), name
  for name in ("rec_loss", "mask_mean", "mask_tv"):  # no critic involved
    assert reaches(g_terms[name], g_vars), name
    assert not reaches(g_terms[name], d_vars), name
  for name in ("g_adv", "g_au"):  # through the critic, but only G is updated
    assert reaches(g_terms[name], g_vars), name


@pytest.mark.parametrize("lambdas,critic_moves,generator_moves", [
    # AU regression: real AUs train the critic, target AUs the generator.
    (dict(lambda_au=1.0), True, True),
    # Cycle and attention terms train the generator only.
    (dict(lambda_cyc=1.0), False, True),
    (dict(lambda_mask=1.0, lambda_tv=1e-3), False, True),
    (dict(lambda_adv=1.0, lambda_gp=10.0), True, True),
])
def test_train_iteration_moves_the_right_network(lambdas, critic_moves, generator_moves):
  zero = dict(lambda_adv=0.0, lambda_gp=0.0, lambda_au=0.0, lambda_cyc=0.0,
              lambda_mask=0.0, lambda_tv=0.0)
  zero.update(lambdas)
  m = tiny_model(**zero)
  b = random_batch()
  d0, g0 = snapshot(m.critic), snapshot(m.generator)
  logs = m.train_iteration(b, train_generator=False)
  assert set(logs) == set(model_lib.CRITIC_METRICS)
  # A critic-only iteration never touches G; the critic moves iff one of its
  # terms is on (Adam makes no step on an all-zero gradient).
  assert not changed(g0, m.generator)
  assert changed(d0, m.critic) == critic_moves
  logs = m.train_iteration(b, train_generator=True)
  assert set(logs) == set(model_lib.CRITIC_METRICS + model_lib.GENERATOR_METRICS)
  assert changed(d0, m.critic) == critic_moves
  assert changed(g0, m.generator) == generator_moves


def test_low_memory_schedule_gives_the_same_update():
  # Recomputing the forward pass (save_memory) must not change the gradient.
  # SGD, so that the step is proportional to it; no gradient penalty, whose
  # random mixing weights differ between the two runs.
  sgd = lambda: keras.optimizers.SGD(0.05)
  b = random_batch()
  models = [tiny_model(optimizer=sgd, lambda_gp=0.0, save_memory=flag) for flag in (True, False)]
  logs = [m.train_iteration(b, train_generator=True) for m in models]
  for k in set(logs[0]) - {"gp"}:  # gp is logged though weighted 0; alphas differ
    np.testing.assert_allclose(float(logs[0][k]), float(logs[1][k]), rtol=1e-5, atol=1e-6)
  for net in ("generator", "critic"):
    for a, c in zip(getattr(models[0], net).get_weights(), getattr(models[1], net).get_weights()):
      np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-6)
  g0 = tiny_model(optimizer=sgd, lambda_gp=0.0).generator.get_weights()
  assert any(not np.allclose(a, c) for a, c in zip(g0, models[0].generator.get_weights()))


def test_linear_decay_schedule():
  s = model_lib.LinearDecay(1e-4, total_steps=30, decay_steps=10)
  values = [float(s(step)) for step in (0, 20, 25, 30, 40)]
  np.testing.assert_allclose(values, [1e-4, 1e-4, 5e-5, 0.0, 0.0], atol=1e-12)
  assert model_lib.LinearDecay(**s.get_config()).get_config() == s.get_config()
  assert float(model_lib.LinearDecay(1e-4, 10, 0)(100)) == pytest.approx(1e-4)


def test_fit_trains_generator_every_critic_steps_batches():
  m = tiny_model()
  b = random_batch()
  ds = tf.data.Dataset.from_tensors(b).repeat(10)
  history = m.fit(ds, epochs=1, verbose=0)
  assert int(m.d_optimizer.iterations.numpy()) == 10
  assert int(m.g_optimizer.iterations.numpy()) == 10 // m.critic_steps
  assert np.isfinite(history.history["g_loss"][-1])


# ------------------------------------------------------------ precisions
@pytest.mark.parametrize("precision", [pytest.param("mixed_float16", marks=pytest.mark.fp16),
                                       pytest.param("mixed_bfloat16", marks=pytest.mark.bf16)])
def test_mixed_precision_steps(precision, policy, monkeypatch):
  policy(precision)
  scales = []
  original = losses.gradient_penalty

  def spy(*args, **kwargs):
    scales.append(kwargs.get("inner_scale"))
    return original(*args, **kwargs)

  monkeypatch.setattr(losses, "gradient_penalty", spy)
  loss_scale = precision == "mixed_float16"
  m = tiny_model(optimizer=lambda: model_lib.make_optimizer(
      1e-3, 0.5, 0.999, total_steps=100, decay_steps=0, loss_scale=loss_scale))
  assert m.generator.body[0].compute_dtype == precision.split("_")[1]
  assert isinstance(m.d_optimizer, keras.optimizers.LossScaleOptimizer) == loss_scale
  d0, g0 = snapshot(m.critic), snapshot(m.generator)
  step = m.make_step_function()
  for seed in range(3):  # each a critic + generator iteration
    logs = {k: float(v) for k, v in step(random_batch(seed=seed), m.critic_steps - 1).items()}
    assert all(np.isfinite(v) for v in logs.values()), logs
  assert changed(d0, m.critic) and changed(g0, m.generator)
  if loss_scale:
    # The gradient penalty's inner gradient was scaled by the critic's loss scale.
    assert scales and all(s is not None for s in scales)
    assert 1.0 <= float(m.d_optimizer.dynamic_scale) <= 2.0 ** 15
  else:
    assert scales and all(s is None for s in scales)


# --------------------------------------------------------------- trainer
def test_training_run_resume_and_inference(tmp_path, capsys):
  data = write_tiny_dataset(tmp_path / "data")
  workdir = str(tmp_path / "run")
  # Stop after 15 of the tiny config's 30 iterations, as if killed after the
  # checkpoint, then run again with the full count: it resumes.
  trainer.run(tiny_config(data, iterations=15), workdir)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints")))[-1].startswith("ckpt-15")
  last = trainer.run(tiny_config(data), workdir)
  out = capsys.readouterr().out
  assert "resuming" in out and "at iteration 15 of 30" in out
  assert "ETA" in out

  # The AU loss (critic on real faces) falls.
  d_au = read_scalars(workdir, "losses/d_au")
  assert d_au[0][0] == 1 and d_au[-1][0] == 30
  assert d_au[-1][1] < 0.6 * d_au[0][1], d_au
  assert set(last) >= {"d_loss", "g_loss", "gp", "d_au", "g_au", "rec_loss"}

  # Image summaries were written.
  tags = set()
  for path in glob.glob(os.path.join(workdir, "tb", "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  assert {"input", "output", "attention", "colour"} <= tags

  # The resolved config is in the run directory; a finished run is not retrained.
  with open(os.path.join(workdir, "config.json")) as f:
    text = f.read()
  assert '"image_size": 32' in text
  # The execution chosen at run start (XLA or not for this CPU) is what is recorded.
  recorded = json.loads(text)["xla"]
  assert recorded == int(execution.ganimation_uses_xla(json.loads(text)["precision"],
                                                       execution.cpu_kind()))
  index = os.path.join(workdir, "checkpoints", "checkpoint")
  mtime = os.path.getmtime(index)
  assert trainer.run(tiny_config(data), workdir) == {}
  assert os.path.getmtime(index) == mtime
  assert "nothing to do" in capsys.readouterr().out
  with pytest.raises(UserInputError, match="image_size"):
    trainer.run(tiny_config(data, image_size=48, critic_layers=3), workdir)

  # Inference from the run directory.
  generator, config = inference.load_generator(workdir)
  assert config.image_size == 32
  face = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
  image, attention, colour = inference.edit(generator, face, np.full(17, 0.5, np.float32))
  assert image.shape == (32, 32, 3) and attention.shape == (32, 32)
  assert colour.shape == (32, 32, 3)
  assert 0.0 <= image.min() and image.max() <= 1.0
  # The restored weights are the trained ones, not a fresh initialisation.
  fresh = networks.build_generator(32, conv_dim=8, repeat_num=1)
  assert any(not np.array_equal(a, b) for a, b in zip(fresh.get_weights(),
                                                      generator.get_weights()))
  with pytest.raises(UserInputError, match="target AUs"):
    inference.edit(generator, face, np.full(17, 2.0))
  with pytest.raises(UserInputError, match="no GANimation run"):
    inference.load_generator(str(tmp_path / "nothing"))


def test_config_validation_and_flagfiles():
  # absl parses each flagfile as the command line does; a --model line must say
  # ganimation, and every other line must be a GANimationConfig field.
  for name in ("ganimation.cfg", "ganimation_synthetic.cfg", "ganimation_tiny.cfg"):
    harness.config_from_flagfile(GANimationConfig, os.path.join(CONFIGS, name))
  paper = harness.config_from_flagfile(GANimationConfig, os.path.join(CONFIGS, "ganimation.cfg"))
  assert paper == dataclasses.replace(GANimationConfig(), data_dir="")
  with pytest.raises(UserInputError, match="--image_size"):
    GANimationConfig(image_size=100)
  with pytest.raises(UserInputError, match="--decay_epochs"):
    GANimationConfig(epochs=5, decay_epochs=10)
  with pytest.raises(UserInputError, match="--precision"):
    GANimationConfig(precision="float64")
  with pytest.raises(UserInputError, match="--beta1"):
    GANimationConfig(beta1=1.0)


def test_batch_larger_than_the_data_is_a_user_error(tmp_path):
  data = write_tiny_dataset(tmp_path / "data", num=6)
  with pytest.raises(UserInputError, match="--batch_size"):
    trainer.run(tiny_config(data, iterations=0, batch_size=8), str(tmp_path / "run"))


# --------------------------------------------------------------- mirrored
_MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tfsingan.ganimation import model as model_lib, networks, trainer
    sys.path.insert(0, sys.argv[2])
    from test_ganimation_model import random_batch, tiny_config

    strategy = trainer.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync

    def build(strategy):
      keras.utils.set_random_seed(0)
      with strategy.scope():
        g, d = networks.build_networks(32, 8, 1, 4)
        # No gradient penalty: its random mixing weights differ per replica.
        m = model_lib.GANimationModel(g, d, lambda_gp=0.0)
        m.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
      return m

    batch = random_batch(batch=4)
    single = build(tf.distribute.get_strategy())
    mirrored = build(strategy)
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
      np.testing.assert_array_equal(a, b)
    logs1 = single.make_step_function()(batch, single.critic_steps - 1)
    dist = iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch)))
    logs2 = mirrored.make_step_function(strategy)(next(dist), mirrored.critic_steps - 1)
    for k in logs1:
      np.testing.assert_allclose(float(logs1[k]), float(logs2[k]), rtol=1e-4, atol=1e-6)
    # With SGD the step is proportional to the gradient: equal weights after one
    # step mean each replica's loss was scaled by 1/2 before the gradient sum.
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)

    # The trainer end to end with the global batch of 4 split over 2 devices.
    last = trainer.run(tiny_config(sys.argv[1], iterations=5, strategy="mirrored",
                                   log_every=5), sys.argv[3])
    assert np.isfinite(last["d_loss"]) and np.isfinite(last["g_loss"]), last
    print("MIRRORED-OK")
""")


# Slow: 95 s idle on 2 cores; the device choice itself is unit-tested (mirrored_devices) in the default suite.
@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
  data = write_tiny_dataset(tmp_path / "data")
  script = tmp_path / "mirrored.py"
  script.write_text(_MIRRORED_SCRIPT)
  proc = harness.run_python(script, data, os.path.join(ROOT, "tests"), tmp_path / "run")
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert "MIRRORED-OK" in proc.stdout
  assert "2 replica(s)" in proc.stdout


def test_mirrored_device_selection():
  gpus = ["/device:GPU:0", "/device:GPU:1"]
  cpus = ["/device:CPU:0", "/device:CPU:1"]
  assert trainer.mirrored_devices(gpus, cpus) == (gpus, None)  # every GPU, NCCL
  assert trainer.mirrored_devices(gpus[:1], cpus) == (gpus[:1], None)  # one replica
  # No GPU: every logical CPU device, reduced on the first.
  assert trainer.mirrored_devices([], cpus) == (cpus, cpus[0])
  assert trainer.mirrored_devices([], cpus[:1]) == (cpus[:1], cpus[0])
  # This process has no GPU and one CPU device: mirrored is one replica there.
  assert trainer.make_strategy("mirrored").num_replicas_in_sync == 1
