"""The warp-guided GANimation: warp.render_to, the pair sets of tfsingan.prepare.warp_pairs,
their pipeline, the training step without the cycle, and editing through the warp."""

import json
import os
import pickle

import cv2
import numpy as np
import pytest
import tensorflow as tf

import harness
from tfsingan import faces as faces_lib
from tfsingan.errors import UserInputError
from tfsingan.ganimation import config as config_lib
from tfsingan.ganimation import data
from tfsingan.ganimation import faces
from tfsingan.ganimation import model as model_lib
from tfsingan.ganimation import networks
from tfsingan.prepare import warp_pairs
from tfsingan.synthetic import mesh
from tfsingan.synthetic import warp

HERE = os.path.dirname(__file__)
LANDMARKS = np.loadtxt(os.path.join(HERE, "data", "grace_hopper_landmarks.csv"),
                       delimiter=",")[:, :2]


def _texture(shape=(512, 512, 3), seed=0):
  noise = np.random.default_rng(seed).random((64, 64, 3)).astype(np.float32)
  return cv2.resize(noise, shape[:2][::-1], interpolation=cv2.INTER_CUBIC).clip(0, 1)


# ------------------------------------------------------------------ render_to
def test_render_to_own_landmarks_is_the_photo():
  photo = _texture()
  np.testing.assert_array_equal(warp.render_to(photo, LANDMARKS, LANDMARKS), photo)


def test_render_to_moves_the_mouth_and_nothing_outside_the_ring():
  photo = _texture()
  target = LANDMARKS.copy()
  lower = list(mesh.LIPS_INNER_LOWER) + list(mesh.LIPS_OUTER_LOWER)
  target[lower, 1] += 12.0  # the lower lip drops: the mouth opens
  out = warp.render_to(photo, LANDMARKS, target)
  changed = np.any(out != photo, axis=2)
  assert changed.sum() > 500
  assert not changed[~warp.face_region(LANDMARKS, photo.shape)].any()
  # The same geometry as render's: render(aus) == render_to(move_landmarks(aus)).
  aus = np.zeros(17)
  aus[15] = 0.8  # AU26
  np.testing.assert_allclose(warp.render(photo, LANDMARKS, aus),
                             warp.render_to(photo, LANDMARKS, warp.move_landmarks(LANDMARKS, aus)),
                             atol=1e-6)


def test_render_to_refuses_bad_target_landmarks():
  with pytest.raises(UserInputError, match="target landmarks"):
    warp.render_to(_texture(), LANDMARKS, LANDMARKS[:10])


# -------------------------------------------------------------- pair planning
def _frames(n=8, seed=0):
  """One source of n frames: landmarks drifting slightly, AUs changing."""
  rng = np.random.default_rng(seed)
  frames = []
  for i in range(n):
    aus = np.zeros(17)
    aus[i % 17] = 0.6
    lm = LANDMARKS + rng.normal(0, 0.5, LANDMARKS.shape)
    frames.append((f"clip_{i:06d}_0.jpg", None, lm, aus))
  return {"clip": frames}


def test_source_of_reads_prepare_names():
  assert warp_pairs.source_of("my_clip_000012_0.jpg") == "my_clip"
  assert warp_pairs.source_of("photo.jpg") is None


def test_pairs_stay_near_in_time_and_in_their_split():
  config = warp_pairs.WarpPairsConfig(pairs=1000, max_gap=2, test_fraction=0.25)
  chosen = warp_pairs.plan_pairs(_frames(), config)
  assert chosen
  for split, source, i, j in chosen:
    assert source == "clip" and i != j and abs(i - j) <= 2
    assert (split == "test") == (i >= 6) == (j >= 6)  # the last 2 of 8 frames
  assert {c[0] for c in chosen} == {"train", "test"}


def test_pairs_skip_small_expression_changes_and_head_turns():
  frames = _frames()
  config = warp_pairs.WarpPairsConfig(min_au_change=5.0)
  with pytest.raises(UserInputError, match="min_au_change"):
    warp_pairs.plan_pairs(frames, config)
  turned = {"clip": [(n, c, lm + (40.0 * (k % 2)), a)
                     for k, (n, c, lm, a) in enumerate(frames["clip"])]}
  chosen = warp_pairs.plan_pairs(turned, warp_pairs.WarpPairsConfig(test_fraction=0.0))
  assert chosen and all((i - j) % 2 == 0 for _, _, i, j in chosen)


