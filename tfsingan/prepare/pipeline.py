"""Photos and videos -> a GANimation training set (Pumarola et al., ECCV 2018, on-disk format).

For every source (photo or video) and every kept frame: detect the faces
(`tfsingan.faces.detect`, MTCNN with 5 landmarks), drop those that fail
`quality.drop_reason`, align the others to the template (`tfsingan.faces.align`,
the same crop `animate` and `expand` edit), read their AUs (OpenFace CSV, else
`tfsingan.faces.AUReader`) and write the crop. Then the whole set is written from
the per-source records:

  OUT/imgs/<id>.jpg        aligned crops, --size x --size
  OUT/aus_openface.pkl     dict id -> 17 AU intensities on OpenFace's 0..5 scale
  OUT/train_ids.csv        one `<id>.jpg` per line (test_ids.csv alike)
  OUT/index.csv            one row per kept face (INDEX_COLUMNS)
  OUT/report.json          what was kept and dropped, per reason and per source
  OUT/contact_sheet.png    kept crops with their strongest AUs
  OUT/config.json          the settings ("model": "prepare")
  OUT/sources/<stem>.json  per-source progress, for resuming

Ids are `<stem>_<frame:06d>_<face>` (frame 0 for a photo; face 0 is the largest).
The split is by source: all faces of a photo or video are in the same split.
Every file is written atomically; a source's record is rewritten every few
seconds with the frames done, so a killed run resumes where it stopped.
"""

import concurrent.futures
import json
import math
import multiprocessing
import os
import sys
import time

import numpy as np

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.common import rundir
from tfsingan.common.progress import Progress
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.ganimation import layouts
from tfsingan.prepare.dataset import IMG_DIR, write_dataset
from tfsingan.prepare import quality
from tfsingan.prepare import sources as sources_lib

FAMILY = "prepare"
CONFIG_NAME = "config.json"
STATE_DIR = "sources"
NO_OPENFACE_ROW = "no_openface_row"  # --openface_csv has no successful row for the face
SAVE_EVERY_S = 5.0  # how often a source's record is rewritten while it runs


def face_id(stem, frame, face):
  return f"{stem}_{frame:06d}_{face}"


# ---------------------------------------------------------------- the out folder
def check_out(out):
  """Refuses a non-empty `out` that holds no run (read-only: `run` claims it later)."""
  rundir.check_folder_path(out, "--out")
  if (os.path.isdir(out) and os.listdir(out)
      and not os.path.isfile(os.path.join(out, CONFIG_NAME))):
    raise UserInputError(f"--out={out}: the folder is not empty and holds no prepare job; "
                         "expected a new or empty folder, or the --out of an earlier prepare")


# ---------------------------------------------------------------- AUs
def openface_tables(config, sources):
  """stem -> OpenFaceTable for the sources with a CSV in --openface_csv (read and
  checked before any work, so a malformed CSV stops the run at once)."""
  if not config.openface_csv:
    return {}
  if not os.path.isdir(config.openface_csv):
    raise UserInputError(f"--openface_csv={config.openface_csv}: not a folder; expected "
                         "the folder of OpenFace's <stem>.csv files")
  tables = {}
  for source in sources:
    path = os.path.join(config.openface_csv, source.stem + ".csv")
    if os.path.isfile(path):
      table = layouts.read_openface_table(path)
      if source.kind == "video" and table.frame is None:
        raise UserInputError(f"{path}: no frame column; expected the CSV of OpenFace "
                             f"FeatureExtraction for the video {source.path}")
      tables[source.stem] = table
  return tables


def openface_aus(table, source, frame):
  """Raw 0..5 AUs from a source's OpenFace table, or None when it has no row there.

  OpenFace describes one face per photo (the most confident row) or per frame
  (the most confident row of that frame; OpenFace counts frames from 1, we
  from 0). It is given to face 0, the largest; other faces get the AU reader.
  """
  if source.kind == "photo":
    best = table.best_row()
  else:
    rows = table.rows_of_frame(frame + 1)
    best = max(rows, key=lambda i: table.confidence[i]) if rows else None
  return None if best is None else table.aus[best]


