"""What the machine can hold: refuse a job whose memory need is far beyond it.

A request such as `sample --scale_w=1000` used to run for minutes, grow to 15 GB
and crash; an estimate made before the work starts turns it into one error line.
"""

import os

from tfsingan.errors import UserInputError

# The share of physical memory a single job may plan to use. Estimates here count
# the large tensors only (about 2x below what TensorFlow really allocates on CPU,
# measured on SinGAN sampling), so half the memory is already generous.
MAX_SHARE = 0.5


def physical_memory():
  """Bytes of physical memory (os.sysconf), or None where the OS does not say."""
  try:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  except (ValueError, OSError, AttributeError):
    return None


def format_bytes(n):
  for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
    if n < 1000 or unit == "PB":
      return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
    n /= 1000.0
  return f"{n:.1f} PB"


def check_fits(nbytes, what, advice):
  """UserInputError when `nbytes` exceeds MAX_SHARE of this machine's memory.

  Args:
    nbytes: the estimated need.
    what: what needs it, with the figures it came from (e.g. "an output of
      25000x18800 px x 128 channels").
    advice: which flag to lower.
  """
  total = physical_memory()
  if total is None or nbytes <= MAX_SHARE * total:
    return
  raise UserInputError(f"{what} needs about {format_bytes(nbytes)} of memory, more than "
                       f"{MAX_SHARE:.0%} of this machine's {format_bytes(total)}; {advice}")
