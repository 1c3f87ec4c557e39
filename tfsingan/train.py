"""Trains any model family: `python -m tfsingan.train --flagfile=configs/X.cfg --workdir=DIR`."""

import importlib
import os

from absl import app
from absl import flags

from tfsingan import config as config_lib
from tfsingan import flags as flag_lib
from tfsingan.common import precision as precision_lib
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error

_FAMILIES = config_lib.available_families()

flags.DEFINE_enum("model", None, list(_FAMILIES), "Model family to train.")
flags.DEFINE_string("workdir", None, "Run directory (created; an existing run resumes).")
flags.DEFINE_boolean("dry_run", False, "Print the resolved config as JSON and exit.")
flag_lib.define_config_flags(*[cls for cls, _ in _FAMILIES.values()])
FLAGS = flags.FLAGS


def resolve_config(model):
  """The config of `model` from the flags; flags of another family are an error."""
  cls, _ = _FAMILIES[model]
  own = {f for f in cls.__dataclass_fields__}
  for other, (other_cls, _) in _FAMILIES.items():
    for name in other_cls.__dataclass_fields__:
      if name not in own and FLAGS[name].present:
        raise UserInputError(f"--{name} is a {other} option, not a {model} option")
  config = flag_lib.config_from_flags(cls)
  # --precision=auto is resolved here so that --dry_run shows what will run; a resumed
  # run keeps the precision it recorded.
  recorded = None
  if FLAGS.workdir:
    recorded = precision_lib.recorded_precision(os.path.join(FLAGS.workdir, "config.json"))
  return precision_lib.resolve_config(config, recorded)


@exit_on_user_error
def main(argv):
  flag_lib.no_arguments(argv)
  model = flag_lib.require(FLAGS.model, "model", f"one of {sorted(_FAMILIES)}")
  config = resolve_config(model)
  if FLAGS.dry_run:
    print(config_lib.to_json(config))
    return
  workdir = flag_lib.require(FLAGS.workdir, "workdir", "the run directory")
  importlib.import_module(_FAMILIES[model][1]).run(config, workdir)


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
