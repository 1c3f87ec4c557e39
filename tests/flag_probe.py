"""Runs one entry point's `main` with bad values of each of its numeric flags.

  python tests/flag_probe.py MODULE [--extra=flag ...]

Imports MODULE (which defines its absl flags), finds every integer and float flag
that the project defines there (so a new flag is probed without a test change),
and for each flag and each of NaN, inf, -inf, -1, 0, 1e12 parses
`[--extra flags] --FLAG=VALUE` and calls the module's `main` in this process,
as `app.run` would. Prints one JSON line: a list of
{flag, value, code, errors (the `error:` lines), traceback (bool), low, high}.
With no other flag given, every entry point stops with exit code 2 (an input is
missing) before doing any work, so a value that is accepted does no harm.
"""

import contextlib
import dataclasses
import importlib
import io
import json
import math
import sys
import traceback

VALUES = ("nan", "inf", "-inf", "-1", "0", "1000000000000")


def _config_classes(extra):
  """The config dataclasses whose fields became this entry point's flags (for
  `train --model=X`, X's first: a field name may be shared between families)."""
  from tfsingan import config as config_lib  # pylint: disable=import-outside-toplevel
  from tfsingan import flags as flag_lib  # pylint: disable=import-outside-toplevel
  classes = list(flag_lib.CONFIG_CLASSES)
  for arg in extra:
    if arg.startswith("--model="):
      own = config_lib.available_families()[arg.split("=", 1)[1]][0]
      classes = [own] + [c for c in classes if c is not own]
  return classes


def _declared_range(name, flag, classes):
  """{low, high, low_open, high_open} of a flag: absl's bounds, or the config field's."""
  parser = flag.parser
  low, high = getattr(parser, "lower_bound", None), getattr(parser, "upper_bound", None)
  if low is not None or high is not None:
    return {"low": low, "high": high, "low_open": False, "high_open": False}
  found = {"low": None, "high": None, "low_open": False, "high_open": False}
  for cls in classes:
    for f in dataclasses.fields(cls):
      if f.name == name:
        meta = f.metadata
        if meta.get("above") is not None:
          found.update(low=meta["above"], low_open=True)
        elif meta.get("low") is not None:
          found["low"] = meta["low"]
        if meta.get("below") is not None:
          found.update(high=meta["below"], high_open=True)
        elif meta.get("high") is not None:
          found["high"] = meta["high"]
        return found
  return found


def main():
  module_name, extra = sys.argv[1], sys.argv[2:]
  from absl import flags  # pylint: disable=import-outside-toplevel
  from tfsingan import flags as flag_lib  # pylint: disable=import-outside-toplevel
  module = importlib.import_module(module_name)
  if hasattr(module, "define_flags"):
    module.define_flags()
  fv = flags.FLAGS
  ours = {module_name, "tfsingan.flags"}
  names = sorted(n for n in fv if fv.find_module_defining_flag(n) in ours
                 and fv[n].flag_type() in ("int", "float"))
  main_fn = module.main
  classes = _config_classes(extra)
  results = []
  for name in names:
    bounds = _declared_range(name, fv[name], classes)
    for value in VALUES:
      fv.unparse_flags()
      out, err = io.StringIO(), io.StringIO()
      code, tb = None, False
      with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
          argv = flag_lib.parse_flags_or_exit(["probe", *extra, f"--{name}={value}"])
          main_fn(argv)
          code = 0
        except SystemExit as e:
          code = e.code if isinstance(e.code, int) else 1
        except Exception:  # pylint: disable=broad-except
          code, tb = 1, True
          traceback.print_exc(file=err)
      lines = err.getvalue().splitlines()
      results.append({"flag": name, "value": value, "code": code, "traceback": tb,
                      "errors": [l for l in lines if l.startswith("error:")],
                      "stderr": err.getvalue()[-600:], **bounds})
  print(json.dumps(results))


def out_of_range(result):
  """True when the probed value is NaN, infinite or outside the declared range."""
  value = float(result["value"])
  if not math.isfinite(value):
    return True
  low, high = result["low"], result["high"]
  below = low is not None and (value <= low if result["low_open"] else value < low)
  above = high is not None and (value >= high if result["high_open"] else value > high)
  return below or above


if __name__ == "__main__":
  main()
