"""The GANimation training set that `python -m tfsingan.prepare` writes from its per-source records.

The on-disk layout is the original code's (`tfsingan.ganimation.layouts`, format A):
imgs/, aus_openface.pkl and <split>_ids.csv, plus index.csv, report.json and
contact_sheet.png (see `tfsingan.prepare.pipeline`).
"""

import csv
import hashlib
import io
import math
import os
import pickle

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation.layouts import PICKLE_NAME

IMG_DIR = "imgs"
INDEX_COLUMNS = ("id", "source", "frame", "face", "x", "y", "w", "h", "confidence",
                 "aus_from") + aus_lib.AU_NAMES
CONTACT_SHEET_FACES = 48


def split_sources(stems, test_fraction, seed):
  """(train stems, test stems): sources ranked by a seeded hash of their stem; the
  first round(test_fraction * n) (at least 1 with n >= 2 and a fraction > 0, at
  most n - 1) are the test split."""
  ranked = sorted(stems, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
  n = len(ranked)
  n_test = 0
  if n >= 2 and test_fraction > 0:
    n_test = min(n - 1, max(1, int(round(test_fraction * n))))
  test = sorted(ranked[:n_test])
  return sorted(ranked[n_test:]), test


def _csv_text(rows, header=None):
  buf = io.StringIO()
  writer = csv.writer(buf, lineterminator="\n")
  if header:
    writer.writerow(header)
  writer.writerows(rows)
  return buf.getvalue().encode("utf-8")


def _index_row(face):
  values = [face[k] for k in INDEX_COLUMNS[:10]]
  return values + ["" if v is None else f"{v:.4f}" for v in face["aus"]]


def top_aus(aus, k=3):
  pairs = [(v, n) for n, v in zip(aus_lib.AU_NAMES, aus) if v is not None]
  return [f"{n} {v:.2f}" for v, n in sorted(pairs, reverse=True)[:k]]


def sheet_faces(faces, limit=CONTACT_SHEET_FACES):
  """Up to `limit` faces, evenly spread within each source, every source shown
  (with more sources than `limit`: the first face of `limit` evenly spread ones)."""
  by_source = {}
  for face in faces:
    by_source.setdefault(face["source"], []).append(face)
  if len(by_source) > limit:
    groups = list(by_source.values())
    return [groups[i][0] for i in np.linspace(0, len(groups) - 1, limit).round().astype(int)]
  spare = max(0, limit - len(by_source))  # one face for each source, then by size
  chosen = []
  for group in by_source.values():
    quota = 1 + (spare * (len(group) - 1)) // max(1, len(faces) - len(by_source))
    picks = np.linspace(0, len(group) - 1, min(quota, len(group))).round().astype(int)
    chosen += [group[i] for i in sorted(set(picks))]
  return chosen


def contact_sheet(out, faces, test_ids, size):
  """Kept crops (`sheet_faces`), each with its source, frame, split and 3
  strongest AUs written below it."""
  import cv2  # pylint: disable=import-outside-toplevel
  if not faces:
    return None
  chosen = sheet_faces(faces)
  cell = max(size, 96)
  text_h = 40
  cols = min(8, len(chosen))
  rows = math.ceil(len(chosen) / cols)
  sheet = np.full((rows * (cell + text_h), cols * cell, 3), 255, np.uint8)
  for i, face in enumerate(chosen):
    crop = image_io.to_uint8(image_io.load_image(
        os.path.join(out, IMG_DIR, face["id"] + ".jpg"), quiet=True))
    crop = cv2.resize(crop, (cell, cell), interpolation=cv2.INTER_LINEAR)
    r, c = divmod(i, cols)
    y, x = r * (cell + text_h), c * cell
    sheet[y:y + cell, x:x + cell] = crop
    strongest = top_aus(face["aus"])
    stem = os.path.splitext(os.path.basename(face["source"]))[0]
    lines = [f"{stem[:12]} f{face['frame']}" + (f" #{face['face']}" if face["face"] else "")
             + (" test" if face["id"] in test_ids else ""),
             ", ".join(strongest[:2]), ", ".join(strongest[2:])]
    for j, line in enumerate(lines):
      cv2.putText(sheet, line, (x + 2, y + cell + 11 + 12 * j), cv2.FONT_HERSHEY_SIMPLEX,
                  0.32, (0, 0, 0), 1, cv2.LINE_AA)
  path = os.path.join(out, "contact_sheet.png")
  image_io.save_image(path, sheet)
  return path


def write_dataset(out, config, sources, states, *, seconds, workers):
  """Writes the GANimation files, index.csv, report.json and the contact sheet."""
  faces = sorted((f for s in sources for f in states[s.stem]["faces"]), key=lambda f: f["id"])
  with_faces = [s.stem for s in sources if states[s.stem]["faces"]]
  train, test = split_sources(with_faces, config.test_fraction, config.seed)
  test_set = set(test)
  stem_of = {s.path: s.stem for s in sources}
  test_ids = {f["id"] for f in faces if stem_of[f["source"]] in test_set}
  # The pickle holds OpenFace's raw 0..5 scale, as the original's; an AU the
  # reader reports missing (NaN) is written as 0 there, blank in index.csv.
  table = {f["id"]: np.asarray([0.0 if v is None else v * aus_lib.AU_SCALE for v in f["aus"]],
                               np.float64) for f in faces}
  image_io.atomic_write_bytes(os.path.join(out, PICKLE_NAME),
                              pickle.dumps(table, protocol=4))
  for name, ids in (("train", [f["id"] for f in faces if f["id"] not in test_ids]),
                    ("test", [f["id"] for f in faces if f["id"] in test_ids])):
    image_io.atomic_write_bytes(os.path.join(out, f"{name}_ids.csv"),
                                "".join(f"{i}.jpg\n" for i in ids).encode("utf-8"))
  image_io.atomic_write_bytes(os.path.join(out, "index.csv"),
                              _csv_text([_index_row(f) for f in faces], INDEX_COLUMNS))
  sheet = contact_sheet(out, faces, test_ids, config.size)
  report = build_report(config, sources, states, faces, train, test, test_ids,
                        seconds=seconds, workers=workers)
  report["contact_sheet"] = os.path.basename(sheet) if sheet else None
  checkpointing.write_json(os.path.join(out, "report.json"), report)
  return report


def build_report(config, sources, states, faces, train, test, test_ids, *, seconds, workers):
  dropped = {}
  per_source = {}
  for s in sources:
    st = states[s.stem]
    for reason, n in st["dropped"].items():
      dropped[reason] = dropped.get(reason, 0) + n
    per_source[s.stem] = {
        "path": s.path, "kind": s.kind, "frames_examined": st["examined"],
        "faces_detected": st["detected"], "faces_kept": len(st["faces"]),
        "seconds": st.get("seconds", 0.0),
        "dropped": {k: v for k, v in st["dropped"].items() if v},
        "dropped_examples_frames": st["examples"],
        "split": "test" if s.stem in test else ("train" if s.stem in train else None)}
    if s.kind == "video":
      per_source[s.stem]["frame_step"] = (s.frames[1] - s.frames[0]) if len(s.frames) > 1 else 1
      per_source[s.stem]["fps"] = s.fps
  sharp = [f["sharpness"] for f in faces]
  return {
      "sources": len(sources),
      "photos": sum(s.kind == "photo" for s in sources),
      "videos": sum(s.kind == "video" for s in sources),
      "frames_examined": sum(states[s.stem]["examined"] for s in sources),
      "faces_detected": sum(states[s.stem]["detected"] for s in sources),
      "faces_kept": len(faces),
      "dropped": dropped,
      "sources_without_usable_face": [s.path for s in sources if not states[s.stem]["faces"]],
      "aus_from": {k: sum(f["aus_from"] == k for f in faces) for k in ("openface", "reader")},
      "detector": {k: sum(f["detector"] == k for f in faces) for k in ("mtcnn", "cascade")},
      "aus_missing": {n: sum(f["aus"][i] is None for f in faces)
                      for i, n in enumerate(aus_lib.AU_NAMES)
                      if any(f["aus"][i] is None for f in faces)},
      "sharpness_of_kept": ({"min": min(sharp), "median": float(np.median(sharp)),
                             "max": max(sharp)} if sharp else None),
      "split": {"train_sources": train, "test_sources": test,
                "train_faces": len(faces) - len(test_ids), "test_faces": len(test_ids)},
      "thresholds": {"min_face": config.smallest_face, "min_sharpness": config.min_sharpness,
                     "max_asymmetry": config.max_asymmetry},
      "per_source": per_source,
      # Decoding, detection, checks, AU reading and writing, summed over the sources
      # and over resumed runs; the last run's wall time (model loading included) apart.
      "seconds_processing": round(sum(states[s.stem].get("seconds", 0.0) for s in sources), 1),
      "seconds_this_run": round(seconds, 1),
      "workers": workers,
  }
