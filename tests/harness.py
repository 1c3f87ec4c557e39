"""The shared test harness: one CLI runner, one precision fixture, one way to build
configs from flagfiles, one layer check.

- `run_cli(module, *args)` runs `python -m module` from the repository root and
  returns the CompletedProcess (`run_python` any python command line,
  `start_python` one in the background); `error_lines` / `assert_one_error_line`
  read its `error:` lines (bad input ends with exactly one, exit code 2, no
  traceback).
- `policy` (a fixture, registered by conftest.py) sets a Keras global dtype policy
  and restores float32 afterwards.
- `config_from_flagfile(cls, path, **overrides)` parses a flagfile with absl and
  the same flag definitions as the command line (`tfsingan.flags`); `tiny_config`
  does it for `configs/<family>_tiny.cfg`.
- `shared_dir(tmp_path_factory, key, build)` builds a folder once per test session,
  also across pytest-xdist workers (a lock file), for read-only reuse.
- `check_layer(layer, inputs)` builds and calls a layer, round-trips its
  `get_config()` (and Keras serialisation), and saves and reloads its weights.
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")


# ------------------------------------------------------------------ CLIs
def cli_env(**env_vars):
  """The environment of a CLI subprocess: quiet TensorFlow, no GPU, this checkout
  importable, plus `env_vars` (a value of None removes the variable)."""
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
         "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
  for name, value in env_vars.items():
    if value is None:
      env.pop(name, None)
    else:
      env[name] = str(value)
  return env


def run_python(*argv, timeout=600, cwd=ROOT, **env_vars):
  """`python *argv` (a script, `-c code`, `-m module`) in `cwd` (the repository
  root) with `cli_env(**env_vars)`: a CompletedProcess with text stdout/stderr;
  never raises on a non-zero exit."""
  return subprocess.run([sys.executable, *map(str, argv)], cwd=cwd, env=cli_env(**env_vars),
                        capture_output=True, text=True, timeout=timeout, check=False)


def run_cli(module, *args, timeout=600, cwd=ROOT, **env_vars):
  """`python -m module *args`, as `run_python`."""
  return run_python("-m", module, *args, timeout=timeout, cwd=cwd, **env_vars)


def start_python(*argv, cwd=ROOT, env_vars=None, **popen_kwargs):
  """`python *argv` started in the background (a Popen) with `cli_env(**env_vars)`."""
  return subprocess.Popen([sys.executable, *map(str, argv)], cwd=cwd,
                          env=cli_env(**(env_vars or {})), **popen_kwargs)


def error_lines(result):
  """The `error:` lines of a finished command's stderr."""
  return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_error_line(result, *needles):
  """Exit code 2, exactly one `error:` line naming every needle, no traceback.
  Returns that line."""
  assert result.returncode == 2, (result.returncode, result.stdout[-1000:],
                                  result.stderr[-2000:])
  errors = error_lines(result)
  assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
  for needle in needles:
    assert needle in errors[0], errors[0]
  return errors[0]


# ------------------------------------------------------------ shared runs
def shared_dir(tmp_path_factory, key, build):
  """The folder that `build(path)` writes, built once per test session and keyed by
  `key` (the exact settings, e.g. a command line): every test file and every
  pytest-xdist worker that asks for the same key gets the same folder. Its users
  read it; one that changes it copies it first (shutil.copytree).

  Under xdist each worker has its own basetemp below one common parent, so the
  folder and its lock file live there; the first worker builds while the others
  wait on the lock. A failed build leaves nothing: the next caller builds again.
  """
  base = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    base = base.parent
  root = base / "shared"
  root.mkdir(exist_ok=True)
  name = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
  target = root / name
  with open(root / f"{name}.lock", "w", encoding="utf-8") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if not target.is_dir():
        partial = root / f"{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        build(str(partial))
        partial.rename(target)
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return str(target)


