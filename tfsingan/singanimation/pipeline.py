"""SinGANimation (thesis ch. 5): one face photo -> N expressions (GANimation) x M
variants (SinGAN), written as a labelled dataset, resumably.

Output folder:
  singanimation.json        the settings of the job (a re-run with others is refused),
                            the face edited and, for --source_aus=auto, the AUs read
  expressions/<name>.png    each expression: the photo with its face edited by
                            GANimation and pasted back (`source`: the photo itself)
  singan/                   shared mode: the SinGAN trained on the photo (unless
                            --singan_workdir); per_expression: singan/<name>/ each
  images/<name>/<name>_s<start>_<v>.png   the dataset: M variants per expression
  manifest.csv              one row per image (see `manifest.py`)
  contact_sheet.png         one row per expression: its image, its variants, a map of
                            where they differ (per-pixel std) with their diversity

Every file is written atomically and skipped when it exists, so the same command
finishes an interrupted job and does nothing for a finished one.
"""

import dataclasses
import hashlib
import json
import os

import cv2
import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.common import rundir
from tfsingan.common import sheets
from tfsingan.common.progress import Progress
from tfsingan.errors import UserInputError
from tfsingan.faces import landmarker
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import faces
from tfsingan.singan import scales
from tfsingan.singanimation import config as config_mod
from tfsingan.singanimation import expressions as expressions_lib
from tfsingan.singanimation import face_region
from tfsingan.singanimation import manifest as manifest_lib

STATE = "singanimation.json"
CONTACT_SHEET = "contact_sheet.png"
BUNDLED = "bundled:astronaut"  # source_photo of the bundled face
FAMILY = "singanimation"


def expression_file(name):
  return os.path.join("expressions", f"{name}.png")


def variant_file(name, start_scale, variant):
  return os.path.join("images", name, f"{name}_s{start_scale}_{variant:03d}.png")


def load_photo(config):
  """(photo float32 H x W x 3 in [0, 1], its name for the manifest)."""
  if not config.image:
    image_io.notice("no --image given; using the bundled face (scikit-image astronaut)")
    return image_io.bundled_face(), BUNDLED
  return image_io.load_image(config.image, channels=3, what="--image"), config.image


def job_settings(config, singan_config, photo):
  """What a job's outputs depend on: both configs (less execution options), the photo."""
  return {
      "model": FAMILY,
      "config": rundir.settings(config),
      "singan": rundir.settings(singan_config),
      "photo_sha256": hashlib.sha256(image_io.to_uint8(photo).tobytes()).hexdigest(),
  }


def check_out(out, settings):
  """The job state in `out` (None for a new job); refuses a job with other settings.

  Only reads: `out` is written after every input was checked (see `run`).
  """
  state = checkpointing.read_json(os.path.join(out, STATE))
  if state is None:
    return None
  diffs = []
  for group in ("config", "singan"):
    old = state.get(group, {})
    # An option the job does not record is newer than the job (as rundir does).
    diffs += [f"{k}: {v!r} here, {old.get(k)!r} there" for k, v in settings[group].items()
              if k in old and old[k] != v]
  if state.get("photo_sha256") != settings["photo_sha256"]:
    diffs.append("the photo differs")
  if diffs:
    raise UserInputError(f"--out={out} holds a job with other settings (" + "; ".join(diffs)
                         + "); re-run with the same flags or use a new --out")
  return state


def start_job(out, settings, state, face=None):
  """Writes the job state of a new job (the first write into `out`); returns it."""
  if state is None or face is not None:
    state = dict(state or settings)
    if face is not None:
      state["face"] = face.to_json()
    checkpointing.write_json(os.path.join(out, STATE), state)
  return state


def check_start_scale(photo, singan_config, start_scale, lowest=1):
  """The start scale must be `lowest`..N-1 of the photo's pyramid (known before training):
  injection needs a coarser scale (1), a transferred edit does not (0)."""
  try:
    pyramid = scales.scale_schedule(*photo.shape[:2], min_size=singan_config.min_size,
                                    max_size=singan_config.max_size,
                                    scale_factor=singan_config.scale_factor)
  except ValueError as e:
    raise UserInputError(f"--image: {e}") from None
  if not lowest <= start_scale < pyramid.num_scales:
    raise UserInputError(f"--start_scale={start_scale}: the SinGAN pyramid of this photo has "
                         f"{pyramid.num_scales} scales; expected {lowest}..{pyramid.num_scales - 1}"
                         " (1 = the paper's N-1)")
  return pyramid


