"""Every benchmark of tfsingan in one command: one JSON, one table.

  python -m benchmarks.run_all --quick [--inception_weights=PATH] [--ganimation_workdir=W]
  python -m benchmarks.run_all --full --out=benchmarks/results/run_all_full.json

Sections, each run in a subprocess of its own (a clean TensorFlow, its own peak
memory from `os.wait4`):

  singan_speed         SinGAN s/iteration at the coarse, middle and finest scales of a
                       250 px image, peak memory, extrapolated training time
                       (benchmarks/singan_step.py)
  ganimation_speed     GANimation train step at 128 px, batch 25: s/iteration,
                       images/s, float32 and bfloat16 (benchmarks/ganimation_step.py)
  ganimation_pipeline  images/s of the input pipeline alone (ganimation_pipeline.py)
  export_latency       inference latency of the exported models, when
                       benchmarks/export_latency.py is present
  gmface_fit           GmFace fitting time and PSNR (benchmarks/gmface_fit.py)
  singan_quality       SinGAN diversity and SIFID on three scikit-image photographs
                       (benchmarks/singan_quality.py)
  ganimation_quality   GANimation edit L1 against the true renders and AU error on
                       held-out synthetic identities (benchmarks/ganimation_acceptance.py),
                       when a GANimation run is given or found in runs/

--quick (under 10 minutes on 2 idle cores) times fewer configurations and trains
tiny SinGANs; --full uses each script's defaults and the paper's SinGAN config
(hours: see the README). A failed section is recorded with its error and the run
goes on; the exit code is 1 if any section failed. Next to OUT.json, the folder OUT/
holds each section's log (OUT/logs/) and the SinGAN samples (OUT/singan_quality/).
"""

import dataclasses
import datetime
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import time
from typing import Callable, Optional

from benchmarks.machine import machine_info
from tfsingan.config import field
from tfsingan.errors import UserInputError

# In the child: import the section's module, call its function, write the JSON result.
_CHILD = r"""
import importlib, json, sys
module, function, kwargs, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
result = getattr(importlib.import_module(module), function)(**kwargs)
with open(out, "w", encoding="utf-8") as f:
  json.dump(result, f, default=lambda o: o.item() if hasattr(o, "item") else str(o))
"""


def _run_config(workdir):
  try:
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def _family(path):
  """The family a run directory's config.json names (None: no run, or damaged)."""
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.errors import UserInputError  # pylint: disable=import-outside-toplevel
  try:
    return rundir.family_of(path)
  except UserInputError:
    return None


def find_ganimation_run(root="runs"):
  """The most recently changed GANimation run directory under `root`, or None."""
  found = []
  for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
    path = os.path.join(root, name)
    if _family(path) == "ganimation" and os.path.isdir(os.path.join(path, "checkpoints")):
      found.append((os.path.getmtime(os.path.join(path, "checkpoints")), path))
  return max(found)[1] if found else None


def find_au_regressor(root="runs"):
  """The most recently changed AU regressor run directory under `root`, or None."""
  from tfsingan.metrics import au_regressor  # pylint: disable=import-outside-toplevel
  found = []
  for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
    path = os.path.join(root, name)
    weights = os.path.join(path, au_regressor.WEIGHTS_NAME)
    if os.path.isfile(weights) and os.path.isfile(os.path.join(path, au_regressor.CONFIG_NAME)):
      found.append((os.path.getmtime(weights), path))
  return max(found)[1] if found else None


