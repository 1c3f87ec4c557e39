"""ConSinGAN's concurrent training of the top stages of a SinGAN pyramid (Hinz, Fisher,
Wang, Wermter, "Improved Techniques for Training Single-Image GANs", WACV 2021, sec. 3.1).

The newest stage trains with the full learning rate and the `train_depth - 1` stages
below it go on training at `lr_scale ** j` (j stages down); the gradient of the newest
stage's losses flows through them. Every stage stays a `SinGANGenerator` of its own
(image in, image out), so a concurrent run has the paper run's files and everything that
reads a run (sampling, the applications, export, `expand`) serves both schedules.
"""

import tensorflow as tf

from tfsingan.singan import generate
from tfsingan.singan.model import SinGANScale
from tfsingan.singan.model import adam


class ConcurrentScales(SinGANScale):
  """Trains stages lo..n together: the newest stage n and the finished stages lo..n-1.

  Args:
    generator, critic: stage n's networks (built).
    inputs: the stage's `tfsingan.singan.pyramid.ScaleInputs` with lo < n: stages
      lo..n-1 (`inputs.lower_generators`) train further, 0..lo-1 run forward only;
      `inputs.prev_rec` enters stage lo.
    config: a SinGANConfig (train_depth, lr_scale).
    seed: seed of the noise generator.

  Reference: Hinz et al., "Improved Techniques for Training Single-Image GANs", WACV 2021.
  """

  def __init__(self, generator, critic, inputs, config, seed=0, **kwargs):
    super().__init__(generator, critic, inputs, config, seed=seed, **kwargs)
    self.lower_generators = list(inputs.lower_generators)
    for g in self.lower_generators:
      g.trainable = True
    self.lower_noise_amps = [float(a) for a in inputs.noise_amps[inputs.lo:]]
    self.lower_optimizers = []

  @property
  def scale(self):
    return len(self.frozen_generators) + len(self.lower_generators)

  @property
  def trained(self):
    """The generators trained here, lowest first (stage n last)."""
    return self.lower_generators + [self.generator]

  def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
    super().compile(d_optimizer, g_optimizer, **kwargs)
    depth = len(self.lower_generators)
    # Lower stages take the top stage's loss scale (apply_generator_gradients).
    self.lower_optimizers = [adam(self.config, self.config.g_steps, False,
                                  rate=self.config.lr_scale ** (depth - j))
                             for j in range(depth)]
    for opt, gen in zip(self.lower_optimizers, self.lower_generators):
      opt.build(gen.trainable_variables)

  def trained_noise_amps(self):
    return self.lower_noise_amps + [self.noise_amp]

  def generate(self, z, prev, training):
    lo = len(self.frozen_generators)
    zs = z if isinstance(z, (tuple, list)) else (z,)
    x = prev
    for j, gen in enumerate(self.trained):
      if j:
        x = generate.upsample(x, self.sizes[lo + j])
      x = gen((zs[j], x), training=training)
    return x

  def rec_inputs(self, z_rec):
    """z* x its amplitude at stage 0, zeros at every finer trained stage."""
    lo = len(self.frozen_generators)
    out = []
    for j, amp in enumerate(self.trained_noise_amps()):
      i = lo + j
      out.append(z_rec * amp if i == 0 else tf.zeros([1, *self.sizes[i], 3]))
    return tuple(out)

  def apply_generator_gradients(self, tape, scaled):
    per_stage = [g.trainable_variables for g in self.trained]
    grads = tape.gradient(scaled, [v for vs in per_stage for v in vs])
    unscale = self.g_optimizer.dynamic_scale if self.float16 else None
    first = 0
    for gen_vars, opt in zip(per_stage, self.lower_optimizers + [self.g_optimizer]):
      part = grads[first:first + len(gen_vars)]
      first += len(gen_vars)
      if unscale is not None and opt is not self.g_optimizer:
        part = [tf.where(tf.math.is_finite(g), g / tf.cast(unscale, g.dtype), 0.0)
                for g in part]
      opt.apply(part, gen_vars)


def scale_model(generator, critic, inputs, config, seed=0):
  """The model that trains `inputs` (a `ScaleInputs`): a SinGANScale on the paper's
  schedule, a ConcurrentScales where stages below n train too (lo < n). The trainer,
  the benchmarks and the tests build their scale models here."""
  cls = ConcurrentScales if inputs.lo < inputs.n else SinGANScale
  return cls(generator, critic, inputs, config, seed=seed)
