"""Samples and applications of a trained SinGAN (Shaham et al., ICCV 2019): the library of
`python -m tfsingan.sample` (its module doc describes the modes and the files written).

`run(SampleConfig(...), workdir, out)` checks the options, reads the inputs, loads the
run and writes one mode's outputs; the `write_*` functions serve callers that hold a
`TrainedSinGAN` already.
"""

import dataclasses
import os

from tfsingan.common import image_io
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

MODES = ("random", "paint2image", "harmonization", "editing", "super_resolution", "animation")
INJECTION_MODES = ("paint2image", "harmonization", "editing")


@dataclasses.dataclass(frozen=True)
class SampleConfig:
  """What `python -m tfsingan.sample` generates; scales count from the coarsest as 0."""

  mode: str = field("random", help="What to generate (see the module doc).", choices=MODES)
  num_samples: int = field(None, help="Samples per start scale (random, default 8); variants "
                           "(paint2image, harmonization, editing; default 1 there).", low=1,
                           high=10_000)
  gen_start_scale: str = field(None, help="Start scale(s): 0 = coarsest (paper's N), k = the "
                               "paper's N-k. Several (comma-separated) give one grid row each; "
                               "default 0.")
  scale_h: float = field(1.0, help="Output height relative to the training image.", low=0.01,
                         high=100.0)
  scale_w: float = field(1.0, help="Output width relative to the training image.", low=0.01,
                         high=100.0)
  seed: int = field(0, help="Noise seed.", low=0)
  input: str = field(None, help="Input image: the paint (paint2image), the naive paste "
                     "(harmonization), the edited image (editing); optional for "
                     "super_resolution (default: the training image).")
  mask: str = field(None, help="Mask of --input (harmonization, editing): white = the pasted "
                    "or edited region; same size as --input.")
  start_scale: int = field(None, help="Injection scale of paint2image/harmonization/editing "
                           "(1..N-1, higher keeps more of the input), or the first animated "
                           "scale; same numbering as --gen_start_scale.", low=0)
  quantize: bool = field(False, help="paint2image: snap the paint's colours to the training "
                         "image's k-means palette first.")
  num_colors: int = field(5, help="paint2image --quantize: palette size.", low=1, high=256)
  sr_factor: float = field(4.0, help="super_resolution: overall upscaling factor (> 1).",
                           low=1.0, high=64.0)
  num_frames: int = field(100, help="animation: number of frames.", low=1, high=100_000)
  fps: float = field(10.0, help="animation: frames per second of the GIF and MP4.", low=0.01,
                     high=1000.0)
  walk_alpha: float = field(0.1, help="animation: pull of the walk back to z* (0..1).",
                            low=0.0, high=1.0)
  walk_beta: float = field(0.9, help="animation: momentum of the walk (0..1).", low=0.0,
                           high=1.0)

  def __post_init__(self):
    check_ranges(self)

  def start_scales(self):
    """The --gen_start_scale values as integers (default [0])."""
    values = [v.strip() for v in (self.gen_start_scale or "0").split(",") if v.strip()]
    try:
      return [int(v) for v in values]
    except ValueError:
      raise UserInputError(f"--gen_start_scale={self.gen_start_scale}: expected integers, "
                           "e.g. 0,1,2") from None


# The modes each mode-specific option applies to; setting it for another mode is an
# error rather than silently ignored.
_OPTION_MODES = {
    "input": INJECTION_MODES + ("super_resolution",),
    "mask": ("harmonization", "editing"),
    "scale_h": ("random",), "scale_w": ("random",),
    "quantize": ("paint2image",), "num_colors": ("paint2image",),
    "sr_factor": ("super_resolution",),
    "num_frames": ("animation",), "fps": ("animation",),
    "walk_alpha": ("animation",), "walk_beta": ("animation",),
    "start_scale": INJECTION_MODES + ("animation",),
}


