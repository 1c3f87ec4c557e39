"""The files of a SinGAN (Shaham et al., ICCV 2019) run directory, read with checks.

Training writes them and sampling, export and resume read them; every reader
here names the damaged file and how to recover instead of failing inside numpy,
zipfile or h5py:
  pyramid/reals.npz      the training pyramid (float32 in [0, 1]), one array a scale
  z_rec.npy              the fixed reconstruction noise z* of the coarsest scale
  scales/NN/             generator.weights.h5, critic.weights.h5 of each finished scale
  state.json             finished scales, their sizes, widths and noise amplitudes
"""

import os

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.errors import UserInputError

REALS = os.path.join("pyramid", "reals.npz")
Z_REC = "z_rec.npy"
STATE = "state.json"


def scale_dir(workdir, n):
  return os.path.join(workdir, "scales", f"{n:02d}")


def weights_path(workdir, n, network="generator"):
  return os.path.join(scale_dir(workdir, n), f"{network}.weights.h5")


def retrain_hint(workdir, n):
  return (f"run the training command on --workdir={workdir} again to train scale {n} and "
          "the later ones again, or start a new --workdir")


def read_state(workdir):
  """state.json as a dict, or None when absent; refuses damaged or non-finite entries."""
  path = os.path.join(workdir, STATE)
  state = checkpointing.read_json(path)
  if state is None:
    return None
  try:
    finished = int(state["finished_scales"])
    amps = [float(a) for a in state["noise_amps"]]
    channels = [int(c) for c in state["channels"]]
    sizes = [tuple(int(v) for v in s) for s in state["sizes"]]
  except (KeyError, TypeError, ValueError) as e:
    raise UserInputError(f"{path} is damaged ({type(e).__name__}: {e}); start again in a "
                         "new --workdir") from None
  if len(amps) < finished or len(channels) < finished or (finished and len(sizes) < finished):
    raise UserInputError(f"{path} is damaged ({finished} finished scales but "
                         f"{len(amps)} noise amplitudes); start again in a new --workdir")
  bad = [n for n, a in enumerate(amps[:finished]) if not (np.isfinite(a) and a >= 0.0)]
  if bad:
    raise UserInputError(f"{path} is damaged: the noise amplitude of scale {bad[0]} is "
                         f"{amps[bad[0]]}; {retrain_hint(workdir, bad[0])}")
  return state


def read_reals(workdir):
  """The training pyramid (list of H x W x 3 float32, coarsest first), or None."""
  path = os.path.join(workdir, REALS)
  if not os.path.exists(path):
    return None
  try:
    with np.load(path) as data:
      reals = [data[f"scale_{n:02d}"] for n in range(len(data.files))]
  except Exception as e:  # pylint: disable=broad-except  # zipfile, numpy, KeyError
    raise UserInputError(f"{path} is damaged ({type(e).__name__}); delete the pyramid/ "
                         "folder and run the training command again to rebuild it from "
                         "--image") from None
  for n, real in enumerate(reals):
    if real.ndim != 3 or real.shape[2] != 3 or not np.all(np.isfinite(real)):
      raise UserInputError(f"{path} is damaged (scale {n}: shape {real.shape} or non-finite "
                           "values); delete the pyramid/ folder and run the training "
                           "command again to rebuild it")
  return reals


def write_reals(workdir, reals):
  path = os.path.join(workdir, REALS)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp.npz"
  np.savez(tmp, **{f"scale_{n:02d}": r for n, r in enumerate(reals)})
  os.replace(tmp, path)


def read_z_rec(workdir, size=None):
  """z* (H x W x 3 float32), or None when absent; refuses a damaged or non-finite one."""
  path = os.path.join(workdir, Z_REC)
  if not os.path.exists(path):
    return None
  try:
    z = np.load(path)
  except Exception as e:  # pylint: disable=broad-except  # truncated or not a .npy
    raise UserInputError(f"{path} is damaged ({type(e).__name__}); every scale depends on "
                         "it: start again in a new --workdir") from None
  if z.ndim != 3 or (size is not None and tuple(z.shape[:2]) != tuple(size)):
    raise UserInputError(f"{path} is damaged (shape {z.shape}); start again in a new "
                         "--workdir")
  if not np.all(np.isfinite(z)):
    raise UserInputError(f"{path} is damaged (NaN or infinite values); every scale depends "
                         "on it: start again in a new --workdir")
  return z.astype(np.float32)


def write_z_rec(workdir, z):
  path = os.path.join(workdir, Z_REC)
  tmp = path + ".tmp.npy"
  np.save(tmp, z)
  os.replace(tmp, path)


class DamagedScale(UserInputError):
  """A finished scale's weights file is missing or unreadable.

  Attributes: `scale` (its index), `problem` (what is wrong, naming the file).
  """

  def __init__(self, workdir, scale, problem):
    super().__init__(f"{problem}; {retrain_hint(workdir, scale)}")
    self.scale, self.problem = scale, problem


def load_weights(model, workdir, n, network="generator"):
  """Loads scale n's weights into `model`; DamagedScale when the file is missing or bad."""
  path = weights_path(workdir, n, network)
  if not os.path.isfile(path):
    raise DamagedScale(workdir, n, f"{path} is missing (scale {n} is marked finished)")
  try:
    model.load_weights(path)
  except Exception as e:  # pylint: disable=broad-except  # h5py OSError, ValueError, ...
    raise DamagedScale(workdir, n, f"{path} is damaged ({type(e).__name__})") from None
  if not all(np.all(np.isfinite(w)) for w in model.get_weights()):
    raise DamagedScale(workdir, n, f"{path} holds NaN or infinite weights")