# ---------------------------------------------------------------- one source
class FaceTools:
  """Detector, aligner and (built on first use) AU reader of one process."""

  def __init__(self, config):
    from tfsingan import faces  # pylint: disable=import-outside-toplevel
    self.faces = faces
    self.config = config
    self._reader = None

  @property
  def reader(self):
    if self._reader is None:
      self._reader = self.faces.AUReader(face_landmarker=self.config.face_landmarker or None)
    return self._reader


def _new_state(source):
  return {"path": source.path, "kind": source.kind, "frames": len(source.frames),
          "next": 0, "done": False, "examined": 0, "detected": 0,
          "dropped": {r: 0 for r in (quality.NO_FACE,) + quality.REASONS + (NO_OPENFACE_ROW,)},
          "examples": {}, "faces": [], "seconds": 0.0}


def _drop(state, reason, frame):
  state["dropped"][reason] += 1
  examples = state["examples"].setdefault(reason, [])
  if len(examples) < 5:
    examples.append(frame)


def process_frame(tools, config, source, table, state, frame, image, out):
  """Detects, checks, reads and writes the faces of one frame into `state`."""
  state["examined"] += 1
  detections = tools.faces.detect(image)
  if not detections:
    _drop(state, quality.NO_FACE, frame)
    return
  if config.faces == "largest":
    detections = detections[:1]
  for face, det in enumerate(detections):
    state["detected"] += 1
    aligned = tools.faces.align(image, det.landmarks5, size=config.size)
    reason = quality.drop_reason(
        det.box, det.landmarks5, image.shape, aligned.image, min_face=config.smallest_face,
        max_asymmetry=config.max_asymmetry, min_sharpness=config.min_sharpness)
    if reason:
      _drop(state, reason, frame)
      continue
    if table is not None and face == 0:
      raw = openface_aus(table, source, frame)
      if raw is None:
        _drop(state, NO_OPENFACE_ROW, frame)
        continue
      # OpenFace's regressors overshoot 0..5 slightly now and then (as in data.py).
      aus = np.clip(np.asarray(raw, np.float64) / aus_lib.AU_SCALE, 0.0, 1.0)
      aus_from = "openface"
    else:
      aus = np.asarray(tools.reader.read(image, det).aus, np.float64)
      aus_from = "reader"
    fid = face_id(source.stem, frame, face)
    image_io.save_image(os.path.join(out, IMG_DIR, fid + ".jpg"), aligned.image)
    x, y, w, h = det.box
    state["faces"].append({
        "id": fid, "source": source.path, "frame": frame, "face": face, "x": x, "y": y,
        "w": w, "h": h, "confidence": round(float(det.confidence), 4),
        "aus_from": aus_from, "detector": det.detector,
        "aus": [None if not math.isfinite(v) else round(float(v), 4) for v in aus],
        "sharpness": round(quality.sharpness(aligned.image), 2),
        "asymmetry": round(quality.asymmetry(det.landmarks5), 4)})


def state_path(out, source):
  return os.path.join(out, STATE_DIR, source.stem + ".json")


def process_source(tools, config, source, table, out, tick=None):
  """Runs (or resumes) one source; returns its finished state dict."""
  path = state_path(out, source)
  state = checkpointing.read_json(path)
  if state is None or state.get("path") != source.path:
    state = _new_state(source)
  if state["done"]:
    return state
  saved = started = time.monotonic()
  spent = state.get("seconds", 0.0)
  for frame, image in sources_lib.iter_frames(source, start=state["next"]):
    process_frame(tools, config, source, table, state, frame, image, out)
    state["next"] += 1
    state["seconds"] = round(spent + time.monotonic() - started, 2)
    if tick:
      tick(1)
    if time.monotonic() - saved > SAVE_EVERY_S:
      checkpointing.write_json(path, state)
      saved = time.monotonic()
  if tick and state["next"] < len(source.frames):
    tick(len(source.frames) - state["next"])  # frames past the video's real end
  state["done"] = True
  checkpointing.write_json(path, state)
  return state


