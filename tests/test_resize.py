"""MATLAB-style bicubic resize matrices."""

import numpy as np
import pytest
import tensorflow as tf

from tfsingan.common import resize


@pytest.mark.parametrize("n_in,n_out", [(50, 25), (25, 32), (40, 40), (250, 199), (7, 3)])
def test_rows_sum_to_one(n_in, n_out):
  m = resize.resize_matrix(n_in, n_out)
  assert m.shape == (n_out, n_in)
  np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)


def test_identity_size_is_identity():
  np.testing.assert_allclose(resize.resize_matrix(9, 9), np.eye(9), atol=1e-6)


def test_constant_image_stays_constant():
  x = np.full((30, 20, 3), 0.3, np.float32)
  np.testing.assert_allclose(resize.imresize_np(x, (17, 41)), 0.3, atol=1e-5)


def test_matches_tf_antialiased_bicubic_away_from_borders():
  # TF's bicubic uses the same Keys kernel (a = -0.5) and antialiasing; only the
  # border handling differs (MATLAB mirrors).
  rng = np.random.default_rng(0)
  x = rng.random((1, 60, 48, 3)).astype(np.float32)
  for out in [(30, 24), (75, 60)]:
    ours = resize.imresize_np(x, out)
    ref = tf.image.resize(x, out, "bicubic", antialias=True).numpy()
    np.testing.assert_allclose(ours[:, 4:-4, 4:-4], ref[:, 4:-4, 4:-4], atol=1e-4)


def test_graph_and_numpy_versions_agree():
  rng = np.random.default_rng(1)
  x = rng.random((2, 25, 31, 3)).astype(np.float32)
  np.testing.assert_allclose(resize.imresize(tf.constant(x), (32, 39)).numpy(),
                             resize.imresize_np(x, (32, 39)), atol=1e-5)
