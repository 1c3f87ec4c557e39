"""An action-unit regressor for judging GANimation (Pumarola et al., ECCV 2018) outputs.

A small CNN maps a face to its 17 AU intensities in [0, 1] (OpenFace order,
divided by 5). It stands in for OpenFace when scoring generated faces: train it
on the synthetic faces (whose AUs are exact) or on any AU-labelled dataset that
`tfsingan.ganimation.data` reads.

  python -m tfsingan.metrics.au_regressor --data_dir=DIR --workdir=W \
      [--epochs=40 --image_size=64 --batch_size=32]

writes W/au_regressor.weights.h5 and W/au_regressor.json (config and held-out
MAE), both atomically; `load_regressor(W)` reads them back.

Measured (2 shared CPU cores, 64 px, defaults): on a 2000-image synthetic set
(360 training identities) 40 epochs take ~2.5 min and reach a held-out MAE of
0.062 on unseen identities (predicting the mean: 0.130); the error is mostly
over-fitting to identities, and 6000 images with 20 epochs (same time) reach
0.042. Generate the larger set: `python -m tfsingan.synthetic --num=6000 --size=64`.
"""

import dataclasses
import json
import os
import tempfile
import time

import cv2
import numpy as np

from tfsingan.common import image_io
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_NAMES, NUM_AUS

WEIGHTS_NAME = "au_regressor.weights.h5"
CONFIG_NAME = "au_regressor.json"


@dataclasses.dataclass(frozen=True)
class AURegressorConfig:
  """Training options of the AU regressor."""
  image_size: int = field(64, help="Side the faces are resized to.", low=16, high=1024)
  width: int = field(32, help="Channels of the first conv; doubled at each stride-2 conv, "
                     "capped at 8x.", low=1, high=1024)
  epochs: int = field(40, help="Passes over the training split.", low=1)
  batch_size: int = field(32, help="Batch size.", low=1, high=4096)
  learning_rate: float = field(1e-3, help="Adam learning rate (cosine decay to 0).", above=0.0)
  seed: int = field(0, help="Seed of weights and data order.", low=0)
  augment: bool = field(False, help="Besides random flips, random shifts (1/16 of the "
                        "side) and brightness/contrast jitter (slows learning a lot).")
  dropout: float = field(0.3, help="Dropout before the output layer.", low=0.0, below=1.0)

  def __post_init__(self):
    check_ranges(self)


def build_regressor(config):
  """Conv(s2) x4 + Conv + Flatten + Dense(17, sigmoid); input (S, S, 3) in [-1, 1]."""
  import keras  # pylint: disable=import-outside-toplevel
  from keras import layers  # pylint: disable=import-outside-toplevel
  inputs = keras.Input((config.image_size, config.image_size, 3), name="image")
  x = inputs
  for i in range(4):
    x = layers.Conv2D(config.width * min(2 ** i, 8), 3, strides=2, padding="same",
                      name=f"conv{i}")(x)
    x = layers.BatchNormalization(name=f"bn{i}")(x)
    x = layers.ReLU()(x)
  x = layers.Conv2D(config.width * 8, 3, padding="same", name="conv4")(x)
  x = layers.BatchNormalization(name="bn4")(x)
  x = layers.ReLU()(x)
  x = layers.Conv2D(32, 1, name="squeeze")(x)
  x = layers.BatchNormalization(name="bn_squeeze")(x)
  x = layers.ReLU()(x)
  # Flatten, not global pooling: an AU is a shape change at a known place (brows,
  # lids, mouth corners), so where a feature fires matters. The normalised
  # squeeze keeps the sigmoid out of saturation (unnormalised, it died at 0).
  x = layers.Flatten()(x)
  if config.dropout > 0:
    x = layers.Dropout(config.dropout)(x)
  outputs = layers.Dense(NUM_AUS, activation="sigmoid", name="aus")(x)
  return keras.Model(inputs, outputs, name="au_regressor")