class _Face:
  """The face of the photo, found once and kept in the job's state (a resumed job
  edits the same crop), and for --source_aus=auto the AUs read off it."""

  def __init__(self, config, photo, state, out):
    self.config, self.photo, self.state, self.out = config, photo, state, out

  def _save(self):
    checkpointing.write_json(os.path.join(self.out, STATE), self.state)

  def face(self):
    if "face" not in self.state:
      if "box" in self.state:  # a job begun before faces were aligned: its crop as it was
        face = faces.Face("--box", tuple(self.state["box"]))
      else:
        face = faces.find_faces(self.photo, self.config.box,
                                what=self.config.image or "the bundled face")[0]
        print(face.describe(), flush=True)
      self.state["face"] = face.to_json()
      self._save()
    return faces.Face.from_json(self.state["face"])

  def source_aus(self):
    """The --aus spec of the AUs read off the face (read once)."""
    if "source_aus_read" not in self.state:
      self.state["source_aus_read"] = faces.read_source_aus(
          self.photo, self.face(), self.config.face_landmarker,
          what=self.config.image or "the bundled face")
      self._save()
    return self.state["source_aus_read"]


class _Editor:
  """GANimation, loaded on first use: edits the face of the photo to given AUs."""

  def __init__(self, config, photo, face, source_aus=None):
    self.config, self.photo, self.face = config, photo, face
    self.generator, self.aligned, self.warp = None, None, None
    # An --aus spec, the start of a warp-guided model's warp: as _WarpEditor's.
    self.source_aus = config.source_aus if source_aus is None else source_aus

  def __call__(self, aus):
    if self.generator is None:
      from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
      if not self.config.ganimation_workdir:
        raise UserInputError("--ganimation_workdir is required: a trained GANimation run "
                             "(python -m tfsingan.train --model=ganimation)")
      self.generator, gan_config = inference.load_generator(self.config.ganimation_workdir)
      self.aligned = self.face.face().align(self.photo, gan_config.image_size,
                                            self.config.margin)
      self.warp = faces.photo_warp(
          gan_config, self.photo, aus_lib.parse_aus(self.source_aus, what="--source_aus"),
          face_landmarker=self.config.face_landmarker, what="--image")
    return faces.edit_photo(self.generator, self.photo, self.aligned, aus,
                            warp=self.warp)["photo"]


class _WarpEditor:
  """The landmark warp (tfsingan/synthetic/warp.py), reading the face on first use
  unless `face` (`face_region.read_face` of the photo) was read already."""

  def __init__(self, config, photo, source_aus=None, face=None):
    self.config, self.photo, self.editor, self.face = config, photo, None, face
    # An --aus spec: --source_aus as given, or the AUs read for --source_aus=auto.
    self.source_aus = config.source_aus if source_aus is None else source_aus

  def __call__(self, aus):
    if self.editor is None:
      from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
      self.editor = photos.WarpEditor(
          self.photo, source_aus=aus_lib.parse_aus(self.source_aus, what="--source_aus"),
          face_landmarker=self.config.face_landmarker or None, what="--image",
          face=self.face)
    return self.editor(aus)