# ------------------------------------------------------------- precision
@pytest.fixture
def policy():
  """policy(name) sets the Keras global dtype policy; float32 is restored after."""
  import keras  # pylint: disable=import-outside-toplevel
  yield keras.mixed_precision.set_global_policy
  keras.mixed_precision.set_global_policy("float32")


# --------------------------------------------------------------- configs
def _family_of(cls):
  from tfsingan import config as config_lib  # pylint: disable=import-outside-toplevel
  for name, (found, _) in config_lib.available_families().items():
    if found is cls:
      return name
  return None


def config_from_flagfile(cls, path, *args, **overrides):
  """`cls` as the command line builds it from `--flagfile=path` and `args`.

  absl reads the flagfile (comments, nested `--flagfile=` lines relative to the
  repository root, as `make` runs them) into flags defined from `cls` by
  `tfsingan.flags`; a `--model=` line must name `cls`'s family; any other flag
  that `cls` lacks is an error. `overrides` replace fields afterwards.
  """
  from absl import flags  # pylint: disable=import-outside-toplevel
  from tfsingan import flags as flag_lib  # pylint: disable=import-outside-toplevel
  values = flags.FlagValues()
  flag_lib.define_config_flags(cls, flag_values=values)
  family = _family_of(cls)
  if family is not None and "model" not in values:
    flags.DEFINE_string("model", None, "the family", flag_values=values)
  with contextlib.chdir(ROOT):
    values(["harness", f"--flagfile={path}", *args])
  if family is not None:
    assert values["model"].value in (None, family), (path, values["model"].value, family)
  return flag_lib.config_from_flags(cls, flag_values=values, **overrides)


def tiny_config(family, **overrides):
  """The config of `configs/<family>_tiny.cfg` (the tests' tiny settings), with
  `overrides`."""
  from tfsingan import config as config_lib  # pylint: disable=import-outside-toplevel
  if family == "singanimation":
    from tfsingan.singanimation.config import SinGANimationConfig  # pylint: disable=import-outside-toplevel
    cls = SinGANimationConfig
  else:
    cls = config_lib.available_families()[family][0]
  return config_from_flagfile(cls, os.path.join(CONFIGS, f"{family}_tiny.cfg"), **overrides)


# ---------------------------------------------------------------- layers
def check_layer(layer, inputs, *, expected_config=None, call_kwargs=None, tmp_path=None,
                atol=1e-6):
  """Builds and calls `layer` on `inputs`, then checks that

  - `get_config()` holds `expected_config` (constructor arguments) and rebuilds
    an object of the same class with the same config, directly and through
    Keras serialisation;
  - its weights saved to a `.weights.h5` file load into that rebuilt layer, every
    variable (non-trainable statistics included) equal, and that the reloaded
    layer gives the same outputs. Same process, same shapes, same kernels, so
    the outputs agree to float32 round-off (`atol`), not merely in shape.

  Returns (outputs, reloaded layer).
  """
  import keras  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  call_kwargs = call_kwargs or {}
  outputs = layer(inputs, **call_kwargs)
  assert layer.built
  config = layer.get_config()
  for key, value in (expected_config or {}).items():
    assert config[key] == value, (key, config[key], value)
  clone = type(layer).from_config(config)
  assert type(clone) is type(layer) and clone.get_config() == config
  restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
  assert type(restored) is type(layer) and restored.get_config() == config
  if not layer.weights:
    return outputs, restored
  restored(inputs, **call_kwargs)  # builds it
  assert len(restored.weights) == len(layer.weights)
  with contextlib.ExitStack() as stack:
    if tmp_path is None:
      import tempfile  # pylint: disable=import-outside-toplevel
      tmp_path = stack.enter_context(tempfile.TemporaryDirectory())
    path = os.path.join(str(tmp_path), f"{layer.name}.weights.h5")
    keras.saving.save_weights(layer, path)
    keras.saving.load_weights(restored, path)
  for a, b in zip(layer.weights, restored.weights):
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
  again = restored(inputs, **call_kwargs)
  for a, b in zip(tf.nest.flatten(outputs), tf.nest.flatten(again)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol)
  return outputs, restored
