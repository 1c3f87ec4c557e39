"""Tests of --lambda_paired: identity groups (tfsingan.ganimation.pairs), the paired
pipeline, the paired L1 loss in the training step, and the groups that merge keeps."""

import json
import os
import pickle

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

import harness
from tfsingan import synthetic
from tfsingan.errors import UserInputError
from tfsingan.ganimation import data
from tfsingan.ganimation import losses
from tfsingan.ganimation import model as model_lib
from tfsingan.ganimation import networks
from tfsingan.ganimation import pairs
from tfsingan.prepare import merge


def write_frames(root, num=6, size=16, seed=0):
  """A set without identities (as `prepare` writes for video frames)."""
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(root, "imgs"), exist_ok=True)
  table, names = {}, []
  for i in range(num):
    img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    cv2.imwrite(os.path.join(root, "imgs", f"f{i:03d}.png"), img)
    table[f"f{i:03d}"] = rng.uniform(0, 5, 17)
    names.append(f"f{i:03d}.png")
  with open(os.path.join(root, "aus_openface.pkl"), "wb") as f:
    pickle.dump(table, f)
  with open(os.path.join(root, "train_ids.csv"), "w") as f:
    f.write("\n".join(names) + "\n")
  return str(root)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
  root = tmp_path_factory.mktemp("pairs")
  rendered = str(root / "rendered")
  synthetic.generate(rendered, num=20, size=16, seed=0, test_fraction=0.0,
                     images_per_identity=4, image_format="png", quiet=True)
  frames = write_frames(root / "frames")
  merged = str(root / "merged")
  merge.merge(f"{frames},{rendered}", merged, quiet=True)
  return {"rendered": rendered, "frames": frames, "merged": merged}


def decoded(folder):
  """{file stem: uint8 (16, 16, 3) as the pipeline decodes it}, identity of each stem."""
  paths, aus = data.load_index(folder, "train", quiet=True)
  images = {os.path.splitext(os.path.basename(p))[0]: data.decode_face(p, 16).numpy()
            for p in paths}
  table = dict(zip((os.path.splitext(os.path.basename(p))[0] for p in paths), aus))
  return images, table


def find(images, img):
  """(stem, flipped) of the image `img` is, or None."""
  for stem, other in images.items():
    if np.array_equal(other, img):
      return stem, False
    if np.array_equal(other[:, ::-1], img):
      return stem, True
  return None


# ---------------------------------------------------------------- loss
def test_paired_loss_is_zero_on_the_render_and_positive_elsewhere():
  rng = np.random.default_rng(0)
  render = tf.constant(rng.uniform(-1, 1, (3, 8, 8, 3)), tf.float32)
  ones = tf.ones([3])
  assert float(losses.paired_loss(render, render, ones)) == 0.0
  off = render + tf.constant([0.3, 0.0, 0.0])[:, None, None, None]
  np.testing.assert_allclose(float(losses.paired_loss(off, render, ones)), 0.1, rtol=1e-5)
  # Only masked examples count, averaged over the whole batch.
  assert float(losses.paired_loss(off, render, tf.constant([0.0, 1.0, 1.0]))) == 0.0
  other = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
  expected = np.abs(other - render.numpy()).mean(axis=(1, 2, 3)) * [1, 0, 1]
  np.testing.assert_allclose(float(losses.paired_loss(other, render, tf.constant([1.0, 0, 1]))),
                             expected.sum() / 3, rtol=1e-5)



def test_paired_moved_weight_counts_the_moved_pixels_more():
  source = tf.zeros([1, 4, 4, 3])
  render = np.zeros((1, 4, 4, 3), np.float32)
  render[0, 0, 0] = 1.0  # one of 16 pixels moved
  render = tf.constant(render)
  output = tf.fill([1, 4, 4, 3], 0.5)  # off by 0.5 on the moved pixel, 0.5 on the others
  ones = tf.ones([1])
  plain = float(losses.paired_loss(output, render, ones))
  np.testing.assert_allclose(plain, 0.5, rtol=1e-6)
  # The moved pixel counts 1 + 15 times: (15 * 0.5 + 16 * 0.5) / 16.
  np.testing.assert_allclose(float(losses.paired_loss(output, render, ones, source,
                                                      moved_weight=15.0)),
                             (15 * 0.5 + 16 * 0.5) / 16, rtol=1e-6)
  # No moved pixel: the weight changes nothing.
  np.testing.assert_allclose(float(losses.paired_loss(output, source, ones, source,
                                                      moved_weight=15.0)), 0.5, rtol=1e-6)