# ------------------------------------------------------------------- pipeline
def write_pair_set(root, num=6, size=16, seed=0, warped=True):
  """A pair set as warp_pairs writes it: warped/x = the left half of imgs/x darkened,
  so that the pipeline's flips can be checked against each other."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(root, "imgs"), exist_ok=True)
  os.makedirs(os.path.join(root, warp_pairs.WARPED_DIR), exist_ok=True)
  table, names = {}, []
  for i in range(num):
    img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    cv2.imwrite(os.path.join(root, "imgs", f"p{i:03d}.png"), img)
    if warped:
      cv2.imwrite(os.path.join(root, warp_pairs.WARPED_DIR, f"p{i:03d}.png"), img // 2)
    table[f"p{i:03d}"] = rng.uniform(0, 5, 17)
    names.append(f"p{i:03d}.png")
  with open(os.path.join(root, "aus_openface.pkl"), "wb") as f:
    pickle.dump(table, f)
  with open(os.path.join(root, "train_ids.csv"), "w") as f:
    f.write("\n".join(names) + "\n")
  return str(root)


@pytest.mark.parametrize("flip", [True, False])
def test_pipeline_gives_each_image_its_own_warp(tmp_path, flip):
  root = write_pair_set(tmp_path / "set")
  ds = data.make_dataset(root, image_size=16, batch_size=3, quiet=True, flip=flip,
                         warp_guided=True, seed=3)
  for batch in ds.take(4):
    image = (batch["image"].numpy() + 1) * 127.5
    warped = (batch["input_image"].numpy() + 1) * 127.5
    # Flipped alike: the warp is the image halved, pixel by pixel.
    np.testing.assert_allclose(warped, np.floor(np.round(image) / 2), atol=0.6)
    np.testing.assert_array_equal(batch["target_aus"].numpy(), batch["aus"].numpy())
    np.testing.assert_array_equal(batch["pair_image"].numpy(), batch["image"].numpy())
    assert batch["pair_mask"].numpy().tolist() == [1.0, 1.0, 1.0]


def test_missing_warps_are_refused(tmp_path):
  root = write_pair_set(tmp_path / "set", warped=False)
  with pytest.raises(UserInputError, match=r"warped/p00\d.png is missing"):
    data.make_dataset(root, image_size=16, batch_size=2, quiet=True, warp_guided=True)
  os.rmdir(os.path.join(root, warp_pairs.WARPED_DIR))
  with pytest.raises(UserInputError, match="no warped/ folder"):
    data.make_dataset(root, image_size=16, batch_size=2, quiet=True, warp_guided=True)


def test_train_cli_refuses_a_set_without_warps(tmp_path):
  root = write_pair_set(tmp_path / "set", warped=False)
  result = harness.run_cli("tfsingan.train", "--model=ganimation", "--warp_guided",
                              f"--data_dir={root}", f"--workdir={tmp_path / 'run'}",
                              "--image_size=16", "--critic_layers=2", "--iterations=2")
  harness.assert_one_error_line(result, "is missing")
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


# ---------------------------------------------------------------- training step
def _model(**kw):
  g, d = networks.build_networks(16, conv_dim=8, repeat_num=1, critic_layers=2)
  m = model_lib.GANimationModel(g, d, warp_guided=True, critic_steps=1, **kw)
  m.compile(d_optimizer=model_lib.make_optimizer(1e-3, 0.5, 0.999, total_steps=10,
                                                 decay_steps=0),
            g_optimizer=model_lib.make_optimizer(1e-3, 0.5, 0.999, total_steps=10,
                                                 decay_steps=0))
  return m


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  image = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
  aus = rng.uniform(0, 1, (2, 17)).astype(np.float32)
  return {"image": tf.constant(image), "aus": tf.constant(aus), "target_aus": tf.constant(aus),
          "input_image": tf.constant(image * 0.5), "pair_image": tf.constant(image),
          "pair_mask": tf.ones([2])}


def test_warp_guided_step_refines_the_input_towards_the_real_frame():
  m = _model(lambda_paired=1.0, lambda_adv=0.0, lambda_gp=0.0, lambda_au=0.0,
             lambda_mask=0.0, lambda_tv=0.0)
  b = _batch()
  fake = m.generator((b["input_image"], b["target_aus"]))[0].numpy()
  expected = np.abs(fake - b["image"].numpy()).mean()
  logs = m.train_iteration(b, train_generator=True)
  np.testing.assert_allclose(float(logs["paired"]), expected, rtol=1e-4)
  assert float(logs["rec_loss"]) == 0.0  # no cycle pass
  for _ in range(5):
    m.train_iteration(b, train_generator=True)
  assert float(m.train_iteration(b, train_generator=True)["paired"]) < expected
  del b["input_image"]
  with pytest.raises(ValueError, match="input_image"):
    m.train_iteration(b, train_generator=True)


def test_config_records_warp_guided():
  config = config_lib.GANimationConfig(warp_guided=True)
  assert config.warp_guided and not config_lib.GANimationConfig().warp_guided


# -------------------------------------------------------------------- editing
class _KeepAll:
  """A generator whose attention keeps every input pixel and whose colour is 0."""

  def __call__(self, inputs, portable_ops=False):
    image, _ = inputs
    return image, tf.ones_like(image[..., :1]), tf.zeros_like(image)


def test_edit_photo_refines_the_warped_photo():
  photo = _texture((200, 200, 3), seed=1)
  aligned = faces_lib.align(photo, np.array([[80, 90], [120, 90], [100, 110], [85, 130],
                                             [115, 130]], np.float32), size=64)
  warped = np.clip(photo + 0.1 * (np.arange(200)[None, :, None] > 100), 0, 1).astype(np.float32)
  result = faces.edit_photo(_KeepAll(), photo, aligned, np.zeros(17),
                            warp=lambda aus: warped)
  # A generator that keeps its input returns the warp, pixel for pixel.
  np.testing.assert_allclose(result["photo"], warped, atol=1e-6)
  np.testing.assert_array_equal(result["face"], aligned.image)
  plain = faces.edit_photo(_KeepAll(), photo, aligned, np.zeros(17))
  np.testing.assert_allclose(plain["photo"], photo, atol=1e-6)


def test_photo_warp_only_for_warp_guided_models():
  assert faces.photo_warp(config_lib.GANimationConfig(), _texture()) is None


def test_warp_pairs_of_video_frames(tmp_path, real_face):
  """The CLI on 16 frames of the shared video: every pair is a real frame and a warp
  of a near frame, both face crops; a second run into the same folder is refused."""
  prepared = tmp_path / "prepared"
  result = harness.run_cli(
      "tfsingan.prepare", f"--input={real_face('expressive_video.mp4')}",
      f"--out={prepared}", "--size=64", "--every=8", "--test_fraction=0", timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  out = tmp_path / "pairs"
  args = ("tfsingan.prepare.warp_pairs", f"--input={prepared}", f"--out={out}",
          "--pairs=40", "--min_au_change=0.05", "--max_gap=3", "--test_fraction=0")
  result = harness.run_cli(*args, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(out / warp_pairs.PAIRS_NAME) as f:
    pairs = json.load(f)
  assert 0 < len(pairs) <= 40
  order = sorted(os.listdir(prepared / "imgs"))  # the frames prepare kept, in time order
  for pid, pair in pairs.items():
    target = cv2.imread(str(out / "imgs" / f"{pid}.png"))
    warped = cv2.imread(str(out / warp_pairs.WARPED_DIR / f"{pid}.png"))
    assert target.shape == warped.shape == (64, 64, 3)
    assert 0 < abs(order.index(pair["source"]) - order.index(pair["target"])) <= 3
  ds = data.make_dataset(str(out), image_size=64, batch_size=2, quiet=True, warp_guided=True)
  assert set(next(iter(ds))) >= {"image", "input_image", "pair_image"}
  harness.assert_one_error_line(harness.run_cli(*args, timeout=600), "holds a dataset already")


@pytest.fixture(scope="module")
def guided_run(tmp_path_factory):
  """An untrained tiny warp-guided generator, saved as the trainer saves a run."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.common import rundir  # pylint: disable=import-outside-toplevel
  from tfsingan.ganimation import inference  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("guided_run")
  config = config_lib.GANimationConfig(image_size=32, conv_dim=8, repeat_num=1, critic_layers=4,
                                       warp_guided=True)
  keras.utils.set_random_seed(0)
  networks.build_generator(32, 8, 1, dtype="float32").save_weights(
      str(root / inference.GENERATOR_WEIGHTS))
  (root / inference.CONFIG_NAME).write_text(rundir.to_json(config, "ganimation"))
  return str(root)


