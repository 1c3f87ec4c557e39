"""A dependency-free terminal progress bar with rate and ETA."""

import sys
import time


def format_seconds(seconds):
  seconds = int(max(0, seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
  """Prints `label [####....] i/total rate ETA extra` on stderr.

  On a terminal the line is redrawn in place (at most every 0.2 s); otherwise
  (CI logs, files) a full line is printed every `log_every_s` seconds.

  Args:
    total: number of units of work.
    label: text before the bar.
    done: units already done (resumed work); excluded from the rate.
    stream: where to write (stderr).
  """

  def __init__(self, total, label="", done=0, stream=None, log_every_s=10.0, width=24):
    self.total = max(1, int(total))
    self.label = label
    self.start_done = self.done = int(done)
    self.stream = stream or sys.stderr
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.log_every_s = log_every_s
    self.width = width
    self.t0 = time.monotonic()
    self.last_draw = 0.0

  def eta_seconds(self):
    elapsed = time.monotonic() - self.t0
    new = self.done - self.start_done
    if new <= 0:
      return None
    return elapsed / new * (self.total - self.done)

  def update(self, done=None, extra="", force=False):
    self.done = self.done + 1 if done is None else int(done)
    now = time.monotonic()
    interval = 0.2 if self.tty else self.log_every_s
    if not force and now - self.last_draw < interval and self.done < self.total:
      return
    self.last_draw = now
    frac = min(1.0, self.done / self.total)
    bar = "#" * int(frac * self.width) + "." * (self.width - int(frac * self.width))
    elapsed = now - self.t0
    new = self.done - self.start_done
    rate = f"{new / elapsed:.2f} it/s" if elapsed > 0 and new > 0 else "- it/s"
    eta = self.eta_seconds()
    eta_text = format_seconds(eta) if eta is not None else "--:--"
    line = (f"{self.label} [{bar}] {self.done}/{self.total} {rate} "
            f"elapsed {format_seconds(elapsed)} ETA {eta_text} {extra}").rstrip()
    if self.tty:
      self.stream.write("\r\033[K" + line)
      if self.done >= self.total:
        self.stream.write("\n")
    else:
      self.stream.write(line + "\n")
    self.stream.flush()

  def close(self):
    """Ends a line redrawn in place that stopped short of the total (interrupted)."""
    if self.tty and self.last_draw and self.done < self.total:
      self.stream.write("\n")
      self.stream.flush()