def run_section(module, function, kwargs, log_path, *, verbose=False):
  """Runs `module.function(**kwargs)` in a subprocess; returns the section's record."""
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
  result_path = log_path[:-len(".log")] + ".json"
  if os.path.exists(result_path):
    os.remove(result_path)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
  cmd = [sys.executable, "-c", _CHILD, module, function, json.dumps(kwargs), result_path]
  load = os.getloadavg()[0]
  start = time.perf_counter()
  with open(log_path, "w", encoding="utf-8") as log:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    for line in proc.stdout:
      log.write(line)
      log.flush()  # `tail -f` shows progress
      if verbose:
        sys.stdout.write(line)
        sys.stdout.flush()
    # wait4 reports this child's peak memory, its own children included.
    _, status, usage = os.wait4(proc.pid, 0)
  # CPU seconds (all threads, children included) next to wall seconds: on a shared
  # machine the wall time includes waiting for the cores.
  record = {"status": "ok", "seconds": time.perf_counter() - start,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024.0, "load_average_start": load,
            "module": module, "function": function, "settings": kwargs, "log": log_path}
  code = os.waitstatus_to_exitcode(status)
  if code == 0 and os.path.exists(result_path):
    with open(result_path, encoding="utf-8") as f:
      record["result"] = json.load(f)
    os.remove(result_path)
  else:
    record.update(status="failed", exit_code=code, error=_error_line(log_path, code))
  return record


def _error_line(log_path, code):
  """The exception line of a failed section's log (messages may span lines), shortened."""
  with open(log_path, encoding="utf-8") as f:
    lines = [l.rstrip() for l in f if l.strip()]
  exceptions = [l for l in lines if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Exit)\b", l)]
  line = (exceptions or lines or [f"exit code {code}, no output"])[-1]
  return line if len(line) <= 300 else line[:297] + "..."


def _fmt(value):
  """Floats with 4 significant digits (one decimal from 10 on); anything else as text."""
  if isinstance(value, float) and math.isfinite(value):
    if value == 0 or 0.01 <= abs(value) < 1e5:
      return f"{value:.4g}" if abs(value) < 10 else f"{value:.1f}"
    return f"{value:.3g}"
  return str(value)


def _singan_speed_rows(r):
  sizes = r["sizes"]
  rows = []
  for row in r["rows"]:
    h, w = sizes[row["scale"]]
    impl = "" if row["impl"] == "tfsingan" else f"{row['impl']} "
    what = f"scale {row['scale']} ({w}x{h}) {impl}{row['mode']} {row['precision']}"
    if "seconds_per_iter" in row:
      rows.append((what, row["seconds_per_iter"], "s/iter"))
      rows.append((f"{what} peak memory", row.get("peak_rss_mb"), "MB"))
    else:
      rows.append((what, f"ERROR {row.get('error')}", ""))
  for key, value in sorted(r["summary"].items()):
    if key.startswith("extrapolated_hours_"):
      what = key[len("extrapolated_hours_"):].replace("_", " ", 1)
      rows.append((f"full training {sizes[-1][1]}x{sizes[-1][0]} (extrapolated), {what}",
                   value, "h"))
  return rows


def _ganimation_speed_rows(r):
  b = r["batch_size"]
  rows = []
  runs = list(r["rows"]) + ([r["pytorch_same_run"]] if r.get("pytorch_same_run") else [])
  for row in runs:
    what = f"{row['precision']}{' XLA' if row.get('jit_compile') else ''}"
    rows += [(f"train step {what} ({r['image_size']} px, batch {b})", b / row["avg_s"],
              "images/s"),
             (f"{what} critic-only iteration", row["critic_s"], "s"),
             (f"{what} critic + generator iteration", row["full_s"], "s"),
             (f"{what} generator latency, batch 1", row["g_latency_ms"], "ms"),
             (f"{what} peak memory", row["peak_mb"], "MB")]
  if r.get("pipeline_images_per_s"):
    rows.append(("input pipeline", r["pipeline_images_per_s"], "images/s"))
  return rows


def _ganimation_pipeline_rows(r):
  return [(row["pipeline"], row["images_per_second"], "images/s") for row in r["rows"]]


def _export_latency_rows(r):
  rows = []
  for model, entry in r["models"].items():
    for form, m in entry["forms"].items():
      rows.append((f"{model} {form} (batch {r['batch']})", m["median_ms"], "ms"))
    rows.append((f"{model} TFLite int8 size / float32 size", entry["int8_size_vs_float32"], ""))
  if r.get("quick"):
    rows.append(("note", "--quick times tiny random models: checks that export runs", ""))
  return rows


