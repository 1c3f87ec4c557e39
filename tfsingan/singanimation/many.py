"""SinGANimation (thesis ch. 5) over many photos: an Apache Beam pipeline, one element
per photo, each running the one-photo pipeline (`pipeline.run`) into OUT/<photo id>/.

Output folder:
  <photo id>/              what `python -m tfsingan.expand` writes for that photo, plus
  <photo id>/examples.tfrecord   its images as tf.train.Example records (`records.py`),
                           written last: a photo with a shard is finished;
  <photo id>/expand.log    that photo's own output (progress, notices, tracebacks);
  manifest.csv             the rows of every finished photo, `file` relative to OUT: a
                           manifest that `manifest.load_manifest_dataset(OUT)` reads;
  failures.json            {photo id: error} of the photos that failed (absent if none).

A finished photo is skipped (after checking that its settings are still these); a
failed one is retried `retries` times (not when the error is bad input, which cannot
change) and then reported, never stopping the others. Progress: the Beam counters
photos_done, photos_skipped and photos_failed (namespace `expand_many`), plus one line
per photo when `announce` (the DirectRunner, whose workers print to this console).
"""

import contextlib
import csv
import dataclasses
import io
import json
import os
import re
import time
import traceback

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from tfsingan.common import checkpointing
from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.singanimation import manifest as manifest_lib
from tfsingan.singanimation import records

NAMESPACE = "expand_many"
STATUSES = ("done", "skipped", "failed")
FAILURES = "failures.json"
LOG = "expand.log"
CSV_COLUMNS = ("photo", "id", "box", "source_aus")
_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_RESERVED = (manifest_lib.MANIFEST, FAILURES)


@dataclasses.dataclass(frozen=True)
class Photo:
  """One element: a photo, its id (folder under OUT) and its own --box / --source_aus
  (None: the shared flag's)."""

  id: str
  image: str
  box: str = None
  source_aus: str = None


# ------------------------------------------------------------------ inputs
def read_photos(path):
  """The photos of --input: a folder (every .png/.jpg/.jpeg, id = file name without
  extension) or a CSV with a `photo` column (paths relative to the CSV's folder) and
  optional `id`, `box` (x,y,w,h) and `source_aus` (AU12:0.4,...) columns; an empty
  cell means the shared flag."""
  if os.path.isdir(path):
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(image_io.IMAGE_EXTENSIONS))
    photos = [Photo(_default_id(n), os.path.join(path, n)) for n in names]
    where = f"--input={path}"
  elif os.path.isfile(path) and path.lower().endswith(".csv"):
    photos, where = _read_csv(path), f"--input={path}"
  else:
    raise UserInputError(f"--input={path}: expected a folder of photos or a .csv file "
                         "listing them")
  if not photos:
    raise UserInputError(f"{where}: no photos (expected {', '.join(image_io.IMAGE_EXTENSIONS)} files)")
  seen = {}
  for photo in photos:
    if not _ID.match(photo.id) or photo.id in _RESERVED:
      raise UserInputError(f"{where}: photo id {photo.id!r} ({photo.image}): expected letters, "
                           "digits, '.', '_' or '-', not manifest.csv or failures.json")
    if photo.id in seen:
      raise UserInputError(f"{where}: {seen[photo.id]} and {photo.image} have the same id "
                           f"{photo.id!r}; rename one (or give ids in a CSV)")
    seen[photo.id] = photo.image
  return photos


def _default_id(path):
  """The file name without its extension, other characters than [A-Za-z0-9._-] as '_'."""
  return re.sub(r"[^A-Za-z0-9._-]", "_", os.path.splitext(os.path.basename(path))[0]).lstrip(".")


