"""Trains GANimation (Pumarola et al., ECCV 2018): `run(config, workdir)`, resumable.

The run directory holds:
  config.json             the resolved options (written before training starts);
  checkpoints/            tf.train.Checkpoint of G, D, both optimizers and the
                          iteration counter (the latest two are kept);
  tb/                     TensorBoard scalars and input / attention / colour / output images;
  generator.weights.h5    the final generator weights (Keras format) once finished.
Re-running the same command resumes from the latest checkpoint; a finished run
is not retrained.
"""

import contextlib
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from tfsingan.common import checkpointing
from tfsingan.common import distribute
from tfsingan.common import execution
from tfsingan.common import image_io
from tfsingan.common import precision as precision_lib
from tfsingan.common.progress import Progress
from tfsingan.common import rundir
from tfsingan.errors import UserInputError
from tfsingan.ganimation import data as data_lib
from tfsingan.ganimation import model as model_lib
from tfsingan.ganimation import networks
from tfsingan.ganimation import pairs
from tfsingan.ganimation.config import GANimationConfig

from tfsingan.ganimation.inference import CHECKPOINT_DIR
from tfsingan.ganimation.inference import GENERATOR_WEIGHTS



# ------------------------------------------------------------------ setup
def mirrored_devices(gpus, cpus):
  """(replica devices, device to reduce on or None for NCCL) of --strategy=mirrored.

  Every visible GPU is a replica (one GPU: one replica, as the default strategy, the
  batch not split). Without GPUs every logical CPU device is one: a plain machine has
  one CPU device (already using every core), so again one replica; logical CPU devices
  (tf.config.set_logical_device_configuration) split the batch, as the tests do.
  """
  if gpus:
    return list(gpus), None
  # NCCL needs GPUs; on CPU devices reduce through the first one.
  return list(cpus), cpus[0]


