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

from absl import app
from absl import flags

from tfsingan import flags as flag_lib
from tfsingan.ganimation import animate

flags.DEFINE_string("workdir", None, "Run directory of a trained GANimation.")
flags.DEFINE_string("image", None, "The photo (PNG/JPEG) whose face is edited.")
flags.DEFINE_string("out", None, "Output folder.")
flag_lib.define_config_flags(animate.AnimateConfig)

# animate.run checks --workdir (not needed with --editor=warp).
main = flag_lib.config_main(animate.AnimateConfig, animate.run, workdir=None,
                            image="the photo to animate", out="the output folder")


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
