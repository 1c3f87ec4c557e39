"""Readings of the AU reader of tfsingan.faces (MediaPipe Face Landmarker blendshapes
mapped to GANimation's 17 AUs, Pumarola et al. 2018) on the shared real photos and
along the expressive video, with the time of each stage.

For each photo: MTCNN detection, the dense landmarks (3 crops), the blendshapes and
AU table, their seconds, and the 17 AUs. For the video (crying, then surprised,
then laughing): the AUs of every --every-th frame, plotted over time (OpenCV
drawing; matplotlib is not a dependency).

  python -m benchmarks.au_reader_readings            # writes benchmarks/results/au_reader_readings.{json,png}
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
import cv2
import numpy as np

from benchmarks.machine import machine_info
from tfsingan import faces
from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error
from tfsingan.faces import detection
from tfsingan.ganimation.aus import AU_NAMES

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_FACES = os.path.join(HERE, "..", "..", "shared", "data", "real_faces")

flags.DEFINE_string("photos", REAL_FACES, "Folder of photos (*.jpg, *.png) to read.")
flags.DEFINE_string("video", os.path.join(REAL_FACES, "expressive_video.mp4"), "A video to "
                    "read along (empty: none).")
flags.DEFINE_integer("every", 2, "Read every N-th frame of the video.")
flags.DEFINE_string("out", os.path.join(HERE, "results", "au_reader_readings"), "Output "
                    "path without extension: .json and .png are written.")
flags.DEFINE_string("face_landmarker", "", "MediaPipe's face_landmarker.task (default: the "
                    "installed one).")
FLAGS = flags.FLAGS

PLOTTED = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU12", "AU15", "AU25", "AU26",
           "AU45")
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
           (0, 0, 0)]


def read_one(reader, photo):
  """(reading or None, detector, seconds per stage) of the largest face of `photo`."""
  t0 = time.perf_counter()
  found = faces.detect(photo)
  t1 = time.perf_counter()
  if not found:
    return None, None, {"detect_s": t1 - t0}
  det = found[0]
  mesh = reader.landmarker.landmarks(photo, det.box, det.landmarks5[:2], passes=reader.passes)
  t2 = time.perf_counter()
  reading = reader.read(photo, det)  # again, whole: checks read() = the stages timed here
  t3 = time.perf_counter()
  np.testing.assert_allclose(reading.landmarks, mesh.landmarks, atol=1e-3)
  return reading, det.detector, {"detect_s": t1 - t0, "landmarks_s": t2 - t1,
                                 "read_s": t3 - t2}


def plot(times, aus, photo_rows, path):
  """AU traces along the video (top) and the photos' AUs as bars (bottom)."""
  w, h, left, top = 1200, 420, 60, 30
  canvas = np.full((h + 60 + 40 * len(photo_rows) + 60, w + left + 180, 3), 255, np.uint8)
  put = lambda text, xy, scale=0.45, colour=(0, 0, 0): cv2.putText(
      canvas, text, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
  put("AU reader along expressive_video.mp4 (crying -> surprise -> laughing); "
      "AUs in [0, 1] (OpenFace / 5, not calibrated)", (left, 20), 0.5)
  x0, y0 = left, top
  cv2.rectangle(canvas, (x0, y0), (x0 + w, y0 + h), (0, 0, 0), 1)
  tmax = max(times) if times else 1.0
  for v in (0.25, 0.5, 0.75):
    y = int(y0 + h - v * h)
    cv2.line(canvas, (x0, y), (x0 + w, y), (220, 220, 220), 1)
    put(f"{v:.2f}", (x0 - 40, y + 4))
  for t in range(0, int(tmax) + 1, 2):
    x = int(x0 + t / tmax * w)
    cv2.line(canvas, (x, y0 + h), (x, y0 + h + 5), (0, 0, 0), 1)
    put(f"{t}s", (x - 8, y0 + h + 20))
  for k, name in enumerate(PLOTTED):
    i = AU_NAMES.index(name)
    points = np.array([[x0 + t / tmax * w, y0 + h - a[i] * h] for t, a in zip(times, aus)
                       if np.isfinite(a[i])], np.int32)
    thickness = 3 if name == "AU12" else 1
    if len(points) > 1:
      cv2.polylines(canvas, [points], False, COLOURS[k], thickness, cv2.LINE_AA)
    cv2.line(canvas, (x0 + w + 15, y0 + 15 + 22 * k), (x0 + w + 45, y0 + 15 + 22 * k),
             COLOURS[k], thickness)
    put(name, (x0 + w + 52, y0 + 20 + 22 * k))
  y = y0 + h + 50
  put("photos (largest face): bar per AU", (left, y), 0.5)
  bar_w = w // len(AU_NAMES)
  for k, name in enumerate(AU_NAMES):
    put(name[2:], (x0 + k * bar_w + bar_w // 3, y + 18))
  for r, (label, values) in enumerate(photo_rows):
    yy = y + 30 + 40 * r
    put(label[:14], (x0 + w + 10, yy + 25))
    for k, v in enumerate(values):
      bx = x0 + k * bar_w + 4
      cv2.rectangle(canvas, (bx, yy + 32), (bx + bar_w - 8, yy + 32 - int(30 * v)),
                    (90, 90, 200) if AU_NAMES[k] != "AU12" else (200, 60, 60), -1)
      cv2.rectangle(canvas, (bx, yy + 2), (bx + bar_w - 8, yy + 32), (200, 200, 200), 1)
  image_io.save_image(path, canvas[:, :, ::-1].astype(np.float32) / 255.0)


@exit_on_user_error
def main(argv):
  del argv
  if FLAGS.every < 1:
    raise UserInputError(f"--every={FLAGS.every}: expected a positive integer")
  if not os.path.isdir(FLAGS.photos):
    raise UserInputError(f"--photos={FLAGS.photos}: no such folder")
  t0 = time.perf_counter()
  reader = faces.AUReader(FLAGS.face_landmarker or None)
  load_reader_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  detection.detect_mtcnn(image_io.bundled_face())  # builds MTCNN (imports TensorFlow)
  load_mtcnn_s = time.perf_counter() - t0
  photos, rows = {}, []
  names = sorted(n for n in os.listdir(FLAGS.photos) if n.lower().endswith((".jpg", ".png")))
  print(f"{'photo':20s} {'size':>10s} {'det':>6s} {'detect':>7s} {'mesh':>6s} {'read':>6s}  "
        + " ".join(a[2:] for a in AU_NAMES))
  for name in names:
    photo = image_io.load_image(os.path.join(FLAGS.photos, name), channels=3, quiet=True)
    reading, detector, seconds = read_one(reader, photo)
    entry = {"shape": list(photo.shape[:2]), "detector": detector, **seconds}
    if reading is not None:
      entry.update(aus=reading.as_dict(), quality=reading.quality,
                   blendshapes=reading.blendshapes)
      rows.append((name, reading.aus))
      print(f"{name:20s} {photo.shape[1]:>4d}x{photo.shape[0]:<5d} {detector:>6s} "
            f"{seconds['detect_s']:6.2f}s {seconds['landmarks_s']:5.2f}s "
            f"{seconds['read_s']:5.2f}s  " + " ".join(f"{v:.2f}"[1:] if v < 1 else "1.0"
                                                       for v in reading.aus))
    photos[name] = entry
  times, aus, frames = [], [], []
  if FLAGS.video:
    capture = cv2.VideoCapture(FLAGS.video)
    if not capture.isOpened():
      raise UserInputError(f"--video={FLAGS.video}: cannot be read")
    fps = capture.get(cv2.CAP_PROP_FPS) or 24.0
    index = 0
    while True:
      ok, frame = capture.read()
      if not ok:
        break
      if index % FLAGS.every == 0:
        photo = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        reading, detector, seconds = read_one(reader, photo)
        row = {"frame": index, "t": index / fps, "detector": detector, **seconds}
        if reading is not None:
          row.update(aus=reading.as_dict(), quality=reading.quality)
          times.append(index / fps)
          aus.append(reading.aus)
        frames.append(row)
      index += 1
    print(f"video: {len(frames)} frames read, {len(times)} with a face")
  i12 = AU_NAMES.index("AU12")
  summary = {}
  if times:
    t = np.array(times)
    a12 = np.array(aus)[:, i12]
    summary = {"au12_first_second_mean": float(a12[t < 1.0].mean()),
               "au12_first_second_range": [float(a12[t < 1.0].min()), float(a12[t < 1.0].max())],
               "au12_last_2s_mean": float(a12[t > t.max() - 2.0].mean()),
               "au12_last_2s_range": [float(a12[t > t.max() - 2.0].min()),
                                      float(a12[t > t.max() - 2.0].max())]}
    print(summary)
  def median(key, entries):
    values = [e[key] for e in entries if key in e]
    return float(np.median(values)) if values else None
  timing = {"load_reader_s": load_reader_s, "load_mtcnn_s": load_mtcnn_s,
            "video_frame_median": {k: median(k, frames) for k in ("detect_s", "landmarks_s",
                                                                   "read_s")}}
  print(timing)
  report = {"machine": machine_info(), "note": "2 CPU cores shared by other sessions: "
            "timings measured under load", "au_names": list(AU_NAMES),
            "photos": photos, "video": {"path": os.path.basename(FLAGS.video),
                                        "every": FLAGS.every, "frames": frames},
            "summary": summary, "timing": timing}
  os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
  checkpointing.write_json(f"{FLAGS.out}.json", report)
  plot(times, aus, rows, f"{FLAGS.out}.png")
  print(f"wrote {FLAGS.out}.json and {FLAGS.out}.png")


if __name__ == "__main__":
  app.run(main)
