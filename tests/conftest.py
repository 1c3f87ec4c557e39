"""Test configuration: slow tests are opt-in (--runslow).

The command-line modules (tfsingan.train, sample, evaluate, animate, ...) define
absl flags when imported, several with the same names (--workdir, --out), so one
test process may import at most one of them: tests run the others as subprocesses,
and testable logic lives in library modules.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# --precision=auto (the default) picks mixed_bfloat16 on CPUs with AVX512_BF16/AMX and
# float32 elsewhere; the suite pins auto to float32 so that every CPU runs the same
# numerics (subprocesses inherit it). The bfloat16/float16 paths have their own tests
# with explicit precisions; tests/test_precision.py tests the resolution itself.
os.environ.setdefault("TFSINGAN_AUTO_PRECISION", "float32")

import pytest  # pylint: disable=g-import-not-at-top

import harness  # pylint: disable=g-import-not-at-top
from harness import policy  # pylint: disable=g-import-not-at-top,unused-import  (the fixture)


def pytest_addoption(parser):
  parser.addoption("--runslow", action="store_true", default=False,
                   help="also run tests marked slow")


def _onednn_refuses_bf16():
  """True when ONEDNN_MAX_CPU_ISA caps oneDNN below bfloat16 on a CPU that has it.

  That is the AVX2 emulation of the README's development section: TensorFlow still
  sees avx512_bf16 in CPUID and sends bfloat16 convolutions to oneDNN, which then
  refuses them ("could not create a primitive descriptor"). A real AVX2-only CPU
  runs them on TensorFlow's own kernels (the explicit bfloat16 tests passed on one).
  """
  from tfsingan.common import precision  # pylint: disable=import-outside-toplevel
  flags = precision.read_cpu_flags()
  return (not precision.cpu_has_bf16(flags)
          and precision.cpu_has_bf16(flags, environ={}))


def _onednn_refuses_fp16():
  """The same for float16 on a CPU with AVX512_FP16 (or AMX_FP16): TensorFlow sends
  float16 convolutions to oneDNN there, which refuses them once ONEDNN_MAX_CPU_ISA caps
  it below AVX512_CORE_FP16 (seen on a Xeon with AMX: "could not create a primitive
  descriptor for the convolution forward propagation primitive"). Without the flag
  TensorFlow keeps float16 convolutions on its own kernels: these tests passed under the
  same emulation on an AMD EPYC with AVX512_BF16 but no AVX512_FP16."""
  # pylint: disable=import-outside-toplevel
  from tfsingan.common import execution
  from tfsingan.common import precision
  flags = precision.read_cpu_flags()
  # The cap lowers the CPU's kind (tfsingan.common.execution reads it as the runs do).
  capped = execution.cpu_kind(flags) != execution.cpu_kind(flags, environ={})
  return capped and bool(set(flags) & {"avx512_fp16", "amx_fp16"})


def pytest_collection_modifyitems(config, items):
  if _onednn_refuses_fp16():
    skip_fp16 = pytest.mark.skip(reason="explicit float16 under ONEDNN_MAX_CPU_ISA below "
                                 "AVX512_CORE_FP16 on an AVX512_FP16 CPU: oneDNN refuses "
                                 "float16 convolutions in this emulation (CPUs without "
                                 "AVX512_FP16 run them)")
    for item in items:
      if "fp16" in item.keywords:
        item.add_marker(skip_fp16)
  if _onednn_refuses_bf16():
    skip_bf16 = pytest.mark.skip(reason="explicit bfloat16 under ONEDNN_MAX_CPU_ISA below "
                                 "AVX512_CORE_BF16 on a bf16 CPU: oneDNN refuses bfloat16 "
                                 "convolutions in this emulation (a real AVX2-only CPU runs them)")
    for item in items:
      if "bf16" in item.keywords:
        item.add_marker(skip_bf16)
  if config.getoption("--runslow"):
    return
  skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
  for item in items:
    if "slow" in item.keywords:
      item.add_marker(skip_slow)


# The shared real faces (../shared/data/real_faces, see its SOURCE.md): read in
# place, never copied into the repository; tests that need them skip without them.
REAL_FACES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                          "shared", "data", "real_faces")


@pytest.fixture(scope="session")
def real_face():
  """real_face(name) -> the path of a shared real photo or video; skips when absent."""
  def path(name):
    found = os.path.join(REAL_FACES, name)
    if not os.path.isfile(found):
      pytest.skip(f"the shared real faces are absent ({found} not found; see "
                  "../shared/data/real_faces/SOURCE.md)")
    return found
  return path


@pytest.fixture(scope="session")
def au_reader():
  """A tfsingan.faces.AUReader (478 landmarks and AUs); skips when its model is absent."""
  from tfsingan import faces  # pylint: disable=import-outside-toplevel
  from tfsingan.errors import UserInputError  # pylint: disable=import-outside-toplevel
  try:
    return faces.AUReader()
  except UserInputError as e:
    pytest.skip(f"the MediaPipe face landmarker model is absent: {e}")


@pytest.fixture(scope="session")
def fake_face_reading():
  """A stand-in for `tfsingan.synthetic.photos.read_face` that needs no model: the
  MediaPipe landmarks of grace_hopper.jpg stored in tests/data (numbers only), for
  any 512 x 512 test photo, with neutral AUs."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import mesh  # pylint: disable=import-outside-toplevel
  lm = np.loadtxt(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                               "grace_hopper_landmarks.csv"), delimiter=",")[:, :2]
  eyes = sorted([lm[list(u + l)].mean(0) for u, l in zip(mesh.EYE_UPPER, mesh.EYE_LOWER)],
                key=lambda p: p[0])
  mouth = sorted([lm[61], lm[291]], key=lambda p: p[0])
  points5 = np.stack(eyes + [lm[mesh.NOSE_TIP]] + mouth)

  def read_face(photo01, reader, *, what="photo"):
    del photo01, reader, what
    return lm.copy(), points5.copy(), np.zeros(17)
  return read_face