def _gmface_rows(r):
  rows = []
  for row in r["rows"]:
    m = row["m"]
    rows += [(f"m={m} ours PSNR", row["ours_psnr"], "dB"),
             (f"m={m} ours fitting time", row["ours_seconds"], "s"),
             (f"m={m} ours time to 26 dB", row["ours_seconds_to_26db"] or "not reached", "s"),
             (f"m={m} NumPy Adam baseline PSNR", row["baseline_psnr"], "dB"),
             (f"m={m} speedup at equal PSNR", row["speedup_at_equal_psnr"], "x")]
  for row in r.get("train_step", []):
    rows.append((f"GmNet.train_step batch {row['batch']}", row["ms_per_step"], "ms/step"))
  return rows


def _singan_quality_rows(r):
  rows = []
  for name, image in r["images"].items():
    h, w = image["sizes"][-1]
    rows.append((f"{name} ({w}x{h}) training", image["train_seconds"], "s"))
    for k, s in image["per_start_scale"].items():
      if "skipped" in s:
        rows.append((f"{name} start {k}", f"skipped: {s['skipped']}", ""))
        continue
      rows.append((f"{name} start {k} diversity RGB / gray",
                   f"{_fmt(s['diversity_rgb'])} / {_fmt(s['diversity_gray'])}", ""))
      if "sifid_mean" in s:
        rows.append((f"{name} start {k} SIFID ({r.get('sifid_layer')})", s["sifid_mean"], ""))
  for k, mean in r.get("mean", {}).items():
    for key, value in mean.items():
      rows.append((f"mean start {k} {key}", value, ""))
  if "sifid_note" in r:
    rows.append(("SIFID", r["sifid_note"], ""))
  return rows


def _ganimation_quality_rows(r):
  rows = [("run", r.get("workdir"), ""), ("held-out test images", r.get("test_images"), "")]
  for key, unit in (("l1_edit", ""), ("l1_unedited", ""), ("ratio", ""), ("psnr_edit_db", "dB"),
                    ("l1_identity", ""), ("attention_mean", ""), ("au_mae_edit", ""),
                    ("au_mae_truth", ""), ("passed", "")):
    if key in r:
      rows.append((key, r[key], unit))
  if "au_mae_edit" not in r:
    rows.append(("AU error", "skipped: no AU regressor (pass --au_regressor=R)", ""))
  return rows


@dataclasses.dataclass(frozen=True)
class Section:
  """One benchmark: the function a child process runs, its --quick and --full settings,
  and how its result becomes table rows.

  Args:
    name: the section's name (--only, --skip, --section_args, the table).
    module, function: what the child imports and calls with the settings.
    rows: result -> [(metric, value, unit)].
    quick, full: the settings (keyword arguments) of each mode.
    prepare: optional (settings, quick, options) -> settings, or a string saying why
      the section is skipped; `options` as in `section_plan`.
  """

  name: str
  module: str
  rows: Callable
  quick: dict = dataclasses.field(default_factory=dict)
  full: dict = dataclasses.field(default_factory=dict)
  function: str = "run"
  prepare: Optional[Callable] = None


def _export_present(kwargs, quick, options):
  del quick, options
  if importlib.util.find_spec("benchmarks.export_latency") is None:
    return "benchmarks/export_latency.py is not present"
  return kwargs


def _singan_quality_files(kwargs, quick, options):
  del quick
  return {**kwargs, "inception_weights": options.get("inception_weights"),
          "out_dir": os.path.join(options["files_dir"], "singan_quality")}


def _ganimation_run(kwargs, quick, options):
  """The GANimation run to score (`_options` checked its family) and its data."""
  del quick
  workdir = options.get("ganimation_workdir")
  if not workdir:
    return ("no GANimation run given or found in runs/ (pass --ganimation_workdir=W "
            "--data_dir=D)")
  data_dir = options.get("data_dir") or _run_config(workdir).get("data_dir")
  if not data_dir:
    return f"no --data_dir given and {workdir}/config.json names none"
  return {"workdir": workdir, "data_dir": data_dir,
          "regressor_workdir": options.get("au_regressor"), **kwargs}


