"""configs/*.cfg only override: no flagfile restates a default of the config dataclasses."""

import dataclasses
import os

import pytest

from tfsingan import config as config_lib
from tfsingan.singanimation.config import SinGANimationConfig

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def _flags(path):
  """[(name, value)] of a flagfile's --name=value and --[no]name lines."""
  out = []
  with open(path, encoding="utf8") as f:
    for line in f:
      line = line.strip()
      if not line.startswith("--"):
        continue
      name, sep, value = line[2:].partition("=")
      out.append((name, value) if sep else (name, None))
  return out


def _value(text, field_type):
  if field_type in (bool, "bool"):
    return text is None or text.lower() in ("true", "1")
  return {int: int, "int": int, float: float, "float": float}.get(field_type, str)(text)


def _all_flags(path):
  """The flags of a flagfile and of the flagfiles it includes."""
  flags = _flags(path)
  for flag, value in list(flags):
    if flag == "flagfile":
      flags += _all_flags(os.path.join(os.path.dirname(CONFIGS), value))
  return flags


def _classes(name, flags):
  families = {k: cls for k, (cls, _) in config_lib.available_families().items()}
  model = dict(flags).get("model")
  if name.startswith("singanimation"):
    return [SinGANimationConfig, families["singan"]]
  return [families[model]] if model in families else []


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(CONFIGS) if n.endswith(".cfg")))
def test_flagfile_sets_no_default(name):
  flags = _flags(os.path.join(CONFIGS, name))
  everything = _all_flags(os.path.join(CONFIGS, name))
  classes = _classes(name, everything)
  assert classes, f"{name}: no --model and not a SinGANimation flagfile"
  included = {n for n, _ in everything[len(flags):]}
  restated = []
  for flag, value in flags:
    if flag in included:  # a default may undo what an included flagfile sets
      continue
    for cls in classes:
      fields = {f.name: f for f in dataclasses.fields(cls)}
      if flag in fields:
        if _value(value, fields[flag].type) == getattr(cls(), flag):
          restated.append(f"--{flag}={value}")
        break
  assert not restated, f"{name} restates defaults: {restated}"
