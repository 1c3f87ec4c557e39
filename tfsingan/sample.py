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
from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.singan import sampling

flags.DEFINE_string("workdir", None, "Run directory of a trained SinGAN.")
flags.DEFINE_string("out", None, "Output folder for the PNGs and grid.png.")
flag_lib.define_config_flags(sampling.SampleConfig)


main = flag_lib.config_main(sampling.SampleConfig, sampling.run,
                            workdir="a trained SinGAN run directory", out="the output folder")


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