class _Regenerator:
  """SinGAN: M variants of an expression image (trains the runs it needs)."""

  def __init__(self, config, singan_config, out, photo, landmarks=None):
    self.config, self.out, self.photo = config, out, photo
    self.singan_config = singan_config
    self.shared, self.samples, self.base = None, None, None
    self.gain = config.variant_noise_gain
    if config.variant_face_gain >= 0:  # the face's dense landmarks (photo pixels) given
      mask = face_region.outside_mask(landmarks, photo.shape, config.variant_face_feather)
      self.gain = face_region.gain_map(mask, config.variant_noise_gain, config.variant_face_gain)

  def _gained(self, model):
    """The model whose noise the variants take (--variant_noise_gain, --variant_face_gain)."""
    if np.ndim(self.gain) == 0 and self.gain == 1.0:
      return model
    return model.with_noise_gain(self.gain, self.config.start_scale)

  def _train(self, singan_config, workdir):
    from tfsingan.singan import trainer  # pylint: disable=import-outside-toplevel
    from tfsingan.singan.inference import TrainedSinGAN  # pylint: disable=import-outside-toplevel
    trainer.run(singan_config, workdir)
    return TrainedSinGAN.load(workdir)

  def train_shared(self):
    """shared mode: trains (or resumes, or loads) the SinGAN of the photo."""
    if self.shared is None:
      workdir = self.config.singan_workdir or os.path.join(self.out, "singan")
      self.shared = self._train(dataclasses.replace(self.singan_config, image=self.config.image),
                                workdir)
      self.shared = self._gained(self.shared)

  def __call__(self, name, image):
    from tfsingan.common.resize import imresize_np  # pylint: disable=import-outside-toplevel
    from tfsingan.singan import applications  # pylint: disable=import-outside-toplevel
    c = self.config
    if c.singan_mode == "per_expression":
      # Trained on the expression image itself, sampled from its own reconstruction
      # entering start_scale (the thesis's N-1 / N-2).
      workdir = os.path.join(self.out, "singan", name)
      singan_config = dataclasses.replace(
          self.singan_config, image=os.path.join(self.out, expression_file(name)))
      return self._gained(self._train(singan_config, workdir)).sample(
          c.variants, start_scale=c.start_scale, seed=c.seed)
    self.train_shared()
    # The expression image at the training image's size.
    image = np.clip(imresize_np(image, self.shared.sizes[-1]), 0.0, 1.0)
    if c.variant_mode == "transfer":
      # The same samples of the photo for every expression, each plus its edit: the
      # fixed-z* SinGAN's finer scales redraw an injected image that departs from the
      # photo as a ghost of the photo (benchmarks/expand_variants.py).
      if self.samples is None:
        self.samples = self.shared.sample(c.variants, start_scale=c.start_scale, seed=c.seed)
        # As 8 bits, as the expression images are read back: no edit, no change.
        photo8 = image_io.to_uint8(self.photo).astype(np.float32) / 255.0
        self.base = np.clip(imresize_np(photo8, self.shared.sizes[-1]), 0.0, 1.0)
      return np.clip(self.samples + (image - self.base), 0.0, 1.0)
    # Injected at start_scale (as paint-to-image).
    out, _ = applications.paint2image(self.shared, image, c.start_scale, num=c.variants,
                                      seed=c.seed)
    return out


def _read(path):
  return image_io.load_image(path, channels=3, quiet=True)


def run(config, singan_config, out):
  """Makes (or finishes) the dataset of `config` in `out`.

  Args:
    config: a `SinGANimationConfig`.
    singan_config: the `SinGANConfig` of the SinGAN run(s); its `image` is replaced
      by the photo (shared) or each expression image (per_expression).
    out: the output folder.

  Returns:
    dict: "new" (images written now), "total" (images of the job), "stopped"
    (True when --stop_after ended the job early).
  """
  with rundir.prepare(out, None, family=FAMILY, flag="--out") as run_dir:
    photo, source_photo = load_photo(config)
    plan = expressions_lib.plan_expressions(config)
    check_start_scale(photo, singan_config, config.start_scale,
                      lowest=0 if config.variant_mode == "transfer" else 1)
    auto = config.source_aus.strip().lower() == config_mod.AUTO
    if auto or config.variant_face_gain >= 0:
      landmarker.find_task_file(config.face_landmarker or None)  # fails before any work
    settings = job_settings(config, singan_config, photo)
    state = check_out(out, settings)
    # Every input is checked before the job state claims `out` and SinGAN trains.
    first_face = _first_face(config, photo, plan, state, auto)
    _check_runs(config, singan_config, out)
    face_read = None
    if config.variant_face_gain >= 0:  # a photo without a face fails here
      face_read = face_region.read_face(photo, config.face_landmarker,
                                        what=config.image or "the bundled face")
    run_dir.start()
    state = start_job(out, settings, state, first_face)
    return _make(config, singan_config, out, photo, source_photo, plan, state, auto, face_read)


def _first_face(config, photo, plan, state, auto):
  """The face a new job edits (found before anything is written: a bad --box or a
  photo without a face fails first); None when the job knows it or needs none."""
  if state and ("face" in state or "box" in state):
    return None
  if not auto and (config.editor != "ganimation" or all(e.name == "source" for e in plan)):
    return None
  face = faces.find_faces(photo, config.box, what=config.image or "the bundled face")[0]
  print(face.describe(), flush=True)
  return face


