"""The faces of a whole photo for GANimation (Pumarola et al., ECCV 2018): find,
align, edit, paste back.

The generator sees a face crop at its training size. A face is found by
`tfsingan.faces.detect` (MTCNN with five landmarks; scikit-image's LBP cascade,
`detect_faces` below, where MTCNN finds nothing) and aligned to the five-point
template by a similarity transform (`tfsingan.faces.align`, the same crops as
`python -m tfsingan.prepare` makes for training); `--box=x,y,w,h` takes that box
as the crop instead (resized, not rotated). The edit goes back into the photo
through the inverse transform and the generator's own attention mask,
    photo' = A * photo + (1 - A) * C     inside the crop's footprint,
with A and C (attention and colour) warped to the photo, so every pixel outside
the footprint keeps its exact value and pixels the attention keeps stay as sharp
as the photo (no round trip through the model's resolution).

Boxes are (x, y, width, height) in pixels, x to the right, y down.
"""

import dataclasses

import cv2
import numpy as np

from tfsingan.errors import UserInputError

# The cascade looks for faces at least this many pixels wide in a photo shrunk to
# DETECT_MAX_SIDE, which keeps detection well under a second on any photo.
DETECT_MAX_SIDE = 512
MIN_FACE = 24  # the cascade's window
WHICH_FACES = ("largest", "all")


