"""Uses a fitted GmFace (arXiv 2008.00752): render, transform, dissect.

  python -m tfsingan.gmface render --params=W --size=480 --out=face480.png
  python -m tfsingan.gmface transform --params=W --rotate=15 --scale=1.2 \\
      --translate=0.05,0 --out=W/edited
  python -m tfsingan.gmface dissect --params=W --k=8 --out=W/dissect.png

`--params` is a run directory or a gmface.npz / gmface.json file.
"""

from absl import app

from tfsingan import flags as flag_lib
from tfsingan.errors import UserInputError
from tfsingan.errors import exit_on_user_error
from tfsingan.gmface import tools

flag_lib.define_config_flags(tools.GmFaceToolConfig)


@exit_on_user_error
def main(argv):
  config = flag_lib.config_from_flags(tools.GmFaceToolConfig)  # the ranges first
  if len(argv) != 2 or argv[1] not in tools.COMMANDS:
    raise UserInputError(f"expected one command, {' | '.join(tools.COMMANDS)}, got "
                         f"{' '.join(argv[1:]) or 'none'}")
  tools.run(config, argv[1])


if __name__ == "__main__":
  app.run(main, flags_parser=flag_lib.parse_flags_or_exit)
