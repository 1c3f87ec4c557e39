"""Anti-aliased drawing on a float RGB image: the brush of the procedural faces (`tfsingan.synthetic.faces`).

Every primitive paints its exact pixel coverage (bands between curves) or an approximate
signed distance (ellipses, strokes), so what is drawn is a continuous function of its
parameters.
"""

import math

import numpy as np


class Canvas:
  """An RGB float image with anti-aliased primitives painted over it (alpha blending)."""

  def __init__(self, size, colour):
    self.size = size
    self.img = np.empty((size, size, 3), np.float32)
    self.img[:] = np.asarray(colour, np.float32)

  def _span(self, lo, hi):
    i0 = max(0, int(math.floor(lo)) - 2)
    i1 = min(self.size, int(math.ceil(hi)) + 2)
    return i0, max(i0, i1)

  def coords(self, x0, x1, y0, y1):
    """Pixel-centre coordinates of a clipped box: (ys slice, xs slice, X row, Y column)."""
    c0, c1 = self._span(x0, x1)
    r0, r1 = self._span(y0, y1)
    xs = np.arange(c0, c1, dtype=np.float32) + 0.5
    ys = np.arange(r0, r1, dtype=np.float32) + 0.5
    return slice(r0, r1), slice(c0, c1), xs[None, :], ys[:, None]

  def paint(self, rows, cols, alpha, colour):
    if alpha.size == 0:
      return
    region = self.img[rows, cols]
    colour = np.asarray(colour, np.float32)
    region += alpha[..., None] * (colour - region)

  def ellipse(self, cx, cy, rx, ry, colour, opacity=1.0, power=2.0, feather=1.0,
              bottom_ry=None, bottom_power=None):
    """Filled (super)ellipse; the lower half may have its own radius and power."""
    if opacity <= 0.0:
      return
    ry_low = ry if bottom_ry is None else bottom_ry
    rows, cols, x, y = self.coords(cx - rx, cx + rx, cy - ry, cy + ry_low)
    dx = (x - cx) / rx
    b = np.where(y < cy, ry, ry_low)
    if bottom_power is not None:
      power = np.where(y < cy, power, bottom_power).astype(np.float32)
    dy = (y - cy) / b
    ax, ay = np.abs(dx) + 1e-6, np.abs(dy) + 1e-6
    f = (ax**power + ay**power)**(1.0 / power)
    # Signed distance ~ (f - 1) / |grad f| keeps edges 1 px wide at any size.
    gx = f**(1 - power) * ax**(power - 1) / rx
    gy = f**(1 - power) * ay**(power - 1) / b
    d = (f - 1.0) / np.sqrt(gx * gx + gy * gy)
    self.paint(rows, cols, np.clip(0.5 - d / feather, 0.0, 1.0) * opacity, colour)

  def blob(self, cx, cy, sx, sy, colour, opacity):
    """A soft Gaussian patch (shading, blush)."""
    if opacity <= 0.0:
      return
    rows, cols, x, y = self.coords(cx - 3 * sx, cx + 3 * sx, cy - 3 * sy, cy + 3 * sy)
    alpha = np.exp(-0.5 * (((x - cx) / sx)**2 + ((y - cy) / sy)**2)) * opacity
    self.paint(rows, cols, alpha.astype(np.float32), colour)

  def band(self, lo, hi, top_fn, bottom_fn, colour, opacity=1.0, *, vertical=False,
           across=None, mask=None):
    """The region between two curves, exactly anti-aliased across them.

    With vertical=False the curves are y = top_fn(x), y = bottom_fn(x) for x in
    [lo, hi]; with vertical=True they are x = top_fn(y), x = bottom_fn(y). The
    coverage of a pixel is the overlap of the band with the pixel, widened by
    the curves' slope, so it fades continuously as the band thins to nothing.
    `across` bounds the other axis for speed; `mask(X, Y)` multiplies the alpha.
    """
    if opacity <= 0.0:
      return
    i0 = max(0, int(math.floor(lo)) - 1)
    along = np.arange(i0, min(self.size, int(math.ceil(hi)) + 1), dtype=np.float32) + 0.5
    if along.size == 0:
      return
    t0 = np.asarray(top_fn(along), np.float32) + np.zeros_like(along)
    t1 = np.asarray(bottom_fn(along), np.float32) + np.zeros_like(along)
    inside = (along >= lo) & (along <= hi) & (t1 > t0)
    if not inside.any():
      return
    slope = np.maximum(np.abs(np.gradient(t0)), np.abs(np.gradient(t1))) if along.size > 1 \
        else np.zeros_like(t0)
    r = 0.5 * np.sqrt(1.0 + np.minimum(slope, 8.0)**2)
    a0 = float(np.min(t0[inside] - r[inside]))
    a1 = float(np.max(t1[inside] + r[inside]))
    if across is not None:
      a0, a1 = max(a0, across[0]), min(a1, across[1])
    c0, c1 = self._span(a0, a1)
    cross = np.arange(c0, c1, dtype=np.float32)[:, None] + 0.5
    # Fractional coverage at the two ends of the range too.
    end_cov = np.clip(np.minimum(along + 0.5, hi) - np.maximum(along - 0.5, lo), 0.0, 1.0)
    t0b, t1b, rb = t0[None, :], t1[None, :], r[None, :]
    cov = np.clip((np.minimum(cross + rb, t1b) - np.maximum(cross - rb, t0b)) / (2 * rb),
                  0.0, 1.0) * (end_cov * inside)[None, :] * opacity
    a_slice = slice(i0, i0 + along.size)
    if vertical:
      cov = cov.T
      if mask is not None:
        cov = cov * mask(cross.T, along[:, None])
      self.paint(a_slice, slice(c0, c1), cov, colour)
    else:
      if mask is not None:
        cov = cov * mask(along[None, :], cross)
      self.paint(slice(c0, c1), a_slice, cov, colour)

  def stroke(self, points, width, colour, opacity=1.0):
    """A polyline of round-capped segments (wrinkles, lid creases)."""
    if opacity <= 0.0:
      return
    pts = np.asarray(points, np.float32)
    rows, cols, x, y = self.coords(pts[:, 0].min() - width, pts[:, 0].max() + width,
                                   pts[:, 1].min() - width, pts[:, 1].max() + width)
    dist = np.full(np.broadcast(x, y).shape, np.inf, np.float32)
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
      vx, vy = x1 - x0, y1 - y0
      t = np.clip(((x - x0) * vx + (y - y0) * vy) / max(vx * vx + vy * vy, 1e-9), 0, 1)
      dist = np.minimum(dist, np.hypot(x - x0 - t * vx, y - y0 - t * vy))
    w = max(width, 1.0)
    alpha = np.clip(0.5 + w / 2 - dist, 0.0, 1.0) * opacity * min(1.0, width)
    self.paint(rows, cols, alpha, colour)



def band_mask(top_fn, bottom_fn):
  """Alpha of the region between two curves y(x), as a function of pixel-centre grids."""

  def mask(x, y):
    t0, t1 = top_fn(x), bottom_fn(x)
    return np.clip(np.minimum(y + 0.5, t1) - np.maximum(y - 0.5, t0), 0.0, 1.0)

  return mask


def disc(canvas, cx, cy, r, colour, mask, opacity=1.0):
  rows, cols, x, y = canvas.coords(cx - r, cx + r, cy - r, cy + r)
  d = np.hypot(x - cx, y - cy) - r
  alpha = np.clip(0.5 - d, 0.0, 1.0) * mask(x, y) * opacity
  canvas.paint(rows, cols, alpha.astype(np.float32), colour)
