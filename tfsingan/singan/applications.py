"""SinGAN's applications (Shaham et al., ICCV 2019, sec. 4): paint-to-image,
harmonization, editing, super-resolution and animation from one trained pyramid.

Pure library functions over a `TrainedSinGAN`; images are float32 H x W x 3 in
[0, 1]. Scale indices count from the coarsest (0), as in `inference.py`.
"""

import io
import math
import os

import cv2
import numpy as np
import tensorflow as tf

from tfsingan.common import image_io
from tfsingan.common.resize import imresize_np
from tfsingan.errors import UserInputError
from tfsingan.singan import generate

# The original dilates harmonization masks with a disk of radius 7 and editing
# masks with radius 20, then blurs with sigma 5, all for 250 px images; here they
# scale with the image's long side.
MASK_DILATION = {"harmonization": 7.0, "editing": 20.0}
MASK_SIGMA = 5.0
REFERENCE_SIZE = 250.0
BLUR_TRUNCATE = 3.0  # Gaussian kernel radius in sigmas


def fit_to_training_size(image, model, what="--input"):
  """`image` resized (MATLAB bicubic) to the training image's size, with a notice."""
  h, w = model.sizes[-1]
  if image.shape[:2] == (h, w):
    return image
  image_io.notice(f"{what} {image.shape[1]}x{image.shape[0]} resized to {w}x{h} "
          "(the training image's size)")
  return np.clip(imresize_np(image, (h, w)), 0.0, 1.0)


def fit_mask(mask, image, model, what="--mask"):
  """The binary mask (H x W bool) at the training size; it must match `image`'s size."""
  mask = np.asarray(mask, np.float32)
  if mask.ndim == 3:
    mask = mask[:, :, 0]
  if mask.shape != image.shape[:2]:
    raise UserInputError(f"{what} is {mask.shape[1]}x{mask.shape[0]} but the input is "
                         f"{image.shape[1]}x{image.shape[0]}; expected the same size")
  h, w = model.sizes[-1]
  if mask.shape != (h, w):
    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)
  binary = mask > 0.5
  if not binary.any():
    raise UserInputError(f"{what} has no white pixels; expected white (> 50%) where the "
                         "image should be regenerated")
  return binary


def _training_pyramid(model):
  if model.reals is None:
    raise UserInputError("--workdir: the run has no pyramid/reals.npz (the training "
                         "pyramid); it is needed here")
  return model.reals


def check_injection_scale(model, start_scale):
  """Injection needs a coarser scale to downsample to: 1 .. N-1."""
  if not 1 <= start_scale < model.num_scales:
    raise UserInputError(
        f"--start_scale={start_scale}: expected 1..{model.num_scales - 1} for injection "
        "(0 = coarsest has no coarser scale; higher keeps more of the input)")


def injection_input(image, model, start_scale):
  """The input as the image entering `start_scale`: 1 x h x w x 3 in [-1, 1] at the
  size of scale `start_scale - 1` (`sample` upsamples it to `start_scale`), so the
  generator sees the same blur as the upsampled output of a coarser scale."""
  small = imresize_np(image, model.sizes[start_scale - 1])
  return (2.0 * small - 1.0)[None].astype(np.float32)


