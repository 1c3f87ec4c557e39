"""GmNet, the network of GmFace (arXiv 2008.00752): one hidden layer
whose m units are 2-D Gaussians, output = their weighted sum.

The learnable state is exactly the model's parameters: `w` (m, C), `mu` (m, 2) and
`L` (m, 3) = (log L11, L21, log L22). Storing the logarithm of the diagonal keeps
`L L^T` positive definite whatever the optimiser does.
"""

import keras
import tensorflow as tf

from tfsingan.gmface import losses
from tfsingan.gmface.params import GmFaceParams

# Learning-rate multipliers of the parameter groups relative to `learning_rate` (the
# centres'): weights and log-widths move on larger scales than centres in [0, 1].
LR_MULTIPLIERS = {"w": 3.0, "mu": 1.0, "L": 10.0}


def gaussian_components(x, mu, raw):
  """(m, N) unit-peak Gaussians at N points x (N, 2); raw = (log L11, L21, log L22)."""
  d = x[None, :, :] - mu[:, None, :]
  a = tf.exp(raw[:, 0:1])
  b = raw[:, 1:2]
  c = tf.exp(raw[:, 2:3])
  # (x - mu)^T L L^T (x - mu) = ||L^T (x - mu)||^2 with L = [[a, 0], [b, c]].
  u = a * d[..., 0] + b * d[..., 1]
  v = c * d[..., 1]
  return tf.exp(-(u * u + v * v))


def render(x, w, mu, raw):
  """(N, C) model values at N points."""
  return tf.matmul(gaussian_components(x, mu, raw), w, transpose_a=True)


class GmNet(keras.Model):
  """GmNet: input = pixel coordinates (N, 2), hidden = m Gaussians, output (N, C).

  `train_step` minimises the paper's loss, MSE + alpha x peak absolute error, with one
  Adam optimizer per parameter group (`LR_MULTIPLIERS`). Data: `(x, y)` with x (B, 2)
  coordinates and y (B, C) targets, or (K, B, C) for K images fitted at once (the
  common face: the loss averages over the images, the peak is over all of them).

  Args:
    num_gaussians: m, the number of hidden units.
    channels: 1 (grayscale, as in the paper) or 3 (RGB, one weight per channel).
    alpha: weight of the peak-error term.
    peak_loss: "max" (subgradient through the worst pixel) or "smooth" (log-sum-exp).
    peak_tau: temperature of the smooth peak.
    name: Keras name.

  Example:
    net = GmNet(80)
    net.set_params(initial.initial_params(face, 80))
    net.compile(learning_rate=0.01)
    net.fit(pixel_coords(120, 120), face.reshape(-1, 1), batch_size=256, epochs=10)
    params = net.get_params(120, 120)

  Reference:
    "GmFace: A Mathematical Model for Face Image Representation Using
    Multi-Gaussian", arXiv 2008.00752 (2020).
  """

  def __init__(self, num_gaussians, channels=1, alpha=0.0, peak_loss="max",
               peak_tau=0.01, name="gmnet", **kwargs):
    super().__init__(name=name, **kwargs)
    if int(num_gaussians) < 1:
      raise ValueError(f"num_gaussians={num_gaussians}: expected >= 1")
    if channels not in (1, 3):
      raise ValueError(f"channels={channels}: expected 1 or 3")
    self.num_gaussians = int(num_gaussians)
    self.channels = int(channels)
    self.alpha = float(alpha)
    self.peak_loss = peak_loss
    self.peak_tau = float(peak_tau)
    m = self.num_gaussians
    self.w = self.add_weight(shape=(m, channels), initializer="zeros", name="w")
    self.mu = self.add_weight(shape=(m, 2), initializer="zeros", name="mu")
    self.L = self.add_weight(shape=(m, 3), initializer="zeros", name="L")
    self.group_optimizers = None

  def get_config(self):
    return {"num_gaussians": self.num_gaussians, "channels": self.channels,
            "alpha": self.alpha, "peak_loss": self.peak_loss, "peak_tau": self.peak_tau,
            "name": self.name}

  def call(self, x):
    return render(x, self.w, self.mu, self.L)

  # Parameters in and out.

  def set_params(self, params):
    w, mu, raw = params.raw()
    if w.shape != tuple(self.w.shape):
      raise ValueError(f"parameters have w {w.shape}; this GmNet holds {tuple(self.w.shape)}")
    self.w.assign(w)
    self.mu.assign(mu)
    self.L.assign(raw)

  def get_params(self, height, width, info=None):
    return GmFaceParams.from_raw(self.w.numpy(), self.mu.numpy(), self.L.numpy(),
                                 height, width, info)

  # Training.

  def compile(self, learning_rate=0.01, decay_steps=0, **kwargs):
    """One Adam per parameter group; `learning_rate` is the centres' rate, decayed to 0
    along a cosine over `decay_steps` steps when > 0 (a fit ends in a minimum instead
    of bouncing around it)."""
    def rate(mult):
      if decay_steps > 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate * mult, decay_steps)
      return learning_rate * mult
    self.group_optimizers = {
        k: keras.optimizers.Adam(rate(mult), name=f"adam_{k}")
        for k, mult in LR_MULTIPLIERS.items()}
    for k, opt in self.group_optimizers.items():
      opt.build([getattr(self, k)])
    super().compile(optimizer=self.group_optimizers["mu"], **kwargs)

  def optimizer_variables(self):
    return [v for k in sorted(self.group_optimizers)
            for v in self.group_optimizers[k].variables]

  def compute_gm_loss(self, x, y):
    pred = self(x)
    if len(y.shape) == 3:  # K images at once: broadcast the one model over them.
      pred = pred[None]
    return losses.gmface_loss(pred, y, self.alpha, self.peak_loss, self.peak_tau)

  def train_step(self, data):
    x, y = data
    variables = [self.w, self.mu, self.L]
    with tf.GradientTape() as tape:
      loss, mse, peak = self.compute_gm_loss(x, y)
    grads = tape.gradient(loss, variables)
    for key, var, grad in zip(("w", "mu", "L"), variables, grads):
      self.group_optimizers[key].apply([grad], [var])
    return {"loss": loss, "mse": mse, "peak": peak}

  def test_step(self, data):
    x, y = data
    loss, mse, peak = self.compute_gm_loss(x, y)
    return {"loss": loss, "mse": mse, "peak": peak}