def _check_runs(config, singan_config, out):
  """The GANimation run is one; the shared SinGAN run directory, if any, holds this run."""
  if config.editor == "ganimation" and config.ganimation_workdir:
    rundir.check_family(config.ganimation_workdir, "ganimation", "--ganimation_workdir")
  if config.singan_mode == "shared":
    flag = "--singan_workdir" if config.singan_workdir else "--out"
    workdir = config.singan_workdir or os.path.join(out, "singan")
    rundir.check_run(workdir, dataclasses.replace(singan_config, image=config.image),
                     "singan", flag)


def _make(config, singan_config, out, photo, source_photo, plan, state, auto, face_read=None):
  face = _Face(config, photo, state, out)
  spec = None
  if auto:
    spec = face.source_aus()
    print(f"source AUs read: {aus_lib.format_aus(aus_lib.parse_aus(spec))}", flush=True)
    plan = expressions_lib.plan_expressions(config, source_aus=spec)
  if config.editor == "warp":
    edit = _WarpEditor(config, photo, spec, face_read)
  else:
    edit = _Editor(config, photo, face, spec)
  regenerate = _Regenerator(config, singan_config, out, photo,
                            None if face_read is None else face_read[0])
  s, m = config.start_scale, config.variants

  def missing(name):
    return [v for v in range(m) if not os.path.exists(os.path.join(out, variant_file(name, s, v)))]

  total = len(plan) * m
  complete = sum(not missing(e.name) for e in plan)
  print(f"expand: {len(plan)} expressions x {m} variants from scale {s} "
        f"({config.singan_mode} SinGAN) = {total} images; {complete} expressions done",
        flush=True)
  if complete < len(plan) and config.singan_mode == "shared":
    regenerate.train_shared()  # first, so that the bar below times only the expressions
  progress = Progress(len(plan), "expressions", done=complete)
  new, stopped = 0, False
  for expression in plan:
    path = os.path.join(out, expression_file(expression.name))
    if not os.path.exists(path):
      image_io.save_image(path, photo if expression.name == "source" else edit(expression.aus))
    todo = missing(expression.name)
    if not todo:
      continue
    # Read back from the PNG, so that a resumed job sees the same (8-bit) input.
    variants = regenerate(expression.name, _read(path))
    for v in todo:
      image_io.save_image(os.path.join(out, variant_file(expression.name, s, v)), variants[v])
      new += 1
      stopped = config.stop_after and new >= config.stop_after
      if stopped:
        break
    if stopped:
      break
    complete += 1
    progress.update(complete, f"{new} new images")
  rows = write_outputs(out, plan, config, source_photo)
  if stopped:
    print(f"stopped after {new} new images (--stop_after={config.stop_after}); run the same "
          "command again to continue", flush=True)
  print(f"wrote {new} new images ({len(rows)} of {total} exist); {manifest_lib.MANIFEST} and "
        f"{CONTACT_SHEET} in {out}", flush=True)
  return {"new": new, "total": total, "stopped": bool(stopped)}


def write_outputs(out, plan, config, source_photo):
  """Writes manifest.csv and the contact sheet from the images that exist; returns the rows."""
  from tfsingan.metrics.diversity import diversity  # pylint: disable=import-outside-toplevel
  s, m = config.start_scale, config.variants
  rows, sheet, labels, diversities = [], [], [], []
  for label, expression in enumerate(plan):
    cells = []
    for v in range(m):
      rel = variant_file(expression.name, s, v)
      if not os.path.exists(os.path.join(out, rel)):
        continue
      rows.append({"file": rel, "expression": expression.name, "label": label, "variant": v,
                   "start_scale": s, "seed": config.seed, "source_photo": source_photo,
                   "aus": expression.aus})
      cells.append(_read(os.path.join(out, rel)))
    if not cells:
      continue
    path = os.path.join(out, expression_file(expression.name))
    image = None
    if os.path.exists(path):
      h, w = cells[0].shape[:2]
      image = cv2.resize(_read(path), (w, h), interpolation=cv2.INTER_AREA)
    sheet.append((image, cells))
    labels.append(expression.name)
    diversities.append(diversity(cells, image) if image is not None and len(cells) > 1
                       else None)
  manifest_lib.write_manifest(out, rows)
  if sheet:
    image_io.save_image(os.path.join(out, CONTACT_SHEET),
                        sheets.contact_sheet(sheet, labels, diversities, config.editor))
  return rows


def resolved_json(config, singan_config):
  """Both configs as one JSON document (for --dry_run)."""
  return json.dumps({"singanimation": dataclasses.asdict(config),
                     "singan": dataclasses.asdict(singan_config)}, indent=2, sort_keys=True)
