"""Sample diversity as defined by SinGAN (Shaham et al., ICCV 2019, section 4).

The standard deviation of each pixel over the generated samples, averaged over
all pixels, divided by the standard deviation of the training image. Computed on
RGB values (every channel a pixel value) and on grayscale intensity (the
paper's "intensity values"; BT.601 luma, as `load_image(channels=1)`).
"""

import numpy as np

from tfsingan.common import image_io
from tfsingan.errors import UserInputError

def to_gray(images):
  """(..., 3) RGB -> (..., 1) float64 BT.601 luma; single-channel input is returned as is."""
  return image_io.to_gray(images, np.float64)


def diversity(samples, reference, *, gray=False):
  """Mean per-pixel std over `samples` divided by the std of `reference`.

  Args:
    samples: (N, H, W, C) or a list of N equally sized H x W x C images, N >= 2.
    reference: the training image, any size (only its std is used).
    gray: measure on grayscale intensity instead of RGB values.

  Returns:
    A float; 0 when all samples are identical.
  """
  shapes = {np.shape(s) for s in samples}
  if len(shapes) > 1:
    raise UserInputError(f"diversity: samples of different sizes {sorted(shapes)}; expected "
                         "all generated images to have the same size")
  samples = np.asarray(samples, np.float64)
  if samples.ndim != 4 or samples.shape[0] < 2:
    raise UserInputError(f"diversity: {samples.shape[0] if samples.ndim else 0} sample(s); "
                         "expected at least 2 generated images")
  reference = np.asarray(reference, np.float64)
  if gray:
    samples, reference = to_gray(samples), to_gray(reference)
  ref_std = float(reference.std())
  if ref_std == 0.0:
    raise UserInputError("diversity: the training image is constant (std 0); the "
                         "normalised diversity is undefined")
  return float(samples.std(axis=0).mean() / ref_std)
