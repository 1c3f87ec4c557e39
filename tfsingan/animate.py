"""Animates the face of a photo with a trained GANimation (Pumarola et al., ECCV 2018).

Usage:
  python -m tfsingan.animate --workdir=RUN --image=PHOTO --out=DIR
      (--emotion=happy[,sad,...|all] | --aus=AU12:1.0,AU06:0.8 | --sweep=AU12)
      [--interpolate=N] [--source_aus=AU..] [--box=x,y,w,h] [--margin=0.25]
  python -m tfsingan.animate --editor=warp --image=PHOTO --out=DIR --emotion=...

--editor=ganimation (default) edits with the GANimation of --workdir;
--editor=warp moves the face's 478 MediaPipe landmarks as the AUs say and warps
the photo (tfsingan/synthetic/warp.py): no trained model needed, the baseline a
learned editor must beat. It finds the face itself (tfsingan.faces); --box only
chooses the crop shown in grid.png.

What to do (exactly one of):
  --emotion  the EMFACS prototype of happy, sad, fear, anger, surprise or disgust
             (see tfsingan/ganimation/aus.py); several comma-separated, or `all`.
  --aus      explicit target intensities in [0, 1] (OpenFace's 0..5 divided by 5);
             unnamed AUs are 0.
  --sweep    one AU at 0, 0.33, 0.66 and 1, the others as in --source_aus.
  --interpolate=N (with one --emotion or --aus) N frames from the source AUs y_s to
             the target y_t, alpha * y_t + (1 - alpha) * y_s, alpha = 0 .. 1.
--source_aus describes the photo's own expression (default: all zeros, a neutral
face); --sweep and --interpolate start from it.

The face: the largest frontal face found by scikit-image's bundled LBP cascade,
grown by --margin of its size on each side to a square (clipped to the photo);
or --box=x,y,w,h, used as the crop as it is (no margin). The crop is resized to
the model's size, edited, and pasted back through the generator's attention
mask A (1 = keep): crop' = A * crop + (1 - A) * colour, with A and the colour
mask resized to the crop. Pixels outside the crop never change.

Writes to --out:
  <name>.png     the whole photo, edited (name = the emotion, `aus`, `AU12_0.33`);
  grid.png       one labelled row per edit: input face, attention (white = kept),
                 edited face;
  --interpolate: frames/frame_000.png .. (whole photos), <name>.gif, <name>.png
                 (the last frame).
The box used is printed as a `--box=` flag to repeat the crop on a related photo.
Bad input (missing photo, bad --aus / --box, unknown emotion, a --workdir without
a trained model, no face found) ends with one line and exit code 2.
"""

import os

from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error
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
                     "(one --emotion or --aus), written as frames and a GIF.")
flags.DEFINE_string("source_aus", "", "AUs of the photo's own expression, the start of "
                    "--sweep and --interpolate (default: all zeros = neutral).")
flags.DEFINE_string("box", None, "Face crop x,y,w,h in pixels (default: detect the face).")
flags.DEFINE_float("margin", 0.25, "Margin added on each side of a detected face, as a "
                   "fraction of its size.")
flags.DEFINE_float("fps", 8.0, "Frames per second of the --interpolate GIF.")
flags.DEFINE_enum("editor", "ganimation", ["ganimation", "warp"], "ganimation: the trained "
                  "model of --workdir; warp: the landmark warp (no model).")
flags.DEFINE_string("face_landmarker", None, "--editor=warp: MediaPipe's face_landmarker.task "
                    "(default: the installed copy).")
FLAGS = flags.FLAGS


