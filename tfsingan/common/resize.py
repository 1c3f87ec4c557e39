"""MATLAB-style bicubic `imresize` as two constant matrix products.

SinGAN (Shaham et al., ICCV 2019) builds its pyramid with MATLAB's `imresize`
(Keys cubic kernel a = -0.5, antialiased when shrinking, symmetric borders). Writing
the resize as `R_h @ x @ R_w^T` with precomputed matrices keeps it inside the graph
(no CPU round trip per step), makes it exact for any in/out size, and lowers to
TFLite builtin matmuls (unlike `tf.image.resize(antialias=True)` or bicubic).
"""

import functools
import math

import numpy as np
import tensorflow as tf


def _cubic(x):
  absx = np.abs(x)
  absx2, absx3 = absx ** 2, absx ** 3
  return ((1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1.0) +
          (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1.0) & (absx <= 2.0)))


@functools.lru_cache(maxsize=512)
def resize_matrix(in_size, out_size, antialias=True):
  """The (out_size, in_size) float32 matrix of a 1-D MATLAB bicubic resize.

  The scale is `out_size / in_size`; rows sum to 1; borders are mirrored
  (MATLAB's 'symmetric' padding).
  """
  if in_size < 1 or out_size < 1:
    raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
  scale = out_size / in_size
  kernel_width = 4.0
  if scale < 1.0 and antialias:
    kernel = lambda x: scale * _cubic(scale * x)
    kernel_width /= scale
  else:
    kernel = _cubic
  x = np.arange(1, out_size + 1, dtype=np.float64)
  u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centres in input coordinates
  left = np.floor(u - kernel_width / 2.0)
  taps = int(math.ceil(kernel_width)) + 2
  idx = left[:, None] + np.arange(taps)[None, :] - 1.0  # 0-based input indices
  weights = kernel(u[:, None] - idx - 1.0)
  weights /= weights.sum(axis=1, keepdims=True)
  mirror = np.concatenate([np.arange(in_size), np.arange(in_size - 1, -1, -1)])
  idx = mirror[np.mod(idx.astype(np.int64), 2 * in_size)]
  mat = np.zeros((out_size, in_size), np.float64)
  np.add.at(mat, (np.repeat(np.arange(out_size), taps), idx.ravel()), weights.ravel())
  return mat.astype(np.float32)


def imresize_np(image, out_hw, antialias=True):
  """Resizes an H x W x C (or B x H x W x C) float array to `out_hw`."""
  image = np.asarray(image, np.float32)
  rh = resize_matrix(image.shape[-3], int(out_hw[0]), antialias)
  rw = resize_matrix(image.shape[-2], int(out_hw[1]), antialias)
  out = np.einsum("oh,...hwc->...owc", rh, image)
  return np.einsum("pw,...owc->...opc", rw, out)


def imresize(images, out_hw, antialias=True):
  """Resizes a B x H x W x C tensor with static H, W to the static size `out_hw`."""
  in_h, in_w = images.shape[1], images.shape[2]
  out_h, out_w = int(out_hw[0]), int(out_hw[1])
  if (in_h, in_w) == (out_h, out_w):
    return images
  dtype = images.dtype
  rh = tf.constant(resize_matrix(in_h, out_h, antialias), dtype=dtype)
  rw = tf.constant(resize_matrix(in_w, out_w, antialias), dtype=dtype)
  out = tf.einsum("oh,bhwc->bowc", rh, images)
  return tf.einsum("pw,bowc->bopc", rw, out)