# A worker process builds its models once (TensorFlow, MTCNN, the reader).
_WORKER = {}


def _init_worker(config, threads, queue):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  # Without a limit every worker's TensorFlow spreads over all cores and they fight.
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  _WORKER.update(tools=FaceTools(config), config=config, queue=queue)


def _work(source, table, out):
  queue = _WORKER["queue"]
  return process_source(_WORKER["tools"], _WORKER["config"], source, table, out,
                        tick=queue.put)


def _run_sources(config, todo, tables, out, progress):
  workers = config.workers or os.cpu_count() or 1
  workers = max(1, min(workers, len(todo)))
  if workers == 1:
    tools = FaceTools(config)
    for source in todo:
      process_source(tools, config, source, tables.get(source.stem), out,
                     tick=lambda n: progress.update(progress.done + n))
    return workers
  context = multiprocessing.get_context("spawn")  # fork after TensorFlow started is unsafe
  threads = max(1, (os.cpu_count() or 1) // workers)
  with context.Manager() as manager:
    queue = manager.Queue()

    def drain():
      while not queue.empty():
        progress.update(progress.done + queue.get())

    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker,
        initargs=(config, threads, queue)) as pool:
      # Longest first, so that one long video does not start last.
      order = sorted(todo, key=lambda s: -len(s.frames))
      pending = [pool.submit(_work, s, tables.get(s.stem), out) for s in order]
      while pending:
        finished, pending = concurrent.futures.wait(pending, timeout=0.5)
        drain()
        for future in finished:
          future.result()  # re-raises a worker's error here
    drain()
  return workers


# ---------------------------------------------------------------- run
def run(config, out):
  """Prepares (or resumes) the dataset in `out`; returns the report dict.

  Raises UserInputError for bad input (checked before any work) and, after the
  report is written, when no input had a usable face.
  """
  if not out:
    raise UserInputError("--out is required: the folder to write the dataset into")
  start = time.monotonic()
  sources = sources_lib.find_sources(config.input, config.frame_step)
  tables = openface_tables(config, sources)
  check_out(out)
  # One writer at a time; another family's run or other settings are refused untouched,
  # and a start that fails before `start()` leaves no folder behind.
  with rundir.prepare(out, config, family=FAMILY, flag="--out") as run_dir:
    run_dir.start()
    return _prepare(config, out, sources, tables, start)


def _prepare(config, out, sources, tables, start):
  """`run` once `out` is claimed: processes the sources not done yet, writes the dataset."""
  states = {s.stem: checkpointing.read_json(state_path(out, s)) for s in sources}
  todo = [s for s in sources if not (states[s.stem] or {}).get("done")
          or states[s.stem].get("path") != s.path]
  total = sum(len(s.frames) for s in sources)
  done = sum(len(s.frames) if s not in todo else states[s.stem]["next"]
             if (states[s.stem] or {}).get("path") == s.path else 0 for s in sources)
  if len(todo) < len(sources):
    image_io.notice(f"{len(sources) - len(todo)} of {len(sources)} sources already done in "
                    f"{out}; skipped")
  progress = Progress(total, label="prepare", done=done)
  workers = 0
  if todo:
    workers = _run_sources(config, todo, tables, out, progress)
  if progress.done != total:
    progress.update(total, force=True)
  states = {s.stem: checkpointing.read_json(state_path(out, s)) for s in sources}
  report = write_dataset(out, config, sources, states, seconds=time.monotonic() - start,
                         workers=workers)
  print(json.dumps({k: report[k] for k in ("sources", "frames_examined", "faces_kept",
                                           "dropped", "split")}), flush=True)
  for path in report["sources_without_usable_face"]:
    print(f"warning: no usable face in {path} (see report.json)", file=sys.stderr)
  if not report["faces_kept"]:
    raise UserInputError(f"--input: no usable face in any of the {len(sources)} inputs; "
                         f"see {os.path.join(out, 'report.json')} for why")
  return report
