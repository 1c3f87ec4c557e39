"""The one progress bar (tfsingan/common/progress.py): in place on a terminal."""

import io

from tfsingan.common.progress import Progress


class _Terminal(io.StringIO):

  def isatty(self):
    return True


def test_redraws_in_place_on_a_terminal_and_close_ends_the_line():
  stream = _Terminal()
  progress = Progress(10, "GANimation", done=2, stream=stream)
  progress.update(3, "d_loss=1", force=True)
  progress.update(4, "d_loss=0.5", force=True)
  text = stream.getvalue()
  assert text.count("\r") == 2 and "\n" not in text
  assert "4/10" in text and "d_loss=0.5" in text
  progress.close()  # interrupted before the total: the line is ended once
  assert stream.getvalue().endswith("\n")


def test_one_line_per_update_elsewhere():
  stream = io.StringIO()
  progress = Progress(3, "GmFace", stream=stream, log_every_s=0.0)
  for _ in range(3):
    progress.update()
  progress.close()
  lines = stream.getvalue().splitlines()
  assert len(lines) == 3 and "\r" not in stream.getvalue() and lines[-1].startswith("GmFace")