def _square(img, image_size):
  """float [0, 1] H x W x C -> (S, S, 3): centre square (as the training pipeline crops), resized."""
  img = np.asarray(img, np.float32)
  if img.shape[-1] == 1:
    img = np.repeat(img, 3, axis=-1)
  img = image_io.centre_crop(img)
  side = img.shape[0]
  if side != image_size:
    interp = cv2.INTER_AREA if side > image_size else cv2.INTER_LINEAR
    img = cv2.resize(img, (image_size, image_size), interpolation=interp)
  return img


def _prepare(images, image_size):
  """float [0, 1] images (N, H, W, 3) of any size -> (N, S, S, 3) in [-1, 1]."""
  return np.stack([_square(img, image_size) for img in images]) * 2.0 - 1.0


def predict_aus(regressor, images, batch_size=64):
  """Estimated AUs (N, 17) in [0, 1] of float [0, 1] RGB images.

  Args:
    regressor: a model from `build_regressor` / `load_regressor`.
    images: a list or array of H x W x 3 images in [0, 1]; they are centre-cropped
      and resized to the regressor's input size.
  """
  size = int(regressor.input_shape[1])
  preds = []
  for i in range(0, len(images), batch_size):
    x = _prepare(images[i:i + batch_size], size)
    preds.append(np.asarray(regressor(x, training=False), np.float32))
  if not preds:
    return np.zeros((0, NUM_AUS), np.float32)
  return np.concatenate(preds)


def _load_split(data_dir, split, image_size):
  """uint8 (N, S, S, 3) faces (a quarter of the memory of floats) and (N, 17) AUs."""
  from tfsingan.common.image_io import load_image, to_uint8  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.data import load_index  # pylint: disable=import-outside-toplevel
  paths, aus = load_index(data_dir, split)
  images = np.stack([to_uint8(_square(load_image(p, what=f"{split} image", quiet=True),
                                      image_size)) for p in paths])
  return images, aus


def _to_input(images_u8):
  return images_u8.astype(np.float32) / 127.5 - 1.0


