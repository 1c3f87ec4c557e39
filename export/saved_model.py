"""Exports a GANimation or SinGAN run as a TF Serving SavedModel.

Usage:
  python -m export.saved_model --workdir=RUN --out=models/NAME [--version=1]
      [--start_scale=0] [--inject_scale=1]

Writes models/NAME/<version>/ (saved_model.pb, variables/, and
assets.extra/tfsingan_export.json describing the signatures) and adds NAME to
models/models.config, the `--model_config_file` of TF Serving (base paths as
mounted in the tensorflow/serving container: /models/NAME). The family is read
from the run's config.json.

GANimation (Pumarola et al., ECCV 2018), S = the trained image size (128 in the
paper config):
  serving_default: image float32 (B, S, S, 3) in [0, 1], aus float32 (B, 17) in
    [0, 1] (OpenFace order, intensity / 5; tiled inside the graph)
    -> image, color (B, S, S, 3) and attention (B, S, S, 1), float32 in [0, 1].
  animate_uint8: the same with uint8 images (0..255) in and out (attention too).
SinGAN (Shaham et al., ICCV 2019), scale 0 = coarsest (the paper's N), sizes and
noise amplitudes in the sidecar:
  sample_seed (also serving_default): seed int64 (B,) -> image (B, H, W, 3) in
    [0, 1]; each example's noise is drawn from its own seed (stateless, in the graph).
  sample: noise_<k> .. noise_<N-1> float32 unit normal maps (B, H_n, W_n, 3; one
    channel at scale 0) -> image; scales before k = --start_scale follow the
    reconstruction path.
  regenerate (runs of 2+ scales): image float32 (B, H_n, W_n, 3) in [0, 1] at the
    size of scale n = --inject_scale (1 = the paper's N-1), seed int64 (B,) -> image:
    the input replaces the coarser scales' output and scales n..N-1 regenerate the
    details.
The batch dimension is free (None) everywhere.
"""

import dataclasses
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

SIDECAR = os.path.join("assets.extra", "tfsingan_export.json")
MODEL_CONFIG = "models.config"


def _ganimation(workdir):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from export import common  # pylint: disable=import-outside-toplevel
  graphs, config = common.GANimationGraphs.load(workdir)
  archive = common.make_archive([graphs.generator], [
      ("serving_default", graphs.animate, graphs.input_signature()),
      ("animate_uint8", graphs.animate_uint8, graphs.input_signature(dtype=tf.uint8)),
  ])
  guided = config.warp_guided
  info = common.sidecar("ganimation", workdir, image_size=config.image_size, signatures={
      "serving_default": common.ganimation_io(config.image_size, warp_guided=guided),
      "animate_uint8": common.ganimation_io(config.image_size, "uint8", warp_guided=guided)})
  return archive, info


def _singan(workdir, start_scale, inject_scale):
  from export import common  # pylint: disable=import-outside-toplevel
  graphs = common.SinGANGraphs.load(workdir)
  graphs.check_start_scale(start_scale)
  endpoints = [("sample_seed", graphs.sample_seed(start_scale), [common.seed_spec()]),
               ("sample", graphs.sample(start_scale), graphs.noise_specs(start_scale))]
  if graphs.num_scales > 1:
    graphs.check_start_scale(inject_scale, "--inject_scale", low=1)
    endpoints.append(("regenerate", graphs.regenerate(inject_scale),
                      [graphs.image_spec(inject_scale), common.seed_spec()]))
  archive = common.make_archive(graphs.model.generators, endpoints)
  h, w = graphs.sizes[-1]
  image = {"shape": [None, h, w, 3], "dtype": "float32", "range": [0.0, 1.0]}
  signatures = {
      "sample_seed": {"inputs": {"seed": {"shape": [None], "dtype": "int64"}},
                      "outputs": {"image": image}, "start_scale": start_scale},
      "sample": {"inputs": {s.name: {"shape": s.shape.as_list(), "dtype": "float32",
                                     "distribution": "standard normal"}
                            for s in graphs.noise_specs(start_scale)},
                 "outputs": {"image": image}, "start_scale": start_scale},
  }
  if graphs.num_scales > 1:
    hn, wn = graphs.sizes[inject_scale]
    signatures["regenerate"] = {
        "inputs": {"image": {"shape": [None, hn, wn, 3], "dtype": "float32",
                             "range": [0.0, 1.0]},
                   "seed": {"shape": [None], "dtype": "int64"}},
        "outputs": {"image": image}, "inject_scale": inject_scale}
  signatures["serving_default"] = {"same_as": "sample_seed"}
  info = common.sidecar("singan", workdir, signatures=signatures,
                        **common.singan_scales(graphs))
  return archive, info


