"""User-facing errors: bad input ends with one line and exit code 2, never a traceback."""

import functools
import sys


class UserInputError(ValueError):
  """Raised for bad input (files, flags, sizes, values); the message names the
  thing and what was expected. Entry points turn it into one line and exit 2."""


def exit_on_user_error(main):
  """Wraps an absl `main(argv)` so that UserInputError prints one line, exits 2."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except UserInputError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)

  return wrapped
