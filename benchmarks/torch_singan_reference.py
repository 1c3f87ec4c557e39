"""PyTorch timing baseline of one original SinGAN training iteration (Shaham et al., ICCV 2019).

This is NOT the original code (tamarott/SinGAN) and it does not train anything useful:
it is an independent re-implementation of the work the original does per training
iteration, used only to time that work side by side with tfsingan in the same run
(`benchmarks/singan_step.py` imports it). What it reproduces, on purpose:

* the networks: 5 valid 3x3 convolutions (Conv -> BatchNorm -> LeakyReLU(0.2), tail
  conv + tanh for G, 1-channel tail for the critic), width
  `min(32 * 2 ** (scale // 4), 128)` for every layer;
* the per-iteration schedule: 3 critic steps, each re-running ALL frozen coarser
  generators with fresh noise and resizing every intermediate result on the CPU through
  uint8 numpy arrays and a MATLAB-style bicubic resize (the original's `imresize`), then
  WGAN-GP (scalar interpolation weight, per-pixel channel norm, double backward);
  3 generator steps with adversarial + 10 * reconstruction loss; Adam(5e-4, (0.5, 0.999)).

The one deliberate difference: the original's generator step back-propagates through
the fake image of the last critic step, a graph PyTorch >= 1.5 refuses to reuse after
the first optimizer step, so here every generator step recomputes the fake with the
current generator (one extra G forward per step).

Torch is an optional, benchmark-only dependency of the project. Run from the
repository root:

  python -m benchmarks.torch_singan_reference --scales=0,7,10 --iters=2 --out=t.json
"""

import json
import math
import os
import time

from absl import app
from absl import flags
import numpy as np
import torch
from torch import nn

from benchmarks.machine import machine_info
from tfsingan.errors import exit_on_user_error
from tfsingan.errors import UserInputError
from tfsingan.flags import parse_flags_or_exit

# Per-iteration seconds the issue reports for the original code on this 2-core CPU,
# keyed by (image height, image width) then scale index.
ISSUE_REPORTED_SECONDS = {(250, 250): {0: 0.05, 7: 1.2, 10: 17.6}}

_KERNEL_SIZE = 3
_NUM_LAYERS = 5
# Valid convolutions shrink by 1 px per side per layer: the input is padded by this.
_PAD = (_KERNEL_SIZE - 1) * _NUM_LAYERS // 2
_LAMBDA_GP = 0.1
_ALPHA_REC = 10.0


def _pyramid(height, width, min_size, max_size, scale_factor_init):
  """Returns (finest (h, w), real scale factor, index of the finest scale)."""
  if min(height, width) <= min_size:
    raise UserInputError(
        f"image {height}x{width}: expected a short side larger than min_size {min_size}")
  # The scale count comes from the un-resized image, the real factor from the image
  # after fitting it into max_size (as the original does).
  num_scales = math.ceil(math.log(min_size / min(height, width), scale_factor_init)) + 1
  long_side = max(height, width)
  scale_to_stop = math.ceil(math.log(min(max_size, long_side) / long_side, scale_factor_init))
  stop_scale = num_scales - scale_to_stop
  if stop_scale < 1 or min(height, width) * min(max_size / long_side, 1.0) <= min_size:
    raise UserInputError(
        f"image {height}x{width}: fitted into max_size {max_size} its short side "
        f"must stay larger than min_size {min_size}")
  fit = min(max_size / long_side, 1.0)
  finest = tuple(int(v) for v in np.ceil(np.array([height, width]) * fit))
  factor = (min_size / min(finest)) ** (1.0 / stop_scale)
  return finest, factor, stop_scale


def pyramid_sizes(height, width, min_size=25, max_size=250, scale_factor_init=0.75):
  """Returns [(h, w)] per scale, coarsest first, as the original sizes its pyramid.

  Size at scale n = ceil(finest * factor ** (stop_scale - n)), with
  factor = (min_size / short side) ** (1 / stop_scale).
  """
  finest, factor, stop = _pyramid(height, width, min_size, max_size, scale_factor_init)
  return [tuple(int(v) for v in np.ceil(np.array(finest) * factor ** (stop - n)))
          for n in range(stop + 1)]