def update_model_config(path, name):
  """Adds (or replaces) `name` in a TF Serving model config file, keeping the others."""
  blocks = []
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      text = f.read()
    for block in re.findall(r"config\s*\{[^{}]*\}", text):
      found = re.search(r"name:\s*['\"]([^'\"]+)['\"]", block)
      if found and found.group(1) != name:
        blocks.append(block)
  blocks.append(f"config {{\n    name: '{name}'\n    base_path: '/models/{name}'\n"
                "    model_platform: 'tensorflow'\n  }")
  text = ("# TF Serving --model_config_file; base paths as mounted in the\n"
          "# tensorflow/serving container (-v \"$PWD/models:/models\").\n"
          "model_config_list {\n" + "".join(f"  {b}\n" for b in blocks) + "}\n")
  from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
  atomic_write_bytes(path, text.encode())


def export(workdir, out, version=1, *, start_scale=0, inject_scale=1):
  """Writes `out/<version>/` and the `models.config` entry; returns the version folder."""
  if version < 0:
    raise UserInputError(f"--version={version}: expected an integer >= 0")
  name = os.path.basename(os.path.normpath(out))
  if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
    raise UserInputError(f"--out={out}: the last folder is the model name; expected letters, "
                         "digits, '_', '-' or '.'")
  rundir.check_folder_path(out, "--out")
  target = os.path.join(out, str(version))
  config_path = os.path.join(os.path.dirname(os.path.abspath(out)), MODEL_CONFIG)
  from export import common  # pylint: disable=import-outside-toplevel
  family = common.detect_family(workdir)
  # One lock for every model of models/: the version folder and models.config.
  with rundir.lock(config_path, "--out", inside=False):
    return _write(workdir, out, version, target, family, name, config_path, start_scale,
                  inject_scale)


def _write(workdir, out, version, target, family, name, config_path, start_scale,
           inject_scale):
  from export import common  # pylint: disable=import-outside-toplevel
  if os.path.exists(target):
    raise UserInputError(f"--out: {target} already exists; pick another --version or "
                         "remove it")
  common.check_writable_parent(target)
  if family == "ganimation":
    archive, info = _ganimation(workdir)
  else:
    archive, info = _singan(workdir, start_scale, inject_scale)
  # Written beside the final folder and renamed into place: TF Serving never sees a
  # half-written version (it ignores non-numeric folder names).
  tmp = tempfile.mkdtemp(dir=out, prefix=f".tmp-{version}-")
  try:
    archive.write_out(tmp, verbose=False)
    checkpointing.write_json(os.path.join(tmp, SIDECAR), {**info, "format": "saved_model",
                                                      "version": version})
    os.replace(tmp, target)
  finally:
    if os.path.exists(tmp):
      shutil.rmtree(tmp)
  update_model_config(config_path, name)
  return target


@dataclasses.dataclass(frozen=True)
class SavedModelConfig:
  """What `python -m export.saved_model` writes, besides --workdir and --out."""

  version: int = field(1, help="Model version (TF Serving serves the highest).", low=0)
  start_scale: int = field(0, help="SinGAN: first scale with fresh noise in `sample` and "
                           "`sample_seed` (0 = coarsest).", low=0)
  inject_scale: int = field(1, help="SinGAN: scale at which `regenerate` injects its image "
                            "(1 = the paper's N-1, 2 = N-2).", low=0)

  def __post_init__(self):
    check_ranges(self)


def run(config, workdir, out):
  """`export` with the options of `config`; says what it wrote."""
  target = export(workdir, out, config.version, start_scale=config.start_scale,
                  inject_scale=config.inject_scale)
  print(f"wrote {target} (signatures: see {os.path.join(target, SIDECAR)})", flush=True)
  return target


PROGRAM = cli.Program(SavedModelConfig, run,
                      out_help="Model folder models/NAME; the version goes below it.",
                      out_what="the model folder, e.g. models/NAME")
main, define_flags = PROGRAM.main, PROGRAM.define_flags

if __name__ == "__main__":
  PROGRAM.start()
