"""Real photos as GANimation identities (Pumarola et al., 2018 layout), their expressions made by the AU warp.

`generate(out_dir, photos_dir, ...)` writes what `dataset.generate` writes for the
procedural faces (imgs/, aus_openface.pkl, train_ids.csv, test_ids.csv,
identities.json) from a folder of face photos:

  * each photo is read once: its largest face (`tfsingan.faces.detect`), its 478
    dense landmarks and its own AUs (`tfsingan.faces.AUReader`);
  * identity k of a photo is the photo itself (k = 0) or an augmented copy: a
    mirror image (half of them), a rotation of up to `MAX_ROTATION` degrees and a
    scale within `SCALE_RANGE` about the face, and a colour jitter (brightness,
    contrast, saturation). The copy is aligned with `tfsingan.faces.align`, the
    same crop that `prepare`, `animate` and `expand` make, and stored losslessly
    as OUT/identities/<identity>.png with its landmarks in crop pixels;
  * every image of an identity is `warp.render(crop, landmarks, aus,
    source_aus=the photo's own AUs)` for AUs drawn as the procedural faces draw
    them, so `dataset.true_target` renders the truth for any target;
  * the test split holds whole photos: no identity of a test photo is in train.
"""

import os
import time

import cv2
import numpy as np

from tfsingan.common import image_io
from tfsingan.errors import UserInputError
from tfsingan.synthetic import dataset
from tfsingan.synthetic import warp

MAX_ROTATION = 8.0  # degrees; in-plane head tilts of frontal face datasets stay within this
SCALE_RANGE = (0.92, 1.08)
JITTER = {"brightness": 0.06, "contrast": 0.12, "saturation": 0.15}


def list_photos(photos_dir):
  """The photo files of a folder, sorted; UserInputError if there are none."""
  if not os.path.isdir(photos_dir):
    raise UserInputError(f"--photos: {photos_dir} is not a folder; expected a folder of "
                         "face photos")
  names = sorted(n for n in os.listdir(photos_dir)
                 if n.lower().endswith(image_io.IMAGE_EXTENSIONS) and not n.startswith("."))
  if not names:
    raise UserInputError(f"--photos: {photos_dir} holds no photo ({', '.join(image_io.IMAGE_EXTENSIONS)})")
  return names


def read_face(photo01, reader, *, what="photo"):
  """The largest face of a photo: (landmarks (478, 2), landmarks5 (5, 2), aus (17,)),
  in photo pixels; UserInputError if no face is found."""
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  found = faces.detect(photo01)
  if not found:
    raise UserInputError(f"{what}: no face found; expected a photo of a face")
  reading = reader.read(photo01, found[0])
  return (np.asarray(reading.landmarks, np.float64)[:, :2],
          np.asarray(found[0].landmarks5, np.float64),
          np.nan_to_num(np.asarray(reading.aus, np.float64), nan=0.0))


def sample_augmentation(rng, k):
  """Augmentation parameters of a photo's identity k (k = 0: the photo as it is)."""
  if k == 0:
    return {"flip": False, "rotation": 0.0, "scale": 1.0, "brightness": 0.0,
            "contrast": 1.0, "saturation": 1.0}
  return {
      "flip": bool(k % 2 == 1),
      "rotation": float(rng.uniform(-MAX_ROTATION, MAX_ROTATION)),
      "scale": float(rng.uniform(*SCALE_RANGE)),
      "brightness": float(rng.uniform(-1, 1) * JITTER["brightness"]),
      "contrast": float(1 + rng.uniform(-1, 1) * JITTER["contrast"]),
      "saturation": float(1 + rng.uniform(-1, 1) * JITTER["saturation"]),
  }