# The sections in the order they run. --quick times only the fastest SinGAN mode at each
# scale (benchmarks/results/singan_step*.json): XLA at the coarsest, tf.function (the
# default) from the middle on, where XLA compiles for 15-30 s and is not faster.
SECTION_LIST = (
    Section("singan_speed", "benchmarks.singan_step", _singan_speed_rows,
            quick={"modes": ["function"], "scale_modes": {"coarse": ["xla"]}, "iters": 3,
                   "fine_iters": 1, "warmup": 0, "torch_mode": "off", "eager_scales": []}),
    # The input pipeline is a section of its own.
    Section("ganimation_speed", "benchmarks.ganimation_step", _ganimation_speed_rows,
            quick={"pipeline_images": 0, "iterations": 1, "xla_precisions": [],
                   "torch": False},
            full={"pipeline_images": 0}),
    Section("ganimation_pipeline", "benchmarks.ganimation_pipeline", _ganimation_pipeline_rows,
            quick={"num": 200, "batches": 20, "baseline_batches": 4}),
    Section("export_latency", "benchmarks.export_latency", _export_latency_rows,
            quick={"quick": True}, full={"quick": False}, prepare=_export_present),
    Section("gmface_fit", "benchmarks.gmface_fit", _gmface_rows,
            quick={"m_list": "80", "time_limit": 20.0, "baseline_seconds": 10.0,
                   "adam_steps": 0}),
    Section("singan_quality", "benchmarks.singan_quality", _singan_quality_rows,
            quick={"quick": True}, full={"quick": False}, prepare=_singan_quality_files),
    Section("ganimation_quality", "benchmarks.ganimation_acceptance", _ganimation_quality_rows,
            function="evaluate", quick={"max_images": 100}, full={"max_images": None},
            prepare=_ganimation_run),
)
SECTIONS = tuple(s.name for s in SECTION_LIST)
_BY_NAME = {s.name: s for s in SECTION_LIST}


def _section(name):
  if name not in _BY_NAME:
    raise UserInputError(f"--only/--skip: unknown section {name!r}; expected one of "
                         f"{', '.join(SECTIONS)}")
  return _BY_NAME[name]


def section_plan(name, quick, options):
  """(module, function, kwargs) of a section, or a string saying why it is skipped.

  Args:
    name: a SECTIONS entry.
    quick: the --quick settings instead of the full ones.
    options: dict with inception_weights, ganimation_workdir, data_dir, au_regressor,
      files_dir (where sections write files).
  """
  section = _section(name)
  kwargs = dict(section.quick if quick else section.full)
  if section.prepare is not None:
    kwargs = section.prepare(kwargs, quick, options)
    if isinstance(kwargs, str):
      return kwargs
  return section.module, section.function, kwargs


def _generic_rows(result, prefix="", depth=0):
  """Numeric leaves of a result without a row extractor (e.g. export latency)."""
  rows = []
  for key, value in result.items():
    if isinstance(value, dict) and depth < 2:
      rows += _generic_rows(value, f"{prefix}{key} ", depth + 1)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      rows.append((f"{prefix}{key}", value, ""))
  return rows


def table_rows(name, record):
  """[(section, metric, value, unit)] of one section's record."""
  if record["status"] == "skipped":
    return [(name, "skipped", record["reason"], "")]
  rows = []
  if record["status"] == "failed":
    rows.append((name, "FAILED", record["error"], ""))
  else:
    result = record["result"]
    if isinstance(result, dict) and isinstance(result.get("table"), list):
      extracted = [(t["metric"], t["value"], t.get("unit", "")) for t in result["table"]]
    elif name in _BY_NAME:
      try:
        extracted = _BY_NAME[name].rows(result)
      except (KeyError, TypeError, ZeroDivisionError) as e:
        extracted = [("table", f"could not read the result ({type(e).__name__}: {e}); "
                      "see the JSON", "")]
    else:
      extracted = _generic_rows(result) if isinstance(result, dict) else []
    rows += [(name, m, v, u) for m, v, u in extracted]
  rows.append((name, "section wall time", record["seconds"], "s"))
  if "cpu_seconds" in record:
    rows.append((name, "section CPU time (all threads)", record["cpu_seconds"], "s"))
  rows.append((name, "section peak memory", record["peak_rss_mb"], "MB"))
  return rows