def _augment(x, rng):
  """Small shifts and photometric jitter of a batch in [-1, 1].

  Meant for the imprecise crops and colours of generated faces; on the synthetic
  set (2000 faces at 64 px) it slowed learning so much that the held-out error
  got worse (0.11 vs 0.06 after 60 epochs), hence off by default.
  """
  n, size = x.shape[0], x.shape[1]
  s = max(1, size // 16)
  padded = np.pad(x, ((0, 0), (s, s), (s, s), (0, 0)), mode="edge")
  dy, dx = rng.integers(0, 2 * s + 1, size=(2, n))
  out = np.stack([padded[i, dy[i]:dy[i] + size, dx[i]:dx[i] + size] for i in range(n)])
  gain = rng.uniform(0.85, 1.15, size=(n, 1, 1, 1)).astype(np.float32)
  bias = rng.uniform(-0.1, 0.1, size=(n, 1, 1, 1)).astype(np.float32)
  return np.clip(out * gain + bias, -1.0, 1.0)


def train(config, data_dir, workdir, *, quiet=False):
  """Trains on split "train" of `data_dir`, reports MAE on split "test", saves.

  Returns:
    dict with "test_mae" (mean absolute AU error on the [0, 1] scale), "test_mae_per_au",
    "train_loss" (per epoch), "seconds".
  """
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  with rundir.prepare(workdir, None, family="au_regressor") as run_dir:
    return _train(config, data_dir, workdir, quiet, run_dir)


def _train(config, data_dir, workdir, quiet, run_dir):
  import keras  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(config.seed)
  start = time.time()
  x_train, y_train = _load_split(data_dir, "train", config.image_size)
  try:
    x_test, y_test = _load_split(data_dir, "test", config.image_size)
  except UserInputError:
    x_test, y_test = None, None  # no held-out split: report none rather than a train score
  model = build_regressor(config)
  steps = max(1, len(x_train) // config.batch_size) * config.epochs
  schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
  model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
  rng = np.random.default_rng(config.seed)
  losses = []
  n, bs = len(x_train), config.batch_size
  for epoch in range(config.epochs):
    order = rng.permutation(n)
    batch_losses = []
    for i in range(0, max(n - bs, 0) + 1, bs):  # full batches only, as the schedule assumes
      idx = order[i:i + bs]
      x = _to_input(x_train[idx])
      # AUs are left/right symmetric, so a mirrored face keeps its labels.
      flip = rng.random(len(x)) < 0.5
      x[flip] = x[flip, :, ::-1]
      if config.augment:
        x = _augment(x, rng)
      batch_losses.append(float(np.ravel(model.train_on_batch(x, y_train[idx]))[0]))
    losses.append(float(np.mean(batch_losses)))
    if not quiet:
      print(f"epoch {epoch + 1}/{config.epochs}: train mse {losses[-1]:.5f} "
            f"({time.time() - start:.0f} s)", flush=True)
  result = {"train_loss": losses, "train_images": int(len(x_train))}
  if x_test is not None:
    pred = np.concatenate([np.asarray(model(_to_input(x_test[i:i + 64]), training=False))
                           for i in range(0, len(x_test), 64)])
    per_au = np.abs(pred - y_test).mean(axis=0)
    result.update(test_mae=float(per_au.mean()), test_images=int(len(x_test)),
                  test_mae_per_au=dict(zip(AU_NAMES, map(float, per_au))),
                  test_mae_predict_mean=float(np.abs(y_train.mean(0) - y_test).mean()))
  result["seconds"] = time.time() - start
  run_dir.start()
  save_regressor(model, config, workdir, result, data_dir)
  if not quiet:
    mae = result.get("test_mae")
    print(f"saved {os.path.join(workdir, WEIGHTS_NAME)}; held-out MAE "
          f"{'n/a' if mae is None else f'{mae:.4f}'} (predicting the train mean: "
          f"{result.get('test_mae_predict_mean', float('nan')):.4f})", flush=True)
  return result


def save_regressor(model, config, workdir, result=None, data_dir=None):
  """Writes weights and config atomically (temp name, then rename)."""
  from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
  os.makedirs(workdir, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=workdir, prefix=".tmp-", suffix=".weights.h5")
  os.close(fd)
  try:
    model.save_weights(tmp, overwrite=True)
    os.replace(tmp, os.path.join(workdir, WEIGHTS_NAME))
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  meta = {"config": dataclasses.asdict(config), "au_names": list(AU_NAMES),
          "data_dir": data_dir, "result": result or {}}
  atomic_write_bytes(os.path.join(workdir, CONFIG_NAME),
                     json.dumps(meta, indent=2).encode("utf8"))


def load_regressor(workdir):
  """The regressor saved by `train` in `workdir` (UserInputError if absent)."""
  cfg_path = os.path.join(workdir or "", CONFIG_NAME)
  weights = os.path.join(workdir or "", WEIGHTS_NAME)
  if not (os.path.isfile(cfg_path) and os.path.isfile(weights)):
    raise UserInputError(f"--au_regressor: {workdir!r} holds no {WEIGHTS_NAME} and "
                         f"{CONFIG_NAME}; train one with python -m "
                         "tfsingan.metrics.au_regressor --data_dir=DIR --workdir=W")
  try:
    with open(cfg_path, encoding="utf8") as f:
      meta = json.load(f)
    known = {f.name for f in dataclasses.fields(AURegressorConfig)}
    config = AURegressorConfig(**{k: v for k, v in meta["config"].items() if k in known})
  except (ValueError, KeyError, TypeError) as e:
    raise UserInputError(f"--au_regressor: {cfg_path} is unreadable ({e})") from None
  model = build_regressor(config)
  try:
    model.load_weights(weights)
  except (ValueError, OSError) as e:
    raise UserInputError(f"--au_regressor: {weights} does not match the regressor "
                         f"({str(e).splitlines()[0][:200]})") from None
  return model