# ---------------------------------------------------------- the groups
def test_groups_of_synthetic_merged_and_ungrouped_sets(sets):
  with open(os.path.join(sets["rendered"], "identities.json")) as f:
    images = json.load(f)["images"]
  assert pairs.load_groups(sets["rendered"]) == {k: v["identity"] for k, v in images.items()}
  assert pairs.load_groups(sets["frames"]) == {}
  merged = pairs.load_groups(sets["merged"])
  # Every render of the synthetic input, prefixed; no video frame.
  assert merged == {f"rendered_{k}": f"rendered/{v['identity']}" for k, v in images.items()}
  paths, _ = data.load_index(sets["merged"], "train", quiet=True)
  assert pairs.paired_count(paths, merged) == len(images)


def test_partner_table_points_inside_the_group():
  paths = ["a0.png", "b0.png", "a1.png", "x.png", "a2.png", "b1.png"]
  groups = {"a0": "A", "a1": "A", "a2": "A", "b0": "B", "b1": "B"}
  members, first, count, rank = pairs.partner_table(paths, groups)
  assert list(count) == [3, 2, 3, 1, 3, 2]
  for i, p in enumerate(paths):
    group = members[first[i]:first[i] + count[i]]
    assert group[rank[i]] == i
    assert {paths[j][0] for j in group} == {p[0]}


def test_lambda_paired_needs_pairs(sets):
  paths, _ = data.load_index(sets["frames"], "train", quiet=True)
  with pytest.raises(UserInputError, match="no training images paired by identity"):
    pairs.check_paired(sets["frames"], paths, 10.0)
  assert pairs.check_paired(sets["frames"], paths, 0.0) == 0


def test_old_merged_set_without_groups_loads(sets, tmp_path):
  old = str(tmp_path / "old")
  merge.merge(f"{sets['frames']},{sets['rendered']}", old, quiet=True)
  os.remove(os.path.join(old, pairs.GROUPS_NAME))  # as merged before the groups were kept
  batch = next(iter(data.make_dataset(old, image_size=16, batch_size=4, quiet=True)))
  assert set(batch) == {"image", "aus", "target_aus"}
  batch = next(iter(data.make_dataset(old, image_size=16, batch_size=4, quiet=True,
                                      paired=True)))
  assert float(tf.reduce_sum(batch["pair_mask"])) == 0.0
  # Merging ungrouped inputs again into it leaves no stale groups behind.
  merge.merge(f"{sets['frames']},{sets['rendered']}", old, quiet=True)
  assert os.path.exists(os.path.join(old, pairs.GROUPS_NAME))
  merge.merge(sets["frames"], old, quiet=True)
  assert not os.path.exists(os.path.join(old, pairs.GROUPS_NAME))


# ------------------------------------------------------------ pipeline
@pytest.mark.parametrize("flip", [False, True])
def test_pipeline_pairs_only_renders_of_one_identity(sets, flip):
  images, table = decoded(sets["merged"])
  groups = pairs.load_groups(sets["merged"])
  ds = data.make_dataset(sets["merged"], image_size=16, batch_size=26, flip=flip,
                         deterministic=True, seed=1, quiet=True, paired=True)
  seen_pairs, seen_flips = 0, set()
  for batch in ds.take(3):
    to_uint8 = lambda x: np.round((x.numpy() + 1.0) * 127.5).astype(np.uint8)
    for img, pair, mask, target in zip(to_uint8(batch["image"]), to_uint8(batch["pair_image"]),
                                       batch["pair_mask"].numpy(), batch["target_aus"].numpy()):
      stem, flipped = find(images, img)
      if stem not in groups:  # a video frame: no pair
        assert mask == 0.0 and not pair.any()
        continue
      assert mask == 1.0
      partner, pair_flipped = find(images, pair)
      assert partner != stem and groups[partner] == groups[stem]
      assert pair_flipped == flipped  # one flip for both
      seen_flips.add(flipped)
      # Its target is the partner's own AUs, without noise.
      np.testing.assert_allclose(target, table[partner], atol=1e-6)
      seen_pairs += 1
  assert seen_pairs > 20
  assert seen_flips == ({False, True} if flip else {False})