def palette(image, num_colors=5, seed=0):
  """The `num_colors` k-means colour centres of an H x W x 3 image (num_colors x 3)."""
  pixels = np.asarray(image, np.float32).reshape(-1, 3)
  k = min(num_colors, len(np.unique(pixels, axis=0)))
  cv2.setRNGSeed(seed)
  criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
  _, _, centers = cv2.kmeans(pixels, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
  return centers


def quantize_to_palette(image, centers):
  """Every pixel replaced by its nearest colour in `centers`."""
  pixels = np.asarray(image, np.float32).reshape(-1, 3)
  d = ((pixels[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
  return centers[d.argmin(1)].reshape(image.shape).astype(np.float32)


def paint2image(model, paint, start_scale, *, quantize=False, num_colors=5, num=1, seed=0):
  """Paint-to-image: a clip-art `paint` injected at `start_scale`.

  With `quantize`, the paint's colours are first snapped to the `num_colors`
  k-means palette of the training image at the injection scale (the original
  also retrains the finer scales on quantized images; this does not).

  Returns:
    (num x H x W x 3 outputs, the paint as injected at the training size).
  """
  check_injection_scale(model, start_scale)
  if quantize and num_colors < 1:
    raise UserInputError(f"--num_colors={num_colors}: expected a positive integer")
  paint = fit_to_training_size(paint, model)
  if quantize:
    centers = palette(_training_pyramid(model)[start_scale], num_colors, seed)
    paint = quantize_to_palette(paint, centers)
  out = model.sample(num, start_scale=start_scale, seed=seed,
                     prev=injection_input(paint, model, start_scale))
  return out, paint


def mask_parameters(size, mode):
  """(dilation radius, blur sigma) for a `mode` mask on an image of `size` (h, w)."""
  f = max(size) / REFERENCE_SIZE
  return max(1, round(MASK_DILATION[mode] * f)), max(0.5, MASK_SIGMA * f)


def blend_radius(radius, sigma):
  """Half-width of the square around the mask outside which the blend mask is 0."""
  return radius + int(math.ceil(BLUR_TRUNCATE * sigma))


def blend_mask(mask, radius, sigma):
  """The soft blend mask: `mask` dilated by a disk of `radius`, Gaussian-blurred
  (kernel cut at 3 sigma), scaled to a maximum of 1. H x W float32.

  It is exactly 0 outside the square dilation of `mask` by
  `blend_radius(radius, sigma)`, so pixels there keep the reference's values.
  """
  disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
  dilated = cv2.dilate(np.asarray(mask, np.uint8), disk).astype(np.float32)
  k = int(math.ceil(BLUR_TRUNCATE * sigma))
  soft = cv2.GaussianBlur(dilated, (2 * k + 1, 2 * k + 1), sigma)
  return (soft / soft.max()).astype(np.float32)


def harmonize(model, reference, mask, start_scale, *, mode="harmonization", num=1, seed=0):
  """Harmonization / editing: `reference` (a naive paste or an edit) injected at
  `start_scale`, the result blended back through the dilated, blurred `mask`:
  `out = m * generated + (1 - m) * reference`.

  Args:
    model: a TrainedSinGAN (trained on the background / the unedited image).
    reference: H x W x 3 in [0, 1], any size (resized to the training size).
    mask: H x W (x 1) in [0, 1], the same size as `reference`; white = the pasted or
      edited region.
    start_scale: injection scale, 1..N-1.
    mode: "harmonization" or "editing" (editing dilates the mask more).
    num, seed: number of variants and their noise seed.

  Returns:
    (num x H x W x 3 blended outputs, num x H x W x 3 raw generated images,
     H x W soft mask, the reference at the training size).
  """
  if mode not in MASK_DILATION:
    raise ValueError(f"mode must be one of {sorted(MASK_DILATION)}, got {mode!r}")
  check_injection_scale(model, start_scale)
  binary = fit_mask(mask, reference, model)
  reference = fit_to_training_size(reference, model)
  radius, sigma = mask_parameters(reference.shape[:2], mode)
  soft = blend_mask(binary, radius, sigma)[None, :, :, None]
  generated = model.sample(num, start_scale=start_scale, seed=seed,
                           prev=injection_input(reference, model, start_scale))
  out = soft * generated + (1.0 - soft) * reference[None]
  return out.astype(np.float32), generated, soft[0, :, :, 0], reference


def sr_steps(sr_factor, step=2.0 ** (1.0 / 3.0)):
  """(k, per-step factor) with k = round(log(sr_factor) / log(step)) >= 1 and the
  per-step factor sr_factor ** (1/k) (the original's calc_init_scale)."""
  if not sr_factor > 1.0 or not math.isfinite(sr_factor):
    raise UserInputError(f"--sr_factor={sr_factor}: expected a number > 1")
  k = max(1, round(math.log(sr_factor) / math.log(step)))
  return k, sr_factor ** (1.0 / k)


def sr_sizes(size, sr_factor):
  """Sizes after each of the k steps; the last is round(sr_factor x size)."""
  k, f = sr_steps(sr_factor)
  sizes = [(max(1, round(size[0] * f ** j)), max(1, round(size[1] * f ** j)))
           for j in range(1, k)]
  return sizes + [(round(size[0] * sr_factor), round(size[1] * sr_factor))]


def super_resolve(model, sr_factor, image=None, seed=0):
  """Super-resolution: k times, upsample by sr_factor ** (1/k) (bicubic), add noise
  at the finest scale's amplitude and run the finest generator G_0.

  The run should be trained with alpha = 100 and a scale factor near
  sr_factor ** (-1/k) (configs/singan_sr.cfg).

  Args:
    model: a TrainedSinGAN.
    sr_factor: the overall upscaling factor (> 1).
    image: H x W x 3 in [0, 1]; the training image when None (the paper's setting).
    seed: noise seed.

  Returns:
    round(sr_factor x H) x round(sr_factor x W) x 3 in [0, 1].
  """
  image = _training_pyramid(model)[-1] if image is None else fit_to_training_size(image, model)
  sizes = sr_sizes(image.shape[:2], sr_factor)
  if hasattr(model, "check_memory"):
    model.check_memory(1, sizes[-1])
  rng = tf.random.Generator.from_seed(seed)
  noises = [generate.draw_noise(rng, 1, s, coarsest=False) for s in sizes]
  x = tf.constant((2.0 * image - 1.0)[None], tf.float32)
  k = len(sizes)
  out = generate.run_scales([model.generators[-1]] * k, [model.noise_amps[-1]] * k,
                            noises, sizes, prev=generate.upsample(x, sizes[0]))
  out = out[0].numpy()
  if not np.all(np.isfinite(out)):
    raise UserInputError("the super-resolved image holds NaN or infinite values: the run's "
                         "finest weights or noise amplitude are damaged")
  return np.clip((out + 1.0) / 2.0, 0.0, 1.0)


def random_walk(z_opt, num_frames, rng, alpha=0.1, beta=0.9, single_channel=False):
  """A smooth random walk in z around `z_opt` (the original's generate_gif):
  z_1 = 0.95 z_opt + 0.05 e, z_0 = z_opt, then
  z_t = alpha z_opt + (1 - alpha) (z_{t-1} + beta (z_{t-1} - z_{t-2}) + (1 - beta) e_t).
  `alpha` pulls back to z_opt, `beta` is the momentum.

  Args:
    z_opt: the H x W x 3 centre (z* at the coarsest scale, zeros at finer ones).
    num_frames: number of steps.
    rng: a numpy Generator for the innovations e.
    single_channel: one noise channel broadcast to RGB (the coarsest scale).

  Returns:
    num_frames x H x W x 3 float32.
  """
  z_opt = np.asarray(z_opt, np.float32)

  def draw():
    if single_channel:
      e = rng.standard_normal((*z_opt.shape[:2], 1)).astype(np.float32)
      return np.broadcast_to(e, z_opt.shape)
    return rng.standard_normal(z_opt.shape).astype(np.float32)

  z_prev2, z_prev1 = z_opt, 0.95 * z_opt + 0.05 * draw()
  frames = []
  for _ in range(num_frames):
    step = beta * (z_prev1 - z_prev2) + (1.0 - beta) * draw()
    z = alpha * z_opt + (1.0 - alpha) * (z_prev1 + step)
    z_prev2, z_prev1 = z_prev1, z
    frames.append(z)
  return np.stack(frames).astype(np.float32)


def animate(model, num_frames, start_scale=0, alpha=0.1, beta=0.9, seed=0, batch_size=8):
  """Animation: a random walk in z at every scale from `start_scale` on, starting
  from the reconstruction noise (z* at the coarsest scale, 0 at finer ones);
  coarser scales keep the reconstruction noise.

  Returns:
    num_frames x H x W x 3 in [0, 1].
  """
  model.check_start_scale(start_scale)
  if num_frames < 1:
    raise UserInputError(f"--num_frames={num_frames}: expected a positive integer")
  for name, value in (("walk_alpha", alpha), ("walk_beta", beta)):
    if not 0.0 <= value <= 1.0:
      raise UserInputError(f"--{name}={value}: expected a value in [0, 1]")
  rng = np.random.default_rng(seed)
  walks = []
  for n in range(model.num_scales):
    z_opt = model.z_rec if n == 0 else np.zeros((*model.sizes[n], 3), np.float32)
    if n < start_scale:
      walks.append(np.broadcast_to(z_opt, (num_frames, *z_opt.shape)))
    else:
      walks.append(random_walk(z_opt, num_frames, rng, alpha, beta, single_channel=n == 0))
  sizes = tuple(model.sizes[:model.num_scales])
  run = model.compiled_run(0, sizes)
  out = []
  for first in range(0, num_frames, batch_size):
    chunk = tuple(tf.constant(w[first:first + batch_size]) for w in walks)
    b = chunk[0].shape[0]
    out.append(run(chunk, tf.zeros([b, *sizes[0], 3])).numpy())
  return np.clip((np.concatenate(out) + 1.0) / 2.0, 0.0, 1.0)


def write_gif(path, frames, fps=10):
  """Writes float [0, 1] frames as a looping GIF (Pillow, adaptive palette per
  frame), atomically. Pillow merges a frame identical to the previous one."""
  from PIL import Image  # pylint: disable=import-outside-toplevel
  images = [Image.fromarray(image_io.to_uint8(f)) for f in frames]
  buf = io.BytesIO()
  images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                 duration=max(1, round(1000.0 / fps)), loop=0)
  image_io.atomic_write_bytes(path, buf.getvalue())


def write_mp4(path, frames, fps=10):
  """Writes the frames as an MPEG-4 video with OpenCV ('mp4v'); returns False
  (writing nothing) when this OpenCV build cannot open such a writer."""
  h, w = frames[0].shape[:2]
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  tmp = os.path.join(folder, ".tmp-" + os.path.basename(path))
  writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
  if not writer.isOpened():
    if os.path.exists(tmp):
      os.remove(tmp)
    return False
  try:
    for f in frames:
      writer.write(image_io.to_uint8(f)[:, :, ::-1])
  finally:
    writer.release()
  if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
    if os.path.exists(tmp):
      os.remove(tmp)
    return False
  os.replace(tmp, path)
  return True
