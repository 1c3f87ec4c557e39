"""The GmNet loss of GmFace (arXiv 2008.00752): MSE + alpha x peak error.

The paper adds `alpha` times the peak (maximum) absolute error to the mean squared
error. `max` has a subgradient only: TensorFlow's `reduce_max` sends the whole
gradient of that term to the worst pixel (ties split evenly), so each step pulls on
one pixel. The smooth variant replaces the max by a log-sum-exp at temperature `tau`:
`tau * log(mean(exp(|e| / tau)))` lies between `max - tau * log(N)` and the max and spreads
the gradient over the worst pixels as a softmax, which is steadier with Adam.
"""

import tensorflow as tf

PEAK_LOSSES = ("max", "smooth")


def mse(pred, target):
  return tf.reduce_mean(tf.square(pred - target))


def peak_error(pred, target, kind="max", tau=0.01):
  """The max absolute error (`max`) or its log-sum-exp relaxation (`smooth`)."""
  err = tf.abs(pred - target)
  if kind == "max":
    return tf.reduce_max(err)
  if kind == "smooth":
    flat = tf.reshape(err, [-1]) / tau
    n = tf.cast(tf.size(flat), err.dtype)
    return tau * (tf.reduce_logsumexp(flat) - tf.math.log(n))
  raise ValueError(f"unknown peak loss {kind!r}; expected one of {PEAK_LOSSES}")


def gmface_loss(pred, target, alpha=0.0, kind="max", tau=0.01):
  """(total, mse, peak): total = MSE + alpha * peak (the paper's loss)."""
  m = mse(pred, target)
  p = peak_error(pred, target, kind, tau)
  return m + alpha * p, m, p
