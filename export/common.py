"""Training runs as inference-only graphs for export: GANimation (Pumarola et al., ECCV
2018) generators and SinGAN (Shaham et al., ICCV 2019) pyramids.

Only the generators, the AU tiling and the matrix resize are loaded: never a critic,
an optimizer or a loss (`tests/test_export_saved_model.py` checks the imports).
Every graph here takes and returns images in [0, 1]; the networks' [-1, 1] stays
inside.
"""

import os

import tensorflow as tf

from tfsingan.common import checkpointing
from tfsingan.common import rundir
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import inference as ganimation_inference
from tfsingan.singan import generate

EXPORTABLE = ("ganimation", "singan")


def detect_family(workdir):
  """'ganimation' or 'singan': the family named in the run directory's config.json."""
  found = rundir.family_of(workdir) if workdir and os.path.isdir(workdir) else None
  if found is None and workdir and os.path.isfile(os.path.join(workdir, rundir.CONFIG_NAME)):
    raise UserInputError(f"--workdir: {os.path.join(workdir, rundir.CONFIG_NAME)} is not a "
                         "GANimation or SinGAN config; expected a run of `python -m "
                         "tfsingan.train --model=ganimation` or `--model=singan`")
  if found is None:
    raise UserInputError(f"--workdir={workdir!r} holds no training run (no "
                         f"{rundir.CONFIG_NAME}); expected the --workdir of "
                         "`python -m tfsingan.train --model=ganimation` or `--model=singan`")
  if found not in EXPORTABLE:
    raise UserInputError(f"--workdir={workdir} holds a {rundir.title(found)} run; export "
                         "takes a GANimation or SinGAN run")
  return found


def to_unit(x):
  """[-1, 1] -> [0, 1], clipped."""
  return tf.clip_by_value((x + 1.0) * 0.5, 0.0, 1.0)


def to_uint8(x01):
  """[0, 1] float -> uint8, rounded."""
  return tf.cast(tf.round(tf.clip_by_value(x01, 0.0, 1.0) * 255.0), tf.uint8)


class GANimationGraphs:
  """The serving functions of a GANimation generator.

  Args:
    generator: a built float32 `GANimationGenerator`.
    image_size: the size it was trained at (height = width).
  """

  def __init__(self, generator, image_size):
    self.generator = generator
    self.image_size = int(image_size)

  @classmethod
  def load(cls, workdir):
    generator, config = ganimation_inference.load_generator(workdir)
    return cls(generator, config.image_size), config

  def input_signature(self, batch=None, dtype=tf.float32):
    s = self.image_size
    return [tf.TensorSpec([batch, s, s, 3], dtype, name="image"),
            tf.TensorSpec([batch, aus_lib.NUM_AUS], tf.float32, name="aus")]

  def animate(self, image, aus):
    """image (B, S, S, 3) in [0, 1], aus (B, 17) in [0, 1] -> dict of `image`,
    `attention` (B, S, S, 1; 1 = input pixel kept) and `color`, all in [0, 1]."""
    out, attention, colour = ganimation_inference.animate(self.generator, image, aus,
                                                          portable_ops=True)
    return {"image": out, "attention": attention, "color": colour}

  def animate_uint8(self, image, aus):
    """As `animate` with uint8 images (0..255) in and out."""
    out = self.animate(tf.cast(image, tf.float32) / 255.0, aus)
    return {name: to_uint8(value) for name, value in out.items()}


def noise_channels(scale):
  """SinGAN's coarsest noise is one channel broadcast to RGB (the original code)."""
  return 1 if scale == 0 else 3


