"""The GANimation generator (Pumarola et al., ECCV 2018) that ships with tfsingan, trained on real faces.

No GANimation weights exist anywhere (the authors never released theirs), so the
project ships the generator of one run of its own training command (README,
"The shipped GANimation"): its weights in float16 and its config, in
`tfsingan/assets/ganimation_real.npz`. This module turns that file into a run
directory that `animate`, `expand` and the benchmarks read like any trained run,
and writes the file from a finished run:

  python -m tfsingan.ganimation.shipped --out=runs/demo/ganimation      # install
  python -m tfsingan.ganimation.shipped --export_from=runs/gan_real     # re-make the asset

The installed folder holds config.json ("model": "ganimation", the shipped run's
options), generator.weights.h5 (float32, cast from the float16 file) and
shipped.json (where it came from). An --out holding another run, or one with
checkpoints of its own, is refused untouched; installing twice is a no-op.
"""

import hashlib
import json
import os
import sys
import zipfile

import numpy as np

from tfsingan.errors import UserInputError

ASSET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets",
                     "ganimation_real.npz")
MAX_BYTES = 10 * 1024 * 1024  # issue 14: at most 10 MB
PROVENANCE = "shipped.json"


def read_asset(path=None):
  """(config dict, list of float32 weight arrays, provenance dict) of a shipped file."""
  path = path or ASSET
  if not os.path.isfile(path):
    raise UserInputError(f"{path}: no shipped GANimation weights; expected the file of "
                         "`python -m tfsingan.ganimation.shipped --export_from=RUN`")
  try:
    with np.load(path, allow_pickle=False) as data:
      config = json.loads(str(data["config"]))
      provenance = json.loads(str(data["provenance"]))
      count = int(data["count"])
      weights = [data[f"w{i:03d}"].astype(np.float32) for i in range(count)]
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise UserInputError(f"{path} is damaged ({type(e).__name__}); re-make it with "
                         "`python -m tfsingan.ganimation.shipped --export_from=RUN`") from None
  return config, weights, provenance


def export(workdir, path=None, *, note=""):
  """Writes the generator of the run `workdir` (float16) and its config to `path`."""
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
  import io  # pylint: disable=import-outside-toplevel
  path = path or ASSET
  rundir.check_file_path(path, "--asset")
  generator, _ = inference.load_generator(workdir)
  config = rundir.read_config(workdir)
  weights = generator.get_weights()
  arrays = {f"w{i:03d}": w.astype(np.float16) for i, w in enumerate(weights)}
  overflow = [i for i, w in enumerate(weights) if np.abs(w).max(initial=0) > 65504]
  if overflow:
    raise UserInputError(f"--export_from={workdir}: weights {overflow} exceed float16's range")
  provenance = {"workdir": os.path.abspath(workdir), "iteration": _iteration(workdir),
                "parameters": int(sum(w.size for w in weights)), "note": note}
  buffer = io.BytesIO()
  np.savez_compressed(buffer, config=json.dumps(config, sort_keys=True),
                      provenance=json.dumps(provenance, sort_keys=True),
                      count=np.int64(len(weights)), **arrays)
  data = buffer.getvalue()
  if len(data) > MAX_BYTES:
    raise UserInputError(f"--export_from={workdir}: {len(data) / 1e6:.1f} MB in float16; "
                         f"expected at most {MAX_BYTES / 1e6:.1f} MB (a smaller --conv_dim)")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  atomic_write_bytes(path, data)
  return {"path": path, "bytes": len(data), **provenance}


def _iteration(workdir):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  return int(latest.rsplit("-", 1)[1]) if latest else None


def install(out, asset=None):
  """Installs the shipped generator as the GANimation run directory `out`; returns
  the provenance written to out/shipped.json."""
  from tfsingan import config as config_lib  # pylint: disable=import-outside-toplevel
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import networks  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
  asset = asset or ASSET
  rundir.check_folder_path(out, "--out")
  if os.path.isdir(os.path.join(out, inference.CHECKPOINT_DIR)):
    raise UserInputError(f"--out={out} holds a trained run (checkpoints/); expected a new "
                         "folder or one this command installed")
  data, weights, provenance = read_asset(asset)
  try:
    config = config_lib.from_dict(GANimationConfig, data)
  except (ValueError, TypeError) as e:
    raise UserInputError(f"{asset}: not a GANimation config ({e})") from None
  generator = networks.build_generator(config.image_size, config.conv_dim, config.repeat_num,
                                       dtype="float32")
  shapes = [tuple(v.shape) for v in generator.get_weights()]
  if shapes != [tuple(w.shape) for w in weights]:
    raise UserInputError(f"{asset}: its weights do not fit the generator of its config")
  generator.set_weights(weights)
  with rundir.prepare(out, config, family="ganimation", flag="--out") as run:
    run.start()
    tmp = run.file(".tmp-" + inference.GENERATOR_WEIGHTS)
    generator.save_weights(tmp)
    os.replace(tmp, run.file(inference.GENERATOR_WEIGHTS))
    with open(asset, "rb") as f:  # at most MAX_BYTES
      digest = hashlib.sha256(f.read()).hexdigest()
    provenance = {**provenance, "asset": os.path.abspath(asset), "sha256": digest}
    atomic_write_bytes(run.file(PROVENANCE),
                       (json.dumps(provenance, indent=2, sort_keys=True) + "\n").encode())
  return provenance


def main(argv):
  from absl import flags  # pylint: disable=import-outside-toplevel
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {' '.join(argv[1:])}; use --flag=value")
  f = flags.FLAGS
  if bool(f.out) == bool(f.export_from):
    raise UserInputError("expected exactly one of --out (install the shipped generator as a "
                         "run directory) and --export_from (write the asset from a run)")
  if f.export_from:
    written = export(f.export_from, f.asset or None, note=f.note or "")
    print(f"wrote {written['path']} ({written['bytes'] / 1e6:.2f} MB, "
          f"{written['parameters']:,} parameters, iteration {written['iteration']})")
  else:
    provenance = install(f.out, f.asset or None)
    print(f"installed the shipped GANimation (iteration {provenance.get('iteration')}) "
          f"as {f.out}")
  return 0


if __name__ == "__main__":
  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_string("out", None, "Install: the run directory to create "
                      "(e.g. runs/demo/ganimation).")
  flags.DEFINE_string("export_from", None, "Export: a finished GANimation run directory.")
  flags.DEFINE_string("asset", None, "The shipped file (default: tfsingan/assets/"
                      "ganimation_real.npz).")
  flags.DEFINE_string("note", None, "Export: a line on what the run was trained on.")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
