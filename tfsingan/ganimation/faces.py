"""Face boxes for GANimation (Pumarola et al., ECCV 2018) on whole photos: detect, crop, paste back.

The generator sees a square face crop at its training size. Detection uses the
LBP frontal-face cascade that scikit-image ships (no download); the edited crop
goes back into the photo through the generator's own attention mask,
    photo_crop' = A_up * photo_crop + (1 - A_up) * C_up,
with A and C (attention and colour) resized to the crop, so every pixel outside
the crop keeps its exact value and pixels the attention keeps stay as sharp as
the photo (no round trip through the model's resolution).

Boxes are (x, y, width, height) in pixels, x to the right, y down.
"""

import cv2
import numpy as np

from tfsingan.errors import UserInputError

# The cascade looks for faces at least this many pixels wide in a photo shrunk to
# DETECT_MAX_SIDE, which keeps detection well under a second on any photo.
DETECT_MAX_SIDE = 512
MIN_FACE = 24  # the cascade's window


def detect_faces(image01, *, max_side=DETECT_MAX_SIDE):
  """Frontal faces in `image01` ((H, W, 3) float RGB in [0, 1]) as (x, y, w, h)
  boxes, largest first (an empty list when none is found)."""
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


def detect_face(image01, *, what="--image"):
  """The largest frontal face of `image01` as (x, y, w, h); UserInputError if none."""
  boxes = detect_faces(image01)
  if not boxes:
    raise UserInputError(f"no face found in {what}; pass --box=x,y,w,h")
  return boxes[0]


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


def crop_box(face, image_shape, *, margin=0.25):
  """The square crop around a face box: its longer side plus `margin` of it on
  each side, centred on the face, shifted (then shrunk) to fit in the image."""
  if margin < 0:
    raise UserInputError(f"--margin={margin}: must be >= 0")
  height, width = image_shape[:2]
  x, y, w, h = face
  side = int(round(max(w, h) * (1.0 + 2.0 * margin)))
  side = max(1, min(side, height, width))
  cx, cy = x + w / 2.0, y + h / 2.0
  x0 = int(round(cx - side / 2.0))
  y0 = int(round(cy - side / 2.0))
  x0 = min(max(0, x0), width - side)
  y0 = min(max(0, y0), height - side)
  return (x0, y0, side, side)


def find_box(photo01, box_spec, margin, *, what="--image"):
  """The crop to edit: `box_spec` ('x,y,w,h') as given, else the largest detected
  face grown by `margin`. Returns (box, how), how = '--box' or 'detected'."""
  if box_spec:
    return parse_box(box_spec, photo01.shape), "--box"
  return crop_box(detect_face(photo01, what=what), photo01.shape, margin=margin), "detected"


def _resize(image, width, height):
  shrinking = width < image.shape[1] or height < image.shape[0]
  out = cv2.resize(image, (width, height),
                   interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
  return out.reshape(height, width, *image.shape[2:])


def crop(image01, box, size):
  """The `box` region of `image01`, resized to `size` x `size`."""
  x, y, w, h = box
  return np.ascontiguousarray(_resize(np.asarray(image01, np.float32)[y:y + h, x:x + w],
                                      size, size))


def paste(photo01, box, attention, colour):
  """Blends the generator's colour mask into `photo01` inside `box` through its
  attention mask (both at the model's size; 1 = keep the photo). Returns a copy;
  pixels outside `box` are the photo's, bit for bit."""
  photo01 = np.asarray(photo01, np.float32)
  x, y, w, h = box
  a = np.clip(_resize(np.asarray(attention, np.float32), w, h), 0.0, 1.0)[:, :, None]
  c = np.clip(_resize(np.asarray(colour, np.float32), w, h), 0.0, 1.0)
  out = photo01.copy()
  region = photo01[y:y + h, x:x + w]
  out[y:y + h, x:x + w] = a * region + (1.0 - a) * c
  return out


def edit_photo(generator, photo01, box, target_aus, size):
  """Edits the face in `box` of a whole photo to `target_aus`.

  Returns:
    dict with "photo" (the full edited photo), "face" (the input crop at `size`),
    "edited" (the generator's output crop), "attention" (size, size) and
    "colour" (size, size, 3); float32 in [0, 1].
  """
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  face = crop(photo01, box, size)
  edited, attention, colour = inference.edit(generator, face, target_aus)
  return {"photo": paste(photo01, box, attention, colour), "face": face, "edited": edited,
          "attention": attention, "colour": colour}