class SinGANGraphs:
  """The serving functions of a trained SinGAN pyramid (scale 0 = coarsest).

  Args:
    model: a `tfsingan.singan.inference.TrainedSinGAN`.
  """

  def __init__(self, model):
    self.model = model
    self.sizes = [tuple(s) for s in model.sizes[:model.num_scales]]

  @classmethod
  def load(cls, workdir, num_scales=None):
    """The run's first `num_scales` trained scales (all of them when None)."""
    from tfsingan.singan import inference  # pylint: disable=import-outside-toplevel
    if num_scales is not None:
      # Checked on state.json before any network is built.
      state = checkpointing.read_json(os.path.join(workdir or "", "state.json")) or {}
      finished = state.get("finished_scales")
      if finished and not 1 <= num_scales <= finished:
        raise UserInputError(f"--scales={num_scales}: the run has {finished} trained "
                             f"scales; expected 1..{finished}")
    return cls(inference.TrainedSinGAN.load(workdir, num_scales=num_scales))

  @property
  def num_scales(self):
    return self.model.num_scales

  def check_start_scale(self, start, flag="--start_scale", low=0):
    if not low <= start < self.num_scales:
      raise UserInputError(f"{flag}={start}: expected {low}..{self.num_scales - 1} "
                           "(0 = coarsest, the paper's N; k = the paper's N-k)")

  def noise_specs(self, start, batch=None):
    """TensorSpecs `noise_<n>` of the unit noise of scales start..N-1."""
    return [tf.TensorSpec([batch, h, w, noise_channels(n)], tf.float32, name=f"noise_{n}")
            for n, (h, w) in enumerate(self.sizes) if n >= start]

  def entering(self, start):
    """The reconstruction path's image entering `start` (1 x h x w x 3 in [-1, 1]) as
    a numpy constant, or None at scale 0. Call eagerly (outside a traced function)."""
    if start == 0:
      return None
    rec = self.model.reconstructions()[start - 1]
    return generate.upsample(tf.convert_to_tensor(rec, tf.float32), self.sizes[start]).numpy()

  def run(self, start, noises, prev=None):
    """Scales start..N-1 on unit `noises` (a list, coarsest first) -> image in [0, 1].

    `prev` enters scale `start`: B x h x w x 3 in [-1, 1] at sizes[start], or
    1 x h x w x 3 (broadcast over the batch); None means zeros (scale 0 only).
    """
    batch = tf.shape(noises[0])[0]
    if prev is None:
      if start > 0:
        raise ValueError("scales after the coarsest need the image entering them")
      h, w = self.sizes[0]
      prev = tf.zeros(tf.stack([batch, h, w, 3]))
    elif prev.shape[0] == 1:
      prev = tf.broadcast_to(prev, tf.concat([[batch], tf.shape(prev)[1:]], 0))
    maps = {}
    for n, z in zip(range(start, self.num_scales), noises):
      maps[n] = tf.tile(z, [1, 1, 1, 3]) if noise_channels(n) == 1 else z
    out = generate.run_scales(self.model.generators, self.model.noise_amps, maps,
                              self.sizes, prev=prev, start=start)
    return to_unit(out)

  def seed_noises(self, seeds, start):
    """Unit noise of scales start..N-1 drawn from each example's int64 seed
    (stateless Philox; a different stream from `tfsingan.sample`'s)."""
    specs = self.noise_specs(start)

    def one(seed):
      return tuple(tf.random.stateless_normal(spec.shape[1:], tf.stack([seed, n]))
                   for n, spec in zip(range(start, self.num_scales), specs))

    return list(tf.map_fn(one, tf.cast(seeds, tf.int64),
                          fn_output_signature=tuple(tf.TensorSpec(s.shape[1:], tf.float32)
                                                    for s in specs)))

  def sample(self, start):
    """`(noise_<start>, ..., noise_<N-1>) -> {"image"}` (see `noise_specs`)."""
    entering = self.entering(start)

    def sample(*noises):
      prev = None if entering is None else tf.constant(entering)
      return {"image": self.run(start, list(noises), prev)}

    return sample

  def sample_seed(self, start):
    """`seed (B,) int64 -> {"image"}`, the noise drawn by `seed_noises`."""
    entering = self.entering(start)

    def sample_seed(seed):
      prev = None if entering is None else tf.constant(entering)
      return {"image": self.run(start, self.seed_noises(seed, start), prev)}

    return sample_seed

  def regenerate(self, scale):
    """`(image at sizes[scale] in [0, 1], seed) -> {"image"}`: the image enters
    `scale` in place of the coarser scales' output; scales scale..N-1 add detail."""

    def regenerate(image, seed):
      return {"image": self.run(scale, self.seed_noises(seed, scale), prev=image * 2.0 - 1.0)}

    return regenerate

  def image_spec(self, scale, batch=None):
    h, w = self.sizes[scale]
    return tf.TensorSpec([batch, h, w, 3], tf.float32, name="image")


