"""The inputs of `prepare`: photos and videos, checked before any work, and their frames.

A source is one photo or one video. Its `stem` (the file name without extension,
with characters other than letters, digits, `.`, `-` and `_` replaced by `_`)
names its OpenFace CSV (`<stem>.csv`) and prefixes the ids of its faces, so two
inputs with the same stem are refused.
"""

import dataclasses
import os
import re

import cv2
import numpy as np

from tfsingan.common import image_io
from tfsingan.errors import UserInputError

PHOTO_EXTENSIONS = image_io.IMAGE_EXTENSIONS
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# `--every=auto`: this many frames kept per second of video (a 20 s clip gives ~100).
FRAMES_PER_SECOND = 5.0


@dataclasses.dataclass(frozen=True)
class Source:
  """One photo or video. `frames` are the frame indices to examine (0-based, in
  decoding order; a photo has the single frame 0)."""

  path: str
  stem: str
  kind: str  # "photo" | "video"
  frames: tuple
  fps: float = 0.0


def _stem(path):
  return re.sub(r"[^A-Za-z0-9._-]", "_", os.path.splitext(os.path.basename(path))[0])


def _kind(path):
  ext = os.path.splitext(path)[1].lower()
  if ext in PHOTO_EXTENSIONS:
    return "photo"
  if ext in VIDEO_EXTENSIONS:
    return "video"
  return None


def list_inputs(spec):
  """'a.jpg,folder,b.mp4' -> sorted unique paths of photos and videos."""
  items = [s.strip() for s in str(spec or "").split(",") if s.strip()]
  if not items:
    raise UserInputError("--input is required: photos and/or videos (files or folders, "
                         "comma-separated)")
  paths = []
  for item in items:
    if not os.path.exists(item):
      raise UserInputError(f"--input: {item} not found; expected a photo, a video or a "
                           "folder of them")
    if os.path.isdir(item):
      found = sorted(os.path.join(item, f) for f in os.listdir(item)
                     if not f.startswith(".") and _kind(f)
                     and os.path.isfile(os.path.join(item, f)))
      if not found:
        raise UserInputError(f"--input: folder {item} holds no photo or video; expected "
                             f"{' '.join(PHOTO_EXTENSIONS + VIDEO_EXTENSIONS)} files")
      paths += found
    elif _kind(item):
      paths.append(item)
    else:
      raise UserInputError(f"--input: {item} is neither a photo nor a video; expected "
                           f"one of {' '.join(PHOTO_EXTENSIONS + VIDEO_EXTENSIONS)}")
  return sorted(dict.fromkeys(os.path.normpath(p) for p in paths))


def auto_every(fps):
  """`--every=auto`: keep FRAMES_PER_SECOND frames a second (every frame at <= 5 fps)."""
  return max(1, int(round(fps / FRAMES_PER_SECOND))) if fps > 0 else 1


def video_frames(frame_count, fps, every):
  """The frame indices kept of a video: 0, every, 2 * every, ...

  With `every=None` (auto) the step is `auto_every(fps)`; a video whose container
  reports no frame rate gets the step that keeps about 100 frames of its length.
  """
  if not every:
    every = auto_every(fps) if fps > 0 else max(1, int(round(frame_count / 100)))
  return tuple(range(0, frame_count, every))


def _check_photo(path):
  # The header is enough here (the full decode happens once, in the worker): a
  # text file named .jpg fails, a truncated one fails later with its own error.
  if os.path.getsize(path) == 0 or not cv2.haveImageReader(path):
    raise UserInputError(f"--input: {path} is not a readable image; expected PNG, JPEG "
                         "or BMP")


def _probe_video(path):
  capture = cv2.VideoCapture(path)
  try:
    if not capture.isOpened():
      raise UserInputError(f"--input: {path} is not a readable video; expected a video "
                           f"file ({' '.join(VIDEO_EXTENSIONS)}) that OpenCV can decode")
    ok, _ = capture.read()
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = float(capture.get(cv2.CAP_PROP_FPS))
  finally:
    capture.release()
  if not ok or count <= 0:
    raise UserInputError(f"--input: {path} has no decodable frame; expected a video")
  return count, (fps if np.isfinite(fps) and fps > 0 else 0.0)


def find_sources(spec, every):
  """Lists and checks every input (before any work): a list of `Source`."""
  sources, stems = [], {}
  for path in list_inputs(spec):
    stem = _stem(path)
    if stem in stems:
      raise UserInputError(f"--input: {stems[stem]} and {path} both have the stem {stem!r}; "
                           "stems name the OpenFace CSVs and the face ids, rename one")
    stems[stem] = path
    if _kind(path) == "photo":
      _check_photo(path)
      sources.append(Source(path, stem, "photo", (0,)))
    else:
      count, fps = _probe_video(path)
      sources.append(Source(path, stem, "video", video_frames(count, fps, every), fps))
  return sources


def iter_frames(source, start=0):
  """Yields (frame index, RGB float32 image in [0, 1]) for the frames of `source`
  from the `start`-th kept frame on; decoding goes through the skipped frames."""
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  if source.kind == "photo":
    if start == 0:
      yield 0, image_io.load_image(source.path, channels=3, what="--input", quiet=True)
    return
  wanted = source.frames[start:]
  if not wanted:
    return
  capture = cv2.VideoCapture(source.path)
  try:
    index, pending = 0, list(wanted)
    while pending:
      # grab() without retrieve() skips the colour conversion of the unused frames.
      if not capture.grab():
        return  # containers overstate their frame count now and then
      if index == pending[0]:
        ok, bgr = capture.retrieve()
        pending.pop(0)
        if ok:
          yield index, np.ascontiguousarray(bgr[:, :, ::-1], np.float32) / 255.0
      index += 1
  finally:
    capture.release()
