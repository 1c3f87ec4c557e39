"""One SinGAN scale as a Keras model whose train_step is one paper iteration
(Shaham et al., ICCV 2019, sec. 2.2): `d_steps` critic updates, then `g_steps`
generator updates, WGAN-GP plus the reconstruction loss."""

import keras
import numpy as np
import tensorflow as tf

from tfsingan.common import gan_losses
from tfsingan.common import precision as precision_lib
from tfsingan.singan import generate


def adam(config, steps_per_iteration, float16, rate=1.0):
  """Adam at `rate` x the config's learning rate, dropped by lr_decay at lr_decay_at."""
  # Like torch's MultiStepLR stepped once per iteration: iterations 0..k-1 use the
  # full rate, iteration k (optimizer step k * steps_per_iteration) the dropped one.
  lr = config.learning_rate * rate
  schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
      [config.lr_decay_at * steps_per_iteration - 1], [lr, lr * config.lr_decay])
  opt = keras.optimizers.Adam(schedule, beta_1=config.beta1, beta_2=config.beta2,
                              epsilon=1e-8)
  return keras.optimizers.LossScaleOptimizer(opt) if float16 else opt


class SinGANScale(keras.Model):
  """Trains the generator and critic of scale `n` against frozen scales 0..n-1.

  Args:
    generator, critic: this scale's networks (built).
    inputs: the `tfsingan.singan.pyramid.ScaleInputs` of scale n (its training image,
      noise amplitude, the reconstruction entering it, z*, and the finished scales'
      generators and noise amplitudes), as `RunPyramid.next_scale` hands them out.
    config: a SinGANConfig.
    seed: seed of the noise generator.

  Reference: Shaham, Dekel, Michaeli, "SinGAN", ICCV 2019.
  """

  def __init__(self, generator, critic, inputs, config, seed=0, **kwargs):
    super().__init__(**kwargs)
    self.generator = generator
    self.critic = critic
    self.frozen_generators = list(inputs.frozen_generators)
    for g in self.frozen_generators:
      g.trainable = False
    self.frozen_noise_amps = [float(a) for a in inputs.noise_amps[:inputs.lo]]
    self.sizes = [tuple(int(v) for v in s) for s in inputs.sizes]
    self.real = tf.constant(inputs.real[None], tf.float32)
    self.noise_amp = float(inputs.noise_amp)
    self.prev_rec = tf.constant(inputs.prev_rec[None], tf.float32)
    # The reconstruction noise of the lowest trained stage: z* at the coarsest scale,
    # zeros at every finer one (paper, sec. 2.2).
    z_rec = inputs.z_rec if inputs.lo == 0 else np.zeros_like(inputs.real)
    self.z_rec = tf.constant(z_rec[None], tf.float32)
    self.config = config
    self.float16 = precision_lib.policy(config.precision) == "mixed_float16"
    self.rng = tf.random.Generator.from_seed(seed)

  @property
  def scale(self):
    return len(self.frozen_generators)

  def generate(self, z, prev, training):
    """This scale's output from its noise `z` and the image `prev` entering it."""
    return self.generator((z, prev), training=training)

  def rec_inputs(self, z_rec):
    """The noise input of the reconstruction pass."""
    return z_rec * self.noise_amp

  def apply_generator_gradients(self, tape, scaled):
    variables = self.generator.trainable_variables
    self.g_optimizer.apply(tape.gradient(scaled, variables), variables)

  def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
    super().compile(**kwargs)
    self.d_optimizer = d_optimizer or adam(self.config, self.config.d_steps, self.float16)
    self.g_optimizer = g_optimizer or adam(self.config, self.config.g_steps, self.float16)
    # Optimizer slots exist before any checkpoint restore.
    self.d_optimizer.build(self.critic.trainable_variables)
    self.g_optimizer.build(self.generator.trainable_variables)

  def trained_noise_amps(self):
    """Noise amplitudes of the scales trained here (this one)."""
    return [self.noise_amp]

  def random_input(self):
    """Fresh noise for the trained scales and a fresh sample from the frozen ones
    (upsampled to the first trained scale); one noise map where one scale trains."""
    n, lo = self.scale, len(self.frozen_generators)
    zs = [generate.draw_noise(self.rng, 1, self.sizes[i], i == 0) * amp
          for i, amp in zip(range(lo, n + 1), self.trained_noise_amps())]
    if lo == 0:
      prev = tf.zeros([1, *self.sizes[0], 3])
    else:
      noises = [generate.draw_noise(self.rng, 1, self.sizes[i], i == 0) for i in range(lo)]
      prev = generate.run_scales(self.frozen_generators, self.frozen_noise_amps, noises,
                                 self.sizes)
      prev = generate.upsample(prev, self.sizes[lo])
    return (zs[0] if len(zs) == 1 else tuple(zs)), prev

  def reconstruct(self, training=False):
    return self.generate(self.rec_inputs(self.z_rec), self.prev_rec, training)

  def _scaled(self, optimizer, loss):
    return optimizer.scale_loss(loss) if self.float16 else loss

  def critic_step(self, z, prev):
    """One WGAN-GP critic update; returns (d_loss, gp, d_real, d_fake)."""
    fake = self.generate(z, prev, True)
    alpha = self.rng.uniform([1, 1, 1, 1])
    inner_scale = self.d_optimizer.dynamic_scale if self.float16 else None
    with tf.GradientTape() as tape:
      # Real and fake in one batched pass: the critic's BatchNorm keeps each
      # example's statistics apart, so this equals two separate passes.
      scores = tf.cast(self.critic(tf.concat([self.real, fake], 0), training=True), tf.float32)
      d_real = tf.reduce_mean(scores[:1])
      d_fake = tf.reduce_mean(scores[1:])
      gp = gan_losses.gradient_penalty(
          lambda x: self.critic(x, training=True), self.real, fake, alpha,
          norm_over="channels", inner_scale=inner_scale)
      d_loss = d_fake - d_real + self.config.lambda_gp * gp
      scaled = self._scaled(self.d_optimizer, d_loss)  # on the tape
    variables = self.critic.trainable_variables
    grads = tape.gradient(scaled, variables)
    self.d_optimizer.apply(grads, variables)
    return d_loss, gp, d_real, d_fake

  def rec_noise(self):
    """This iteration's reconstruction noise: z* (fixed), or at the coarsest scale with
    `coarsest_rec_noise="redrawn"` a fresh draw, as the original code does."""
    if self.scale == 0 and self.config.coarsest_rec_noise == "redrawn":
      return generate.draw_noise(self.rng, 1, self.sizes[0], True)
    return self.z_rec

  def generator_step(self, z, prev, z_rec=None):
    """One generator update (adversarial + alpha x reconstruction MSE)."""
    z_rec = self.z_rec if z_rec is None else z_rec
    with tf.GradientTape() as tape:
      # The random and the reconstruction pass batched (per-example BatchNorm).
      both = tf.nest.map_structure(lambda a, b: tf.concat([a, b], 0), z,
                                   self.rec_inputs(z_rec))
      out = self.generate(both, tf.concat([prev, self.prev_rec], 0), True)
      fake, rec = out[:1], out[1:]
      adv = gan_losses.generator_loss(self.critic(fake, training=True))
      rec_loss = tf.reduce_mean(tf.square(rec - self.real))
      g_loss = adv + self.config.alpha * rec_loss
      scaled = self._scaled(self.g_optimizer, g_loss)
    self.apply_generator_gradients(tape, scaled)
    return g_loss, rec_loss

  def train_step(self, data=None):
    """One iteration: critic phase, then generator phase on the last critic input
    (recomputed with the current generator, not the critic phase's graph).

    Without XLA the phases are graph loops, so each step is traced once (tracing
    and graph optimisation dominate short runs). XLA compiles graph loops holding
    optimizer updates badly on CPU (about 20x slower here), so with
    `jit_compile` the phases are unrolled instead.
    """
    del data
    if self.config.jit_compile:
      for _ in range(self.config.d_steps):
        z, prev = self.random_input()
        d_loss, gp, d_real, d_fake = self.critic_step(z, prev)
      z_rec = self.rec_noise()
      for _ in range(self.config.g_steps):
        g_loss, rec_loss = self.generator_step(z, prev, z_rec)
    else:
      lo = len(self.frozen_generators)
      zs = tuple(tf.zeros([1, *self.sizes[i], 3]) for i in range(lo, self.scale + 1))
      z, prev = (zs[0] if len(zs) == 1 else zs), tf.zeros([1, *self.sizes[lo], 3])
      d_loss = gp = d_real = d_fake = g_loss = rec_loss = tf.constant(0.0)
      for _ in tf.range(self.config.d_steps):
        z, prev = self.random_input()
        d_loss, gp, d_real, d_fake = self.critic_step(z, prev)
      z_rec = self.rec_noise()
      for _ in tf.range(self.config.g_steps):
        g_loss, rec_loss = self.generator_step(z, prev, z_rec)
    return {"d_loss": d_loss, "g_loss": g_loss, "gp": gp, "rec_loss": rec_loss,
            "d_real": d_real, "d_fake": d_fake}
