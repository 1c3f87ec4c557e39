"""Samples and applications of a trained SinGAN (Shaham et al., ICCV 2019):
`python -m tfsingan.sample --workdir=DIR --out=DIR2 [--mode=MODE]`.

Scale indices count from the coarsest scale as 0 (the original code's
convention); the paper numbers scales N (coarsest) .. 0, so the paper's N-1 and
N-2 are index 1 and 2. Inputs whose size differs from the training image's are
resized to it with a `notice:` line; a mask must have its input's size.

Modes:
  random (default): `--num_samples` random samples per `--gen_start_scale` (several
    values give one grid row each); `--scale_h`/`--scale_w` change the output size.
    Writes start{k}_{i}.png and grid.png.
  paint2image: `--input` (a clip-art painting) is downsampled to scale
    `--start_scale - 1`, upsampled to `--start_scale` and fed to the generators
    from there; outputs are at the finest scale. `--quantize` first snaps the
    paint's colours to the `--num_colors` k-means palette of the training image at
    the injection scale. Writes paint2image_start{n}_{i}.png, paint_input.png, grid.png.
  harmonization: `--input` is a naive paste of an object onto the training image,
    `--mask` white where the object is. The paste is injected at `--start_scale`
    and the result blended back: out = m * generated + (1 - m) * input, m = the
    mask dilated (disk of 7 px per 250 px) and Gaussian-blurred (sigma 5 px per
    250 px); pixels outside m are the input's. Writes harmonization_start{n}_{i}.png
    (and _raw.png, before blending), mask_blend.png, grid.png.
  editing: as harmonization, for an image with a region copied and pasted; the
    mask is dilated more (20 px per 250 px). Writes editing_start{n}_{i}.png, ...
  super_resolution: the training image (or `--input`) is upscaled by `--sr_factor`
    in k steps of sr_factor ** (1/k) (k = round(3 log2 sr_factor)): bicubic
    upsampling, noise at the finest scale's amplitude, the finest generator. Train
    the run with configs/singan_sr.cfg (alpha = 100). Writes
    super_resolution_x{f}.png and bicubic_x{f}.png for comparison.
  animation: a random walk in z at every scale from `--start_scale` (default: the
    run's gen_start_scale) around the reconstruction noise,
    z_t = a z* + (1 - a)(z_{t-1} + b (z_{t-1} - z_{t-2}) + (1 - b) e_t) with
    a = `--walk_alpha`, b = `--walk_beta`. Writes frames/frame_{t}.png,
    animation.gif and animation.mp4 (when OpenCV can write MPEG-4).
`--num_samples` is the number of variants of paint2image/harmonization/editing
(default 1 there).
"""

import os

from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error

MODES = ("random", "paint2image", "harmonization", "editing", "super_resolution", "animation")
INJECTION_MODES = ("paint2image", "harmonization", "editing")

flags.DEFINE_string("workdir", None, "Run directory of a trained SinGAN.")
flags.DEFINE_string("out", None, "Output folder for the PNGs and grid.png.")
flags.DEFINE_enum("mode", "random", list(MODES), "What to generate (see the module doc).")
flags.DEFINE_integer("num_samples", 8, "Samples per start scale (random); variants "
                     "(paint2image, harmonization, editing; default 1 there).", lower_bound=1,
                     upper_bound=10_000)
flags.DEFINE_list("gen_start_scale", ["0"], "Start scale(s): 0 = coarsest (paper's N), "
                  "k = the paper's N-k. Several give one grid row each.")
flags.DEFINE_float("scale_h", 1.0, "Output height relative to the training image.",
                   lower_bound=0.01, upper_bound=100.0)
flags.DEFINE_float("scale_w", 1.0, "Output width relative to the training image.", lower_bound=0.01,
                   upper_bound=100.0)
flags.DEFINE_integer("seed", 0, "Noise seed.", lower_bound=0)
flags.DEFINE_string("input", None, "Input image: the paint (paint2image), the naive "
                    "paste (harmonization), the edited image (editing); optional for "
                    "super_resolution (default: the training image).")
flags.DEFINE_string("mask", None, "Mask of --input (harmonization, editing): white = the "
                    "pasted or edited region; same size as --input.")
flags.DEFINE_integer("start_scale", None, "Injection scale of paint2image/harmonization/"
                     "editing (1..N-1, higher keeps more of the input), or the first "
                     "animated scale; same numbering as --gen_start_scale.", lower_bound=0)
flags.DEFINE_boolean("quantize", False, "paint2image: snap the paint's colours to the "
                     "training image's k-means palette first.")
flags.DEFINE_integer("num_colors", 5, "paint2image --quantize: palette size.", lower_bound=1,
                     upper_bound=256)
