"""Training pairs for the warp-guided GANimation: a real face, and the landmark warp of another frame of the same face towards it.

  python -m tfsingan.prepare.warp_pairs --input=PREPARED --out=DIR [--pairs=4000]

The warp (`tfsingan.synthetic.warp`) gets the geometry of an expression right and
its appearance only partly: it stretches the photo's own texture and paints a
cavity and a teeth band where the lips part; it cannot draw the wrinkles of AU06
or AU09, the teeth as they are, or the shading of a raised cheek. Two frames a, b
of one video show one face with two expressions: the warp of frame a onto b's 478
landmarks (`warp.render_to`) has b's geometry and a's appearance, and frame b is
what it should look like. A GANimation trained on such pairs with
`--warp_guided` (`tfsingan.ganimation.config`) learns that correction: it sees
the warp and the target AUs and is scored against the real frame, as in the
warp-guided GAN of Geng et al., "Warp-guided GANs for single-photo facial
animation" (SIGGRAPH Asia 2018). At editing time its input is the AU warp of the
photo (`render`), which moves the landmarks as the target AUs say.

Outside the face (the hull of frame b's landmarks, feathered by
`--face_feather`) the target is the warp itself: hair, background and light change
between frames too, and the editor is not to learn them.

Reads a folder that `python -m tfsingan.prepare` wrote (aligned crops of one or
more videos and their AUs); images pair within one source (`<stem>_<frame>_<face>`
names: the stem before the frame number). Writes the original layout (imgs/ holds
the real frames b, aus_openface.pkl their AUs, train_ids.csv, test_ids.csv) plus
warped/<same name>.png (the warp of frame a) and pairs.json (which a and b). The
last `--test_fraction` of each source's frames pair only with each other, in the
test split.
"""

import dataclasses
import json
import os
import time

import numpy as np

from tfsingan.common import image_io
from tfsingan.common.image_io import atomic_write_bytes
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

WARPED_DIR = "warped"
PAIRS_NAME = "pairs.json"


@dataclasses.dataclass(frozen=True)
class WarpPairsConfig:
  """What `python -m tfsingan.prepare.warp_pairs` makes (--input and --out: folders)."""

  pairs: int = field(4000, help="Pairs to write.", low=1, high=10_000_000)
  min_au_change: float = field(0.25, help="Least summed |AU difference| between a pair's "
                               "frames (AUs in [0, 1]); smaller changes teach little.",
                               low=0.0, high=17.0)
  max_motion: float = field(0.12, help="Largest median landmark motion between a pair's "
                            "aligned frames, in inter-ocular distances (larger: the head "
                            "turned, which the warp is not meant to show).", low=0.0,
                            high=10.0)
  max_gap: int = field(6, help="Largest distance between a pair's frames in the source's "
                       "order (near frames share the pose, hair and light, so the real frame "
                       "differs from the warp by the expression only).", low=1,
                       high=10_000_000)
  face_feather: float = field(0.1, help="Outside the hull of frame b's landmarks the "
                              "target is the warp itself (hair, background and light move "
                              "between frames, not by the expression); the real frame fills "
                              "the hull, blended over this fraction of the face's size.",
                              low=0.0, high=1.0)
  test_fraction: float = field(0.1, help="Fraction of each source's last frames kept for "
                               "the test split.", low=0.0, high=0.9)
  seed: int = field(0, help="Seed of the pair draw.", low=0)
  face_landmarker: str = field("", help="MediaPipe's face_landmarker.task (default: the "
                               "installed copy).")

  def __post_init__(self):
    check_ranges(self)


def warped_paths(data_dir, paths):
  """The warped/ input of each image path of a pair set; UserInputError when the set
  has no warped/ folder or misses one."""
  folder = os.path.join(data_dir, WARPED_DIR)
  if not os.path.isdir(folder):
    raise UserInputError(f"--warp_guided: {data_dir} has no {WARPED_DIR}/ folder; expected a "
                         "pair set written by python -m tfsingan.prepare.warp_pairs")
  out = []
  for path in paths:
    warped = os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + ".png")
    if not os.path.isfile(warped):
      raise UserInputError(f"--warp_guided: {warped} is missing; expected the warp of every "
                           "image of the set (python -m tfsingan.prepare.warp_pairs)")
    out.append(warped)
  return out


def source_of(name):
  """The source of a `prepare` image name: '<stem>_<frame>_<face>.jpg' -> '<stem>'."""
  parts = os.path.splitext(os.path.basename(name))[0].rsplit("_", 2)
  return parts[0] if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else None


def read_frames(input_dir, reader, *, quiet=False):
  """{source: [(name, crop, landmarks (478, 2), aus (17,))]} of a prepared folder, in
  name order (frame order), skipping frames where no face is found again."""
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import layouts  # pylint: disable=import-outside-toplevel
  paths, aus = layouts.load_index(input_dir, "train", quiet=True)
  by_source, skipped = {}, 0
  for path, au in sorted(zip(paths, aus), key=lambda item: os.path.basename(item[0])):
    name = os.path.basename(path)
    source = source_of(name)
    if source is None:
      raise UserInputError(f"--input: {name} is not named <source>_<frame>_<face> as "
                           "python -m tfsingan.prepare names its crops; expected a folder "
                           "it wrote")
    crop = image_io.load_image(path, channels=3, what=path, quiet=True)
    found = faces.detect(crop)
    if not found:
      skipped += 1
      continue
    reading = reader.read(crop, found[0], what=path)
    by_source.setdefault(source, []).append(
        (name, crop, np.asarray(reading.landmarks, np.float64)[:, :2],
         np.asarray(au, np.float64)))
  if not quiet:
    count = sum(len(v) for v in by_source.values())
    print(f"read {count} frames of {len(by_source)} sources ({skipped} without a face found "
          "again, skipped)", flush=True)
  return by_source


