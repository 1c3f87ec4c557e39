"""Runs a trained GANimation generator (Pumarola et al., ECCV 2018) on one face.

Needs only the run directory (config.json + checkpoints/); never builds the critic
or the optimizers.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfsingan import config as config_lib
from tfsingan.common import checkpointing
from tfsingan.common import rundir
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import networks
from tfsingan.ganimation.config import GANimationConfig

CONFIG_NAME = "config.json"
CHECKPOINT_DIR = "checkpoints"
GENERATOR_WEIGHTS = "generator.weights.h5"


def load_generator(workdir):
  """Rebuilds the generator of a training run (float32) with its latest weights.

  Returns:
    (generator, config): a built `GANimationGenerator` and the run's
    `GANimationConfig`. Raises UserInputError when `workdir` holds no run.
  """
  data = rundir.check_family(workdir, "ganimation")
  try:
    config = config_lib.from_dict(GANimationConfig, data)
  except (ValueError, TypeError) as e:
    raise UserInputError(f"{os.path.join(workdir, CONFIG_NAME)}: not a GANimation config "
                         f"({e})") from None
  # Float32 whatever the training precision: the variables are float32 either way
  # and inference (and export) wants float32 numerics.
  generator = networks.build_generator(config.image_size, config.conv_dim, config.repeat_num,
                                       dtype="float32")
  weights = os.path.join(workdir, GENERATOR_WEIGHTS)
  restored = checkpointing.RunCheckpoint(os.path.join(workdir, CHECKPOINT_DIR),
                                         generator=generator).restore(partial=True)
  if restored is None and os.path.isfile(weights):
    try:
      generator.load_weights(weights)
    except Exception as e:  # pylint: disable=broad-except  # h5py raises OSError, ValueError
      raise UserInputError(f"{weights} is damaged ({type(e).__name__}); train the run "
                           "again (the same command resumes) or use another --workdir") from None
  elif restored is None:
    raise UserInputError(f"--workdir={workdir} has no checkpoint yet; train first "
                         "(python -m tfsingan.train --model=ganimation)")
  if not all(np.all(np.isfinite(w)) for w in generator.get_weights()):
    raise UserInputError(f"--workdir={workdir}: the generator's weights hold NaN or "
                         "infinite values; train again from an earlier checkpoint or in "
                         "a new --workdir")
  return generator, config


def animate(generator, image01, aus, portable_ops=False):
  """The generator on batched tensors in the units of images and AUs.

  Args:
    generator: a `GANimationGenerator`.
    image01: (B, H, W, 3) float RGB in [0, 1].
    aus: (B, 17) target AU intensities in [0, 1] (the generator tiles them).
    portable_ops: the generator's form for exported graphs (the same function with
      ops that mobile int8 and GPU runtimes have; see `GANimationGenerator`).

  Returns:
    (image01, attention, colour) tensors: the edited faces and the colour masks
    in [0, 1], the attention masks (B, H, W, 1) (1 = pixel kept from the input).
  """
  out, attention, colour = generator((image01 * 2.0 - 1.0, aus), portable_ops=portable_ops)

  def to_unit(x):
    return tf.clip_by_value((x + 1.0) * 0.5, 0.0, 1.0)

  return to_unit(out), attention, to_unit(colour)


def edit(generator, image01, target_aus):
  """Moves the face in `image01` to the expression `target_aus`.

  Args:
    generator: a `GANimationGenerator` (e.g. from `load_generator`).
    image01: (H, W, 3) float RGB in [0, 1] at the model's size (H, W multiples of 4).
    target_aus: (17,) AU intensities in [0, 1] (OpenFace's 0..5 divided by 5).

  Returns:
    (image01, attention, colour): the edited face (H, W, 3) in [0, 1]; the
    attention mask (H, W) in [0, 1] (1 = pixel kept from the input); the colour
    mask (H, W, 3) in [0, 1]. float32 numpy arrays.
  """
  image01 = np.asarray(image01, np.float32)
  if image01.ndim != 3 or image01.shape[2] != 3:
    raise UserInputError(f"image: shape {image01.shape}; expected (height, width, 3) RGB")
  if image01.shape[0] % 4 or image01.shape[1] % 4:
    raise UserInputError(f"image: size {image01.shape[1]}x{image01.shape[0]}; expected "
                         "multiples of 4 (resize the face crop to the model size)")
  if not np.all(np.isfinite(image01)):
    raise UserInputError("image: contains NaN or infinite values")
  target = np.asarray(target_aus, np.float32)
  if target.shape != (aus_lib.NUM_AUS,):
    raise UserInputError(f"target AUs: shape {target.shape}; expected ({aus_lib.NUM_AUS},)")
  if not np.all(np.isfinite(target)) or target.min() < 0.0 or target.max() > 1.0:
    raise UserInputError("target AUs: expected finite intensities in [0, 1]")
  out, attention, colour = animate(generator, tf.constant(image01[None]),
                                   tf.constant(target[None]))
  return (keras.ops.convert_to_numpy(out)[0], keras.ops.convert_to_numpy(attention)[0, :, :, 0],
          keras.ops.convert_to_numpy(colour)[0])
