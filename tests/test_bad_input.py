"""Bad input on every entry point ends with one `error:` line and exit code 2 (or works),
and a failed start can be retried (issue 12's "Bad input, everywhere").

Most cases fail before any work and run in this process on the libraries the
command lines call; the flags of every entry point are probed by
`tests/flag_probe.py` (one subprocess per entry point), which finds them from the
absl definitions, so a new numeric flag is covered without a change here.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import time

import numpy as np
import pytest

import flag_probe  # tests/flag_probe.py
import harness
from tfsingan import config as config_lib
from tfsingan.common import image_io
from tfsingan.common import rundir
from tfsingan.errors import UserInputError
from tfsingan.ganimation.config import GANimationConfig
from tfsingan.gmface.config import GmFaceConfig
from tfsingan.singan.config import SinGANConfig
from tfsingan.singanimation.config import SinGANimationConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINGAN = SinGANConfig(max_size=24, min_size=18, base_channels=8, max_channels=8, iterations=2,
                      checkpoint_every=1, log_every=1, image_every=2)
GANIMATION = GANimationConfig(image_size=32, batch_size=4, conv_dim=8, repeat_num=1,
                              critic_layers=4, iterations=4, epochs=2, decay_epochs=1,
                              critic_steps=2, log_every=2, image_every=4, checkpoint_every=2,
                              num_samples=2)


def _cli(module, *args):
  return harness.run_cli(module, *args, timeout=300)


assert_one_error_line = harness.assert_one_error_line


def tree_hash(path):
  """One digest of every file name and byte under `path`."""
  digest = hashlib.sha256()
  for folder, dirs, files in sorted(os.walk(path)):
    dirs.sort()
    for name in sorted(files):
      full = os.path.join(folder, name)
      digest.update(os.path.relpath(full, path).encode())
      with open(full, "rb") as f:
        digest.update(f.read())
  return digest.hexdigest()


def _face(path, size=24):
  image_io.save_image(str(path), image_io.bundled_face(size))
  return str(path)


@pytest.fixture(scope="session")
def singan_run(tmp_path_factory):
  """A finished 3-scale SinGAN run (2 iterations a scale), started in a new folder
  after a failed first start with each kind of bad --image.

  Returns (workdir, config, failures): failures maps each bad image to (the error,
  whether anything was left behind).
  """
  from tfsingan.singan import trainer  # pylint: disable=import-outside-toplevel
  folder = tmp_path_factory.mktemp("bad_input_singan")
  workdir = str(folder / "new" / "run")
  failures = {}
  for name, path in _bad_images(folder).items():
    try:
      trainer.run(dataclasses.replace(SINGAN, image=path), workdir)
      failures[name] = (None, os.path.exists(folder / "new"))
    except UserInputError as e:
      failures[name] = (str(e), os.path.exists(folder / "new"))
  config = dataclasses.replace(SINGAN, image=_face(folder / "face.png"))
  trainer.run(config, workdir)
  return workdir, config, failures


@pytest.fixture(scope="session")
def face_data(tmp_path_factory):
  from tfsingan import synthetic  # pylint: disable=import-outside-toplevel
  data = str(tmp_path_factory.mktemp("bad_input_faces"))
  synthetic.generate(data, 24, size=32, workers=1, quiet=True)
  return data


@pytest.fixture(scope="session")
def ganimation_run(tmp_path_factory, face_data):
  """A finished tiny GANimation run with checkpoints at iterations 2 and 4."""
  from tfsingan.ganimation import trainer  # pylint: disable=import-outside-toplevel
  workdir = str(tmp_path_factory.mktemp("bad_input_ganimation") / "run")
  config = dataclasses.replace(GANIMATION, data_dir=face_data)
  trainer.run(config, workdir)
  return workdir, config


def _copy(run, tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(run, target)
  return target


# ------------------------------------------------------------- numeric flags
_ENTRY_POINTS = [
    ("tfsingan.train", ["--model=singan"]), ("tfsingan.train", ["--model=ganimation"]),
    ("tfsingan.train", ["--model=gmface"]), ("tfsingan.sample", []),
    ("tfsingan.animate", []), ("tfsingan.expand", []), ("tfsingan.evaluate", []),
    ("tfsingan.synthetic.__main__", []), ("tfsingan.gmface.__main__", []),
    ("tfsingan.metrics.au_regressor.__main__", []), ("export.saved_model", []),
    ("export.tflite", []), ("tfsingan.prepare.__main__", []),
]


def _own_fields(extra):
  """For `train --model=X`: the flags of X's config (other families' are refused)."""
  for arg in extra:
    if arg.startswith("--model="):
      cls, _ = config_lib.available_families()[arg.split("=", 1)[1]]
      return {f.name for f in dataclasses.fields(cls)}
  return None


@pytest.mark.parametrize("module,extra", _ENTRY_POINTS,
                         ids=[" ".join([m, *e]) for m, e in _ENTRY_POINTS])
def test_numeric_flags_refuse_nan_inf_and_out_of_range(module, extra):
  probe = harness.run_python(flag_probe.__file__, module, *extra, timeout=300)
  assert probe.returncode == 0, probe.stderr[-3000:]
  results = json.loads(probe.stdout.strip().splitlines()[-1])
  own = _own_fields(extra)
  checked = 0
  for r in results:
    if own is not None and r["flag"] not in own:
      continue
    checked += 1
    where = f"{module} --{r['flag']}={r['value']}: {r['stderr']}"
    assert r["low"] is not None or r["high"] is not None, (
        f"--{r['flag']} declares no range (lower_bound/upper_bound, or field low/high)")
    assert r["code"] == 2 and not r["traceback"], where
    assert len(r["errors"]) == 1, where
    if flag_probe.out_of_range(r):
      assert f"--{r['flag']}" in r["errors"][0], where
  assert checked or module == "tfsingan.evaluate"


# ----------------------------------------------------- failed starts, retries
def _bad_images(folder):
  """Each kind of bad --image: missing, a folder, empty, text, truncated JPEGs."""
  image_io.save_image(str(folder / "ok.jpg"), image_io.bundled_face(96))
  jpeg = (folder / "ok.jpg").read_bytes()
  paths = {"missing": str(folder / "nope.png"), "directory": str(folder)}
  for name, data in (("empty.png", b""), ("text.png", b"not an image\n"),
                     ("cut.jpg", jpeg[:len(jpeg) // 2]),
                     ("cut_eoi.jpg", jpeg[:len(jpeg) // 2] + b"\xff\xd9")):
    (folder / name).write_bytes(data)
    paths[name] = str(folder / name)
  return paths


def test_truncated_jpeg_ending_with_eoi_is_refused(tmp_path):
  paths = _bad_images(tmp_path)
  with pytest.raises(UserInputError, match="cut_eoi.jpg is damaged .the decoder says: "
                     "Corrupt JPEG data"):
    image_io.load_image(paths["cut_eoi.jpg"])
  assert image_io.load_image(str(tmp_path / "ok.jpg")).shape == (96, 96, 3)


def test_failed_first_start_leaves_nothing_and_can_be_retried(singan_run):
  workdir, _, failures = singan_run
  assert len(failures) == 6
  for name, (error, left_behind) in failures.items():
    assert error is not None and "--image" in error and not left_behind, (name, error)
  state = json.load(open(os.path.join(workdir, "state.json")))
  assert state["finished_scales"] == 3  # the corrected command, in the same folder


def test_ganimation_failed_start_and_bad_images_in_data_dir(tmp_path, face_data, capfd):
  from tfsingan.ganimation import data as data_lib  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import trainer  # pylint: disable=import-outside-toplevel
  data = tmp_path / "data"
  shutil.copytree(face_data, data)
  images = sorted(p for p in os.listdir(data / "imgs") if p.endswith(".jpg"))
  (data / "imgs" / images[0]).write_text("text, not a JPEG")
  raw = (data / "imgs" / images[1]).read_bytes()
  (data / "imgs" / images[1]).write_bytes(raw[:len(raw) // 2])
  capfd.readouterr()
  paths, _ = data_lib.load_index(str(data), "all")
  warnings = capfd.readouterr().err.splitlines()
  assert len(paths) == 22 and len(warnings) == 2, warnings  # one line per reason, once
  assert "not a readable image" in warnings[0] + warnings[1]
  assert "truncated JPEG" in warnings[0] + warnings[1]
  with pytest.raises(UserInputError, match="strict mode"):
    data_lib.load_index(str(data), "all", strict=True)
  workdir = str(tmp_path / "run")
  with pytest.raises(UserInputError, match="--data_dir"):
    trainer.run(dataclasses.replace(GANIMATION, data_dir=str(tmp_path / "none")), workdir)
  assert not os.path.exists(workdir)
  with pytest.raises(UserInputError, match="strict mode"):
    trainer.run(dataclasses.replace(GANIMATION, data_dir=str(data), strict=True), workdir)
  assert not os.path.exists(workdir)


def test_strict_is_a_train_flag():
  result = _cli("tfsingan.train", "--model=ganimation", "--strict", "--dry_run")
  assert result.returncode == 0, result.stderr[-2000:]
  assert json.loads(result.stdout)["strict"] is True


def test_gmface_on_a_one_pixel_image(tmp_path):
  from tfsingan.gmface import trainer  # pylint: disable=import-outside-toplevel
  one = str(tmp_path / "one.png")
  image_io.save_image(one, np.full((1, 1, 3), 0.5, np.float32))
  with pytest.raises(UserInputError, match="is 1x1 px; expected at least 2x2"):
    trainer.run(GmFaceConfig(image=one, image_size=0, num_gaussians=2), str(tmp_path / "w"))
  assert not os.path.exists(tmp_path / "w")
  # Resized to 8 px, the flat image is fitted (it used to end in an AttributeError).
  metrics = trainer.run(GmFaceConfig(image=one, image_size=8, num_gaussians=2,
                                     lm_iterations=3, log_every=0), str(tmp_path / "w"),
                        log=lambda s: None)
  assert metrics["finished"] and metrics["mse"] < 1e-3


# ------------------------------------------------------------------- paths
def test_paths_that_are_not_folders(tmp_path, singan_run):
  from export import tflite  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import trainer as ganimation_trainer  # pylint: disable=import-outside-toplevel
  from tfsingan.gmface import trainer as gmface_trainer  # pylint: disable=import-outside-toplevel
  from tfsingan.singan import trainer as singan_trainer  # pylint: disable=import-outside-toplevel
  blocker = tmp_path / "file"
  blocker.write_text("x")
  runs = [(singan_trainer.run, SINGAN), (gmface_trainer.run, GmFaceConfig()),
          (ganimation_trainer.run, dataclasses.replace(GANIMATION, data_dir=str(tmp_path)))]
  for run, config in runs:
    with pytest.raises(UserInputError, match="is a file; expected a folder"):
      run(config, str(blocker))
    with pytest.raises(UserInputError, match=f"cannot create the folder: {blocker} is a file"):
      run(config, str(blocker / "run"))
  with pytest.raises(UserInputError, match="cannot create"):
    tflite.export(singan_run[0], str(blocker / "m.tflite"))
  with pytest.raises(UserInputError, match="unsupported extension .xyz"):
    image_io.save_image(str(tmp_path / "r.xyz"), np.zeros((4, 4, 3), np.float32))
  with pytest.raises(UserInputError, match="cannot write"):
    image_io.save_image(str(blocker / "r.png"), np.zeros((4, 4, 3), np.float32))
  assert blocker.read_text() == "x"


def test_gmface_render_to_an_unknown_extension(tmp_path):
  from tfsingan.gmface.params import GmFaceParams  # pylint: disable=import-outside-toplevel
  params = GmFaceParams(np.ones((1, 1)), np.full((1, 2), 0.5), np.eye(2)[None] * 3.0, 8, 8)
  params.save(str(tmp_path / "gmface.npz"))
  result = _cli("tfsingan.gmface", "render", f"--params={tmp_path / 'gmface.npz'}",
                f"--out={tmp_path / 'r.xyz'}")
  assert_one_error_line(result, "r.xyz")


# --------------------------------------------------------- families, writers
def test_runs_of_another_family_are_refused_untouched(tmp_path, singan_run, ganimation_run):
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import trainer as ganimation_trainer  # pylint: disable=import-outside-toplevel
  from tfsingan.singan import trainer as singan_trainer  # pylint: disable=import-outside-toplevel
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  from tfsingan.singanimation import pipeline  # pylint: disable=import-outside-toplevel
  singan, singan_config, _ = singan_run
  gan, gan_config = ganimation_run
  expand_out = tmp_path / "expand"
  expand_out.mkdir()
  (expand_out / pipeline.STATE).write_text(json.dumps({"model": "singanimation"}))
  before = {p: tree_hash(p) for p in (singan, gan, str(expand_out))}
  with pytest.raises(UserInputError, match=r"holds a SinGAN run \(config.json model=singan\)"):
    ganimation_trainer.run(gan_config, singan)
  with pytest.raises(UserInputError, match=r"holds a SinGANimation \(expand\) run"):
    singan_trainer.run(singan_config, str(expand_out))
  for out, found in ((singan, "SinGAN"), (gan, "GANimation")):
    with pytest.raises(UserInputError, match=f"--out={out} holds a {found} run"):
      pipeline.run(SinGANimationConfig(ganimation_workdir=gan, box="0,0,24,24"), SINGAN, out)
  with pytest.raises(UserInputError, match="holds a SinGAN run .*expected the --workdir of "
                     "a GANimation run"):
    inference.load_generator(singan)
  with pytest.raises(UserInputError, match="holds a GANimation run"):
    TrainedSinGAN.load(gan)
  assert {p: tree_hash(p) for p in before} == before
  result = _cli("tfsingan.animate", f"--workdir={singan}", f"--image={singan_config.image}",
                "--emotion=happy", f"--out={tmp_path / 'a'}")
  assert_one_error_line(result, "holds a SinGAN run")


def test_second_writer_is_refused_with_pid_and_host(tmp_path):
  from tfsingan.singan import trainer  # pylint: disable=import-outside-toplevel
  workdir = tmp_path / "run"
  workdir.mkdir()
  ready = tmp_path / "ready"
  code = ("import time\nfrom tfsingan.common import rundir\n"
          f"with rundir.lock({str(workdir)!r}):\n  open({str(ready)!r}, 'w').close()\n"
          "  time.sleep(120)\n")
  holder = harness.start_python("-c", code)
  try:
    deadline = time.time() + 120
    while not ready.exists():
      assert holder.poll() is None and time.time() < deadline
      time.sleep(0.05)
    with pytest.raises(UserInputError, match=f"pid {holder.pid} on host "
                       f"{socket.gethostname()}"):
      trainer.run(dataclasses.replace(SINGAN, image=_face(tmp_path / "f.png")), str(workdir))
    assert not (workdir / "config.json").exists()
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()


# ----------------------------------------------------------- damaged SinGAN
def _truncate(path, keep=0.5):
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[:int(len(data) * keep)])


@pytest.mark.parametrize("damage,message", [
    ("config", r"config.json is damaged .JSONDecodeError"),
    ("reals", r"reals.npz is damaged .* delete the pyramid/ folder"),
    ("z_rec", r"z_rec.npy is damaged .NaN"),
    ("noise_amp", r"state.json is damaged: the noise amplitude of scale 1 is nan"),
    ("deleted_weights", r"scales/02/generator.weights.h5 is missing .* train scale 2"),
    ("truncated_weights", r"scales/02/generator.weights.h5 is damaged"),
])
def test_damaged_singan_runs_name_the_file(tmp_path, singan_run, damage, message):
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  run = _copy(singan_run[0], tmp_path)
  if damage == "config":
    _truncate(os.path.join(run, "config.json"))
  elif damage == "reals":
    _truncate(os.path.join(run, "pyramid", "reals.npz"))
  elif damage == "z_rec":
    z = np.load(os.path.join(run, "z_rec.npy"))
    z[0, 0, 0] = np.nan
    np.save(os.path.join(run, "z_rec.npy"), z)
  elif damage == "noise_amp":
    state = json.load(open(os.path.join(run, "state.json")))
    state["noise_amps"][1] = float("nan")
    json.dump(state, open(os.path.join(run, "state.json"), "w"))
  elif damage == "deleted_weights":
    os.remove(os.path.join(run, "scales", "02", "generator.weights.h5"))
  else:
    _truncate(os.path.join(run, "scales", "02", "generator.weights.h5"))
  with pytest.raises(UserInputError, match=message):
    TrainedSinGAN.load(run)
  if damage.endswith("weights"):
    from export import saved_model  # pylint: disable=import-outside-toplevel
    from export import tflite  # pylint: disable=import-outside-toplevel
    with pytest.raises(UserInputError, match=message):
      tflite.export(run, str(tmp_path / "m.tflite"))
    with pytest.raises(UserInputError, match=message):
      saved_model.export(run, str(tmp_path / "models" / "m"))
    assert not os.path.exists(tmp_path / "m.tflite")


def test_damaged_scale_is_trained_again_not_called_finished(tmp_path, singan_run, capsys):
  from tfsingan.singan import trainer  # pylint: disable=import-outside-toplevel
  run = _copy(singan_run[0], tmp_path)
  os.remove(os.path.join(run, "scales", "02", "generator.weights.h5"))
  capsys.readouterr()
  state = trainer.run(singan_run[1], run)
  out = capsys.readouterr().out
  assert "already trained" not in out and "training scales 2..2 again" in out
  assert state["finished_scales"] == 3 and len(state["noise_amps"]) == 3
  assert os.path.isfile(os.path.join(run, "scales", "02", "generator.weights.h5"))


def test_sampling_flag_does_not_rewrite_a_finished_run(singan_run, capsys):
  from tfsingan.singan import trainer  # pylint: disable=import-outside-toplevel
  run, config, _ = singan_run
  before = open(os.path.join(run, "config.json"), "rb").read()
  trainer.run(dataclasses.replace(config, gen_start_scale=99), run)
  assert "already trained" in capsys.readouterr().out
  assert open(os.path.join(run, "config.json"), "rb").read() == before


def test_samples_too_large_for_the_machine_are_refused(singan_run):
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  model = TrainedSinGAN.load(singan_run[0])
  with pytest.raises(UserInputError, match=r"10000 sample\(s\) of 2400x2400 px .* needs "
                     r"about [0-9.]+ [GT]B of memory, more than 50% of this machine's"):
    model.sample(10000, scale_h=100, scale_w=100)


def test_nan_images_are_never_written(tmp_path):
  image = np.full((4, 4, 3), np.nan, np.float32)
  with pytest.raises(UserInputError, match="NaN or infinite values"):
    image_io.save_image(str(tmp_path / "x.png"), image)
  assert not os.listdir(tmp_path)


# ------------------------------------------------------- damaged GANimation
def _checkpoint_data(workdir, number):
  folder = os.path.join(workdir, "checkpoints")
  return [os.path.join(folder, n) for n in os.listdir(folder)
          if n.startswith(f"ckpt-{number}.data")]


def test_truncated_ganimation_checkpoint_falls_back(tmp_path, ganimation_run, capsys):
  from export import common  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import trainer  # pylint: disable=import-outside-toplevel
  run = _copy(ganimation_run[0], tmp_path)
  for path in _checkpoint_data(run, 4):
    _truncate(path)
  capsys.readouterr()
  inference.load_generator(run)
  assert "damaged checkpoint(s) ckpt-4" in capsys.readouterr().out
  common.GANimationGraphs.load(run)
  # Resume: the newest checkpoint that reads (iteration 2), with a notice, then on to 6.
  trainer.run(dataclasses.replace(ganimation_run[1], iterations=6), run)
  out = capsys.readouterr().out
  assert "ckpt-4" in out and "using ckpt-2" in out and "at iteration 2 of 6" in out
  assert _checkpoint_data(run, 6)
  for name in os.listdir(os.path.join(run, "checkpoints")):
    if ".data" in name:
      _truncate(os.path.join(run, "checkpoints", name))
  with pytest.raises(UserInputError, match="every checkpoint is damaged"):
    inference.load_generator(run)


# ----------------------------------------------------------------- expand
def test_expand_checks_every_flag_before_training(tmp_path, ganimation_run):
  from tfsingan.singanimation import pipeline  # pylint: disable=import-outside-toplevel
  out = str(tmp_path / "out")
  config = SinGANimationConfig(image=_face(tmp_path / "face.png", 64),
                               ganimation_workdir=ganimation_run[0], box="1,2")
  with pytest.raises(UserInputError, match="--box=1,2: expected four integers"):
    pipeline.run(config, dataclasses.replace(SINGAN, max_size=64), out)
  assert not os.path.exists(out)
  result = _cli("tfsingan.expand", "--gen_start_scale=1", f"--out={out}")
  assert_one_error_line(result, "--gen_start_scale", "--start_scale")
  assert not os.path.exists(out)
