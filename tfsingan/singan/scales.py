"""SinGAN's pyramid schedule (Shaham et al., ICCV 2019): pure functions, no TensorFlow.

Index convention: the original code and this package number scales 0 (coarsest)
to `stop_scale` (finest). The paper numbers them N (coarsest) down to 0, so the
paper's scale N-k is index k here, which is what `gen_start_scale=k` means.
"""

import dataclasses
import math



@dataclasses.dataclass(frozen=True)
class Pyramid:
  """The resolved pyramid of one training image.

  Attributes:
    sizes: (height, width) per scale, coarsest first.
    scale_factor: the per-image factor r between consecutive scales.
    resize_to: (height, width) the input is first resized to (long side <= max_size).
  """
  sizes: tuple
  scale_factor: float
  resize_to: tuple

  @property
  def num_scales(self):
    return len(self.sizes)


def scale_schedule(height, width, *, min_size=25, max_size=250, scale_factor=0.75):
  """The pyramid for an image of `height` x `width` (the original's adjust_scales2image).

  The number of scales is decided on the input's short side; the scales the
  `max_size` resize removes are dropped from the fine end; the factor is then
  recomputed so that the coarsest short side is exactly `min_size`.
  """
  short, long = min(height, width), max(height, width)
  if short < min_size:
    raise ValueError(f"image is {height}x{width}; its short side must be at least "
                     f"min_size={min_size}")
  if not 0.0 < scale_factor < 1.0:
    raise ValueError(f"scale_factor must be in (0, 1), got {scale_factor}")
  num_scales = math.ceil(_log_ratio(min_size / short, scale_factor)) + 1
  scale2stop = math.ceil(_log_ratio(min(max_size, long) / long, scale_factor))
  stop_scale = num_scales - scale2stop
  scale1 = min(max_size / long, 1.0)
  h1, w1 = output_size(height, scale1), output_size(width, scale1)
  if stop_scale < 1:
    return Pyramid(sizes=((h1, w1),), scale_factor=1.0, resize_to=(h1, w1))
  factor = (min_size / min(h1, w1)) ** (1.0 / stop_scale)
  sizes = tuple((output_size(h1, factor ** (stop_scale - n)),
                 output_size(w1, factor ** (stop_scale - n)))
                for n in range(stop_scale + 1))
  return Pyramid(sizes=sizes, scale_factor=factor, resize_to=(h1, w1))


def concurrent_schedule(height, width, *, min_size=25, max_size=250, num_stages=6):
  """ConSinGAN's rescaled pyramid (Hinz et al., WACV 2021, sec. 3.2): `num_stages`
  stages from `min_size` (short side) to the `max_size` image, stage i of N-1 at
  factor r ** ((N - 2) / ln(N - 1) * ln(N - 1 - i) + 1) with r = (min_size / short)
  ** (1 / (N - 1)), which puts more stages at low resolution than a geometric one."""
  short, long = min(height, width), max(height, width)
  if short < min_size:
    raise ValueError(f"image is {height}x{width}; its short side must be at least "
                     f"min_size={min_size}")
  scale1 = min(max_size / long, 1.0)
  h1, w1 = output_size(height, scale1), output_size(width, scale1)
  stop = num_stages - 1
  if stop < 1 or min(h1, w1) <= min_size:
    return Pyramid(sizes=((h1, w1),), scale_factor=1.0, resize_to=(h1, w1))
  factor = (min_size / min(h1, w1)) ** (1.0 / stop)
  if stop == 1:
    exponents = [1.0]
  else:
    exponents = [(stop - 1) / math.log(stop) * math.log(stop - i) + 1 for i in range(stop)]
  sizes = tuple((output_size(h1, factor ** e), output_size(w1, factor ** e))
                for e in exponents) + ((h1, w1),)
  return Pyramid(sizes=sizes, scale_factor=factor, resize_to=(h1, w1))


def trained_stages(n, depth):
  """The stages trained together while stage n is the newest: max(0, n-depth+1)..n."""
  return range(max(0, n - depth + 1), n + 1)


def concurrent_work(work, depth):
  """Relative cost of one iteration at each stage when the top `depth` stages train
  together: the sum of their `iteration_work` (the frozen ones only run forward)."""
  return [sum(work[i] for i in trained_stages(n, depth)) for n in range(len(work))]


def _log_ratio(ratio, base):
  # log(1) / log(base) is exactly 0; round-off elsewhere must not add a whole scale.
  value = math.log(ratio) / math.log(base)
  return round(value) if abs(value - round(value)) < 1e-9 else value


def output_size(in_size, scale):
  """MATLAB's output length `ceil(scale * in_size)`, robust to float round-off."""
  return max(1, int(math.ceil(scale * in_size - 1e-6)))


def channels_at(scale, base_channels=32, max_channels=128, double_every=4):
  """Width at a scale: 32 at scales 0-3, 64 at 4-7, 128 from 8 (paper defaults)."""
  return min(base_channels * 2 ** (scale // double_every), max_channels)


def iteration_work(sizes, widths):
  """Relative cost of one training iteration at each scale: H x W x width^2, the
  multiply-adds of a stack of width-to-width convolutions up to a constant factor."""
  return [h * w * c * c for (h, w), c in zip(sizes, widths)]


def scaled_sizes(sizes, scale_h=1.0, scale_w=1.0):
  """Per-scale sizes for an output `scale_h` x `scale_w` times the training size."""
  return tuple((max(1, round(h * scale_h)), max(1, round(w * scale_w))) for h, w in sizes)
