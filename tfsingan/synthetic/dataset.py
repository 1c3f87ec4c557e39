"""Synthetic GANimation datasets (Pumarola et al., 2018 format) with ground-truth targets.

`generate` writes the layout of the original code, so `tfsingan.ganimation.data`
reads it unchanged:

    OUT/imgs/<id>.jpg           renders (JPEG quality 95 by default, like the
                                crops of real datasets; --format=png for lossless)
    OUT/aus_openface.pkl        dict id -> float64[17] on OpenFace's raw 0..5 scale
                                (two decimals, as OpenFace prints), pickle protocol 2
    OUT/train_ids.csv, OUT/test_ids.csv   one file name per line
    OUT/identities.json         identity parameters and AUs of every image

Images of one identity show different AUs; the test split holds out whole
identities. Because the renderer is deterministic, `true_target` gives the exact
image of a test face showing ANY target AUs: the ground truth that real
datasets lack. The stored AUs are the rounded raw values divided by 5, and the
images were rendered from exactly those values.
"""

import functools
import json
import multiprocessing
import os
import pickle
import time

import cv2
import numpy as np

from tfsingan.common.image_io import atomic_write_bytes
from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_SCALE, NUM_AUS
from tfsingan.synthetic import faces

FORMAT_VERSION = 1
JPEG_QUALITY = 95


def _encode(job):
  identity, aus, size, image_format = job
  return encode_image(faces.render(identity, aus, size), image_format)


def encode_image(img, image_format):
  """(H, W, 3) float in [0, 1] -> the bytes of a JPEG (JPEG_QUALITY) or PNG file."""
  bgr = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)[:, :, ::-1]
  params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if image_format == "jpg" else \
      [cv2.IMWRITE_PNG_COMPRESSION, 3]
  ok, data = cv2.imencode("." + image_format, bgr, params)
  if not ok:
    raise RuntimeError(f"cannot encode a {image_format} image")
  return data.tobytes()


