"""Model families and their config dataclasses: the one place where defaults live.

Each family has a frozen dataclass of plain-typed fields (str, int, float, bool)
in `tfsingan/<family>/config.py` and a `run(config, workdir)` in its trainer.
`tfsingan.flags` turns every field into an absl flag; a field's `metadata` may hold
`help` and `choices`.
"""

import dataclasses
import importlib
import importlib.util
import json
import math

# family -> (config module, config class, trainer module with run(config, workdir))
FAMILIES = {
    "singan": ("tfsingan.singan.config", "SinGANConfig", "tfsingan.singan.trainer"),
    "ganimation": ("tfsingan.ganimation.config", "GANimationConfig",
                   "tfsingan.ganimation.trainer"),
    "gmface": ("tfsingan.gmface.config", "GmFaceConfig", "tfsingan.gmface.trainer"),
}


def available_families():
  """The families whose config module is importable (in installation order)."""
  out = {}
  for name, (mod, cls, trainer) in FAMILIES.items():
    try:
      found = importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:  # the family's package is not installed
      found = False
    if found:
      out[name] = (getattr(importlib.import_module(mod), cls), trainer)
  return out


RESUME_KINDS = ("refuse", "notice", "execution")


def field(default, help="", choices=None,  # pylint: disable=redefined-builtin
          resume="refuse", low=None, high=None, above=None, below=None):
  """A dataclass field with the help text (and allowed values) of its flag.

  Numbers declare their range: `low` <= value <= `high`, `above` < value <
  `below` (None: no bound); `check_ranges` enforces it (and finiteness) in
  `__post_init__`, before any work starts.

  `resume` says what a changed value does when a run is started again in its run
  directory (`tfsingan.common.rundir`): "refuse" it (the default: the run depends on
  it), accept it with a "notice" (e.g. more epochs), or ignore it ("execution":
  logging, checkpoint intervals, sampling defaults; never written over the run's).
  """
  if resume not in RESUME_KINDS:
    raise ValueError(f"resume={resume!r}: expected one of {RESUME_KINDS}")
  meta = {"help": help, "resume": resume, "low": low, "high": high, "above": above,
          "below": below}
  if choices is not None:
    meta["choices"] = tuple(choices)
  return dataclasses.field(default=default, metadata=meta)


def range_text(meta, integer):
  """The declared range of a field's metadata in words ("" when none)."""
  low, high, above, below = (meta.get(k) for k in ("low", "high", "above", "below"))
  if integer and low == 1 and high is None:
    return "a positive integer"
  if integer and low == 0 and high is None:
    return "an integer >= 0"
  if above == 0 and high is None and below is None:
    return "a positive number"
  parts = []
  if above is not None:
    parts.append(f"> {above:g}")
  if low is not None:
    parts.append(f">= {low:g}")
  if below is not None:
    parts.append(f"< {below:g}")
  if high is not None:
    parts.append(f"<= {high:g}")
  return ("an integer " if integer else "a number ") + " and ".join(parts)


def check_ranges(config):
  """UserInputError naming the first numeric field that is NaN, infinite or outside
  its declared range (see `field`)."""
  from tfsingan.errors import UserInputError  # pylint: disable=import-outside-toplevel
  for f in dataclasses.fields(config):
    value = getattr(config, f.name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      continue
    if isinstance(value, float) and not math.isfinite(value):
      raise UserInputError(f"--{f.name}={value}: expected a finite number")
    meta = f.metadata
    if ((meta.get("low") is not None and value < meta["low"])
        or (meta.get("high") is not None and value > meta["high"])
        or (meta.get("above") is not None and not value > meta["above"])
        or (meta.get("below") is not None and not value < meta["below"])):
      raise UserInputError(f"--{f.name}={value}: expected "
                           f"{range_text(meta, f.type in (int, 'int'))}")


def to_json(config):
  return json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True)


def from_json(cls, text):
  """Rebuilds a config written by `to_json`, ignoring unknown keys (older runs)."""
  return from_dict(cls, json.loads(text))


def from_dict(cls, data):
  """`cls` from a config.json dict; unknown keys (the family, older options) ignored."""
  names = {f.name for f in dataclasses.fields(cls)}
  return cls(**{k: v for k, v in data.items() if k in names})