def _read_csv(path):
  try:
    with open(path, newline="", encoding="utf-8") as f:
      reader = csv.DictReader(f)
      columns = tuple(reader.fieldnames or ())
      rows = list(reader)
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise UserInputError(f"--input={path}: cannot read the CSV ({e})") from None
  unknown = [c for c in columns if c not in CSV_COLUMNS]
  if "photo" not in columns or unknown:
    raise UserInputError(f"--input={path}: columns {list(columns)}; expected `photo` and "
                         f"optionally {', '.join(CSV_COLUMNS[1:])}")
  folder = os.path.dirname(os.path.abspath(path))
  photos = []
  for line, row in enumerate(rows, start=2):
    where = f"--input={path} line {line}"
    image = (row.get("photo") or "").strip()
    if not image:
      raise UserInputError(f"{where}: empty `photo`")
    image = os.path.join(folder, image)
    if not os.path.isfile(image):
      raise UserInputError(f"{where}: {image}: no such file")
    box = (row.get("box") or "").strip() or None
    if box is not None:
      parts = box.split(",")
      if len(parts) != 4 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise UserInputError(f"{where}: box={box}: expected four integers x,y,width,height")
    source_aus = (row.get("source_aus") or "").strip() or None
    if source_aus is not None and source_aus.lower() != "auto":  # auto: read per photo
      try:
        aus_lib.parse_aus(source_aus, what="source_aus")
      except UserInputError as e:
        raise UserInputError(f"{where}: source_aus={source_aus}: {e}") from None
    photo_id = (row.get("id") or "").strip() or _default_id(image)
    photos.append(Photo(photo_id, image, box, source_aus))
  return photos


def photo_config(config, photo):
  """The SinGANimationConfig of one photo: the shared one with its image, box, AUs."""
  return dataclasses.replace(
      config, image=photo.image,
      box=config.box if photo.box is None else photo.box,
      source_aus=config.source_aus if photo.source_aus is None else photo.source_aus)


def check_beam_args(args):
  """Refuses arguments that no Beam pipeline option knows (Beam would drop them)."""
  options = PipelineOptions(list(args))
  unknown = sorted(set(options.get_all_options(retain_unknown_options=True))
                   - set(options.get_all_options()))
  if unknown:
    raise UserInputError(f"--{unknown[0]}: not a flag of expand_many, of expand, or a Beam "
                         "pipeline option")
  return options


# --------------------------------------------------------------- one photo
@contextlib.contextmanager
def _log_to(path):
  with open(path, "a", encoding="utf-8") as f, contextlib.redirect_stdout(f), \
      contextlib.redirect_stderr(f):
    yield f


def expand_photo(photo, config, singan_config, out, retries=1):
  """Expands one photo into OUT/<id>/ (or finds it finished); never raises.

  Returns:
    dict: id, status ("done", "skipped" or "failed"), images (records in its shard),
    seconds, attempts, error (the last one, failed only).
  """
  from tfsingan.singanimation import pipeline  # pylint: disable=import-outside-toplevel
  import keras  # pylint: disable=import-outside-toplevel
  photo_dir = os.path.join(out, photo.id)
  config = photo_config(config, photo)
  t0 = time.time()
  result = {"id": photo.id, "images": 0, "attempts": 0, "error": ""}
  try:
    os.makedirs(photo_dir, exist_ok=True)
  except OSError as e:
    return dict(result, status="failed", seconds=0.0, error=f"{photo_dir}: {e.strerror}")
  shard = os.path.join(photo_dir, records.RECORDS)
  while True:
    result["attempts"] += 1
    try:
      if os.path.isfile(shard):
        # Finished: only check that the job there is this one (as expand would);
        # the photo's notices were logged when it ran.
        with contextlib.redirect_stdout(io.StringIO()):
          image, _ = pipeline.load_photo(config)
          pipeline.check_out(photo_dir, pipeline.job_settings(config, singan_config, image))
        status = "skipped"
      else:
        with _log_to(os.path.join(photo_dir, LOG)) as log:
          print(f"--- expand_many: attempt {result['attempts']}", flush=True)
          try:
            pipeline.run(config, singan_config, photo_dir)
          except UserInputError as e:
            print(f"error: {e}", flush=True)
            raise
          except Exception:
            traceback.print_exc(file=log)
            raise
          records.write_records(photo_dir, photo.id)
        status = "done"
      result["images"] = len(manifest_lib.read_manifest(photo_dir))
      return dict(result, status=status, seconds=time.time() - t0)
    except UserInputError as e:  # bad input: the same again next time
      return dict(result, status="failed", seconds=time.time() - t0, error=str(e))
    except Exception as e:  # pylint: disable=broad-except
      if result["attempts"] > retries:
        return dict(result, status="failed", seconds=time.time() - t0,
                    error=f"{type(e).__name__}: {e} (after {result['attempts']} attempts; "
                    f"see {os.path.join(photo_dir, LOG)})")
    finally:
      keras.backend.clear_session()  # each photo builds new models