def _iod(landmarks):
  from tfsingan.synthetic import warp  # pylint: disable=import-outside-toplevel
  return warp.face_frame(landmarks).iod


def plan_pairs(by_source, config):
  """[(split, source, i, j)]: frame i of a source warped onto frame j of it."""
  rng = np.random.default_rng(config.seed)
  candidates = {"train": [], "test": []}
  for source, frames in sorted(by_source.items()):
    n = len(frames)
    iods = [_iod(f[2]) for f in frames]
    n_test = int(round(n * config.test_fraction))
    for split, lo, hi in (("train", 0, n - n_test), ("test", n - n_test, n)):
      for i in range(lo, hi):
        for j in range(max(lo, i - config.max_gap), min(hi, i + config.max_gap + 1)):
          if i == j:
            continue
          a, b = frames[i], frames[j]
          if np.abs(a[3] - b[3]).sum() < config.min_au_change:
            continue
          motion = np.median(np.linalg.norm(a[2] - b[2], axis=1)) / iods[i]
          if motion <= config.max_motion:
            candidates[split].append((split, source, i, j))
  total = len(candidates["train"]) + len(candidates["test"])
  if not candidates["train"]:
    raise UserInputError("--input: no two frames of one source differ by --min_au_change="
                         f"{config.min_au_change} with a head motion within --max_motion="
                         f"{config.max_motion}; expected a video of a changing expression")
  chosen = []
  for split, pool in candidates.items():
    k = min(len(pool), int(round(config.pairs * len(pool) / total)))
    chosen += [pool[t] for t in sorted(rng.choice(len(pool), size=k, replace=False))]
  return chosen


def write_pairs(config, input_dir, out, *, reader=None, quiet=False):
  """Writes the pair set of `input_dir` into `out` (module docstring); returns counts."""
  from tfsingan.synthetic import dataset  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import warp  # pylint: disable=import-outside-toplevel
  start = time.perf_counter()
  if os.path.exists(os.path.join(out, "aus_openface.pkl")):
    raise UserInputError(f"--out={out} holds a dataset already; expected a new folder")
  if reader is None:
    from tfsingan import faces  # pylint: disable=import-outside-toplevel
    reader = faces.AUReader(face_landmarker=config.face_landmarker or None)
  by_source = read_frames(input_dir, reader, quiet=quiet)
  chosen = plan_pairs(by_source, config)
  images, pairs, warped = {}, {}, []
  for split, source, i, j in chosen:
    a, b = by_source[source][i], by_source[source][j]
    pid = f"{os.path.splitext(a[0])[0]}_to_{os.path.splitext(b[0])[0]}"
    images[pid] = {"aus": b[3], "split": split, "identity": source}
    pairs[pid] = {"source": a[0], "target": b[0]}
    warped.append((pid, a, b))
  os.makedirs(os.path.join(out, WARPED_DIR), exist_ok=True)
  from tfsingan.singanimation import face_region  # pylint: disable=import-outside-toplevel
  targets = []
  for pid, a, b in warped:
    image = warp.render_to(a[1], a[2], b[2])
    atomic_write_bytes(os.path.join(out, WARPED_DIR, f"{pid}.png"),
                       dataset.encode_image(image, "png"))
    outside = face_region.outside_mask(b[2], b[1].shape, config.face_feather)[..., None]
    targets.append(outside * image + (1.0 - outside) * b[1])
  for entry in images.values():
    entry["aus"] = np.round(entry["aus"], 4).tolist()
  meta = {"renderer": "warp_pairs", "input": os.path.abspath(input_dir),
          "identities": {s: len(v) for s, v in by_source.items()}, "config":
          dataclasses.asdict(config)}
  stats = dataset.write_dataset(
      out, images, (dataset.encode_image(t, "png") for t in targets),
      image_format="png", meta=meta, start=start, quiet=True)
  atomic_write_bytes(os.path.join(out, PAIRS_NAME),
                     json.dumps(pairs, indent=1, sort_keys=True).encode())
  if not quiet:
    print(f"wrote {stats['train_images']} train and {stats['test_images']} test pairs "
          f"(real frame in imgs/, warp of another frame in {WARPED_DIR}/) to {out} in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
  return stats


def _main():
  # pylint: disable=import-outside-toplevel
  from absl import app
  from absl import flags
  import tfsingan.flags
  # pylint: enable=import-outside-toplevel

  flags.DEFINE_string("input", None, "A folder written by python -m tfsingan.prepare.")
  flags.DEFINE_string("out", None, "Output folder (created).")
  tfsingan.flags.define_config_flags(WarpPairsConfig)
  main = tfsingan.flags.config_main(WarpPairsConfig, write_pairs,
                                    input="a folder written by python -m tfsingan.prepare",
                                    out="the folder to write the pairs into")
  app.run(main, flags_parser=tfsingan.flags.parse_flags_or_exit)


if __name__ == "__main__":
  _main()