def channels_at(scale_index):
  """Width of every layer at a scale: 32 doubling every 4 scales, capped at 128."""
  return min(32 * 2 ** (scale_index // 4), 128)


# ----------------------------------------------------------------------------------
# The original's CPU resize: float tensor -> uint8 HxWxC -> bicubic in numpy -> tensor.


def _cubic(x):
  """Keys cubic kernel with a = -0.5 (MATLAB's bicubic)."""
  ax = np.abs(x)
  ax2, ax3 = ax * ax, ax * ax * ax
  near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
  far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
  return near + far


def _resize_taps(in_len, out_len, scale):
  """Input indices and normalised weights, each (out_len, taps), for one axis."""
  antialias = scale < 1
  width = 4.0 / scale if antialias else 4.0
  # Pixel centres map so that the image borders (not the first/last centres) align.
  centres = np.arange(1, out_len + 1) / scale + 0.5 * (1.0 - 1.0 / scale)
  first = np.floor(centres - width / 2)
  taps = int(np.ceil(width)) + 2
  idx = first[:, None] + np.arange(taps)[None, :] - 1  # 0-based input positions
  dist = centres[:, None] - idx - 1
  # Antialiasing stretches the kernel by 1/scale so downscaling low-passes first.
  weights = scale * _cubic(scale * dist) if antialias else _cubic(dist)
  total = weights.sum(axis=1, keepdims=True)
  total[total == 0] = 1.0
  weights = weights / total
  # Symmetric (mirror) extension at the borders. (The original casts negative
  # positions to unsigned first, which scrambles the outermost ~2 px; interiors agree.)
  period = 2 * in_len
  idx = np.mod(idx.astype(np.int64), period)
  idx = np.where(idx >= in_len, period - 1 - idx, idx)
  used = np.any(weights != 0, axis=0)
  return idx[:, used], weights[:, used]


def _resize_axis(image, axis, out_len, scale):
  idx, weights = _resize_taps(image.shape[axis], out_len, scale)
  moved = np.moveaxis(image, axis, 0)
  # Gather all taps at once, (out_len, taps, ...), and reduce: the original's
  # memory-hungry but vectorised approach, kept so the cost is alike.
  gathered = moved[idx]
  weights = weights.reshape(weights.shape + (1,) * (moved.ndim - 1))
  return np.moveaxis((gathered * weights).sum(axis=1), 0, axis)


def resize_numpy(image, scale):
  """MATLAB-style bicubic resize of an HxWxC array by `scale`; returns float64.

  The output size is ceil(size * scale); downscaling is antialiased.
  """
  out = image
  if scale == 1:
    return out.astype(np.float64)
  for axis in (0, 1):
    out_len = int(np.ceil(image.shape[axis] * scale))
    out = _resize_axis(out, axis, out_len, scale)
  return out


def imresize(tensor, scale):
  """Resizes a 1xCxHxW tensor in [-1, 1] the way the original does (via uint8 numpy)."""
  img = ((tensor[0].permute(1, 2, 0) + 1) / 2).clamp(0, 1) * 255
  img = img.cpu().numpy().astype(np.uint8)
  out = resize_numpy(img, scale)
  out = torch.from_numpy(out[None].transpose(0, 3, 1, 2) / 255).float()
  return ((out - 0.5) * 2).clamp(-1, 1)


# ----------------------------------------------------------------------------------
# Networks.


def _conv_block(in_ch, out_ch):
  return nn.Sequential(
      nn.Conv2d(in_ch, out_ch, _KERNEL_SIZE, stride=1, padding=0),
      nn.BatchNorm2d(out_ch),
      nn.LeakyReLU(0.2, inplace=True))


def _init_weights(module):
  if isinstance(module, nn.Conv2d):
    nn.init.normal_(module.weight, 0.0, 0.02)
  elif isinstance(module, nn.BatchNorm2d):
    nn.init.normal_(module.weight, 1.0, 0.02)
    nn.init.zeros_(module.bias)


class _FiveConvNet(nn.Module):
  """Head block, 3 body blocks and a tail conv, all `channels` wide, no padding.

  Args:
    channels: width of every layer.
    out_channels: 3 (a generator's image) or 1 (a critic's score map).
  Reference: Shaham et al., SinGAN, ICCV 2019.
  """

  def __init__(self, channels, out_channels):
    super().__init__()
    self.head = _conv_block(3, channels)
    self.body = nn.Sequential(*[_conv_block(channels, channels)
                                for _ in range(_NUM_LAYERS - 2)])
    self.tail = nn.Conv2d(channels, out_channels, _KERNEL_SIZE, stride=1, padding=0)
    self.apply(_init_weights)

  def features(self, x):
    return self.tail(self.body(self.head(x)))


class Generator(_FiveConvNet):
  """Residual generator: tanh(net(padded noisy input)) + previous image (`channels` wide)."""

  def __init__(self, channels):
    super().__init__(channels, 3)

  def forward(self, noisy_padded, prev_padded):
    out = torch.tanh(self.features(noisy_padded))
    crop = (prev_padded.shape[2] - out.shape[2]) // 2
    prev = prev_padded[:, :, crop:prev_padded.shape[2] - crop,
                       crop:prev_padded.shape[3] - crop]
    return out + prev


class Critic(_FiveConvNet):
  """Patch critic (WGAN): a 1-channel score map (`channels` wide)."""

  def __init__(self, channels):
    super().__init__(channels, 1)

  def forward(self, x):
    return self.features(x)


def _pad(x):
  return nn.functional.pad(x, (_PAD, _PAD, _PAD, _PAD))


def _noise(channels, size):
  return torch.randn(1, channels, size[0], size[1])


def gradient_penalty(critic, real, fake, weight=_LAMBDA_GP):
  """WGAN-GP with one scalar interpolation weight, channel norm per pixel."""
  alpha = torch.rand(1, 1).expand(real.size())
  mixed = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
  scores = critic(mixed)
  grads = torch.autograd.grad(scores, mixed, grad_outputs=torch.ones_like(scores),
                              create_graph=True, retain_graph=True)[0]
  return ((grads.norm(2, dim=1) - 1) ** 2).mean() * weight


class ScaleTrainer:
  """Everything one scale of the original's training loop touches.

  Args:
    reals: training images of scales 0..n, coarsest first, 1x3xHxW tensors in [-1, 1].
    frozen: the n trained coarser generators (frozen, eval mode).
    noise_amps: their noise amplitudes.
    z_opts: their padded reconstruction noises.
    factor: the real scale factor between scales (< 1).
    noise_amp_init: noise std at scale n = this x RMSE of the reconstruction entering n.
    init_from: (generator, critic) of the previous scale to start from (same width), or None.
    lr_decay_at: iteration at which both learning rates drop by 10 (the original's 1600).
  Reference: Shaham et al., SinGAN, ICCV 2019 (re-implemented, tamarott/SinGAN's training.py).
  """

  def __init__(self, reals, frozen, noise_amps, z_opts, factor, noise_amp_init=0.1,
               init_from=None, lr_decay_at=1600):
    self.n = len(frozen)
    self.reals, self.frozen, self.factor = list(reals), list(frozen), factor
    self.noise_amps, self.z_opts = list(noise_amps), list(z_opts)
    width_n = channels_at(self.n)
    self.netG = Generator(width_n).train()
    self.netD = Critic(width_n).train()
    if init_from is not None:
      self.netG.load_state_dict(init_from[0].state_dict())
      self.netD.load_state_dict(init_from[1].state_dict())
    self.optG = torch.optim.Adam(self.netG.parameters(), lr=5e-4, betas=(0.5, 0.999))
    self.optD = torch.optim.Adam(self.netD.parameters(), lr=5e-4, betas=(0.5, 0.999))
    self.schedulers = [torch.optim.lr_scheduler.MultiStepLR(o, [lr_decay_at], gamma=0.1)
                       for o in (self.optG, self.optD)]
    self.size = tuple(self.reals[-1].shape[2:])
    # The reconstruction input from coarser scales is computed once per scale.
    if self.n == 0:
      self.z_prev = _pad(torch.zeros(1, 3, *self.size))
      self.noise_amp = 1.0
    else:
      rec = self.draw_concat("rec")
      self.z_prev = _pad(rec)
      self.noise_amp = noise_amp_init * torch.sqrt(
          nn.functional.mse_loss(self.reals[-1], rec)).item()
    self.z_opt = _pad(torch.zeros(1, 3, *self.size))

  @classmethod
  def with_random_frozen(cls, height, width, scale_index, min_size=25, max_size=250, seed=0):
    """Scale `scale_index` of a `height` x `width` image behind random frozen generators
    and a smooth random stand-in image: the work of one iteration, for timing."""
    finest, factor, stop = _pyramid(height, width, min_size, max_size, 0.75)
    if not 0 <= scale_index <= stop:
      raise UserInputError(f"scale index {scale_index}: expected 0..{stop} for {height}x{width}")
    torch.manual_seed(seed)
    image = nn.functional.interpolate(
        torch.rand(1, 3, max(finest[0] // 8, 2), max(finest[1] // 8, 2)) * 2 - 1,
        size=finest, mode="bilinear", align_corners=False)
    reals = [imresize(image, factor ** (stop - k)) for k in range(scale_index + 1)]
    frozen = []
    for k in range(scale_index):
      g = Generator(channels_at(k))
      for p in g.parameters():
        p.requires_grad_(False)
      frozen.append(g.eval())
    coarsest = tuple(reals[0].shape[2:])
    # Reconstruction noise: a fixed map at the coarsest scale, zeros above it.
    z_opts = [_pad(_noise(1, coarsest).expand(1, 3, *coarsest))] + [
        _pad(torch.zeros_like(r)) for r in reals[1:scale_index]]
    return cls(reals, frozen, [1.0] + [0.1] * max(scale_index - 1, 0), z_opts, factor)

  def draw_concat(self, mode):
    """Runs the frozen coarser generators up to this scale's size ('rand' or 'rec')."""
    img = torch.zeros_like(self.reals[0])
    for k, gen in enumerate(self.frozen):
      h, w = self.reals[k].shape[2:]
      if mode == "rand":
        z = _noise(1, (h, w)).expand(1, 3, h, w) if k == 0 else _noise(3, (h, w))
        z = _pad(z)
      else:
        z = self.z_opts[k]
      prev = _pad(img[:, :, :h, :w])
      img = gen((self.noise_amps[k] * z + prev).detach(), prev)
      img = imresize(img, 1.0 / self.factor)
      nh, nw = self.reals[k + 1].shape[2:]
      img = img[:, :, :nh, :nw]
    return img

  def iteration(self):
    """One training iteration: 3 critic steps, then 3 generator steps."""
    real = self.reals[-1]
    h, w = self.size
    if self.n == 0:
      # The original redraws even the "fixed" coarsest reconstruction noise here.
      self.z_opt = _pad(_noise(1, (h, w)).expand(1, 3, h, w))
      noise_base = _pad(_noise(1, (h, w)).expand(1, 3, h, w))
    else:
      noise_base = _pad(_noise(3, (h, w)))

    for _ in range(3):
      self.netD.zero_grad()
      err_real = -self.netD(real).mean()
      err_real.backward(retain_graph=True)
      prev = _pad(self.draw_concat("rand"))
      noise = noise_base if self.n == 0 else self.noise_amp * noise_base + prev
      fake = self.netG(noise.detach(), prev)
      err_fake = self.netD(fake.detach()).mean()
      err_fake.backward(retain_graph=True)
      gradient_penalty(self.netD, real, fake).backward()
      self.optD.step()

    mse = nn.MSELoss()
    for _ in range(3):
      self.netG.zero_grad()
      fake = self.netG(noise.detach(), prev)
      err_g = -self.netD(fake).mean()
      err_g.backward(retain_graph=True)
      rec_in = (self.noise_amp * self.z_opt + self.z_prev).detach()
      rec_loss = _ALPHA_REC * mse(self.netG(rec_in, self.z_prev), real)
      rec_loss.backward(retain_graph=True)
      self.optG.step()
    for scheduler in self.schedulers:
      scheduler.step()


class TrainedReference:
  """The reference's trained pyramid: frozen generators, noise amplitudes, z_opt per scale.

  Args:
    generators: per-scale generators, coarsest first (eval mode).
    noise_amps: per-scale noise amplitudes.
    z_opts: per-scale padded reconstruction noises.
    reals: the training pyramid as 1x3xHxW tensors in [-1, 1].
    factor: the real scale factor between scales.
  """

  def __init__(self, generators, noise_amps, z_opts, reals, factor):
    self.generators, self.noise_amps, self.z_opts = generators, noise_amps, z_opts
    self.reals, self.factor = reals, factor

  @torch.no_grad()
  def sample(self, num, start_scale=0, seed=0):
    """Random samples as the original's SinGAN_generate draws them (same size as the
    training image): scales before `start_scale` use z_opt, later ones fresh noise.

    Returns (num, H, W, 3) float32 in [0, 1].
    """
    if not 0 <= start_scale < len(self.generators):
      raise UserInputError(f"start scale {start_scale}: expected 0..{len(self.generators) - 1}")
    torch.manual_seed(seed)
    out = []
    for _ in range(num):
      img = torch.zeros_like(self.reals[0])
      for k, gen in enumerate(self.generators):
        h, w = self.reals[k].shape[2:]
        if k > 0:
          img = imresize(img, 1.0 / self.factor)[:, :, :h, :w]
        if k < start_scale:
          z = self.z_opts[k]
        elif k == 0:
          z = _pad(_noise(1, (h, w)).expand(1, 3, h, w))
        else:
          z = _pad(_noise(3, (h, w)))
        prev = _pad(img)
        img = gen(self.noise_amps[k] * z + prev, prev)
      out.append(((img[0].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
    return np.stack(out).astype(np.float32)


def train_reference(reals, factor, iterations, lr_decay_at=None, seed=0, log=print):
  """Trains the reference on a pyramid, scale by scale, as the original's train() does.

  Args:
    reals: per-scale images, coarsest first, H x W x 3 float in [0, 1].
    factor: the real scale factor between scales (ceil(size / factor) covers the next size).
    iterations: iterations per scale (the original's niter, 2000).
    lr_decay_at: iteration of the x0.1 drop (default 0.8 x iterations, the original's 1600 of 2000).
    seed: torch seed.
    log: called with one progress line per scale.

  Returns (TrainedReference, seconds per scale).
  """
  torch.manual_seed(seed)
  lr_decay_at = int(0.8 * iterations) if lr_decay_at is None else lr_decay_at
  tensors = [torch.from_numpy(np.ascontiguousarray(np.asarray(r, np.float32).transpose(2, 0, 1))
                              )[None] * 2 - 1 for r in reals]
  generators, noise_amps, z_opts, seconds = [], [], [], []
  previous = None
  for n in range(len(tensors)):
    t0 = time.perf_counter()
    init = previous if n > 0 and channels_at(n) == channels_at(n - 1) else None
    trainer = ScaleTrainer(tensors[:n + 1], generators, noise_amps, z_opts, factor,
                           init_from=init, lr_decay_at=lr_decay_at)
    for _ in range(iterations):
      trainer.iteration()
    gen = trainer.netG.eval()
    for p in gen.parameters():
      p.requires_grad_(False)
    generators.append(gen)
    noise_amps.append(trainer.noise_amp)
    z_opts.append(trainer.z_opt)
    previous = (trainer.netG, trainer.netD)
    seconds.append(time.perf_counter() - t0)
    h, w = trainer.size
    log(f"reference scale {n}/{len(tensors) - 1} {w}x{h}: {seconds[-1]:.1f} s, "
        f"noise amp {trainer.noise_amp:.4f}")
  return TrainedReference(generators, noise_amps, z_opts, tensors, factor), seconds


def time_iterations(height, width, scale_index, iters=3, warmup=1, threads=None,
                    min_size=25, max_size=250, seed=0):
  """Times `iters` training iterations at `scale_index` after `warmup` untimed ones.

  Returns a dict: seconds_per_iter (mean), iteration_seconds, size (h, w), channels,
  num_frozen (coarser generators run by every critic step), threads, cpu_per_wall
  (process CPU seconds per wall second while timing), cpu_seconds_per_iter (with one
  thread, the work itself even when other jobs share the cores).
  """
  if iters < 1 or warmup < 0:
    raise UserInputError(f"iters={iters}, warmup={warmup}: expected iters >= 1, warmup >= 0")
  previous_threads = torch.get_num_threads()
  torch.set_num_threads(threads or os.cpu_count() or 1)
  try:
    trainer = ScaleTrainer.with_random_frozen(height, width, scale_index, min_size=min_size,
                                              max_size=max_size, seed=seed)
    for _ in range(warmup):
      trainer.iteration()
    times = []
    cpu_start = time.process_time()
    for _ in range(iters):
      start = time.perf_counter()
      trainer.iteration()
      times.append(time.perf_counter() - start)
    # CPU seconds of this process per wall second: near `threads` on an idle machine,
    # lower when other jobs take the cores (the timing is then inflated).
    cpu_seconds = time.process_time() - cpu_start
    cpu_per_wall = cpu_seconds / sum(times)
    used_threads = torch.get_num_threads()
  finally:
    torch.set_num_threads(previous_threads)
  return dict(seconds_per_iter=float(np.mean(times)), iteration_seconds=times,
              size=trainer.size, channels=channels_at(scale_index),
              num_frozen=scale_index, threads=used_threads, cpu_per_wall=cpu_per_wall,
              cpu_seconds_per_iter=cpu_seconds / iters)


FLAGS = flags.FLAGS


def _define_flags():
  # Only when run as a script: importing the module (benchmarks.singan_step, the
  # tests) must not claim flag names such as --out for the whole process.
  flags.DEFINE_integer("height", 250, "training image height (fitted into --max_size)")
  flags.DEFINE_integer("width", 250, "training image width")
  flags.DEFINE_list("scales", ["0", "5", "10"], "scale indices to time (0 = coarsest)")
  flags.DEFINE_integer("iters", 3, "timed iterations per scale")
  flags.DEFINE_integer("warmup", 1, "untimed iterations per scale before timing")
  flags.DEFINE_integer("threads", 0, "torch threads (0 = all cores)")
  flags.DEFINE_string("out", "", "optional JSON output path")


def main(argv):
  del argv
  try:
    scales = [int(s) for s in FLAGS.scales]
  except ValueError as e:
    raise UserInputError(f"--scales={','.join(FLAGS.scales)}: expected integers") from e
  sizes = pyramid_sizes(FLAGS.height, FLAGS.width)
  reported = ISSUE_REPORTED_SECONDS.get((FLAGS.height, FLAGS.width), {})
  rows = []
  print(f"PyTorch re-implementation of the original SinGAN iteration, "
        f"{FLAGS.height}x{FLAGS.width} image, {len(sizes)} scales, torch {torch.__version__}")
  header = (f"{'scale':>5} {'size':>9} {'ch':>4} {'frozen':>6} {'s/iter':>9} "
            f"{'issue':>7} {'ratio':>6} {'cpu/wall':>8} {'load':>5}")
  print(header)
  print("-" * len(header))
  for n in scales:
    result = time_iterations(FLAGS.height, FLAGS.width, n, iters=FLAGS.iters,
                             warmup=FLAGS.warmup, threads=FLAGS.threads or None)
    result["scale"] = n
    # The machine is shared: record how busy it was when this row finished.
    result["load_average_1min"] = os.getloadavg()[0]
    result["issue_reported_seconds"] = reported.get(n)
    rows.append(result)
    issue = reported.get(n)
    issue_txt = f"{issue:7.2f}" if issue else f"{'-':>7}"
    ratio_txt = f"{result['seconds_per_iter'] / issue:6.2f}" if issue else f"{'-':>6}"
    h, w = result["size"]
    print(f"{n:>5} {f'{h}x{w}':>9} {result['channels']:>4} {result['num_frozen']:>6} "
          f"{result['seconds_per_iter']:9.3f} {issue_txt} {ratio_txt} "
          f"{result['cpu_per_wall']:8.2f} {result['load_average_1min']:5.1f}", flush=True)
  if FLAGS.out:
    payload = dict(height=FLAGS.height, width=FLAGS.width, iters=FLAGS.iters,
                   warmup=FLAGS.warmup, torch_version=torch.__version__,
                   pyramid_sizes=sizes, rows=rows,
                   # A CPU-only PyTorch reference: TensorFlow is not loaded to look for GPUs.
                   machine=machine_info(gpus=[]))
    tmp = FLAGS.out + ".tmp"
    with open(tmp, "w") as f:
      json.dump(payload, f, indent=2)
    os.replace(tmp, FLAGS.out)


if __name__ == "__main__":
  _define_flags()
  app.run(exit_on_user_error(main), flags_parser=parse_flags_or_exit)