def make_strategy(name):
  """The tf.distribute strategy of --strategy ('mirrored': see `mirrored_devices`;
  'multi_worker' = the local devices of every worker of TF_CONFIG, which must be made
  before TensorFlow's runtime starts)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "multi_worker":
    distribute.read_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()
  devices, reduce_to = mirrored_devices([d.name for d in tf.config.list_logical_devices("GPU")],
                                        [d.name for d in tf.config.list_logical_devices("CPU")])
  cross_ops = None
  if reduce_to is not None:
    cross_ops = tf.distribute.ReductionToOneDevice(reduce_to_device=reduce_to)
  return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_ops)


def schedule(config, num_train):
  """(total critic iterations, iterations in the final learning-rate decay)."""
  per_epoch = num_train // config.batch_size
  if config.iterations:
    total = config.iterations
  else:
    if per_epoch == 0:
      raise UserInputError(
          f"--batch_size={config.batch_size} is larger than the {num_train} training images "
          f"in {config.data_dir}; lower --batch_size")
    total = config.epochs * per_epoch
  decay = int(round(total * config.decay_epochs / config.epochs))
  return total, decay


def build(config, total, decay, strategy=None):
  """Networks, optimizers and the GANimationModel for `config` (under `strategy`)."""
  strategy = strategy or tf.distribute.get_strategy()
  # Each network gets the run's dtype policy; the global Keras policy is left alone.
  dtype = precision_lib.policy(config.precision)
  loss_scale = dtype == "mixed_float16"
  with strategy.scope():
    generator, critic = networks.build_networks(
        config.image_size, config.conv_dim, config.repeat_num, config.critic_layers,
        dtype=dtype)
    model = model_lib.GANimationModel(
        generator, critic, lambda_gp=config.lambda_gp, lambda_au=config.lambda_au,
        lambda_cyc=config.lambda_cyc, lambda_mask=config.lambda_mask,
        lambda_tv=config.lambda_tv, lambda_paired=config.lambda_paired,
        paired_moved_weight=config.paired_moved_weight,
        critic_steps=config.critic_steps,
        save_memory=config.save_memory, warp_guided=config.warp_guided)
    # The generator steps once every critic_steps iterations: its schedule counts
    # its own steps.
    d_opt = model_lib.make_optimizer(config.learning_rate, config.beta1, config.beta2,
                                     total_steps=total, decay_steps=decay,
                                     loss_scale=loss_scale, name="d_adam")
    g_opt = model_lib.make_optimizer(config.learning_rate, config.beta1, config.beta2,
                                     total_steps=total // config.critic_steps,
                                     decay_steps=decay // config.critic_steps,
                                     loss_scale=loss_scale, name="g_adam")
    model.compile(d_optimizer=d_opt, g_optimizer=g_opt,
                  jit_compile=bool(config.jit_compile or config.xla == 1))
  return model


LOSS_KEYS = ("d_loss", "g_loss", "gp", "d_au", "g_au", "rec_loss", "paired", "mask_mean")


def _loss_text(logs):
  return " ".join(f"{k}={logs[k]:.4g}" for k in LOSS_KEYS if k in logs)


def _sample_batch(config):
  """A fixed batch for the image summaries: the test split if any, else train."""
  for split in ("test", "train"):
    try:
      ds = data_lib.make_dataset(config.data_dir, split=split, image_size=config.image_size,
                                 batch_size=config.num_samples, shuffle=False, flip=False,
                                 target_noise=0.0, deterministic=True, seed=config.seed,
                                 repeat=True, cache=False, quiet=True,
                                 warp_guided=config.warp_guided)
      return next(iter(ds))
    except (UserInputError, StopIteration, tf.errors.InvalidArgumentError):
      continue
  return None


def _write_images(writer, generator, batch, step):
  source = batch.get("input_image", batch["image"])  # a warp with --warp_guided
  out, attention, colour = generator((source, batch["target_aus"]))
  with writer.as_default(step=step):
    tf.summary.image("input", (source + 1.0) / 2.0, max_outputs=8)
    tf.summary.image("output", tf.clip_by_value((out + 1.0) / 2.0, 0.0, 1.0), max_outputs=8)
    tf.summary.image("attention", attention, max_outputs=8)
    tf.summary.image("colour", (colour + 1.0) / 2.0, max_outputs=8)


# ------------------------------------------------------------------- run
def run(config: GANimationConfig, workdir):
  """Trains (or resumes) the run in `workdir`; returns the last logged losses."""
  if not config.data_dir:
    raise UserInputError("--data_dir is required: the GANimation dataset folder (imgs/, "
                         "aus_openface.pkl, train_ids.csv)")
  # The folder (a path, no foreign run) and the data are checked before anything is
  # created; the settings once the precision is resolved.
  rundir.check_folder_path(workdir)
  rundir.check_run(workdir, None, "ganimation")
  paths, _ = data_lib.load_index(config.data_dir, "train", strict=config.strict)
  if config.warp_guided:
    from tfsingan.prepare import warp_pairs  # pylint: disable=import-outside-toplevel
    warp_pairs.warped_paths(config.data_dir, paths)
  else:
    pairs.check_paired(config.data_dir, paths, config.lambda_paired)
  strategy = make_strategy(config.strategy)
  # After the strategy: multi_worker needs TF_CONFIG before TensorFlow looks for GPUs.
  config = precision_lib.resolve_config(
      config, precision_lib.recorded_precision(os.path.join(workdir, rundir.CONFIG_NAME)))
  # XLA or tf.function for this CPU and precision (tfsingan/common/execution.py),
  # recorded in config.json as what ran.
  config = execution.resolve_ganimation(config)
  # Only the chief writes (and locks) the run directory (the only worker without
  # multi_worker); the others write scratch folders.
  chief = strategy.extended.should_checkpoint
  with (rundir.prepare(workdir, config, family="ganimation") if chief
        else contextlib.nullcontext()) as run_dir:
    if run_dir is not None:
      run_dir.start()
    with distribute.output_dir(workdir, strategy) as out_dir:
      return _train(config, workdir, out_dir, len(paths), strategy)


def _train(config, workdir, out_dir, num_train, strategy):
  """Trains from the checkpoint in `workdir`, writing to `out_dir` (a scratch folder on
  the workers other than the chief)."""
  keras.utils.set_random_seed(config.seed)
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  total, decay = schedule(config, num_train)
  replicas = strategy.num_replicas_in_sync
  if config.batch_size % replicas:
    raise UserInputError(f"--batch_size={config.batch_size}: must be a multiple of the "
                         f"{replicas} devices of --strategy={config.strategy}")

  model = build(config, total, decay, strategy)
  iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
  # The newest two versions are kept; the workers other than the chief write scratch
  # folders and every worker resumes from the chief's newest checkpoint that reads.
  checkpoint = checkpointing.RunCheckpoint(
      os.path.join(out_dir, CHECKPOINT_DIR), keep=2, generator=model.generator,
      critic=model.critic, g_optimizer=model.g_optimizer, d_optimizer=model.d_optimizer,
      iteration=iteration)
  if checkpoint.restore(os.path.join(workdir, CHECKPOINT_DIR)):
    image_io.notice(f"resuming {workdir} at iteration {int(iteration.numpy())} of {total}")
  start = int(iteration.numpy())
  if config.strategy == "multi_worker":
    _check_same_start(strategy, start, workdir)
  weights_path = os.path.join(out_dir, GENERATOR_WEIGHTS)
  if start >= total:
    image_io.notice(f"{workdir} has finished its {total} iterations; nothing to do "
            "(raise --epochs or --iterations to train further)")
    if not os.path.exists(weights_path):
      _save_generator(model.generator, weights_path)
    return {}

  def dataset(batch_size, seed):
    return data_lib.make_dataset(config.data_dir, split="train", image_size=config.image_size,
                                 batch_size=batch_size, shuffle=True, flip=config.flip,
                                 target_noise=config.target_noise,
                                 deterministic=config.deterministic, seed=seed, repeat=True,
                                 strict=config.strict, quiet=True,
                                 paired=config.lambda_paired > 0,
                                 warp_guided=config.warp_guided)

  # A resumed run draws fresh batches rather than replaying the first ones.
  if config.strategy == "multi_worker":
    # One pipeline per worker, each with its own seed, feeding its share of the
    # global batch: no worker decodes images that another one trains on.
    ds = strategy.distribute_datasets_from_function(lambda context: dataset(
        context.get_per_replica_batch_size(config.batch_size),
        (config.seed + start) * context.num_input_pipelines + context.input_pipeline_id))
  else:
    ds = dataset(config.batch_size, config.seed + start)
    if replicas > 1:
      ds = strategy.experimental_distribute_dataset(ds)
  batches = iter(ds)
  step = model.make_step_function(strategy)
  samples = _sample_batch(config)
  writer = tf.summary.create_file_writer(os.path.join(out_dir, "tb"))
  # On stdout, with the other lines of the run; every logged iteration is drawn.
  progress = Progress(total, "GANimation", done=start, stream=sys.stdout)
  print(f"GANimation: {num_train} training faces, {total} iterations "
        f"(generator every {config.critic_steps}), {config.precision}, "
        f"{replicas} replica(s) -> {workdir}", flush=True)

  logs, last = {}, {}
  it = start
  try:
    while it < total:
      try:
        step_logs = step(_next_batch(batches, config), it)
      except (tf.errors.UnavailableError, tf.errors.CancelledError) as e:
        if config.strategy != "multi_worker":
          raise
        # MultiWorkerMirroredStrategy cannot go on without a worker, nor take one back.
        latest = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
        raise UserInputError(
            f"another worker of TF_CONFIG stopped at iteration {it} "
            f"({type(e).__name__}); restart every worker with the same "
            f"TF_CONFIG and flags to resume from {latest or 'the start'}") from None
      logs.update(step_logs)
      it += 1
      if it % config.log_every == 0 or it == total or it == start + 1:
        last = {k: float(v) for k, v in logs.items()}
        if not all(np.isfinite(v) for v in last.values()):
          bad = ", ".join(f"{k}={v}" for k, v in last.items() if not np.isfinite(v))
          raise UserInputError(f"training diverged at iteration {it} ({bad}); resume from "
                               "the last checkpoint with a lower --learning_rate, or use "
                               "--precision=float32")
        with writer.as_default(step=it):
          for k, v in last.items():
            tf.summary.scalar(f"losses/{k}", v)
          tf.summary.scalar("lr/critic", float(model.d_optimizer.learning_rate))
          tf.summary.scalar("lr/generator", float(model.g_optimizer.learning_rate))
        progress.update(it, _loss_text(last), force=True)
      if samples is not None and (it % config.image_every == 0 or it == total):
        _write_images(writer, model.generator, samples, it)
      if it % config.checkpoint_every == 0 or it == total:
        iteration.assign(it)
        checkpoint.save(it)
  except KeyboardInterrupt:
    iteration.assign(it)
    checkpoint.save(it)
    progress.close()
    image_io.notice(f"interrupted: saved iteration {it}; run the same command to resume")
    raise
  progress.close()
  writer.flush()
  _save_generator(model.generator, weights_path)
  return last


def _check_same_start(strategy, start, workdir):
  """Workers that resume from different iterations would wait for each other forever."""
  starts = strategy.gather(strategy.run(lambda: tf.constant([start], tf.int64)), axis=0)
  starts = sorted(set(int(s) for s in starts.numpy()))
  if len(starts) > 1:
    raise UserInputError(
        f"the workers found different checkpoints in {workdir} (iterations {starts}): "
        "--workdir must be one folder that every worker reads at the same path "
        "(a shared filesystem)")


def _next_batch(batches, config):
  """The next training batch; images TensorFlow cannot decode end in a UserInputError."""
  try:
    return next(batches)
  except StopIteration:  # every image was dropped by the pipeline's ignore_errors
    raise UserInputError(f"--data_dir={config.data_dir}: no training image could be "
                         "decoded; expected JPEG or PNG faces") from None
  except tf.errors.InvalidArgumentError as e:  # --strict: no ignore_errors
    reason = str(e.message).splitlines()[0]
    raise UserInputError(f"--data_dir={config.data_dir}: a training image could not be "
                         f"decoded ({reason}); remove it, or train without --strict to "
                         "skip such images") from None


def _save_generator(generator, path):
  tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
  generator.save_weights(tmp)
  os.replace(tmp, path)
