"""Input-pipeline throughput for GANimation (Pumarola et al., 2018) training.

  python benchmarks/ganimation_pipeline.py [--data_dir=DIR] --image_size=128 --batch_size=25

Without --data_dir a synthetic set (`tfsingan.synthetic`) is generated into a
temporary folder. Rows: a naive single-threaded loader (cv2 decode + resize,
numpy batching and tiling, what a hand-written loop does) as the baseline, the
tf.data pipeline's first epoch (decode + fill the cache), its cached steady
state with and without the tiled AU maps. Images/s and the ratio to the
baseline are printed and written as JSON.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import cv2
import numpy as np

from benchmarks.machine import machine_info
from benchmarks.machine import write_result
import tfsingan.flags
from tfsingan.errors import exit_on_user_error

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Dataset folder; default: a synthetic set.")
_NUM = flags.DEFINE_integer("num", 1000, "Images of the generated synthetic set.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 128, "Training image size.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 25, "Batch size.")
_BATCHES = flags.DEFINE_integer("batches", 200, "Batches timed in the steady state.")
_BASELINE_BATCHES = flags.DEFINE_integer("baseline_batches", 20, "Batches of the naive loader.")
_OUT = flags.DEFINE_string("out", "ganimation_pipeline.json", "JSON results file.")


def _naive_loader(paths, aus, size, batch, batches, seed=0):
  """A single-threaded loop: decode, resize, flip, random targets, tile in numpy."""
  rng = np.random.default_rng(seed)
  n = len(paths)
  done = 0
  start = time.perf_counter()
  for _ in range(batches):
    idx = rng.integers(0, n, batch)
    imgs = []
    for i in idx:
      img = cv2.imread(paths[i], cv2.IMREAD_COLOR)[:, :, ::-1]
      img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
      if rng.uniform() < 0.5:
        img = img[:, ::-1]
      imgs.append(img.astype(np.float32) / 127.5 - 1.0)
    image = np.stack(imgs)
    src = aus[idx]
    tgt = np.clip(aus[rng.integers(0, n, batch)] + rng.uniform(-0.1, 0.1, src.shape), 0, 1)
    maps = np.broadcast_to(src[:, None, None, :], (batch, size, size, src.shape[1])).copy()
    tmaps = np.broadcast_to(tgt[:, None, None, :], (batch, size, size, src.shape[1])).copy()
    del image, maps, tmaps
    done += batch
  return done / (time.perf_counter() - start)


def _time_batches(iterator, batches, batch):
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * batch / (time.perf_counter() - start)


def run(data_dir=None, num=1000, image_size=128, batch_size=25, batches=200,
        baseline_batches=20):
  """Times the loaders and prints the table; returns the result dict.

  Args are the flags of the same names; `data_dir=None` generates `num` synthetic faces.
  """
  from tfsingan.ganimation import data  # pylint: disable=import-outside-toplevel
  size, batch = image_size, batch_size
  tmp = None
  source = data_dir
  if not data_dir:
    from tfsingan.synthetic import generate  # pylint: disable=import-outside-toplevel
    tmp = tempfile.TemporaryDirectory(prefix="ganimation_bench_")
    data_dir = tmp.name
    generate(data_dir, num, size=size, seed=0)
  paths, aus = data.load_index(data_dir, "train")
  n = len(paths)
  steps_per_epoch = max(1, n // batch)
  rows = []
  baseline = _naive_loader(paths, aus, size, batch, baseline_batches)
  rows.append(("naive python loop (baseline)", baseline))
  # The pipeline carries (B, 17) AU vectors; the generator tiles them.
  it = iter(data.make_dataset(data_dir, image_size=size, batch_size=batch))
  start = time.perf_counter()
  for _ in range(steps_per_epoch):  # the first epoch decodes and fills the cache
    next(it)
  first = steps_per_epoch * batch / (time.perf_counter() - start)
  _time_batches(it, min(20, batches), batch)  # warm-up
  steady = _time_batches(it, batches, batch)
  rows.append(("tf.data first epoch (decode + cache)", first))
  rows.append(("tf.data cached", steady))
  print(f"\nGANimation input pipeline: {n} train images from {data_dir}, "
        f"{size}x{size}, batch {batch}, {os.cpu_count()} CPUs")
  print(f"{'pipeline':44s} {'images/s':>10s} {'vs baseline':>12s}")
  for name, ips in rows:
    print(f"{name:44s} {ips:10.0f} {ips / baseline:11.1f}x")
  if tmp is not None:
    tmp.cleanup()
  return {
      "data_dir": source or "synthetic", "train_images": n, "image_size": size,
      "batch_size": batch, "cpus": os.cpu_count(), "machine": machine_info(),
      "rows": [{"pipeline": name, "images_per_second": ips, "ratio_to_baseline": ips / baseline}
               for name, ips in rows],
  }


@exit_on_user_error
def main(argv):
  del argv
  result = run(_DATA_DIR.value, _NUM.value, _IMAGE_SIZE.value, _BATCH_SIZE.value,
               _BATCHES.value, _BASELINE_BATCHES.value)
  write_result(_OUT.value, result)


if __name__ == "__main__":
  app.run(main, flags_parser=tfsingan.flags.parse_flags_or_exit)
