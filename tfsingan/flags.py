"""absl flags generated from the config dataclasses; the only module that reads FLAGS."""

import dataclasses
import math
import sys

from absl import flags
from absl import logging

from tfsingan.errors import UserInputError

FLAGS = flags.FLAGS

_DEFINERS = {
    str: flags.DEFINE_string,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    bool: flags.DEFINE_boolean,
}


# Every config class whose fields became flags in this process (tests read it to
# find each flag's declared range).
CONFIG_CLASSES = []


def define_config_flags(*config_classes, flag_values=FLAGS):
  """Defines one flag per dataclass field (default None = 'the config default').

  Fields shared by several classes (e.g. `image`, `precision`) become one flag; the
  help text lists each class's default. `flag_values`: another `flags.FlagValues`
  than the process's (tests parse flagfiles into their own).
  """
  seen = {}
  if flag_values is FLAGS:
    CONFIG_CLASSES.extend(c for c in config_classes if c not in CONFIG_CLASSES)
  for cls in config_classes:
    for f in dataclasses.fields(cls):
      ftype = f.type if isinstance(f.type, type) else eval(f.type)  # pylint: disable=eval-used
      if f.name in seen:
        if seen[f.name] is not ftype:
          raise TypeError(f"flag {f.name} has two types: {seen[f.name]} and {ftype}")
        continue
      seen[f.name] = ftype
      if f.name in flag_values:
        continue
      defaults = ", ".join(
          f"{c.__name__.replace('Config', '')}={getattr(c(), f.name)!r}"
          for c in config_classes if f.name in {g.name for g in dataclasses.fields(c)})
      help_text = f"{f.metadata.get('help', '')} (default: {defaults})"
      choices = f.metadata.get("choices")
      if choices is not None:
        flags.DEFINE_enum(f.name, None, list(choices), help_text, flag_values=flag_values)
      else:  # ranges are checked by the config (`tfsingan.config.check_ranges`)
        _DEFINERS[ftype](f.name, None, help_text, flag_values=flag_values)


def config_from_flags(cls, flag_values=FLAGS, **overrides):
  """Builds `cls` from the flags that were set (command line or flagfile)."""
  kwargs = {}
  for f in dataclasses.fields(cls):
    if f.name in flag_values and flag_values[f.name].value is not None:
      kwargs[f.name] = flag_values[f.name].value
  kwargs.update(overrides)
  return cls(**kwargs)


def parse_flags_or_exit(argv, known_only=False):
  """absl flags parser for app.run: a bad flag ends with one line and exit 2.
  `known_only` leaves unknown flags in the returned argv (for another parser)."""
  try:
    remaining = FLAGS(argv, known_only=known_only)
  except flags.Error as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  for name in FLAGS:
    values = FLAGS[name].value
    for value in values if isinstance(values, list) else [values]:
      if isinstance(value, float) and not math.isfinite(value):
        print(f"error: --{name}={value}: expected a finite number", file=sys.stderr)
        sys.exit(2)
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines drown the progress bar
  return remaining


def no_arguments(argv):
  """UserInputError for words on the command line that are not flags."""
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {' '.join(argv[1:])}; flags are written "
                         "--name=value")


def config_main(cls, run, **paths):
  """The `main(argv)` of an entry point: refuses positional arguments, builds `cls`
  from the flags (its ranges checked) and calls `run(config, *the values of the flags
  in paths)`; `paths` maps each flag to what it is, for the message when it is missing,
  or to None for a flag that `run` checks itself. Bad input ends with one `error:`
  line and exit code 2."""
  from tfsingan.errors import exit_on_user_error  # pylint: disable=import-outside-toplevel

  @exit_on_user_error
  def main(argv):
    no_arguments(argv)
    config = config_from_flags(cls)
    run(config, *[FLAGS[name].value if what is None else require(FLAGS[name].value, name, what)
                  for name, what in paths.items()])
    # Nothing returned: app.run would take it for the exit status.

  return main


def require(value, name, what):
  if value is None or value == "":
    raise UserInputError(f"--{name} is required: {what}")
  return value


def given_on_command_line(name, argv=None):
  """True when --name (or --noname) is on the command line itself, not in a flagfile."""
  argv = sys.argv[1:] if argv is None else argv
  names = {f"--{name}", f"-{name}", f"--no{name}", f"-no{name}"}
  return any(arg.split("=", 1)[0] in names for arg in argv)