flags.DEFINE_float("sr_factor", 4.0, "super_resolution: overall upscaling factor (> 1).",
                   lower_bound=1.0, upper_bound=64.0)
flags.DEFINE_integer("num_frames", 100, "animation: number of frames.", lower_bound=1,
                     upper_bound=100_000)
flags.DEFINE_float("fps", 10.0, "animation: frames per second of the GIF and MP4.",
                   lower_bound=0.01, upper_bound=1000.0)
flags.DEFINE_float("walk_alpha", 0.1, "animation: pull of the walk back to z* (0..1).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("walk_beta", 0.9, "animation: momentum of the walk (0..1).", lower_bound=0.0,
                   upper_bound=1.0)
FLAGS = flags.FLAGS


def _start_scales(values):
  try:
    return [int(v) for v in values]
  except ValueError:
    raise UserInputError(f"--gen_start_scale={','.join(values)}: expected integers, e.g. 0,1,2")


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


def _injection_scale(model, mode):
  if FLAGS.start_scale is not None:
    return FLAGS.start_scale
  if FLAGS["gen_start_scale"].present:
    values = _start_scales(FLAGS.gen_start_scale)
    if len(values) == 1:
      return values[0]
  raise UserInputError(f"--start_scale is required for --mode={mode}: the injection "
                       f"scale, 1..{model.num_scales - 1} (higher keeps more of --input)")


# The modes each mode-specific flag applies to; giving it to another mode is an error
# rather than silently ignored.
_FLAG_MODES = {
    "input": INJECTION_MODES + ("super_resolution",),
    "mask": ("harmonization", "editing"),
    "scale_h": ("random",), "scale_w": ("random",),
    "quantize": ("paint2image",), "num_colors": ("paint2image",),
    "sr_factor": ("super_resolution",),
    "num_frames": ("animation",), "fps": ("animation",),
    "walk_alpha": ("animation",), "walk_beta": ("animation",),
    "start_scale": INJECTION_MODES + ("animation",),
}


def _check_mode_flags(mode):
  for name, modes in _FLAG_MODES.items():
    if FLAGS[name].present and mode not in modes:
      raise UserInputError(f"--{name} is not used by --mode={mode}; it is for "
                           f"--mode={'|'.join(modes)}")
  if mode in INJECTION_MODES:
    flag_lib.require(FLAGS.input, "input", f"the input image of --mode={mode}")
  if mode in ("harmonization", "editing"):
    flag_lib.require(FLAGS.mask, "mask", f"the mask of --input for --mode={mode}")


@exit_on_user_error
def main(argv):
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {argv[1:]}")
  workdir = flag_lib.require(FLAGS.workdir, "workdir", "a trained SinGAN run directory")
  out = flag_lib.require(FLAGS.out, "out", "the output folder")
  mode = FLAGS.mode
  _check_mode_flags(mode)
  if FLAGS.num_samples < 1:
    raise UserInputError(f"--num_samples={FLAGS.num_samples}: expected a positive integer")
  # Read the inputs before loading the networks so a bad file fails fast.
  inputs = {name: image_io.load_image(FLAGS[name].value, channels=channels,
                                      what=f"--{name}")
            for name, channels in (("input", 3), ("mask", 1)) if FLAGS[name].value}
  from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
  model = TrainedSinGAN.load(workdir)
  num = FLAGS.num_samples if FLAGS["num_samples"].present else 1
  if mode == "random":
    write_samples(model, out, FLAGS.num_samples, _start_scales(FLAGS.gen_start_scale),
                  FLAGS.scale_h, FLAGS.scale_w, FLAGS.seed)
  elif mode == "paint2image":
    write_paint2image(model, out, inputs["input"], _injection_scale(model, mode),
                      quantize=FLAGS.quantize, num_colors=FLAGS.num_colors, num=num,
                      seed=FLAGS.seed)
  elif mode in ("harmonization", "editing"):
    write_harmonization(model, out, inputs["input"], inputs["mask"],
                        _injection_scale(model, mode), mode=mode, num=num, seed=FLAGS.seed)
  elif mode == "super_resolution":
    write_super_resolution(model, out, FLAGS.sr_factor, inputs.get("input"), seed=FLAGS.seed)
  else:
    start = FLAGS.start_scale
    if start is None:
      start = (_start_scales(FLAGS.gen_start_scale)[0] if FLAGS["gen_start_scale"].present
               else model.config.gen_start_scale if model.config is not None else 0)
    write_animation(model, out, FLAGS.num_frames, start, alpha=FLAGS.walk_alpha,
                    beta=FLAGS.walk_beta, fps=FLAGS.fps, seed=FLAGS.seed)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
