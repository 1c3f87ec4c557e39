"""Still photos from a video, for the photo-based renderers (the AU warp of `tfsingan.synthetic`).

  python -m tfsingan.prepare.stills --input=clip.mp4 --start=10 --every=40 --out=DIR [--name=clip]

Writes DIR/<name>_f<frame>.png (lossless RGB) for frames start, start + every, ...
of the video, decoded as `prepare` decodes them (`sources.iter_frames`). The
shipped GANimation's warp renders use 12 stills of the shared video this way
(Makefile, `shipped-ganimation-data`).
"""

import dataclasses
import os

from tfsingan.errors import UserInputError


def write_stills(video, out, *, start=0, every=1, name=None):
  """Writes the stills; returns their paths."""
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  from tfsingan.prepare import sources  # pylint: disable=import-outside-toplevel
  if start < 0 or every < 1:
    raise UserInputError(f"--start={start} / --every={every}: expected start >= 0, every >= 1")
  found = sources.find_sources(video, 1)
  if len(found) != 1 or found[0].kind != "video":
    raise UserInputError(f"--input={video}: expected one video file")
  source = found[0]
  frames = tuple(range(start, len(source.frames), every))
  if not frames:
    raise UserInputError(f"--start={start}: the video has {len(source.frames)} frames")
  source = dataclasses.replace(source, frames=frames)
  os.makedirs(out, exist_ok=True)
  name = name or source.stem
  written = []
  for index, image in sources.iter_frames(source):
    path = os.path.join(out, f"{name}_f{index:03d}.png")
    image_io.save_image(path, image)
    written.append(path)
  return written


def main(argv):
  from absl import flags  # pylint: disable=import-outside-toplevel
  if len(argv) > 1:
    raise UserInputError(f"unexpected arguments {' '.join(argv[1:])}; use --flag=value")
  f = flags.FLAGS
  if not f.input or not f.out:
    raise UserInputError("--input and --out: required; expected a video and a folder")
  written = write_stills(f.input, f.out, start=f.start, every=f.every, name=f.name)
  print(f"wrote {len(written)} stills into {f.out}")
  return 0


if __name__ == "__main__":
  import sys

  from absl import app
  from absl import flags

  import tfsingan.flags
  from tfsingan.errors import exit_on_user_error

  flags.DEFINE_string("input", None, "A video file.")
  flags.DEFINE_string("out", None, "Output folder (created).")
  flags.DEFINE_integer("start", 0, "First frame.", lower_bound=0, upper_bound=10_000_000)
  flags.DEFINE_integer("every", 1, "Step between frames.", lower_bound=1, upper_bound=10_000_000)
  flags.DEFINE_string("name", None, "File name prefix (default: the video's stem).")
  sys.exit(app.run(exit_on_user_error(main), flags_parser=tfsingan.flags.parse_flags_or_exit))