def check_options(config):
  """UserInputError for an option set for a mode that does not use it, or a missing
  input of the mode (an option at its default counts as not set)."""
  defaults = SampleConfig()
  mode = config.mode
  for name, modes in _OPTION_MODES.items():
    if getattr(config, name) != getattr(defaults, name) and mode not in modes:
      raise UserInputError(f"--{name} is not used by --mode={mode}; it is for "
                           f"--mode={'|'.join(modes)}")
  if mode in INJECTION_MODES and not config.input:
    raise UserInputError(f"--input is required: the input image of --mode={mode}")
  if mode in ("harmonization", "editing") and not config.mask:
    raise UserInputError(f"--mask is required: the mask of --input for --mode={mode}")


def write_samples(model, out, num_samples, start_scales, scale_h=1.0, scale_w=1.0, seed=0):
  """Writes `start{k}_{i}.png` for every start scale and a labelled `grid.png`."""
  os.makedirs(out, exist_ok=True)
  for k in start_scales:
    model.check_start_scale(k)
  n_max = model.num_scales - 1
  rows, labels = [], []
  for k in start_scales:
    images = model.sample(num_samples, start_scale=k, scale_h=scale_h, scale_w=scale_w,
                          seed=seed + 1000 * k)
    for i, img in enumerate(images):
      image_io.save_image(os.path.join(out, f"start{k}_{i:03d}.png"), img)
    real = model.reals[-1] if model.reals is not None else images[0] * 0
    rows.append([real] + list(images))
    labels.append(f"N-{k}" if k else "N (random)")
  grid = image_io.make_grid(rows, labels)
  image_io.save_image(os.path.join(out, "grid.png"), grid)
  print(f"wrote {len(start_scales) * num_samples} samples and {os.path.join(out, 'grid.png')}"
        f" (rows: start scales {start_scales} of 0..{n_max}; first column: training image)")
  return grid


def write_paint2image(model, out, paint, start_scale, *, quantize=False, num_colors=5,
                      num=1, seed=0):
  """Writes paint2image_start{n}_{i}.png, paint_input.png and grid.png."""
  from tfsingan.singan import applications  # pylint: disable=import-outside-toplevel
  images, injected = applications.paint2image(model, paint, start_scale, quantize=quantize,
                                              num_colors=num_colors, num=num, seed=seed)
  os.makedirs(out, exist_ok=True)
  image_io.save_image(os.path.join(out, "paint_input.png"), injected)
  for i, img in enumerate(images):
    image_io.save_image(os.path.join(out, f"paint2image_start{start_scale}_{i:03d}.png"), img)
  image_io.save_image(os.path.join(out, "grid.png"), image_io.make_grid(
      [[injected] + list(images)], ["paint" + (" (quantized)" if quantize else "")]))
  print(f"wrote {num} paint2image output(s) injected at scale {start_scale} to {out}")
  return images


def write_harmonization(model, out, reference, mask, start_scale, *, mode="harmonization",
                        num=1, seed=0):
  """Writes {mode}_start{n}_{i}.png (blended) and _raw.png, mask_blend.png, grid.png."""
  from tfsingan.singan import applications  # pylint: disable=import-outside-toplevel
  images, raw, soft, reference = applications.harmonize(model, reference, mask, start_scale,
                                                        mode=mode, num=num, seed=seed)
  os.makedirs(out, exist_ok=True)
  image_io.save_image(os.path.join(out, "mask_blend.png"), soft[:, :, None])
  for i, (img, gen) in enumerate(zip(images, raw)):
    stem = os.path.join(out, f"{mode}_start{start_scale}_{i:03d}")
    image_io.save_image(stem + ".png", img)
    image_io.save_image(stem + "_raw.png", gen)
  image_io.save_image(os.path.join(out, "grid.png"), image_io.make_grid(
      [[reference, soft[:, :, None]] + list(images)], [mode]))
  print(f"wrote {num} {mode} output(s) injected at scale {start_scale} to {out}")
  return images


