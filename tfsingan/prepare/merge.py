"""Several GANimation training sets in one (the original on-disk format of Pumarola et al., ECCV 2018).

  python -m tfsingan.prepare.merge --input=data/video,data/warp --out=data/real

Reads each input (any layout `tfsingan.ganimation.layouts.load_index` reads: what
`prepare` and `synthetic` write, or OpenFace CSVs) and writes OUT/imgs/ (hard
links where the filesystem allows, else copies), aus_openface.pkl, train_ids.csv
and test_ids.csv. Image ids are prefixed with their input's folder name, so two
inputs never collide; each input keeps its own split (an input whose test split
is empty gives nothing to test_ids.csv). The AUs are stored as read (OpenFace's
0..5 scale), so training on OUT sees exactly what it would see on the inputs.
The identity groups of renderer inputs (`tfsingan.ganimation.pairs`: which images
render one identity, the pairs of `--lambda_paired`) go into
OUT/identity_groups.csv, each group prefixed with its input's name; OUT has no such
file when no input keeps groups.
"""

import os
import pickle
import shutil

import numpy as np

from tfsingan.errors import UserInputError
from tfsingan.common.image_io import atomic_write_bytes

SPLITS = ("train", "test")


def _inputs(spec):
  folders = [s.strip().rstrip("/") for s in str(spec or "").split(",") if s.strip()]
  if not folders:
    raise UserInputError("--input: expected a comma-separated list of dataset folders")
  prefixes = [os.path.basename(os.path.abspath(f)) for f in folders]
  for folder in folders:
    if not os.path.isdir(folder):
      raise UserInputError(f"--input: {folder} is not a folder; expected a dataset "
                           "(python -m tfsingan.prepare or tfsingan.synthetic)")
  if len(set(prefixes)) != len(prefixes):
    raise UserInputError(f"--input: two folders share a name ({', '.join(prefixes)}); "
                         "expected distinct folder names (they prefix the image ids)")
  return list(zip(folders, prefixes))


def _link(src, dst):
  if os.path.exists(dst):
    os.remove(dst)
  try:
    os.link(src, dst)
  except OSError:
    shutil.copyfile(src, dst)


def merge(inputs, out, *, quiet=False):
  """Merges the dataset folders `inputs` ("A,B" or a list) into `out`; returns
  {input prefix: {split: images}}."""
  from tfsingan.ganimation import layouts  # pylint: disable=import-outside-toplevel  (no TensorFlow)
  from tfsingan.ganimation.aus import AU_SCALE  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import pairs as pairs_lib  # pylint: disable=import-outside-toplevel
  pairs = _inputs(",".join(inputs) if isinstance(inputs, (list, tuple)) else inputs)
  if os.path.exists(out) and not os.path.isdir(out):
    raise UserInputError(f"--out: {out} exists and is not a folder")
  out_abs = os.path.abspath(out)
  if any(os.path.abspath(f) == out_abs for f, _ in pairs):
    raise UserInputError(f"--out: {out} is one of the inputs; expected a new folder")
  img_dir = os.path.join(out, "imgs")
  os.makedirs(img_dir, exist_ok=True)
  table, ids, counts, groups = {}, {s: [] for s in SPLITS}, {}, []
  for folder, prefix in pairs:
    counts[prefix] = {}
    input_groups = pairs_lib.load_groups(folder)
    for split in SPLITS:
      try:
        paths, aus = layouts.load_index(folder, split, quiet=quiet)
      except UserInputError:
        if split == "train":
          raise
        paths, aus = [], np.zeros((0, 17), np.float32)  # no test split in this input
      for path, unit in zip(paths, aus):
        name = f"{prefix}_{os.path.basename(path)}"
        _link(path, os.path.join(img_dir, name))
        table[os.path.splitext(name)[0]] = np.round(np.asarray(unit, np.float64) *
                                                   AU_SCALE, 4)
        ids[split].append(name)
        group = input_groups.get(os.path.splitext(os.path.basename(path))[0])
        if group is not None:
          groups.append((name, f"{prefix}/{group}"))
      counts[prefix][split] = len(paths)
  atomic_write_bytes(os.path.join(out, layouts.PICKLE_NAME), pickle.dumps(table, protocol=2))
  for split in SPLITS:
    atomic_write_bytes(os.path.join(out, f"{split}_ids.csv"),
                       "".join(n + "\n" for n in ids[split]).encode())
  groups_path = os.path.join(out, pairs_lib.GROUPS_NAME)
  if groups:
    pairs_lib.write_groups(groups_path, groups)
  elif os.path.exists(groups_path):  # a folder merged before from other inputs
    os.remove(groups_path)
  if not quiet:
    print(f"wrote {out}: " + "; ".join(
        f"{p}: {c['train']} train, {c['test']} test" for p, c in counts.items()))
  return counts


def main(argv):
  from absl import flags  # pylint: disable=import-outside-toplevel
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {' '.join(argv[1:])}; use --flag=value")
  f = flags.FLAGS
  if not f.out:
    raise UserInputError("--out: required; expected the folder to write the merged set into")
  merge(f.input, f.out)
  return 0


if __name__ == "__main__":
  import sys

  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_string("input", None, "Dataset folders to merge, comma-separated.")
  flags.DEFINE_string("out", None, "Output folder (created).")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