def detect_faces(image01, *, max_side=DETECT_MAX_SIDE):
  """Frontal faces in `image01` ((H, W, 3) float RGB in [0, 1]) found by the LBP
  cascade, as (x, y, w, h) boxes, largest first (an empty list when none)."""
  from skimage import data as skdata  # pylint: disable=import-outside-toplevel
  from skimage import feature  # pylint: disable=import-outside-toplevel
  image01 = np.asarray(image01, np.float32)
  h, w = image01.shape[:2]
  scale = min(1.0, max_side / max(h, w))
  small = image01
  if scale < 1.0:
    small = cv2.resize(image01, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
  sh, sw = small.shape[:2]
  if min(sh, sw) < MIN_FACE:
    return []
  cascade = feature.Cascade(skdata.lbp_frontal_face_cascade_filename())
  found = cascade.detect_multi_scale(img=small, scale_factor=1.2, step_ratio=1,
                                     min_size=(MIN_FACE, MIN_FACE), max_size=(sh, sw))
  boxes = []
  for d in found:
    x, y = d["c"] / scale, d["r"] / scale
    bw, bh = d["width"] / scale, d["height"] / scale
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
    if x1 > x0 and y1 > y0:
      boxes.append((x0, y0, x1 - x0, y1 - y0))
  return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def parse_box(spec, image_shape, *, what="--box"):
  """'x,y,w,h' (pixels) -> a box that must lie inside an image of `image_shape`."""
  parts = [p.strip() for p in str(spec).split(",")]
  try:
    x, y, w, h = (int(p) for p in parts)
  except ValueError:
    raise UserInputError(f"{what}={spec}: expected four integers x,y,width,height "
                         "(pixels, x to the right, y down)") from None
  return check_box((x, y, w, h), image_shape, what=f"{what}={spec}")


def check_box(box, image_shape, *, what="box"):
  """Checks that (x, y, w, h) has a positive size and lies inside the image."""
  x, y, w, h = (int(v) for v in box)
  height, width = image_shape[:2]
  if w <= 0 or h <= 0:
    raise UserInputError(f"{what}: width and height must be positive")
  if x < 0 or y < 0 or x + w > width or y + h > height:
    raise UserInputError(f"{what}: box spans x {x}..{x + w}, y {y}..{y + h}, outside the "
                         f"{width}x{height} image; expected 0 <= x, x+w <= {width}, "
                         f"0 <= y, y+h <= {height}")
  return (x, y, w, h)


@dataclasses.dataclass(frozen=True)
class Face:
  """A face to edit: how it was found, where, and (if detected) its Detection.

  how: "--box", "mtcnn" or "cascade"; box: (x, y, w, h) (the detector's or the
  given one); detection: a tfsingan.faces.Detection, or None for --box.
  """
  how: str
  box: tuple
  detection: object = None

  def to_json(self):
    points = None if self.detection is None else self.detection.landmarks5.tolist()
    confidence = None if self.detection is None else self.detection.confidence
    return {"how": self.how, "box": list(self.box), "landmarks5": points,
            "confidence": confidence}

  @classmethod
  def from_json(cls, data):
    from tfsingan import faces  # pylint: disable=import-outside-toplevel
    box = tuple(int(v) for v in data["box"])
    if data.get("landmarks5") is None:
      return cls("--box", box)
    det = faces.Detection(box, np.asarray(data["landmarks5"], np.float32),
                          data.get("confidence") or 0.0, data["how"])
    return cls(data["how"], box, det)

  def describe(self):
    box = ",".join(str(v) for v in self.box)
    if self.detection is None:
      return f"face crop --box={box} (as given, not aligned)"
    return (f"face found by {self.how} at --box={box}, aligned to the five-point template "
            "(pass --box to crop a box unaligned instead)")

  def align(self, photo01, size, margin):
    """The crop to edit: the template alignment, or the --box resized."""
    from tfsingan import faces  # pylint: disable=import-outside-toplevel
    if self.detection is None:
      return faces.crop_box(photo01, self.box, size)
    return faces.align(photo01, self.detection.landmarks5, size, margin=margin)


def find_faces(photo01, box_spec="", *, which="largest", what="--image"):
  """The faces to edit in `photo01`: `box_spec` ('x,y,w,h') as given, else the
  detected faces (the largest, or all with which="all"); UserInputError if none."""
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  if which not in WHICH_FACES:
    raise UserInputError(f"--faces={which}: expected one of {', '.join(WHICH_FACES)}")
  if box_spec:
    return [Face("--box", parse_box(box_spec, photo01.shape))]
  found = faces.detect(photo01, what=what)
  if not found:
    raise UserInputError(f"no face found in {what}; pass --box=x,y,w,h")
  if which == "largest":
    found = found[:1]
  return [Face(d.detector, d.box, d) for d in found]


def detection_in_box(photo01, box, *, what="--box"):
  """The largest detected face whose centre lies in `box` (for the AU reader when
  the crop is given); UserInputError when there is none."""
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  x, y, w, h = box
  for det in faces.detect(photo01):
    bx, by, bw, bh = det.box
    if x <= bx + bw / 2 <= x + w and y <= by + bh / 2 <= y + h:
      return det
  raise UserInputError(f"--source_aus=auto: no face found inside {what}="
                       f"{','.join(str(v) for v in box)}; give the AUs explicitly")


def edit_photo(generator, photo01, aligned, target_aus, warp=None):
  """Edits the face of `aligned` (a tfsingan.faces.Aligned of `photo01`) to
  `target_aus` and pastes it back.

  `warp`: for a warp-guided generator (`--warp_guided`), the photo's AU warp (a
  `tfsingan.synthetic.photos.WarpEditor`, or any callable target AUs -> whole
  photo): the photo is warped first and the generator refines the warp's crop,
  pasted back into the warped photo.

  Returns:
    dict with "photo" (the full edited photo), "face" (the input crop),
    "edited" (the generator's output crop), "attention" (size, size) and
    "colour" (size, size, 3); float32 in [0, 1].
  """
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  from tfsingan.faces import alignment  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  source, crop = photo01, aligned.image
  if warp is not None:
    source = np.asarray(warp(target_aus), np.float32)
    crop = alignment.warp_to_crop(source, aligned.matrix, aligned.size).image
  edited, attention, colour = inference.edit(generator, crop, target_aus)
  photo = faces.paste_back(source, aligned, np.clip(colour, 0.0, 1.0),
                           np.clip(attention, 0.0, 1.0))
  return {"photo": photo, "face": aligned.image, "edited": edited, "attention": attention,
          "colour": colour}


def photo_warp(model_config, photo01, source_aus=None, *, face_landmarker="", reader=None,
               face=None, what="--image"):
  """The AU warp `edit_photo` needs for a warp-guided model (None for the others):
  a WarpEditor of the photo's largest face, moving it from `source_aus` ((17,),
  "auto" for the AUs read off it, None for a neutral face)."""
  if not getattr(model_config, "warp_guided", False):
    return None
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  return photos.WarpEditor(photo01, source_aus=source_aus,
                           face_landmarker=face_landmarker or None, reader=reader,
                           face=face, what=what)


def read_source_aus(photo01, face, face_landmarker="", *, what="--image"):
  """The AUs of `face` read by tfsingan.faces.AUReader, as an --aus spec string
  ('AU01:0.0312,...')."""
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  det = face.detection or detection_in_box(photo01, face.box)
  return aus_spec(faces.AUReader(face_landmarker or None).read(photo01, det, what=what).aus)


def aus_spec(aus):
  """(17,) AUs in [0, 1] -> the --aus spec 'AU01:0.0312,...' that aus.parse_aus reads."""
  from tfsingan.ganimation import aus as aus_lib  # pylint: disable=import-outside-toplevel
  return ",".join(f"{n}:{float(v):.4f}" for n, v in zip(aus_lib.AU_NAMES, aus))