def plan(num, *, seed=0, images_per_identity=5, test_fraction=0.1):
  """Identities, per-image AUs and splits, all drawn from one seeded generator.

  Returns (identities: {identity_id: params}, images: {image_id: {identity, aus,
  split}}); the AUs are OpenFace-style raw values rounded to 0.01, divided by 5.
  """
  rng = np.random.default_rng(seed)
  n_ids = -(-num // images_per_identity)
  test_ids = held_out(rng, n_ids, test_fraction)
  identities, images = {}, {}
  for i in range(n_ids):
    ident = f"s{i:05d}"
    identities[ident] = faces.sample_identity(rng)
    for k in range(min(images_per_identity, num - i * images_per_identity)):
      images[f"{ident}_{k:02d}"] = {
          "identity": ident,
          "aus": sample_stored_aus(rng),
          "split": "test" if i in test_ids else "train",
      }
  return identities, images


def held_out(rng, count, test_fraction):
  """The indices (of `count` identities or photos) held out as the test split: a
  `test_fraction` of them, at least one and not all when there are two or more."""
  n_test = int(round(test_fraction * count))
  if test_fraction > 0 and count >= 2:
    n_test = min(max(n_test, 1), count - 1)
  return set(rng.permutation(count)[:n_test].tolist())


def sample_stored_aus(rng):
  """AUs of one image as stored: `faces.sample_aus` on OpenFace's 0..5 scale rounded to
  two decimals (as OpenFace prints them), divided by 5; a list of 17 floats."""
  raw = np.round(faces.sample_aus(rng).astype(np.float64) * AU_SCALE, 2)
  return (raw / AU_SCALE).tolist()


def check_options(num, size, test_fraction, images_per_identity, image_format, out_dir):
  """Checks the options every renderer shares; returns the normalised image format."""
  if num < 1:
    raise UserInputError(f"--num: {num}; expected at least 1 image")
  if size < 16:
    raise UserInputError(f"--size: {size}; expected at least 16 pixels")
  if not 0.0 <= test_fraction < 1.0:
    raise UserInputError(f"--test_fraction: {test_fraction}; expected a value in [0, 1)")
  if images_per_identity < 1:
    raise UserInputError(f"--images_per_identity: {images_per_identity}; expected >= 1")
  image_format = image_format.lower().lstrip(".").replace("jpeg", "jpg")
  if image_format not in ("jpg", "png"):
    raise UserInputError(f"--format: {image_format}; expected jpg or png")
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise UserInputError(f"--out: {out_dir} exists and is not a folder")
  return image_format


def encoded_in_order(encode, jobs, workers):
  """encode(job) for every job, in order, over `workers` forked processes."""
  workers = max(1, min(workers, len(jobs)))
  if workers == 1:
    yield from map(encode, jobs)
    return
  # fork keeps start-up cheap (the renderers are numpy/OpenCV, no TF state to copy);
  # imap returns results in order, so the files do not depend on `workers`.
  chunk = max(1, min(16, len(jobs) // (4 * workers)))
  with multiprocessing.get_context("fork").Pool(workers) as pool:
    yield from pool.imap(encode, jobs, chunksize=chunk)


def write_dataset(out_dir, images, encoded, *, image_format, meta, start, quiet=False,
                  workers=1):
  """Writes the original layout (module docstring) of `images` ({image_id: {"aus",
  "split", ...}}), whose encoded files `encoded` yields in the same order; `meta`
  (identities, renderer, ...) goes into identities.json. Returns the counts."""
  img_dir = os.path.join(out_dir, "imgs")
  try:
    os.makedirs(img_dir, exist_ok=True)
  except OSError as e:
    raise UserInputError(f"--out: cannot create {img_dir} ({e.strerror})") from None
  ids = list(images)
  for image_id, data in zip(ids, encoded):
    _write(os.path.join(img_dir, f"{image_id}.{image_format}"), data)
  table = {i: np.round(np.asarray(images[i]["aus"], np.float64) * AU_SCALE, 2) for i in ids}
  atomic_write_bytes(os.path.join(out_dir, "aus_openface.pkl"), pickle.dumps(table, protocol=2))
  for split in ("train", "test"):
    names = [f"{i}.{image_format}" for i in ids if images[i]["split"] == split]
    atomic_write_bytes(os.path.join(out_dir, f"{split}_ids.csv"),
                       "".join(n + "\n" for n in names).encode())
  meta = {
      "format_version": FORMAT_VERSION,
      "generator": "tfsingan.synthetic",
      "image_format": image_format,
      "jpeg_quality": JPEG_QUALITY if image_format == "jpg" else None,
      "aus_note": "aus are in [0, 1] (OpenFace raw / 5); images were rendered from them",
      "images": images,
      **meta,
  }
  atomic_write_bytes(os.path.join(out_dir, "identities.json"),
                     json.dumps(meta, indent=1, sort_keys=True).encode())
  elapsed = time.perf_counter() - start
  stats = {
      "images": len(ids),
      "identities": len(meta["identities"]),
      "train_images": sum(v["split"] == "train" for v in images.values()),
      "test_images": sum(v["split"] == "test" for v in images.values()),
      "seconds": elapsed,
      "images_per_second": len(ids) / max(elapsed, 1e-9),
      "workers": workers,
  }
  if not quiet:
    print(f"wrote {stats['images']} images of {stats['identities']} identities "
          f"({stats['train_images']} train, {stats['test_images']} test) to {out_dir} in "
          f"{elapsed:.1f} s ({stats['images_per_second']:.0f} images/s, {workers} workers)",
          flush=True)
  return stats


def generate(out_dir, num=2000, *, size=128, seed=0, test_fraction=0.1,
             images_per_identity=5, image_format="jpg", workers=None, quiet=False):
  """Renders a synthetic dataset into `out_dir` (see the module docstring).

  Same arguments -> the same files byte for byte (on the same numpy build).
  Returns a dict of counts and the elapsed time.
  """
  image_format = check_options(num, size, test_fraction, images_per_identity, image_format,
                               out_dir)
  start = time.perf_counter()
  identities, images = plan(num, seed=seed, images_per_identity=images_per_identity,
                            test_fraction=test_fraction)
  jobs = [(identities[v["identity"]], np.asarray(v["aus"], np.float32), size, image_format)
          for v in images.values()]
  workers = max(1, min(workers or min(os.cpu_count() or 1, 8), len(jobs)))
  meta = {"renderer": "procedural", "size": size, "seed": seed, "identities": identities}
  return write_dataset(out_dir, images, encoded_in_order(_encode, jobs, workers),
                       image_format=image_format, meta=meta, start=start, quiet=quiet,
                       workers=workers)


def _write(path, data):
  with open(path, "wb") as f:  # fresh files in our own folder: no reader can see a partial one
    f.write(data)


@functools.lru_cache(maxsize=8)
def _load(path, mtime):  # mtime: reload when the file changes
  del mtime
  try:
    with open(path, "r", encoding="utf-8") as f:
      meta = json.load(f)
    identities, images = meta["identities"], meta["images"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise UserInputError(f"{path}: not a synthetic-face index ({type(e).__name__}: {e}); "
                         "expected identities.json written by tfsingan.synthetic") from None
  root = os.path.dirname(path)
  for identity in identities.values():
    if "crop" in identity:  # a photo's identity (renderer=warp): its crop, made absolute
      identity["crop"] = os.path.join(root, identity["crop"])
  out = {}
  for image_id, entry in images.items():
    out[image_id] = {
        "identity_id": entry["identity"],
        "identity": identities[entry["identity"]],
        "aus": np.asarray(entry["aus"], np.float32),
        "split": entry["split"],
    }
  return out, int(meta.get("size", 128))


def load_identities(data_dir):
  """image id -> {"identity_id", "identity" (render params), "aus" (17,) in [0, 1], "split"}.

  The render params of a procedural identity are those of `faces.render`; those of
  a photo (renderer=warp) hold "crop" (the path of its aligned neutral crop, PNG),
  "landmarks" ((478, 2) in crop pixels) and "source_aus" (what the crop shows).
  `render_identity` renders either.
  """
  path = os.path.join(data_dir, "identities.json")
  if not os.path.isfile(path):
    raise UserInputError(f"{data_dir}: no identities.json; expected a folder written by "
                         "python -m tfsingan.synthetic")
  return dict(_load(os.path.abspath(path), os.path.getmtime(path))[0])


def true_target(data_dir, image_id, target_aus, size=None):
  """The exact render of `image_id`'s identity showing `target_aus` ((17,) in [0, 1]).

  `image_id` may be a file name or path ("s00003_01.jpg") or a bare id. `size`
  defaults to the dataset's size. Returns float32 (size, size, 3) in [0, 1]
  (not JPEG-compressed).
  """
  path = os.path.join(data_dir, "identities.json")
  table = load_identities(data_dir)
  key = os.path.splitext(os.path.basename(str(image_id)))[0]
  if key not in table:
    raise UserInputError(f"{data_dir}: unknown image id {image_id!r}")
  target = np.asarray(target_aus, np.float32)
  if target.shape != (NUM_AUS,) or not np.all(np.isfinite(target)):
    raise UserInputError(f"target AUs of shape {target.shape}; expected 17 finite values")
  if size is None:
    size = _load(os.path.abspath(path), os.path.getmtime(path))[1]
  return render_identity(table[key]["identity"], target, size)


@functools.lru_cache(maxsize=64)
def _crop(path):
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  return image_io.load_image(path, channels=3, what=path)


def render_identity(identity, target_aus, size):
  """An identity of `load_identities` showing `target_aus`: (size, size, 3) float32.

  Procedural identities are drawn by `faces.render`; a photo's identity is its crop
  warped by `warp.render` (then resized if `size` is not the crop's).
  """
  if "crop" not in identity:
    return faces.render(identity, target_aus, size)
  from tfsingan.synthetic import warp  # pylint: disable=import-outside-toplevel
  crop = _crop(identity["crop"])
  out = warp.render(crop, np.asarray(identity["landmarks"]), target_aus,
                    source_aus=np.asarray(identity["source_aus"], np.float64))
  if out.shape[0] != size:
    out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA
                     if size < out.shape[0] else cv2.INTER_LINEAR)
  return out
