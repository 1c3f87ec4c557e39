"""Tests of GmFace (arXiv 2008.00752): rendering, fitting, transforms,
files, the trainer and the command line."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import harness
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.gmface import fit
from tfsingan.gmface import initial
from tfsingan.gmface import losses
from tfsingan.gmface import trainer
from tfsingan.gmface import transforms
from tfsingan.gmface.config import GmFaceConfig
from tfsingan.gmface.model import GmNet
from tfsingan.gmface.params import GmFaceParams
from tfsingan.gmface.params import pixel_coords

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def five_gaussians(size=32):
  """5 known Gaussians, three of them anisotropic and tilted."""
  w = np.array([[0.8], [0.6], [-0.3], [0.5], [0.4]])
  mu = np.array([[0.3, 0.3], [0.3, 0.7], [0.5, 0.5], [0.75, 0.35], [0.72, 0.7]])
  L = np.zeros((5, 2, 2))
  L[:, 0, 0] = [9.0, 10.0, 8.0, 12.0, 9.5]
  L[:, 1, 1] = [9.0, 8.0, 13.0, 7.0, 10.5]
  L[:, 1, 0] = [0.0, 3.0, -2.0, 4.0, 0.0]
  return GmFaceParams(w, mu, L, size, size)


def test_render_matches_hand_computed_gaussian():
  L = np.array([[[3.0, 0.0], [1.5, 2.0]]])
  p = GmFaceParams(np.array([[0.7]]), np.array([[0.4, 0.6]]), L, 10, 8)
  img = p.render()
  r, c = 7, 2
  x = np.array([r / 10, c / 8])
  a = L[0] @ L[0].T
  d = x - np.array([0.4, 0.6])
  expected = 0.7 * np.exp(-d @ a @ d)
  assert img.shape == (10, 8, 1)
  np.testing.assert_allclose(img[r, c, 0], expected, rtol=1e-5)
  # The Keras model and the numpy renderer agree.
  net = GmNet(1)
  net.set_params(p)
  out = net(tf.constant(pixel_coords(10, 8))).numpy().reshape(10, 8, 1)
  np.testing.assert_allclose(out, img, atol=1e-6)


def test_render_is_continuous_across_resolutions():
  p = five_gaussians(30)
  small, big = p.render(30, 30), p.render(120, 120)
  assert big.shape == (120, 120, 1)
  np.testing.assert_allclose(big[::4, ::4], small, atol=1e-6)


def test_peak_loss_gradients():
  pred = tf.Variable([[0.1], [0.5], [0.2]])
  target = tf.constant([[0.0], [0.0], [0.0]])
  with tf.GradientTape() as tape:
    peak = losses.peak_error(pred, target, "max")
  grad = tape.gradient(peak, pred).numpy().ravel()
  np.testing.assert_allclose(grad, [0, 1, 0])  # only through the worst pixel
  with tf.GradientTape() as tape:
    smooth = losses.peak_error(pred, target, "smooth", tau=0.05)
  grad = tape.gradient(smooth, pred).numpy().ravel()
  assert 0.5 - 0.05 * np.log(3) - 1e-6 <= float(smooth) <= 0.5
  assert grad[1] > grad[2] > grad[0] > 0
  total, mse, pk = losses.gmface_loss(pred, target, alpha=0.5)
  np.testing.assert_allclose(float(total), (0.01 + 0.25 + 0.04) / 3 + 0.25, rtol=1e-6)


def test_lm_recovers_five_known_gaussians():
  truth = five_gaussians(32)
  target = truth.render()
  state = fit.LMState.start(initial.initial_params(target, 5, seed=0), target)
  state = fit.fit_lm(target, state, 400, relocate_every=50, relocate_count=1, log_every=0)
  assert state.best_loss < 1e-4
  fitted = GmFaceParams.from_raw(state.best_w, state.best_mu, state.best_raw, 32, 32)
  assert np.mean((fitted.render() - target) ** 2) < 1e-4


def test_lm_resume_equals_uninterrupted():
  target = five_gaussians(24).render()
  start = initial.initial_params(target, 5, seed=1)
  full = fit.fit_lm(target, fit.LMState.start(start, target), 30, relocate_every=10,
                    relocate_count=1, log_every=0)
  half = fit.fit_lm(target, fit.LMState.start(start, target), 15, relocate_every=10,
                    relocate_count=1, log_every=0)
  # Round trip through the checkpoint form, then continue.
  resumed = fit.LMState(**{k: np.array(v) for k, v in half.arrays().items()},
                        **json.loads(json.dumps(half.scalars())))
  resumed = fit.fit_lm(target, resumed, 30, relocate_every=10, relocate_count=1,
                       log_every=0)
  np.testing.assert_allclose(resumed.best_loss, full.best_loss, rtol=1e-4)


def test_train_step_lowers_the_loss():
  target = five_gaussians(16).render()
  net = GmNet(5, alpha=0.01, peak_loss="smooth")
  net.set_params(initial.initial_params(target, 5, seed=0))
  net.compile(learning_rate=0.003)
  data = (tf.constant(pixel_coords(16, 16)), tf.constant(target.reshape(-1, 1)))
  first = float(net.train_step(data)["loss"])
  for _ in range(20):
    logs = net.train_step(data)
  assert float(logs["loss"]) < first
  # K images at once: (K, B, C) targets.
  stacked = (data[0], tf.stack([data[1], data[1] * 0.5]))
  assert np.isfinite(float(net.train_step(stacked)["mse"]))
  # keras fit drives the same train_step with batches of pixels.
  history = net.fit(pixel_coords(16, 16), target.reshape(-1, 1), batch_size=64, epochs=2,
                    verbose=0).history
  assert set(history) == {"loss", "mse", "peak"} and np.isfinite(history["mse"]).all()


def _check_transform(p, matrix, offset, tol):
  edited = transforms.pixel_affine(p, matrix, offset)
  by_params = edited.render()
  by_image, valid = transforms.warp_image(p.render(), matrix, offset)
  assert valid.mean() > 0.4
  err = np.mean((by_params - by_image)[valid] ** 2)
  assert err < tol, err
  # Exact identity f'(p') = f(p): render the original at the pre-images.
  h, w = p.height, p.width
  pix = pixel_coords(h, w) * np.array([h, w])
  pre = (pix - offset) @ np.linalg.inv(matrix).T / np.array([h, w])
  d = pre[None] - p.mu[:, None]
  q = np.einsum("nki,nij,nkj->nk", d, p.precision, d)
  exact = (np.exp(-q).T @ p.w).reshape(h, w, -1)
  np.testing.assert_allclose(by_params, exact, atol=1e-5)
  return edited


@pytest.mark.parametrize("kind", ["translate", "scale", "rotate", "all"])
def test_closed_form_transforms_match_image_transforms(kind):
  p = five_gaussians(64)
  args = {"translate": dict(translate=(0.1, -0.05)), "scale": dict(scale=1.3),
          "rotate": dict(rotate=25.0), "all": dict(translate=(0.05, 0.0), scale=0.8,
                                                    rotate=-40.0, center=(0.45, 0.55))}[kind]
  matrix, offset = transforms.transform_matrix(64, 64, **args)
  edited = _check_transform(p, matrix, offset, 1e-4)
  np.testing.assert_allclose(edited.w, p.w)
  assert (np.linalg.eigvalsh(edited.precision) > 0).all()


def test_named_transforms():
  p = five_gaussians(40)
  np.testing.assert_allclose(transforms.translate(p, 0.1, 0.2).mu, p.mu + [0.1, 0.2])
  s = transforms.scale(p, 2.0)
  np.testing.assert_allclose(s.mu, 0.5 + 2.0 * (p.mu - 0.5), atol=1e-12)
  np.testing.assert_allclose(s.precision, p.precision / 4.0, atol=1e-9)
  r = transforms.rotate(p, 90.0)
  rot = np.array([[0.0, -1.0], [1.0, 0.0]])
  np.testing.assert_allclose(r.precision, rot @ p.precision @ rot.T, atol=1e-9)
  with pytest.raises(UserInputError):
    transforms.scale(p, 0.0)


def test_dissect_unit_peaks():
  p = five_gaussians(32)
  comps, partial, order = transforms.dissect(p, 3)
  assert comps.shape == (3, 32, 32) and list(order) == [0, 1, 3]
  assert comps.max() <= 1.0 and (comps.reshape(3, -1).max(1) > 0.9).all()
  assert partial.shape == (32, 32, 1)


def test_params_save_load_round_trip(tmp_path):
  p = five_gaussians(20)
  p.info = {"note": "x"}
  path = p.save(str(tmp_path / "gmface.npz"))
  for q in (GmFaceParams.load(path), GmFaceParams.load(str(tmp_path / "gmface.json")),
            GmFaceParams.load(str(tmp_path))):
    for name in ("w", "mu", "L"):
      np.testing.assert_allclose(getattr(q, name), getattr(p, name))
    assert (q.height, q.width, q.info) == (20, 20, {"note": "x"})
  d = json.loads((tmp_path / "gmface.json").read_text())
  assert d["num_gaussians"] == 5 and d["channels"] == 1 and len(d["L"]) == 5


def test_bad_inputs(tmp_path):
  with pytest.raises(UserInputError, match="num_gaussians"):
    GmFaceConfig(num_gaussians=0)
  bad = tmp_path / "face.png"
  bad.write_text("not an image")
  with pytest.raises(UserInputError, match="--image"):
    trainer.load_targets(GmFaceConfig(image=str(bad)))
  with pytest.raises(UserInputError, match="--data_dir"):
    trainer.load_targets(GmFaceConfig(data_dir=str(tmp_path / "missing")))
  with pytest.raises(UserInputError, match="not a GmFace parameter file"):
    GmFaceParams.load(str(bad))
  with pytest.raises(UserInputError, match="positive diagonal"):
    GmFaceParams(np.ones((1, 1)), np.zeros((1, 2)), np.zeros((1, 2, 2)), 4, 4)


def test_trainer_fit_resume_and_outputs(tmp_path):
  workdir = str(tmp_path / "run")
  config = GmFaceConfig(num_gaussians=6, image_size=24, lm_iterations=30,
                        relocate_every=10, relocate_count=1, iterations=10,
                        checkpoint_every=10, log_every=0)
  metrics = trainer.run(config, workdir, log=lambda s: None)
  for name in ("config.json", "gmface.npz", "gmface.json", "reconstruction.png",
               "comparison.png", "metrics.json", "checkpoint.npz"):
    assert os.path.exists(os.path.join(workdir, name)), name
  p = GmFaceParams.load(workdir)
  assert (np.linalg.eigvalsh(p.precision) > 0).all()  # positive definite after training
  target = trainer.load_targets(config)[0][0]
  np.testing.assert_allclose(metrics["mse"], np.mean((p.render() - target) ** 2), rtol=1e-4)
  # A finished run is not fitted again.
  mtime = os.path.getmtime(os.path.join(workdir, "gmface.npz"))
  lines = []
  assert trainer.run(config, workdir, log=lines.append)["mse"] == metrics["mse"]
  assert "not fitting again" in lines[0]
  assert os.path.getmtime(os.path.join(workdir, "gmface.npz")) == mtime
  # Killed before the final files: the checkpoint resumes to the same result.
  os.remove(os.path.join(workdir, "metrics.json"))
  lines = []
  again = trainer.run(config, workdir, log=lines.append)
  assert any("resuming" in line for line in lines)
  np.testing.assert_allclose(again["mse"], metrics["mse"], rtol=1e-5)
  with pytest.raises(UserInputError, match="other settings"):
    trainer.run(GmFaceConfig(num_gaussians=7, image_size=24), workdir)


def test_rgb_fit(tmp_path):
  config = GmFaceConfig(color="rgb", num_gaussians=8, image_size=16, lm_iterations=40,
                        relocate_every=20, relocate_count=1, log_every=0)
  metrics = trainer.run(config, str(tmp_path), log=lambda s: None)
  p = GmFaceParams.load(str(tmp_path))
  target = trainer.load_targets(config)[0][0]
  assert p.w.shape == (8, 3) and target.shape == (16, 16, 3)
  assert metrics["mse"] < 0.25 * np.var(target)


def test_common_face_then_personal_face(tmp_path):
  faces = tmp_path / "faces"
  faces.mkdir()
  base = five_gaussians(20).render()[..., 0]
  for i in range(3):
    image_io.save_image(str(faces / f"{i}.png"), np.clip(base * (0.8 + 0.1 * i), 0, 1))
  common = GmFaceConfig(data_dir=str(faces), num_gaussians=5, image_size=20,
                        lm_iterations=40, relocate_every=20, relocate_count=1, log_every=0)
  metrics = trainer.run(common, str(tmp_path / "common"), log=lambda s: None)
  assert "mse_to_each_image" in metrics and metrics["mse"] < 1e-3
  personal = GmFaceConfig(image=str(faces / "2.png"), init_from=str(tmp_path / "common"),
                          num_gaussians=5, image_size=20, lm_iterations=20,
                          relocate_every=0, log_every=0)
  m2 = trainer.run(personal, str(tmp_path / "personal"), log=lambda s: None)
  assert m2["mse"] < 1e-3
  assert os.path.exists(tmp_path / "personal" / "individual.npz")
  with pytest.raises(UserInputError, match="Gaussians"):
    trainer.run(GmFaceConfig(image=str(faces / "2.png"), init_from=str(tmp_path / "common"),
                             num_gaussians=6, image_size=20), str(tmp_path / "p2"))


def _cli(*args):
  return harness.run_cli("tfsingan.gmface", *args, timeout=120)


def test_cli_render_transform_dissect(tmp_path):
  path = five_gaussians(30).save(str(tmp_path / "gmface.npz"))
  out = _cli("render", f"--params={path}", "--size=120", f"--out={tmp_path / 'big.png'}")
  assert out.returncode == 0, out.stderr
  assert image_io.load_image(str(tmp_path / "big.png")).shape == (120, 120, 3)
  out = _cli("transform", f"--params={path}", "--rotate=30", "--scale=1.1",
             f"--out={tmp_path / 'rot'}")
  assert out.returncode == 0, out.stderr
  assert os.path.exists(tmp_path / "rot.npz") and os.path.exists(tmp_path / "rot_check.png")
  assert float(out.stdout.split("transform mse ")[1].split()[0]) < 1e-3
  out = _cli("dissect", f"--params={path}", "--k=3", f"--out={tmp_path / 'd.png'}")
  assert out.returncode == 0, out.stderr
  out = _cli("render", f"--params={tmp_path / 'nothing.npz'}", f"--out={tmp_path / 'x.png'}")
  assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
  assert "not found" in out.stderr


def test_train_cli_tiny_flagfile(tmp_path):
  face = tmp_path / "face.png"
  image_io.save_image(str(face), image_io.bundled_face(32))
  cmd = ["tfsingan.train", "--flagfile=configs/gmface_tiny.cfg",
         f"--image={face}", "--num_gaussians=5", f"--workdir={tmp_path / 'run'}"]
  out = harness.run_cli(*cmd, "--dry_run", timeout=120)
  assert out.returncode == 0, out.stderr
  assert json.loads(out.stdout)["num_gaussians"] == 5
  out = harness.run_cli(*cmd, timeout=300)
  assert out.returncode == 0, out.stderr
  metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
  assert metrics["finished"] and metrics["size"] == [24, 24, 1]
  saved = json.loads((tmp_path / "run" / "config.json").read_text())
  assert saved["image"] == str(face) and saved["lm_iterations"] == 30


def test_train_cli_bad_num_gaussians_exits_2(tmp_path):
  out = harness.run_cli("tfsingan.train", "--model=gmface", "--num_gaussians=0",
                        f"--workdir={tmp_path}", timeout=120)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1].startswith("error: --num_gaussians=0")


def test_trainer_resumes_an_old_npz_adam_checkpoint(tmp_path):
  # Runs written before checkpoints/ kept the Adam phase in checkpoint.npz (`opt_{i}`
  # in GmNet.optimizer_variables order): they resume from it, then save the new way.
  workdir = str(tmp_path / "run")
  config = GmFaceConfig(num_gaussians=6, image_size=24, lm_iterations=0, iterations=10,
                        checkpoint_every=10, log_every=0)
  metrics = trainer.run(config, workdir, log=lambda s: None)
  p = GmFaceParams.load(workdir)
  os.remove(os.path.join(workdir, "metrics.json"))
  for name in os.listdir(os.path.join(workdir, trainer.ADAM_CHECKPOINTS)):
    os.remove(os.path.join(workdir, trainer.ADAM_CHECKPOINTS, name))
  net = GmNet(config.num_gaussians, 1)
  net.compile(learning_rate=config.learning_rate, decay_steps=config.iterations)
  opt = {f"opt_{i}": np.zeros(v.shape, np.dtype(v.dtype))
         for i, v in enumerate(net.optimizer_variables())}
  meta = np.array(json.dumps({"phase": "adam", "step": 10}))
  np.savez(os.path.join(workdir, "checkpoint.npz"), meta=meta, w=p.w, mu=p.mu, L=p.L, **opt)
  lines = []
  again = trainer.run(config, workdir, log=lines.append)
  assert any("resuming" in line for line in lines)
  # Nothing left to train at step 10 of 10: the parameters are the checkpoint's.
  assert not os.listdir(os.path.join(workdir, trainer.ADAM_CHECKPOINTS))
  np.testing.assert_allclose(again["mse"], metrics["mse"], rtol=1e-5)
