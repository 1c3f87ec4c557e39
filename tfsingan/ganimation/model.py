"""GANimation training step (Pumarola et al., ECCV 2018): WGAN-GP + AU regression + cycle + attention.

`GANimationModel` composes the networks of `networks.py` with the losses of
`losses.py`. One *iteration* takes one batch and updates the critic; every
`critic_steps`-th iteration also updates the generator on the same batch (the public
code's n_critic schedule). `make_step_function` is the one training step, used by the
trainer and by `keras.Model.fit` alike: it picks the kind of iteration in Python from
the iteration number (`trains_generator`) and runs one of two traced functions, since
a `tf.cond` around an optimizer update is not allowed in a `MirroredStrategy` replica.
"""

import keras
import tensorflow as tf

from tfsingan.ganimation import losses

CRITIC_METRICS = ("d_loss", "d_adv", "gp", "d_au")
GENERATOR_METRICS = ("g_loss", "g_adv", "g_au", "rec_loss", "mask_mean", "mask_tv")


@keras.saving.register_keras_serializable(package="tfsingan")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
  """Constant learning rate, then a linear decay to 0 over the last `decay_steps` steps.

  Args:
    initial_learning_rate: the rate before the decay.
    total_steps: optimizer steps of the whole run (the rate reaches 0 there).
    decay_steps: length of the final decay (0 = constant rate throughout).

  Reference:
    The public GANimation code: 20 epochs at 1e-4, then 10 epochs of linear decay
    (applied there once per epoch, here at every step).
  """

  def __init__(self, initial_learning_rate, total_steps, decay_steps):
    self.initial_learning_rate = float(initial_learning_rate)
    self.total_steps = int(total_steps)
    self.decay_steps = int(decay_steps)

  def __call__(self, step):
    lr = tf.constant(self.initial_learning_rate, tf.float32)
    if self.decay_steps <= 0:
      return lr
    remaining = tf.cast(self.total_steps, tf.float32) - tf.cast(step, tf.float32)
    return lr * tf.clip_by_value(remaining / float(self.decay_steps), 0.0, 1.0)

  def get_config(self):
    return {"initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps, "decay_steps": self.decay_steps}


def make_optimizer(learning_rate, beta1, beta2, *, total_steps, decay_steps,
                   loss_scale=False, name=None):
  """Adam with `LinearDecay`; wrapped in a LossScaleOptimizer for float16 training."""
  opt = keras.optimizers.Adam(
      learning_rate=LinearDecay(learning_rate, total_steps, decay_steps),
      beta_1=beta1, beta_2=beta2, epsilon=1e-8,  # PyTorch's Adam epsilon
      name=name)
  if loss_scale:
    opt = keras.optimizers.LossScaleOptimizer(opt, name=None if name is None else name + "_ls")
  return opt


class GANimationModel(keras.Model):
  """Trains a GANimation generator against its AU critic.

  Args:
    generator: a `GANimationGenerator` (or any model mapping (image, aus) to
      (output, attention, colour)).
    critic: a `GANimationCritic` (image -> (patch scores, AUs)).
    lambda_gp, lambda_au, lambda_cyc, lambda_mask, lambda_tv: loss weights; the
      reductions they go with are documented in `tfsingan.ganimation.config`.
    lambda_adv: weight of the adversarial terms (1 in the paper; 0 isolates the
      other terms in tests).
    lambda_paired: weight of `losses.paired_loss` between G(x | y_t) and the batch's
      "pair_image" (the render of x's identity showing y_t, where "pair_mask" is 1);
      0 (the paper's objective) needs no pairs in the batch and logs no "paired".
    paired_moved_weight: `losses.paired_loss`'s moved_weight (extra weight where
      the pair differs from the generator's input).
    warp_guided: the generator refines a warp (`tfsingan.prepare.warp_pairs`):
      batches hold "input_image", the generator's input (the warp of another
      frame onto "image"), and the cycle pass is not run (its inverse would
      have to warp the output back); "image" is the critic's real and, with
      lambda_paired, the paired target.
    critic_steps: critic updates per generator update.
    save_memory: in generator iterations, run the generator's forward pass twice
      (once for the critic step, once recorded for the generator step, after the
      cycle pass has been differentiated) instead of recording it once and keeping
      it alive during the critic step and the cycle pass: about 1.2 GB less at
      128 px / batch 25, for one more forward pass every `critic_steps` iterations.
    **kwargs: base `keras.Model` arguments.

  Batches are dicts with "image" (B, H, W, 3) in [-1, 1], "aus" and "target_aus"
  (B, 17) in [0, 1]; the generator tiles the AUs over the image.

  Reference:
    Pumarola et al., "GANimation: Anatomically-aware Facial Animation from a Single
    Image", ECCV 2018, section 4.2 (full loss, eq. 5) and the public code.
  """

  def __init__(self, generator, critic, *, lambda_gp=10.0, lambda_au=160.0, lambda_cyc=10.0,
               lambda_mask=0.1, lambda_tv=2.5e-4, lambda_adv=1.0, lambda_paired=0.0,
               paired_moved_weight=0.0, critic_steps=5, save_memory=True, warp_guided=False,
               **kwargs):
    super().__init__(**kwargs)
    self.generator = generator
    self.critic = critic
    self.lambda_gp = float(lambda_gp)
    self.lambda_au = float(lambda_au)
    self.lambda_cyc = float(lambda_cyc)
    self.lambda_mask = float(lambda_mask)
    self.lambda_tv = float(lambda_tv)
    self.lambda_adv = float(lambda_adv)
    self.lambda_paired = float(lambda_paired)
    self.paired_moved_weight = float(paired_moved_weight)
    self.critic_steps = int(critic_steps)
    self.save_memory = bool(save_memory)
    self.warp_guided = bool(warp_guided)
    names = CRITIC_METRICS + GENERATOR_METRICS + (("paired",) if self.lambda_paired else ())
    self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

  def compile(self, d_optimizer, g_optimizer, jit_compile=False, **kwargs):
    super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
    self.d_optimizer = d_optimizer
    self.g_optimizer = g_optimizer
    # Build now so a checkpoint can restore the slots before the first step.
    self.d_optimizer.build(self.critic.trainable_variables)
    self.g_optimizer.build(self.generator.trainable_variables)

  @property
  def metrics(self):
    return list(self.trackers.values())

  def call(self, inputs):
    return self.generator(inputs)

  # ---------------------------------------------------------------- losses
  def _replica_scale(self):
    # Gradients are summed over replicas; each replica's mean loss is divided by
    # their number so that the sum is the mean over the global batch.
    return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync

  def critic_losses(self, image, aus, fake, inner_scale=None):
    """Weighted critic objective and its terms (float32 scalars)."""
    batch = tf.shape(image)[0]
    # Real and fake in one pass: the critic has no batch statistics, so this is
    # exact and runs the convolutions once at twice the batch.
    scores, predicted_aus = self.critic(tf.concat([image, fake], axis=0))
    real_scores, fake_scores = scores[:batch], scores[batch:]
    d_adv = losses.critic_loss(real_scores, fake_scores)
    # Only real images train the AU head: a fake's AUs are what G was asked for,
    # not what it produced.
    d_au = losses.au_regression_loss(predicted_aus[:batch], aus)
    alpha = tf.random.uniform(tf.stack([batch, 1, 1, 1]), dtype=tf.float32)
    gp = losses.gradient_penalty(lambda x: self.critic(x)[0], image, fake, alpha,
                                 inner_scale=inner_scale)
    total = self.lambda_adv * d_adv + self.lambda_gp * gp + self.lambda_au * d_au
    return total, {"d_loss": total, "d_adv": d_adv, "gp": gp, "d_au": d_au}

  def generator_losses(self, image, aus, target_aus, fake, attention, pair=None):
    """Weighted generator objective given the forward pass `fake, attention`."""
    total, logs = self._losses_after_fake(image, aus, target_aus, fake, pair)
    weighted, mask_mean, mask_tv = self._attention_losses(attention)
    logs["mask_mean"] += mask_mean
    logs["mask_tv"] += mask_tv
    logs["g_loss"] = total + weighted
    return total + weighted, logs

  def _losses_after_fake(self, image, aus, target_aus, fake, pair=None):
    """The terms that depend on the forward pass only through the fake image;
    `pair`: (pair_image, pair_mask, generator input) when lambda_paired > 0."""
    fake_scores, fake_aus = self.critic(fake)
    # In a graph, ops without data dependencies may run together; ordering the
    # cycle pass after the critic (itself after the critic's update) keeps the
    # peak memory to one pass at a time.
    g_adv = losses.generator_adversarial_loss(fake_scores)
    g_au = losses.au_regression_loss(fake_aus, target_aus)
    if self.warp_guided:
      rec = weighted = mask_mean = mask_tv = tf.constant(0.0, tf.float32)
    else:
      with tf.control_dependencies([fake_scores]):
        reconstruction, rec_attention, _ = self.generator((fake, aus))
      rec = losses.cycle_loss(reconstruction, image)
      weighted, mask_mean, mask_tv = self._attention_losses(rec_attention)
    total = self.lambda_adv * g_adv + self.lambda_au * g_au + self.lambda_cyc * rec + weighted
    logs = {"g_loss": total, "g_adv": g_adv, "g_au": g_au, "rec_loss": rec,
            "mask_mean": mask_mean, "mask_tv": mask_tv}
    if self.lambda_paired:
      pair_image, pair_mask, source = pair
      logs["paired"] = losses.paired_loss(fake, pair_image, pair_mask, source,
                                          moved_weight=self.paired_moved_weight)
      total = total + self.lambda_paired * logs["paired"]
      logs["g_loss"] = total
    return total, logs

  def _attention_losses(self, attention):
    mask_mean = losses.attention_mean_loss(attention)
    mask_tv = losses.attention_tv_loss(attention)
    return self.lambda_mask * mask_mean + self.lambda_tv * mask_tv, mask_mean, mask_tv

  # ------------------------------------------------------------ the phases
  def _scaled(self, optimizer, loss):
    loss = loss * self._replica_scale()
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
      loss = optimizer.scale_loss(loss)
    return loss

  def critic_update(self, image, aus, fake):
    """Phase 1: one critic step on real images and (constant) fakes."""
    fake = tf.stop_gradient(fake)
    inner_scale = (self.d_optimizer.dynamic_scale
                   if isinstance(self.d_optimizer, keras.optimizers.LossScaleOptimizer)
                   else None)
    variables = self.critic.trainable_variables
    with tf.GradientTape() as tape:
      total, logs = self.critic_losses(image, aus, fake, inner_scale=inner_scale)
      scaled = self._scaled(self.d_optimizer, total)
    grads = tape.gradient(scaled, variables)
    self.d_optimizer.apply(grads, variables)
    return logs

  def train_iteration(self, batch, train_generator):
    """One iteration on one (per-replica) batch: a critic step, then optionally a
    generator step on the same batch. `train_generator` is a Python bool.

    Returns the losses of the steps taken (float32 scalars, this replica's means).
    """
    image = tf.cast(batch["image"], tf.float32)
    aus = tf.cast(batch["aus"], tf.float32)
    target_aus = tf.cast(batch["target_aus"], tf.float32)
    if self.warp_guided:
      if "input_image" not in batch:
        raise ValueError("warp_guided needs batches with input_image "
                         "(make_dataset(..., warp_guided=True))")
      source = tf.cast(batch["input_image"], tf.float32)
    else:
      source = image
    pair = None
    if self.lambda_paired and train_generator:
      if "pair_image" not in batch:
        raise ValueError("lambda_paired > 0 needs batches with pair_image and pair_mask "
                         "(make_dataset(..., paired=True))")
      pair = (tf.cast(batch["pair_image"], tf.float32), tf.cast(batch["pair_mask"], tf.float32),
              source)

    if not train_generator:
      fake, _, _ = self.generator((source, target_aus))
      return self.critic_update(image, aus, fake)

    g_vars = self.generator.trainable_variables
    if not self.save_memory:
      # The generator's forward pass is recorded once and shared: the critic step
      # uses it as a constant, the generator step differentiates through it (G
      # does not change in between, so this equals the public code's two passes).
      with tf.GradientTape() as g_tape:
        fake, attention, _ = self.generator((source, target_aus))
        with g_tape.stop_recording():
          logs = dict(self.critic_update(image, aus, fake))
        total, g_logs = self.generator_losses(image, aus, target_aus, fake, attention, pair)
        scaled = self._scaled(self.g_optimizer, total)
      grads = g_tape.gradient(scaled, g_vars)
      self.g_optimizer.apply(grads, g_vars)
      logs.update(g_logs)
      return logs

    # Low-memory schedule: never hold two recorded generator passes at once.
    fake, _, _ = self.generator((source, target_aus))
    logs = dict(self.critic_update(image, aus, fake))
    # Phase 2a: the terms downstream of the fake image (critic on the fake, cycle
    # pass, its attention), differentiated with respect to G and to the fake.
    with tf.GradientTape() as tape:
      tape.watch(fake)
      after, g_logs = self._losses_after_fake(image, aus, target_aus, fake, pair)
      scaled = self._scaled(self.g_optimizer, after)
    grads = tape.gradient(scaled, g_vars + [fake])
    grads, fake_grad = grads[:-1], grads[-1]
    if fake_grad is None:  # every downstream term switched off
      fake_grad = tf.zeros_like(fake)
    # Phase 2b: the forward pass again (G has not changed, so the same fake),
    # back-propagating the fake's gradient plus the forward attention terms.
    with tf.GradientTape() as tape, tf.control_dependencies([fake_grad]):
      fake_again, attention, _ = self.generator((source, target_aus))
      weighted, mask_mean, mask_tv = self._attention_losses(attention)
      surrogate = (tf.reduce_sum(fake_again * tf.stop_gradient(fake_grad)) +
                   self._scaled(self.g_optimizer, weighted))
    forward_grads = tape.gradient(surrogate, g_vars)
    grads = [a if b is None else b if a is None else a + b
             for a, b in zip(grads, forward_grads)]
    self.g_optimizer.apply(grads, g_vars)
    g_logs["mask_mean"] += mask_mean
    g_logs["mask_tv"] += mask_tv
    g_logs["g_loss"] = after + weighted
    logs.update(g_logs)
    return logs

  def trains_generator(self, iteration):
    """Whether 0-based iteration `iteration` also updates the generator (n_critic)."""
    return (int(iteration) + 1) % self.critic_steps == 0

  def make_step_function(self, strategy=None, jit_compile=None):
    """The training step: `step(batch, iteration=None) -> {metric: global-batch mean}`.

    `batch` is what `strategy.experimental_distribute_dataset` yields (or a plain
    batch with the default strategy). `iteration` (0-based) decides the kind of
    iteration by `trains_generator`; None reads the critic optimizer's step counter.
    Each kind is traced once, on its first use.
    """
    strategy = strategy or tf.distribute.get_strategy()
    jit = bool(self.jit_compile if jit_compile is None else jit_compile)

    def traced(train_generator):
      def iteration_fn(batch):
        per_replica = strategy.run(lambda b: self.train_iteration(b, train_generator),
                                   args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in per_replica.items()}
      return tf.function(iteration_fn, jit_compile=jit, reduce_retracing=True)

    functions = {False: traced(False), True: traced(True)}

    def step(batch, iteration=None):
      if iteration is None:
        iteration = int(self.d_optimizer.iterations.numpy())
      return functions[self.trains_generator(iteration)](batch)

    return step

  # ------------------------------------------------------------- keras.fit
  def make_train_function(self, force=False):
    """`fit` runs `make_step_function` (under the model's strategy) on each batch."""
    if self.train_function is not None and not force:
      return self.train_function
    step = self.make_step_function(self.distribute_strategy)

    def train_function(iterator):
      for _ in range(self.steps_per_execution):
        logs = step(next(iterator))
        for name, value in logs.items():
          self.trackers[name].update_state(value)
      return {name: t.result() for name, t in self.trackers.items()}

    self.train_function = train_function
    return train_function

  def train_step(self, data):
    """One eager `fit` step on `data` (the same step as `make_train_function`'s)."""
    return self.make_train_function()(iter([data]))
