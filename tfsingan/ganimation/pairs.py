"""Identity groups of a GANimation dataset: which images are renders of one identity.

A renderer's dataset (`python -m tfsingan.synthetic`, procedural or `--renderer=warp`)
knows, for every image, the identity it renders: `identities.json` maps each image id
to its identity, and every image of an identity is `render(identity, its AUs)`. Two
images of one identity are therefore a pair: the second is the exact render of the
first's identity showing the second's AUs, the target of `--lambda_paired`.

`tfsingan.prepare.merge` keeps the groups of its renderer inputs in
OUT/identity_groups.csv (one `file_name,group` line per image; groups are prefixed
with their input's folder name). Images of neither file (video frames, OpenFace
sets, sets made before the groups were kept) belong to no group and pair with
nothing. No TensorFlow here: `merge` uses it.
"""

import json
import os

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common.image_io import atomic_write_bytes
from tfsingan.errors import UserInputError

GROUPS_NAME = "identity_groups.csv"


def _stem(name):
  return os.path.splitext(os.path.basename(str(name)))[0]


def _read_csv(path):
  groups = {}
  lines = checkpointing.read_lines(
      path, "`file_name,group` lines written by tfsingan.prepare.merge")
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    name, sep, group = line.rpartition(",")
    if not sep or not name.strip() or not group.strip():
      raise UserInputError(f"{path}:{number}: {line!r}; expected `file_name,group`")
    groups[_stem(name.strip())] = group.strip()
  return groups


def _read_identities(path):
  try:
    with open(path, "r", encoding="utf-8") as f:
      images = json.load(f)["images"]
    return {str(k): str(v["identity"]) for k, v in images.items()}
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    raise UserInputError(f"{path}: not a synthetic-face index ({type(e).__name__}); "
                         "expected identities.json written by tfsingan.synthetic") from None


def load_groups(data_dir):
  """{image stem: group} of `data_dir`, or {} when it keeps no identity groups.

  Read from identity_groups.csv (merged sets) or else from identities.json (sets
  written by tfsingan.synthetic).
  """
  csv_path = os.path.join(data_dir, GROUPS_NAME)
  if os.path.isfile(csv_path):
    return _read_csv(csv_path)
  json_path = os.path.join(data_dir, "identities.json")
  if os.path.isfile(json_path):
    return _read_identities(json_path)
  return {}


def write_groups(path, rows):
  """Writes `rows` ((file_name, group) pairs) as an identity_groups.csv."""
  text = "".join(f"{name},{group}\n" for name, group in rows)
  atomic_write_bytes(path, text.encode("utf-8"))


def partner_table(paths, groups):
  """Where each image's partners are, for the pipeline to draw one per sample.

  Args:
    paths: the image paths of one split, in pipeline order.
    groups: `load_groups` of their folder.

  Returns (members, first, count, rank), int32 arrays: `members` lists the indices
  of `paths` by group; image i's group occupies members[first[i] : first[i] +
  count[i]] and i itself sits at rank[i] in it. Images without a group, or alone
  in theirs, have count 1 (no partner).
  """
  keys = [groups.get(_stem(p)) for p in paths]
  by_group = {}
  for i, key in enumerate(keys):
    by_group.setdefault(key if key is not None else ("", i), []).append(i)
  n = len(paths)
  members = np.zeros(n, np.int32)
  first, count, rank = (np.zeros(n, np.int32) for _ in range(3))
  offset = 0
  for indices in by_group.values():
    members[offset:offset + len(indices)] = indices
    for r, i in enumerate(indices):
      first[i], count[i], rank[i] = offset, len(indices), r
    offset += len(indices)
  return members, first, count, rank


def paired_count(paths, groups):
  """How many of `paths` have at least one partner (another image of their group)."""
  return int(np.sum(partner_table(paths, groups)[2] >= 2))


def check_paired(data_dir, paths, lambda_paired):
  """UserInputError unless a run with `lambda_paired` > 0 has pairs to learn from."""
  if lambda_paired <= 0:
    return 0
  n = paired_count(paths, load_groups(data_dir))
  if n == 0:
    raise UserInputError(
        f"--lambda_paired={lambda_paired}: {data_dir} has no training images paired by "
        f"identity (no {GROUPS_NAME} or identities.json grouping two or more of them); "
        "expected a set written by python -m tfsingan.synthetic or merged from one by "
        "python -m tfsingan.prepare.merge, or --lambda_paired=0")
  return n
