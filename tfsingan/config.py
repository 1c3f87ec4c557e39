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


def field(default, help="", choices=None):  # pylint: disable=redefined-builtin
  """A dataclass field with the help text (and allowed values) of its flag."""
  meta = {"help": help}
  if choices is not None:
    meta["choices"] = tuple(choices)
  return dataclasses.field(default=default, metadata=meta)


def to_json(config):
  return json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True)


def from_json(cls, text):
  """Rebuilds a config written by `to_json`, ignoring unknown keys (older runs)."""
  data = json.loads(text)
  names = {f.name for f in dataclasses.fields(cls)}
  return cls(**{k: v for k, v in data.items() if k in names})