def format_table(rows):
  """The rows as one fixed-width text table."""
  cells = [("section", "metric", "value", "unit")]
  cells += [(s, m, v if isinstance(v, str) else _fmt(v), u) for s, m, v, u in rows]
  # Long text values (skip reasons, errors) overflow the value column.
  widths = [max(len(str(c[0])) for c in cells), max(len(str(c[1])) for c in cells),
            max(len(str(c[2])) if len(str(c[2])) <= 16 else 0 for c in cells)]
  lines = []
  for i, (s, m, v, u) in enumerate(cells):
    lines.append(f"{s:<{widths[0]}}  {m:<{widths[1]}}  {v:<{widths[2]}}  {u}".rstrip())
    if i == 0:
      lines.append("-" * (sum(widths) + 12))
  return "\n".join(lines)


def write_report(path, mode, records, settings_note=None):
  """Writes the JSON report; returns the table rows."""
  from tfsingan.common import checkpointing  # pylint: disable=import-outside-toplevel
  from tfsingan.common.image_io import atomic_write_bytes  # pylint: disable=import-outside-toplevel
  rows = [row for name, record in records.items() for row in table_rows(name, record)]
  report = {
      "mode": mode,
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "command": " ".join([os.path.basename(sys.executable), "-m", "benchmarks.run_all",
                           *sys.argv[1:]]),
      "machine": machine_info(),
      "load_average_end": list(os.getloadavg()),
      "total_seconds": sum(r.get("seconds", 0.0) for r in records.values()),
      "failed": [n for n, r in records.items() if r["status"] == "failed"],
      "notes": settings_note or [],
      "sections": records,
      "table": [{"section": s, "metric": m, "value": v, "unit": u} for s, m, v, u in rows],
  }
  atomic_write_bytes(path, json.dumps(checkpointing.json_safe(report), indent=2, allow_nan=False,
                                      default=str).encode("utf-8"))
  return rows


def run_all(sections, quick, options, out, *, section_args=None, verbose=False):
  """Runs the sections one after the other; writes the JSON after each. Returns records."""
  log_dir = os.path.join(options["files_dir"], "logs")
  records = {}
  notes = list(options.get("notes", []))
  for i, name in enumerate(sections, 1):
    plan = section_plan(name, quick, options)
    if isinstance(plan, str):
      records[name] = {"status": "skipped", "reason": plan}
      print(f"[{i}/{len(sections)}] {name}: skipped ({plan})", flush=True)
    else:
      module, function, kwargs = plan
      kwargs = {**kwargs, **(section_args or {}).get(name, {})}
      log = os.path.join(log_dir, f"{name}.log")
      print(f"[{i}/{len(sections)}] {name}: running {module}.{function} (log: {log})",
            flush=True)
      records[name] = run_section(module, function, kwargs, log, verbose=verbose)
      r = records[name]
      state = "ok" if r["status"] == "ok" else f"FAILED: {r['error']}"
      print(f"[{i}/{len(sections)}] {name}: {state} ({r['seconds']:.0f} s, peak "
            f"{r['peak_rss_mb']:.0f} MB)", flush=True)
    write_report(out, "quick" if quick else "full", records, notes)
  return records


