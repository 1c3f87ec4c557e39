"""The command lines of export/ (`python -m export.saved_model`, `python -m export.tflite`):
--workdir (a trained run) and --out, the other options from the module's config.

Flags are defined only when a module runs as a program (`Program.start`), so that
tests can import the library functions of several CLIs in one process.
"""

from absl import app
from absl import flags

from tfsingan import flags as flag_lib


class Program:
  """An export command line that calls `run(config, workdir, out)`.

  Args:
    config_class: the dataclass of the other options (each becomes a flag).
    run: the library function.
    out_help: the help of --out.
    out_what: what --out is, for the message when it is missing.
  """

  def __init__(self, config_class, run, out_help, out_what):
    self.config_class = config_class
    self.out_help = out_help
    self.main = flag_lib.config_main(config_class, run,
                                     workdir="a trained GANimation or SinGAN run",
                                     out=out_what)

  def define_flags(self):
    flags.DEFINE_string("workdir", None, "Run directory of a trained GANimation or SinGAN.")
    flags.DEFINE_string("out", None, self.out_help)
    flag_lib.define_config_flags(self.config_class)

  def start(self):
    self.define_flags()
    app.run(self.main, flags_parser=flag_lib.parse_flags_or_exit)