def write_edits(edit_photo, size, photo, box, edits, out, *, sequence=None, fps=8.0):
  """Runs every edit of `plan_edits` on `photo` and writes the outputs (`sequence`: the
  name of an interpolation, written as frames and a GIF). `edit_photo(target)` returns
  what `faces.edit_photo` does; `box` and `size` make the crops of grid.png."""
  from tfsingan.singan.applications import write_gif  # pylint: disable=import-outside-toplevel
  os.makedirs(out, exist_ok=True)
  rows, labels, frames = [], [], []
  x, y, w, h = box
  for name, label, target in edits:
    result = edit_photo(target)
    edited_face = faces.crop(result["photo"], box, size)
    rows.append([result["face"], result["attention"][:, :, None], edited_face])
    labels.append(label)
    if sequence:
      frames.append(result["photo"])
      image_io.save_image(os.path.join(out, "frames", f"{name}.png"), result["photo"])
    else:
      image_io.save_image(os.path.join(out, f"{name}.png"), result["photo"])
  image_io.save_image(os.path.join(out, "grid.png"), image_io.make_grid(rows, labels))
  written = [f"{n}.png" for n, _, _ in edits] if not sequence else []
  if sequence:
    stem = sequence
    write_gif(os.path.join(out, f"{stem}.gif"), frames, fps=fps)
    image_io.save_image(os.path.join(out, f"{stem}.png"), frames[-1])
    written = [f"frames/ ({len(frames)} frames)", f"{stem}.gif", f"{stem}.png"]
  print(f"wrote {', '.join(written + ['grid.png'])} to {out} (face crop x={x} y={y} "
        f"{w}x{h})", flush=True)


def _check_workdir(workdir):
  # A cheap look before importing TensorFlow (inference.CONFIG_NAME; importing it
  # would load TensorFlow); load_generator checks everything again.
  if not os.path.isfile(os.path.join(workdir, "config.json")):
    raise UserInputError(f"--workdir: {workdir!r} holds no GANimation run (no config.json); "
                         "expected the --workdir of `python -m tfsingan.train --model=ganimation`")


@exit_on_user_error
def main(argv):
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {argv[1:]}")
  warp = FLAGS.editor == "warp"
  workdir = None if warp else flag_lib.require(FLAGS.workdir, "workdir",
                                               "a trained GANimation run directory")
  image_path = flag_lib.require(FLAGS.image, "image", "the photo to animate")
  out = flag_lib.require(FLAGS.out, "out", "the output folder")
  edits, sequence = aus_lib.plan_edits(
      emotion=FLAGS.emotion, aus=FLAGS.aus, sweep=FLAGS.sweep,
      interpolate=FLAGS.interpolate, source_aus=FLAGS.source_aus)
  if not FLAGS.source_aus and (sequence or FLAGS.sweep):
    image_io.notice("source AUs: all zeros (a neutral face); pass --source_aus if the photo "
            "shows an expression")
  if FLAGS.fps <= 0:
    raise UserInputError(f"--fps={FLAGS.fps}: expected a positive number")
  if FLAGS.margin < 0:
    raise UserInputError(f"--margin={FLAGS.margin}: expected a fraction >= 0")
  photo = image_io.load_image(image_path, channels=3, what="--image")
  if warp:
    from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
    editor = photos.WarpEditor(photo, source_aus=aus_lib.parse_aus(FLAGS.source_aus),
                               face_landmarker=FLAGS.face_landmarker, what=image_path)
    box = faces.parse_box(FLAGS.box, photo.shape) if FLAGS.box else editor.box(FLAGS.margin)
    size = 128  # grid.png's crops (no model size to follow)
    write_edits(lambda target: editor.edit_photo(target, box, size), size, photo, box, edits,
                out, sequence=sequence, fps=FLAGS.fps)
    return
  _check_workdir(workdir)
  box, how = faces.find_box(photo, FLAGS.box, FLAGS.margin, what=image_path)
  if how == "detected":
    image_io.notice(f"face crop --box={','.join(str(v) for v in box)} (detected; pass --box to "
            "override)")
  # Imported late: TensorFlow takes seconds to load and bad flags should fail fast.
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  generator, config = inference.load_generator(workdir)
  write_edits(lambda target: faces.edit_photo(generator, photo, box, target, config.image_size),
              config.image_size, photo, box, edits, out, sequence=sequence, fps=FLAGS.fps)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