@dataclasses.dataclass(frozen=True)
class RunAllConfig:
  """The options of `python -m benchmarks.run_all` (its flags)."""

  quick: bool = field(False, help="Reduced settings, under 10 minutes on 2 cores.")
  full: bool = field(False, help="Each benchmark's full settings (hours).")
  out: str = field(None, help="JSON output; default benchmarks/results/run_all_quick.json or "
                   "run_all_full.json.")
  only: str = field("", help=f"Run only these sections ({', '.join(SECTIONS)}), comma-separated.")
  skip: str = field("", help="Do not run these sections (comma-separated).")
  inception_weights: str = field(None, help="Keras ImageNet InceptionV3 weights for SIFID; "
                                 "default: the Keras cache (~/.keras/models). Never "
                                 "downloaded; without them SIFID is skipped.")
  ganimation_workdir: str = field(None, help="GANimation run to score; default: the newest "
                                  "GANimation run in runs/.")
  data_dir: str = field(None, help="Synthetic dataset of that run; default: the run's own "
                        "--data_dir.")
  au_regressor: str = field(None, help="AU regressor run for the AU error; default: the "
                            "newest one in runs/, if any.")
  section_args: str = field(None, help="JSON {section: {argument: value}} overriding the "
                            "settings passed to a section's run function.")
  verbose: bool = field(False, help="Stream every section's output (it is always written to "
                        "OUT/logs/).")


def _options(f, out):
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.metrics import sifid  # pylint: disable=import-outside-toplevel
  notes = []
  weights = None
  if f.inception_weights:
    weights = sifid.find_inception_weights(f.inception_weights)  # a bad path stops here
  else:
    try:
      weights = sifid.find_inception_weights(None)
      notes.append(f"Inception weights found in the Keras cache: {weights}")
    except UserInputError:
      notes.append("SIFID skipped: no Inception weights (pass --inception_weights=...)")
  workdir = f.ganimation_workdir
  if workdir:  # the family its config.json names
    rundir.check_family(workdir, "ganimation", flag="--ganimation_workdir")
  if not workdir:
    workdir = find_ganimation_run()
    if workdir:
      notes.append(f"GANimation run found: {workdir} (choose one with --ganimation_workdir)")
  regressor = f.au_regressor or (find_au_regressor() if workdir else None)
  return {"inception_weights": weights, "ganimation_workdir": workdir,
          "data_dir": f.data_dir, "au_regressor": regressor,
          "files_dir": os.path.splitext(out)[0], "notes": notes}


def _selected_sections(f):
  only, skip = ([n.strip() for n in (text or "").split(",") if n.strip()]
                for text in (f.only, f.skip))
  for name in only + skip:
    _section(name)
  return [s for s in SECTIONS if (not only or s in only) and s not in skip]


def _section_args(f):
  if not f.section_args:
    return {}
  try:
    args = json.loads(f.section_args)
  except ValueError as e:
    raise UserInputError(f"--section_args: not JSON ({e}); expected "
                         '{"section": {"argument": value}}') from None
  if not isinstance(args, dict) or not all(isinstance(v, dict) for v in args.values()):
    raise UserInputError('--section_args: expected {"section": {"argument": value}}')
  for name in args:
    if name not in SECTIONS:
      raise UserInputError(f"--section_args: unknown section {name!r}")
  return args


def main(argv):
  from tfsingan import flags as flag_lib  # pylint: disable=import-outside-toplevel
  flag_lib.no_arguments(argv)
  f = flag_lib.config_from_flags(RunAllConfig)
  if f.quick == f.full:
    raise UserInputError("pass exactly one of --quick (under 10 minutes) and --full (hours)")
  quick = f.quick
  out = f.out or f"benchmarks/results/run_all_{'quick' if quick else 'full'}.json"
  sections = _selected_sections(f)
  section_args = _section_args(f)
  options = _options(f, out)
  for note in options["notes"]:
    print(f"note: {note}")
  t0 = time.perf_counter()
  records = run_all(sections, quick, options, out, section_args=section_args,
                    verbose=f.verbose)
  rows = write_report(out, "quick" if quick else "full", records, options["notes"])
  print()
  print(format_table(rows))
  print(f"\ntotal {time.perf_counter() - t0:.0f} s; wrote {out}")
  failed = [n for n, r in records.items() if r["status"] == "failed"]
  if failed:
    print(f"failed sections: {', '.join(failed)} (logs in "
          f"{os.path.join(os.path.splitext(out)[0], 'logs')})")
    sys.exit(1)


if __name__ == "__main__":
  # Flags are defined only when run as a script: tests import this module next to
  # other command-line modules that define --out too.
  from absl import app

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  tfsingan.flags.define_config_flags(RunAllConfig)
  app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit)