def test_animate_with_a_warp_guided_model_edits_inside_the_face(guided_run, tmp_path, real_face,
                                                                 au_reader):
  """animate warps the photo first: the surprise edit opens the mouth far beyond what
  the untrained generator's crop could change, and nothing outside the face moves."""
  from tfsingan.common import image_io  # pylint: disable=import-outside-toplevel
  from tfsingan.synthetic import photos  # pylint: disable=import-outside-toplevel
  path = real_face("grace_hopper.jpg")
  out = tmp_path / "out"
  result = harness.run_cli("tfsingan.animate", f"--workdir={guided_run}", f"--image={path}",
                           f"--out={out}", "--emotion=surprise", "--compare_warp", timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  photo = image_io.load_image(path, quiet=True)
  edited = image_io.load_image(str(out / "surprise.png"), quiet=True)
  warped = image_io.load_image(str(out / "warp" / "surprise.png"), quiet=True)
  editor = photos.WarpEditor(photo, reader=au_reader)
  region = warp.face_region(editor.landmarks, photo.shape, editor.bounds)
  x0, y0, footprint = faces_lib.footprint(editor.aligned(32, 0.2).matrix, 32, photo.shape)
  inside = region.copy()
  inside[y0:y0 + footprint.shape[0], x0:x0 + footprint.shape[1]] |= footprint
  assert not np.any(np.abs(edited - photo) > 1 / 255, axis=2)[~inside].any()
  # Where the warp moved the face most, the edit follows the warp, not the photo.
  moved = np.abs(warped - photo).max(axis=2) > 0.3
  assert moved.sum() > 100
  assert np.abs(edited - warped)[moved].mean() < 0.5 * np.abs(photo - warped)[moved].mean()
  result = harness.run_cli("tfsingan.animate", f"--workdir={guided_run}", f"--image={path}",
                           f"--out={tmp_path / 'all'}", "--emotion=happy", "--faces=all",
                           timeout=300)
  harness.assert_one_error_line(result, "--faces=all", "warp-guided")