class ExpandPhotos(beam.DoFn):
  """The Beam step: `expand_photo` on each Photo, counted in Beam metrics."""

  def __init__(self, config, singan_config, out, retries, announce):
    super().__init__()
    self.config, self.singan_config = config, singan_config
    self.out, self.retries, self.announce = out, retries, announce
    self.counters = None

  def setup(self):
    self.counters = {s: Metrics.counter(NAMESPACE, f"photos_{s}") for s in STATUSES}

  def process(self, photo):
    result = expand_photo(photo, self.config, self.singan_config, self.out, self.retries)
    self.counters[result["status"]].inc()
    if self.announce:
      what = (f"{result['images']} images" if result["status"] != "failed"
              else result["error"])
      print(f"expand_many: {photo.id}: {result['status']} ({result['seconds']:.0f} s) {what}",
            flush=True)
    yield result


# ------------------------------------------------------------------ merge
def merge(results, out):
  """Writes OUT/manifest.csv (finished photos, by id) and OUT/failures.json; a file
  whose content would not change is not rewritten."""
  rows = []
  for result in sorted(results, key=lambda r: r["id"]):
    if result["status"] == "failed":
      continue
    for row in manifest_lib.read_manifest(os.path.join(out, result["id"])):
      rows.append(dict(row, file=f"{result['id']}/{row['file']}"))
  _write_if_changed(os.path.join(out, manifest_lib.MANIFEST), manifest_lib.manifest_bytes(rows))
  failures = {r["id"]: r["error"] for r in results if r["status"] == "failed"}
  path = os.path.join(out, FAILURES)
  if failures:
    _write_if_changed(path, (json.dumps(failures, indent=2, sort_keys=True) + "\n").encode())
  elif os.path.exists(path):
    os.remove(path)
  return len(rows)


def _write_if_changed(path, data):
  if os.path.isfile(path):
    with open(path, "rb") as f:
      if f.read() == data:
        return
  image_io.atomic_write_bytes(path, data)


# -------------------------------------------------------------------- run
def run(config, singan_config, photos, out, *, options=None, retries=1):
  """Runs the pipeline over `photos` (a list of Photo) into `out` and waits for it.

  Args:
    config, singan_config: the shared settings of every photo (as for `pipeline.run`);
      `photo_config` gives each photo its own image, box and source AUs.
    options: Beam `PipelineOptions` (runner and its options); None = the DirectRunner.
    retries: further attempts of a photo that failed for another reason than bad input.

  Returns:
    dict: the counters photos_done / photos_skipped / photos_failed, "rows" (of the
    merged manifest) and "failures" ({photo id: error}).
  """
  options = options or PipelineOptions([])
  runner = options.get_all_options()["runner"] or "DirectRunner"
  announce = runner in ("DirectRunner", "direct")
  try:
    os.makedirs(out, exist_ok=True)
  except OSError as e:
    raise UserInputError(f"--out={out}: cannot create the folder ({e.strerror})") from None
  p = beam.Pipeline(options=options)
  _ = (p
       | "Photos" >> beam.Create(photos)
       | "Expand" >> beam.ParDo(ExpandPhotos(config, singan_config, out, retries, announce))
       | "Collect" >> beam.combiners.ToList()
       | "Merge" >> beam.Map(merge, out))
  result = p.run()
  result.wait_until_finish()
  counts = {f"photos_{s}": 0 for s in STATUSES}
  for metric in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
    value = metric.committed if metric.committed is not None else metric.attempted
    counts[metric.key.metric.name] = counts.get(metric.key.metric.name, 0) + value
  counts["failures"] = checkpointing.read_json(os.path.join(out, FAILURES), default={})
  counts["rows"] = len(manifest_lib.read_manifest(out))
  return counts