@pytest.fixture(scope="session")
def tiny_ganimation_run(tmp_path_factory):
  """An untrained tiny GANimation generator (32 px, 8 channels, one residual block)
  saved as the trainer saves a finished run: config.json + generator.weights.h5."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import networks  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation.config import GANimationConfig  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("ganimation_run")
  config = GANimationConfig(image_size=32, conv_dim=8, repeat_num=1, critic_layers=4)
  keras.utils.set_random_seed(0)
  generator = networks.build_generator(32, 8, 1, dtype="float32")
  generator.save_weights(str(root / inference.GENERATOR_WEIGHTS))
  (root / inference.CONFIG_NAME).write_text(rundir.to_json(config, "ganimation"))
  return str(root)


# The tiny SinGAN of configs/singan_tiny.cfg (3 scales, 18..24 px, 6 iterations a
# scale) on the bundled face at 24 px: training it costs ~27 CPU s on an AVX2-only
# CPU, mostly tracing, so it is trained once per session for every file that only
# needs a finished run.
TINY_SINGAN_FLAGS = ("--flagfile=configs/singan_tiny.cfg",)


@pytest.fixture(scope="session")
def tiny_singan_run(tmp_path_factory):
  """(workdir, stdout, stderr) of the tiny SinGAN trained through `python -m
  tfsingan.train` (a real subprocess), shared read-only across test files and xdist
  workers; copy the workdir before changing anything in it."""
  def build(folder):
    from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
    image = os.path.join(folder, "face.png")
    image_io.save_image(image, image_io.bundled_face(24))
    workdir = os.path.join(folder, "work")
    result = harness.run_cli("tfsingan.train", *TINY_SINGAN_FLAGS, f"--image={image}",
                             f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr[-3000:]
    for name, text in (("stdout.txt", result.stdout), ("stderr.txt", result.stderr)):
      with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write(text)
  folder = harness.shared_dir(tmp_path_factory, ("singan", *TINY_SINGAN_FLAGS, "face 24"),
                              build)
  def read(name):
    with open(os.path.join(folder, name), encoding="utf-8") as f:
      return f.read()
  return os.path.join(folder, "work"), read("stdout.txt"), read("stderr.txt")