def _apply(matrix, points):
  return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def identity_crop(photo01, landmarks, landmarks5, params, size):
  """The aligned crop of an augmented copy of a photo: (crop (size, size, 3) float32,
  landmarks (478, 2) in crop pixels)."""
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  h, w = photo01.shape[:2]
  centre = landmarks.mean(0)
  m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), params["rotation"],
                              params["scale"])
  if params["flip"]:  # mirror first: x -> w - 1 - x (pixel centres at integers)
    m = m @ np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
  photo = cv2.warpAffine(np.asarray(photo01, np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)
  points5 = _apply(m, landmarks5)
  if params["flip"]:  # the five points are ordered by x: eyes, nose, mouth corners
    points5 = points5[[1, 0, 2, 4, 3]]
  aligned = faces.align(photo, points5.astype(np.float32), size=size)
  crop = np.asarray(aligned.image, np.float32)
  grey = image_io.to_gray(crop)[..., 0]
  crop = grey[..., None] + params["saturation"] * (crop - grey[..., None])
  crop = (crop - crop.mean()) * params["contrast"] + crop.mean() + params["brightness"]
  crop_landmarks = _apply(np.asarray(aligned.matrix, np.float64), _apply(m, landmarks))
  return np.clip(crop, 0.0, 1.0).astype(np.float32), crop_landmarks


def plan(photo_names, num, *, seed=0, images_per_identity=5, test_fraction=0.1):
  """Identities (photo, augmentation k), per-image AUs and splits, from one seeded
  generator. Returns (identities: {id: {"photo", "augmentation"}}, images: {image_id:
  {identity, aus, split}}); AUs as in `dataset.plan` (OpenFace's 2 decimals, / 5)."""
  rng = np.random.default_rng(seed)
  n_photos = len(photo_names)
  test_photos = dataset.held_out(rng, n_photos, test_fraction)
  identities, images = {}, {}
  n_ids = -(-num // images_per_identity)
  for i in range(n_ids):
    p, k = i % n_photos, i // n_photos
    stem = os.path.splitext(photo_names[p])[0]
    ident = f"{stem}_a{k:03d}"
    identities[ident] = {"photo": photo_names[p], "augmentation": sample_augmentation(rng, k)}
    for j in range(min(images_per_identity, num - i * images_per_identity)):
      images[f"{ident}_{j:02d}"] = {
          "identity": ident,
          "aus": dataset.sample_stored_aus(rng),
          "split": "test" if p in test_photos else "train",
      }
  return identities, images


def generate(out_dir, photos_dir, num=2000, *, size=128, seed=0, test_fraction=0.1,
             images_per_identity=5, image_format="jpg", face_landmarker=None, reader=None,
             quiet=False):
  """Writes a warp dataset of the photos in `photos_dir` into `out_dir` (module docstring).

  `reader`: a `tfsingan.faces.AUReader` (made from `face_landmarker` when None).
  Returns the counts of `dataset.write_dataset`.
  """
  image_format = dataset.check_options(num, size, test_fraction, images_per_identity,
                                       image_format, out_dir)
  names = list_photos(photos_dir)
  start = time.perf_counter()
  if reader is None:
    from tfsingan import faces  # pylint: disable=import-outside-toplevel
    reader = faces.AUReader(face_landmarker=face_landmarker)
  readings = {}
  for name in names:
    path = os.path.join(photos_dir, name)
    photo = image_io.load_image(path, channels=3, what=path)
    readings[name] = (photo,) + read_face(photo, reader, what=path)
  identities, images = plan(names, num, seed=seed, images_per_identity=images_per_identity,
                            test_fraction=test_fraction)
  crop_dir = os.path.join(out_dir, "identities")
  os.makedirs(crop_dir, exist_ok=True)
  crops = {}
  for ident, entry in identities.items():
    photo, landmarks, landmarks5, source_aus = readings[entry["photo"]]
    crop, crop_landmarks = identity_crop(photo, landmarks, landmarks5, entry["augmentation"],
                                         size)
    rel = os.path.join("identities", f"{ident}.png")
    image_io.save_image(os.path.join(out_dir, rel), crop)
    # Renders start from the stored PNG, so `true_target` reproduces them exactly.
    crops[ident] = image_io.load_image(os.path.join(out_dir, rel), channels=3)
    entry.update(crop=rel, landmarks=np.round(crop_landmarks, 3).tolist(),
                 source_aus=np.round(source_aus, 4).tolist())

  def encode(image_id):
    entry = identities[images[image_id]["identity"]]
    out = warp.render(crops[images[image_id]["identity"]], np.asarray(entry["landmarks"]),
                      np.asarray(images[image_id]["aus"]),
                      source_aus=np.asarray(entry["source_aus"]))
    return dataset.encode_image(out, image_format)

  meta = {"renderer": "warp", "size": size, "seed": seed, "photos": names,
          "identities": identities}
  return dataset.write_dataset(out_dir, images, map(encode, list(images)),
                               image_format=image_format, meta=meta, start=start,
                               quiet=quiet)



class WarpEditor:
  """The AU warp as an editor of a whole photo, the baseline a learned editor must beat.

  Reads the photo's largest face once (landmarks and its own AUs); calling it with
  target AUs returns the edited photo, (H, W, 3) float32, pixels outside the face's
  ring unchanged bit for bit.

  Args:
    photo01: (H, W, 3) float RGB in [0, 1].
    source_aus: (17,) what the photo shows; None: a neutral face (zeros), as the
      GANimation editor assumes; "auto": the AUs the reader reads on the photo.
    face_landmarker: MediaPipe's face_landmarker.task (None: the installed copy).
    reader: a `tfsingan.faces.AUReader` to use instead.
    face: the photo's face as `read_face` returns it, when the caller has read it
      already (then no reader runs).
  """

  def __init__(self, photo01, *, source_aus=None, face_landmarker=None, reader=None,
               what="--image", face=None):
    self.photo = np.asarray(photo01, np.float32)
    if face is None:
      if reader is None:
        from tfsingan import faces  # pylint: disable=import-outside-toplevel
        reader = faces.AUReader(face_landmarker=face_landmarker)
      face = read_face(self.photo, reader, what=what)
    self.landmarks, self.landmarks5, self.read_aus = face
    # The ring stays inside the footprint of the face's aligned crop (faces.align, as
    # prepare / animate / paste_back): no pixel outside that crop changes.
    from tfsingan import faces  # pylint: disable=import-outside-toplevel
    if self.landmarks5 is None:
      self.bounds = None
    else:
      aligned = faces.align(self.photo, np.asarray(self.landmarks5, np.float32), size=128)
      square = np.array([[0, 0], [127, 0], [127, 127], [0, 127]], np.float64)
      m = np.vstack([np.asarray(aligned.matrix, np.float64), [0, 0, 1]])
      self.bounds = _apply(np.linalg.inv(m)[:2], square)
    if isinstance(source_aus, str) and source_aus == "auto":
      source_aus = self.read_aus
    self.source_aus = np.zeros(17) if source_aus is None else np.asarray(source_aus, np.float64)

  def __call__(self, target_aus):
    return warp.render(self.photo, self.landmarks, target_aus, source_aus=self.source_aus,
                       bounds=self.bounds)

  def aligned(self, size, margin):
    """The face's crop (a tfsingan.faces.Aligned), as GANimation's editor aligns it."""
    from tfsingan import faces  # pylint: disable=import-outside-toplevel
    return faces.align(self.photo, self.landmarks5, size, margin=margin)

  def edit_photo(self, target_aus, aligned):
    """As `tfsingan.ganimation.faces.edit_photo`: "photo" (edited), "face" (the input
    crop `aligned`) and "attention" (1 where the warp kept the pixel, in that crop)."""
    from tfsingan.faces import alignment  # pylint: disable=import-outside-toplevel
    edited = self(target_aus)
    kept = (edited == self.photo).all(axis=2).astype(np.float32)
    return {"photo": edited, "face": aligned.image,
            "attention": alignment.warp_to_crop(kept, aligned.matrix, aligned.size).image}