# ------------------------------------------------------------ training step
def tiny_model(size=32, critic_layers=4, **lambdas):
  keras.utils.set_random_seed(0)
  g, d = networks.build_networks(size, conv_dim=8, repeat_num=1, critic_layers=critic_layers)
  m = model_lib.GANimationModel(g, d, **lambdas)
  make = lambda: model_lib.make_optimizer(1e-3, 0.5, 0.999, total_steps=100, decay_steps=0)
  m.compile(d_optimizer=make(), g_optimizer=make())
  return m


def paired_batch(seed=0, mask=(1.0, 0.0)):
  rng = np.random.default_rng(seed)
  return {"image": tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)), tf.float32),
          "aus": tf.constant(rng.uniform(0, 1, (2, 17)), tf.float32),
          "target_aus": tf.constant(rng.uniform(0, 1, (2, 17)), tf.float32),
          "pair_image": tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)), tf.float32),
          "pair_mask": tf.constant(mask, tf.float32)}


ZERO = dict(lambda_adv=0.0, lambda_gp=0.0, lambda_au=0.0, lambda_cyc=0.0, lambda_mask=0.0,
            lambda_tv=0.0)


@pytest.mark.parametrize("save_memory", [True, False])
def test_paired_term_trains_the_generator_only(save_memory):
  m = tiny_model(lambda_paired=1.0, save_memory=save_memory, **ZERO)
  b = paired_batch()
  fake = m.generator((b["image"], b["target_aus"]))[0].numpy()
  expected = np.abs(fake[0] - b["pair_image"].numpy()[0]).mean() / 2  # one of two paired
  d0 = [w.numpy().copy() for w in m.critic.trainable_weights]
  g0 = [w.numpy().copy() for w in m.generator.trainable_weights]
  logs = m.train_iteration(b, train_generator=True)
  assert set(logs) == set(model_lib.CRITIC_METRICS + model_lib.GENERATOR_METRICS + ("paired",))
  np.testing.assert_allclose(float(logs["paired"]), expected, rtol=1e-4)
  np.testing.assert_allclose(float(logs["g_loss"]), expected, rtol=1e-4)
  assert all(np.array_equal(a, w.numpy()) for a, w in zip(d0, m.critic.trainable_weights))
  assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g0, m.generator.trainable_weights))
  # The step lowers the paired loss on the same batch.
  for _ in range(5):
    m.train_iteration(b, train_generator=True)
  assert float(m.train_iteration(b, train_generator=True)["paired"]) < expected


def test_unpaired_batch_gives_no_paired_gradient():
  m = tiny_model(lambda_paired=1.0, **ZERO)
  b = paired_batch(mask=(0.0, 0.0))
  g0 = [w.numpy().copy() for w in m.generator.trainable_weights]
  logs = m.train_iteration(b, train_generator=True)
  assert float(logs["paired"]) == 0.0
  assert all(np.array_equal(a, w.numpy()) for a, w in zip(g0, m.generator.trainable_weights))


def test_paired_model_needs_pairs_in_the_batch():
  m = tiny_model(lambda_paired=1.0)
  b = paired_batch()
  del b["pair_image"], b["pair_mask"]
  m.train_iteration(b, train_generator=False)  # the critic needs no pair
  with pytest.raises(ValueError, match="pair_image"):
    m.train_iteration(b, train_generator=True)


def test_step_function_trains_on_the_paired_pipeline(sets):
  m = tiny_model(size=16, critic_layers=3, lambda_paired=10.0, critic_steps=1)
  step = m.make_step_function()
  batches = iter(data.make_dataset(sets["merged"], image_size=16, batch_size=4, quiet=True,
                                   paired=True))
  logs = [step(next(batches), i) for i in range(2)]
  assert all("paired" in l and np.isfinite(float(l["paired"])) for l in logs)


# ------------------------------------------------------------------ CLI
def test_cli_lambda_paired_on_a_set_without_pairs_is_one_error_line(sets, tmp_path):
  result = harness.run_cli("tfsingan.train", "--model=ganimation", f"--data_dir={sets['frames']}",
                           f"--workdir={tmp_path / 'run'}", "--lambda_paired=10",
                           "--image_size=16", "--critic_layers=3", "--batch_size=2",
                           "--iterations=1", timeout=300)
  assert result.returncode == 2
  harness.assert_one_error_line(result, "--lambda_paired", "paired by identity")
  assert not os.path.exists(tmp_path / "run" / "checkpoints")