def write_super_resolution(model, out, sr_factor, image=None, seed=0):
  """Writes super_resolution_x{f}.png and the bicubic baseline bicubic_x{f}.png."""
  from tfsingan.common.resize import imresize_np  # pylint: disable=import-outside-toplevel
  from tfsingan.singan import applications  # pylint: disable=import-outside-toplevel
  k, step = applications.sr_steps(sr_factor)
  high = applications.super_resolve(model, sr_factor, image, seed=seed)
  low = model.reals[-1] if image is None else applications.fit_to_training_size(image, model)
  os.makedirs(out, exist_ok=True)
  name = f"x{sr_factor:g}"
  image_io.save_image(os.path.join(out, f"super_resolution_{name}.png"), high)
  image_io.save_image(os.path.join(out, f"bicubic_{name}.png"),
                      imresize_np(low, high.shape[:2]))
  print(f"wrote {os.path.join(out, f'super_resolution_{name}.png')}: {low.shape[1]}x"
        f"{low.shape[0]} -> {high.shape[1]}x{high.shape[0]} in {k} steps of x{step:.4f}")
  return high


def write_animation(model, out, num_frames, start_scale, *, alpha=0.1, beta=0.9, fps=10.0,
                    seed=0):
  """Writes frames/frame_{t}.png, animation.gif and (if OpenCV can) animation.mp4."""
  from tfsingan.singan import applications  # pylint: disable=import-outside-toplevel
  if not fps > 0:
    raise UserInputError(f"--fps={fps}: expected a positive number")
  frames = applications.animate(model, num_frames, start_scale, alpha, beta, seed=seed)
  for t, frame in enumerate(frames):
    image_io.save_image(os.path.join(out, "frames", f"frame_{t:03d}.png"), frame)
  applications.write_gif(os.path.join(out, "animation.gif"), frames, fps)
  mp4 = applications.write_mp4(os.path.join(out, "animation.mp4"), frames, fps)
  if not mp4:
    print("notice: this OpenCV build cannot write MPEG-4 ('mp4v'); wrote the GIF only")
  print(f"wrote {num_frames} frames, {os.path.join(out, 'animation.gif')}"
        + (" and animation.mp4" if mp4 else "") + f" (walk from scale {start_scale})")
  return frames


def _injection_scale(config, model):
  if config.start_scale is not None:
    return config.start_scale
  if config.gen_start_scale is not None:
    values = config.start_scales()
    if len(values) == 1:
      return values[0]
  raise UserInputError(f"--start_scale is required for --mode={config.mode}: the injection "
                       f"scale, 1..{model.num_scales - 1} (higher keeps more of --input)")


def run(config, workdir, out):
  """Writes the outputs of `config.mode` for the SinGAN run in `workdir` into `out`."""
  check_options(config)
  mode = config.mode
  # Read the inputs before loading the networks so a bad file fails fast.
  inputs = {name: image_io.load_image(getattr(config, name), channels=channels,
                                      what=f"--{name}")
            for name, channels in (("input", 3), ("mask", 1)) if getattr(config, name)}
  if mode == "random":
    start_scales = config.start_scales()
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  model = TrainedSinGAN.load(workdir)
  num = config.num_samples or 1
  if mode == "random":
    return write_samples(model, out, config.num_samples or 8, start_scales, config.scale_h,
                         config.scale_w, config.seed)
  if mode == "paint2image":
    return write_paint2image(model, out, inputs["input"], _injection_scale(config, model),
                             quantize=config.quantize, num_colors=config.num_colors, num=num,
                             seed=config.seed)
  if mode in ("harmonization", "editing"):
    return write_harmonization(model, out, inputs["input"], inputs["mask"],
                               _injection_scale(config, model), mode=mode, num=num,
                               seed=config.seed)
  if mode == "super_resolution":
    return write_super_resolution(model, out, config.sr_factor, inputs.get("input"),
                                  seed=config.seed)
  start = config.start_scale
  if start is None:
    start = (config.start_scales()[0] if config.gen_start_scale is not None
             else model.config.gen_start_scale if model.config is not None else 0)
  return write_animation(model, out, config.num_frames, start, alpha=config.walk_alpha,
                         beta=config.walk_beta, fps=config.fps, seed=config.seed)