def seed_spec():
  return tf.TensorSpec([None], tf.int64, name="seed")


def make_archive(modules, endpoints):
  """A `keras.export.ExportArchive` tracking `modules` (their variables), with
  `endpoints`: (name, fn, input_signature) triples; the first is also
  `serving_default`. Input names are the TensorSpec names."""
  import keras  # pylint: disable=import-outside-toplevel
  archive = keras.export.ExportArchive()
  for module in modules:
    archive.track(module)
  for name, fn, signature in endpoints:
    archive.add_endpoint(name, fn, input_signature=signature)
  return archive


def check_writable_parent(path, flag="--out"):
  """Creates the folder that will hold `path`; UserInputError when it cannot."""
  parent = os.path.dirname(os.path.abspath(path))
  try:
    os.makedirs(parent, exist_ok=True)
  except OSError as e:
    raise UserInputError(f"{flag}={path}: cannot create {parent} ({e.strerror})") from None
  if not os.access(parent, os.W_OK):
    raise UserInputError(f"{flag}={path}: {parent} is not writable")


def sidecar(family, workdir, **fields):
  """The JSON description written next to every exported model."""
  return {"family": family, "source_run": os.path.abspath(workdir),
          "tensorflow": tf.__version__, **fields}


def ganimation_io(image_size, dtype="float32", batch=None, warp_guided=False):
  """Sidecar `inputs` / `outputs` of a GANimation graph (`warp_guided`: a model
  trained with --warp_guided, whose image input is the warped face)."""
  rng = [0, 255] if dtype == "uint8" else [0.0, 1.0]
  s = int(image_size)
  image = {"shape": [batch, s, s, 3], "dtype": dtype, "range": rng, "layout": "RGB"}
  if warp_guided:
    image["meaning"] = ("the aligned face crop of the photo after the AU warp to the same "
                        "target AUs (tfsingan.synthetic.warp.render; "
                        "tfsingan.ganimation.faces.edit_photo runs both)")
  return {
      "inputs": {
          "image": image,
          "aus": {"shape": [batch, aus_lib.NUM_AUS], "dtype": "float32", "range": [0.0, 1.0],
                  "names": list(aus_lib.AU_NAMES),
                  "meaning": f"OpenFace intensity (0..5) / {aus_lib.AU_SCALE:g}, tiled "
                             "over the image inside the graph"},
      },
      "outputs": {
          "image": {"shape": [batch, s, s, 3], "dtype": dtype, "range": rng},
          "attention": {"shape": [batch, s, s, 1], "dtype": dtype, "range": rng,
                        "meaning": "1 = input pixel kept, 0 = colour mask painted"},
          "color": {"shape": [batch, s, s, 3], "dtype": dtype, "range": rng},
      },
  }


def singan_scales(graphs):
  """Sidecar description of a SinGAN pyramid."""
  return {"num_scales": graphs.num_scales,
          "sizes": [list(s) for s in graphs.sizes],
          "noise_amps": list(graphs.model.noise_amps),
          "scale_index": "0 = coarsest (the paper's N); k = the paper's N-k"}
