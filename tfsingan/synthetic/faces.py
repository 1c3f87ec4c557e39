"""Procedural faces with known action units: ground truth for GANimation (Pumarola et al., 2018).

A face is drawn from an identity (skin, face shape, hair, eyes, brows, nose,
mouth, background, light) and the 17 OpenFace AU intensities in [0, 1]. Every AU
moves its own part of the face through smooth functions of its intensity, and
every shape is drawn with analytic anti-aliasing (pixel coverage of bands
between curves, approximate signed distances for ellipses), so the image is a
continuous function of the AUs: a small AU change makes a small pixel change.

Geometry is in pixels of the output (feature positions scale with `size`), so
one identity renders at any size. `render` is pure numpy and deterministic.
"""

import math

import numpy as np

from tfsingan.ganimation.aus import AU_NAMES, NUM_AUS, EMOTIONS, aus_from_dict

# The facial region each AU acts on (see `au_regions`).
AU_REGION = {
    "AU01": "brows", "AU02": "brows", "AU04": "brows",
    "AU05": "eyes", "AU06": "eyes", "AU07": "eyes", "AU45": "eyes",
    "AU09": "nose", "AU10": "mouth",
    "AU12": "mouth", "AU14": "mouth", "AU15": "mouth", "AU17": "jaw",
    "AU20": "mouth", "AU23": "mouth", "AU25": "mouth", "AU26": "jaw",
}

HAIR_STYLES = ("short", "long", "bangs", "buzz")

_SKIN_TONES = np.array([  # light to dark, RGB
    [0.96, 0.82, 0.72], [0.92, 0.74, 0.62], [0.85, 0.66, 0.52],
    [0.74, 0.54, 0.40], [0.58, 0.40, 0.29], [0.42, 0.29, 0.21]], np.float32)
_HAIR_COLOURS = np.array([
    [0.08, 0.06, 0.05], [0.22, 0.14, 0.09], [0.40, 0.26, 0.15],
    [0.55, 0.27, 0.12], [0.82, 0.68, 0.42], [0.62, 0.60, 0.58]], np.float32)
_IRIS_COLOURS = np.array([
    [0.30, 0.18, 0.10], [0.20, 0.35, 0.55], [0.30, 0.45, 0.30], [0.45, 0.33, 0.18]],
                         np.float32)


def sample_identity(rng):
  """A random identity: a JSON-serialisable dict of plain floats/ints/lists."""
  u = rng.uniform
  skin = np.clip(_SKIN_TONES[rng.integers(len(_SKIN_TONES))] + u(-0.04, 0.04, 3), 0, 1)
  hair = np.clip(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] + u(-0.03, 0.03, 3), 0, 1)
  lips = np.clip(skin * np.array([0.85, 0.55, 0.55]) + np.array([0.12, 0.0, 0.02]) +
                 u(-0.03, 0.03, 3), 0, 1)
  bg = np.clip(u(0.15, 0.9, 3), 0, 1)
  clothes = np.clip(u(0.05, 0.85, 3), 0, 1)
  return {
      "skin": skin.round(4).tolist(),
      "hair_colour": hair.round(4).tolist(),
      "hair_style": int(rng.integers(len(HAIR_STYLES))),
      "hair_volume": round(float(u(0.01, 0.05)), 4),
      "hair_phase": round(float(u(0, 2 * math.pi)), 4),
      "lip_colour": lips.round(4).tolist(),
      "iris_colour": np.clip(_IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))] +
                             u(-0.03, 0.03, 3), 0, 1).round(4).tolist(),
      "background": bg.round(4).tolist(),
      "background_gradient": round(float(u(-0.15, 0.15)), 4),
      "clothes": clothes.round(4).tolist(),
      "offset_x": round(float(u(-0.02, 0.02)), 4),
      "offset_y": round(float(u(-0.015, 0.015)), 4),
      "face_width": round(float(u(0.31, 0.36)), 4),
      "face_top": round(float(u(0.40, 0.43)), 4),
      "face_bottom": round(float(u(0.37, 0.41)), 4),
      "jaw_power": round(float(u(1.7, 2.6)), 4),
      "eye_y": round(float(u(0.42, 0.45)), 4),
      "eye_spacing": round(float(u(0.135, 0.155)), 4),
      "eye_width": round(float(u(0.064, 0.076)), 4),
      "eye_open_upper": round(float(u(0.024, 0.030)), 4),
      "eye_open_lower": round(float(u(0.015, 0.020)), 4),
      "iris_radius": round(float(u(0.024, 0.028)), 4),
      "brow_gap": round(float(u(0.065, 0.08)), 4),
      "brow_thickness": round(float(u(0.012, 0.022)), 4),
      "brow_arch": round(float(u(0.004, 0.014)), 4),
      "nose_length": round(float(u(0.13, 0.16)), 4),
      "nose_width": round(float(u(0.032, 0.045)), 4),
      "mouth_gap": round(float(u(0.095, 0.115)), 4),
      "mouth_width": round(float(u(0.075, 0.095)), 4),
      "lip_upper": round(float(u(0.010, 0.016)), 4),
      "lip_lower": round(float(u(0.013, 0.021)), 4),
      "light": round(float(u(-0.3, 0.3)), 4),
  }


def sample_aus(rng, *, neutral_prob=0.1, emotion_prob=0.2):
  """Realistic sparse AUs in [0, 1]: mostly 0, a few active, sometimes an emotion.

  Co-activations of real faces are mimicked loosely: an emotion prototype
  (scaled 0.5-1, jittered) with probability `emotion_prob`, a neutral face with
  `neutral_prob`, otherwise 1-4 AUs drawn by a rough frequency at U(0.15, 1).
  """
  r = rng.uniform()
  aus = np.zeros(NUM_AUS, np.float32)
  if r < neutral_prob:
    pass
  elif r < neutral_prob + emotion_prob:
    names = sorted(EMOTIONS)
    proto = aus_from_dict(EMOTIONS[names[rng.integers(len(names))]])
    scale = rng.uniform(0.5, 1.0)
    aus = proto * scale + (proto > 0) * rng.uniform(-0.1, 0.1, NUM_AUS)
  else:
    # Rough activation frequencies: mouth AUs and blinks are common, AU09/AU14 rare.
    freq = np.array([5, 4, 5, 3, 5, 4, 2, 3, 7, 2, 3, 3, 3, 3, 6, 4, 3], np.float64)
    k = rng.choice([1, 2, 3, 4], p=[0.35, 0.35, 0.2, 0.1])
    idx = rng.choice(NUM_AUS, size=k, replace=False, p=freq / freq.sum())
    aus[idx] = rng.uniform(0.15, 1.0, k)
    if aus[AU_NAMES.index("AU26")] > 0.2:  # a dropped jaw usually parts the lips
      aus[AU_NAMES.index("AU25")] = max(aus[AU_NAMES.index("AU25")],
                                        aus[AU_NAMES.index("AU26")])
  return np.clip(aus, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- drawing


class _Canvas:
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


def _au(aus, name):
  return float(aus[AU_NAMES.index(name)])


def _geometry(identity, aus, size):
  """Landmarks and shape parameters (pixels) of an identity showing `aus`."""
  p = identity
  s = float(size)
  a = {n: _au(aus, n) for n in AU_NAMES}
  g = {}
  g["cx"] = cx = (0.5 + p["offset_x"]) * s
  g["cy"] = cy = (0.52 + p["offset_y"]) * s
  g["face_rx"] = p["face_width"] * s
  g["face_top"] = p["face_top"] * s
  g["face_bottom"] = (p["face_bottom"] + 0.05 * a["AU26"] - 0.006 * a["AU17"]) * s
  ey = (p["eye_y"] + p["offset_y"]) * s
  g["eye_y"] = ey
  # Eyes: lid heights above/below the eye line (AU05 opens, AU07/AU06 narrow from
  # below); the blink (AU45) brings both lids onto a line just below the eye line.
  up = p["eye_open_upper"] * s * (1 + 0.75 * a["AU05"]) * (1 - 0.25 * a["AU07"])
  low = p["eye_open_lower"] * s * (1 - 0.55 * a["AU07"]) * (1 - 0.35 * a["AU06"])
  blink = a["AU45"]
  close_line = 0.45 * p["eye_open_lower"] * s
  g["eye_upper"] = up + blink * (-close_line - up)  # signed offsets from eye_y
  g["eye_lower"] = low + blink * (close_line - low)
  g["eye_w"] = p["eye_width"] * s
  g["eye_dx"] = p["eye_spacing"] * s
  g["iris_r"] = p["iris_radius"] * s
  # Brows: inner raise (AU01), outer raise (AU02), lower and pull together (AU04).
  g["brow_y"] = ey - p["brow_gap"] * s
  g["brow_inner_dy"] = (-0.045 * a["AU01"] + 0.032 * a["AU04"]) * s
  g["brow_outer_dy"] = (-0.045 * a["AU02"] + 0.014 * a["AU04"]) * s
  g["brow_inner_dx"] = -0.018 * a["AU04"] * s  # towards the midline
  g["brow_th"] = p["brow_thickness"] * s
  g["brow_arch"] = p["brow_arch"] * s
  # Nose.
  g["nose_y"] = ey + p["nose_length"] * s
  g["nose_w"] = p["nose_width"] * s * (1 + 0.18 * a["AU09"] + 0.06 * a["AU10"])
  g["nostril_dy"] = (-0.012 * a["AU09"] - 0.006 * a["AU10"]) * s
  # Mouth: corners (AU12 up/out, AU15 down, AU20 out, AU14/AU23 in), lip
  # thicknesses (AU23, AU20 thinner; AU17 pushes the lower lip up), opening
  # (AU25 part, AU26 jaw drop, AU10 lifts the upper lip).
  my = g["nose_y"] + p["mouth_gap"] * s - 0.035 * s
  g["mouth_y"] = my
  half_w = p["mouth_width"] * s
  g["mouth_hw"] = half_w * (1 + 0.16 * a["AU12"] + 0.28 * a["AU20"] - 0.14 * a["AU23"]
                            - 0.10 * a["AU14"] - 0.05 * a["AU15"])
  g["corner_dy"] = (-0.045 * a["AU12"] + 0.040 * a["AU15"] + 0.008 * a["AU20"]
                    - 0.008 * a["AU14"]) * s
  g["center_dy"] = (-0.012 * a["AU17"] + 0.004 * a["AU15"]) * s
  lip_thin = (1 - 0.6 * a["AU23"]) * (1 - 0.3 * a["AU20"]) * (1 - 0.15 * a["AU12"])
  g["lip_upper"] = p["lip_upper"] * s * lip_thin
  g["lip_lower"] = p["lip_lower"] * s * lip_thin * (1 + 0.35 * a["AU17"])
  g["open_upper"] = (0.010 * a["AU25"] + 0.020 * a["AU26"] + 0.016 * a["AU10"]) * s
  g["open_lower"] = (0.010 * a["AU25"] + 0.055 * a["AU26"]) * s * (1 - 0.5 * a["AU17"])
  g["chin_boss"] = a["AU17"]
  g["dimple"] = a["AU14"]
  g["nose_wrinkle"] = a["AU09"]
  g["cheek_raise"] = a["AU06"]
  g["frown"] = a["AU04"]
  g["fold"] = 0.12 + 0.35 * a["AU10"] + 0.3 * a["AU09"] + 0.25 * a["AU12"]
  return g


def _mouth_curves(g):
  """Curves y(x) of the mouth: outer upper, inner upper, inner lower, outer lower."""
  cx, my, hw = g["cx"], g["mouth_y"], g["mouth_hw"]

  def t_of(x):
    return np.clip((x - cx) / hw, -1.0, 1.0)

  def mid(x):
    t = t_of(x)
    return my + g["corner_dy"] * t * t + g["center_dy"] * (1 - t * t)

  def shape(x, power):
    t = t_of(x)
    return np.maximum(1 - t * t, 0.0)**power

  def upper_out(x):
    t = t_of(x)
    bow = 1.0 - 0.35 * np.exp(-(t / 0.18)**2)  # cupid's bow dip
    return mid(x) - g["open_upper"] * shape(x, 0.8) - g["lip_upper"] * shape(x, 0.5) * bow

  def upper_in(x):
    return mid(x) - g["open_upper"] * shape(x, 0.8)

  def lower_in(x):
    return mid(x) + g["open_lower"] * shape(x, 0.8)

  def lower_out(x):
    return mid(x) + g["open_lower"] * shape(x, 0.8) + g["lip_lower"] * shape(x, 0.6)

  return mid, upper_out, upper_in, lower_in, lower_out


def landmarks(identity, aus, size):
  """Key points (pixels, x right / y down) of the face: brows, eyes, nose, mouth, chin."""
  aus = np.asarray(aus, np.float32)
  g = _geometry(identity, aus, size)
  mid, upper_out, upper_in, lower_in, lower_out = _mouth_curves(g)
  cx, hw = g["cx"], g["mouth_hw"]
  out = {}
  for side, sgn in (("right", -1.0), ("left", 1.0)):  # the subject's right is image left
    ex = cx + sgn * g["eye_dx"]
    inner_x = ex - sgn * (0.85 * g["eye_w"] - g["brow_inner_dx"])
    outer_x = ex + sgn * 1.2 * g["eye_w"]
    out[f"brow_inner_{side}"] = (inner_x, g["brow_y"] + g["brow_inner_dy"])
    out[f"brow_outer_{side}"] = (outer_x, g["brow_y"] + g["brow_outer_dy"])
    out[f"eye_top_{side}"] = (ex, g["eye_y"] - g["eye_upper"])
    out[f"eye_bottom_{side}"] = (ex, g["eye_y"] + g["eye_lower"])
  out["nose_tip"] = (cx, g["nose_y"])
  out["mouth_corner_right"] = (cx - hw, float(mid(np.float32(cx - hw))))
  out["mouth_corner_left"] = (cx + hw, float(mid(np.float32(cx + hw))))
  out["upper_lip_top"] = (cx, float(upper_out(np.float32(cx))))
  out["upper_lip_bottom"] = (cx, float(upper_in(np.float32(cx))))
  out["lower_lip_top"] = (cx, float(lower_in(np.float32(cx))))
  out["lower_lip_bottom"] = (cx, float(lower_out(np.float32(cx))))
  out["chin"] = (cx, g["cy"] + g["face_bottom"])
  return {k: (float(v[0]), float(v[1])) for k, v in out.items()}


def au_regions(identity, size):
  """Boxes (y0, y1, x0, x1) in pixels of the brows, eyes, nose, mouth and jaw regions.

  Computed from the neutral face with margins wide enough for the AUs' motion;
  `AU_REGION` maps each AU to the region it is expected to change.
  """
  g = _geometry(identity, np.zeros(NUM_AUS, np.float32), size)
  s = float(size)
  cx, ey = g["cx"], g["eye_y"]
  span = g["eye_dx"] + 1.6 * g["eye_w"]
  brow_top = g["brow_y"] - 0.08 * s
  eye_top = ey - 0.045 * s
  return {
      "brows": (brow_top, eye_top + 0.01 * s, cx - span, cx + span),
      "eyes": (eye_top - 0.015 * s, ey + 0.14 * s, cx - span - 0.03 * s,
               cx + span + 0.03 * s),
      "nose": (ey + 0.01 * s, g["mouth_y"] + 0.01 * s, cx - 0.13 * s, cx + 0.13 * s),
      "mouth": (g["nose_y"] - 0.005 * s, g["cy"] + g["face_bottom"] + 0.07 * s,
                cx - 0.21 * s, cx + 0.21 * s),
      # The jaw drop and the chin raiser also move the jaw line.
      "jaw": (g["nose_y"] - 0.005 * s, s, cx - g["face_rx"] - 0.05 * s,
              cx + g["face_rx"] + 0.05 * s),
  }


def render(identity, aus, size=128):
  """Draws `identity` showing `aus` ((17,) in [0, 1]) as float32 (size, size, 3) RGB in [0, 1]."""
  aus = np.clip(np.asarray(aus, np.float32).reshape(NUM_AUS), 0.0, 1.0)
  p = identity
  s = float(size)
  g = _geometry(p, aus, size)
  skin = np.asarray(p["skin"], np.float32)
  shade = skin * 0.78
  hair = np.asarray(p["hair_colour"], np.float32)
  style = HAIR_STYLES[p["hair_style"]]
  cx, cy = g["cx"], g["cy"]
  rx, top, bottom = g["face_rx"], g["face_top"], g["face_bottom"]

  bg = np.asarray(p["background"], np.float32)
  canvas = _Canvas(size, bg)
  ramp = (np.arange(size, dtype=np.float32) / s - 0.5)[:, None, None]
  canvas.img += p["background_gradient"] * ramp

  vol = p["hair_volume"] * s
  if style == "long":
    # Round on top, falling straight to the shoulders.
    canvas.ellipse(cx, cy, rx + vol + 0.045 * s, top + vol, hair * 0.85, bottom_ry=2.0 * s,
                   bottom_power=6.0)
  # Neck and shoulders.
  canvas.band(cx - 0.5 * rx, cx + 0.5 * rx, lambda x: cy + 0.0 * x,
              lambda x: np.full_like(x, s + 2.0), shade)
  canvas.ellipse(cx, s * 1.22, 0.62 * s, 0.3 * s, np.asarray(p["clothes"], np.float32))
  # Ears.
  for sgn in (-1.0, 1.0):
    canvas.ellipse(cx + sgn * 0.97 * rx, g["eye_y"] + 0.05 * s, 0.035 * s, 0.065 * s,
                   skin * 0.9)
  # Face: a half ellipse above, a jaw-shaped superellipse below; the chin moves
  # down with AU26.
  canvas.ellipse(cx, cy, rx, top, skin, bottom_ry=bottom, bottom_power=p["jaw_power"])
  # Soft shading: light from one side, shade on the other.
  canvas.blob(cx - p["light"] * rx, cy, 0.9 * rx, 0.9 * top, skin * 1.08, 0.35)
  canvas.blob(cx + p["light"] * rx * 1.2, cy + 0.1 * s, 0.5 * rx, 0.9 * top, shade, 0.18)

  _draw_hair(canvas, p, g, hair, style, s)
  _draw_brows(canvas, g, hair, s)
  _draw_eyes(canvas, p, g, skin, shade, s)
  _draw_nose(canvas, g, skin, shade, s)
  _draw_mouth(canvas, p, g, skin, shade, s)
  return np.clip(canvas.img, 0.0, 1.0)


def _draw_hair(canvas, p, g, hair, style, s):
  cx, cy, rx, top = g["cx"], g["cy"], g["face_rx"], g["face_top"]
  vol = p["hair_volume"] * s
  ey = g["eye_y"]
  # The fringe stays above the highest brow position (AU01/AU02 at 1).
  lowest = g["brow_y"] - 0.08 * s
  hairline = {"short": cy - top + 0.12 * s, "long": cy - top + 0.10 * s,
              "bangs": lowest, "buzz": cy - top + 0.09 * s}[style]
  hairline = min(hairline, lowest)
  rx_h, top_h = rx + vol, top + vol
  phase = p["hair_phase"]

  def cap_top(x):
    t = np.clip((x - cx) / rx_h, -1.0, 1.0)
    return cy - top_h * np.sqrt(np.maximum(1 - t * t, 0.0))

  def cap_bottom(x):
    t = np.abs(x - cx) / rx
    side = np.clip((t - 0.78) / 0.2, 0.0, 1.0)**2  # temples down to the ears
    wave = 0.012 * s * np.sin(14.0 * (x - cx) / rx + phase) if style == "bangs" else 0.0
    return np.minimum(hairline + wave + side * (ey - 0.02 * s - hairline),
                      cy + 0.0 * x + 0.02 * s)

  colour = hair if style != "buzz" else hair * 0.6 + np.asarray(p["skin"], np.float32) * 0.4
  canvas.band(cx - rx_h, cx + rx_h, cap_top, cap_bottom, colour,
              0.75 if style == "buzz" else 1.0,
              mask=None if style == "buzz" else
              (lambda x, y: 1.0 - 0.12 * (0.5 + 0.5 * np.sin(0.9 * (x - cx) / s * 60 + phase))))


def _draw_brows(canvas, g, hair, s):
  colour = hair * 0.8
  for sgn in (-1.0, 1.0):
    ex = g["cx"] + sgn * g["eye_dx"]
    inner = ex - sgn * (0.85 * g["eye_w"] - g["brow_inner_dx"])
    outer = ex + sgn * 1.2 * g["eye_w"]
    lo, hi = min(inner, outer), max(inner, outer)

    def u_of(x, inner=inner, outer=outer):
      return np.clip((x - inner) / (outer - inner), 0.0, 1.0)

    def centre(x, u_of=u_of):
      u = u_of(x)
      arch = -g["brow_arch"] * 4 * u * (1 - u) - 0.3 * g["brow_arch"] * u
      return (g["brow_y"] + arch + g["brow_inner_dy"] * (1 - u)**1.3 +
              g["brow_outer_dy"] * u**1.3)

    def half(x, u_of=u_of):
      u = u_of(x)
      return 0.5 * g["brow_th"] * (1.0 - 0.45 * u) * np.clip(4 * u * (1 - u) + 0.35, 0, 1)**0.5 \
          * np.clip(u * 12, 0, 1)**0.5 * np.clip((1 - u) * 8, 0, 1)**0.5

    canvas.band(lo, hi, lambda x, c=centre, h=half: c(x) - h(x),
                lambda x, c=centre, h=half: c(x) + h(x), colour, 0.95)
  if g["frown"] > 0:
    # Vertical glabella lines between the lowered brows.
    for sgn in (-1.0, 1.0):
      x = g["cx"] + sgn * 0.012 * s
      y0 = g["brow_y"] + g["brow_inner_dy"] - 0.01 * s
      canvas.stroke([(x, y0), (x + sgn * 0.003 * s, y0 + 0.035 * s)], 0.008 * s,
                    np.full(3, 0.25, np.float32), 0.35 * g["frown"])


def _draw_eyes(canvas, p, g, skin, shade, s):
  for sgn in (-1.0, 1.0):
    _draw_eye(canvas, p, g, g["cx"] + sgn * g["eye_dx"], sgn, skin, shade, s)


def _draw_eye(canvas, p, g, ex, sgn, skin, shade, s):
  """One eye at x = ex; sgn = +1 for the eye on the image's right."""
  ey, w = g["eye_y"], g["eye_w"]

  def shape(x):
    t = (x - ex) / w
    return np.maximum(1 - t * t, 0.0)

  def upper(x):
    return ey - g["eye_upper"] * shape(x)**0.8

  def lower(x):
    return ey + g["eye_lower"] * shape(x)**0.9

  # Lid shadow and crease above the eye.
  canvas.blob(ex, ey - 0.025 * s, 0.9 * w, 0.018 * s, shade, 0.35)
  crease_y = ey - 1.9 * p["eye_open_upper"] * s
  canvas.band(ex - 0.9 * w, ex + 0.9 * w, lambda x: crease_y - 0.003 * s * shape(x),
              lambda x: crease_y + 0.002 * s * shape(x), shade * 0.9, 0.5)
  # Eye white, then iris, pupil and catch light clipped to the lids.
  canvas.band(ex - w, ex + w, upper, lower, np.float32([0.95, 0.94, 0.92]))
  r = g["iris_r"]
  lids = _band_mask(upper, lower)
  _disc(canvas, ex, ey, r, np.asarray(p["iris_colour"], np.float32), lids)
  _disc(canvas, ex, ey, 0.45 * r, np.float32([0.03, 0.03, 0.04]), lids)
  _disc(canvas, ex - 0.35 * r, ey - 0.35 * r, 0.2 * r, np.float32([1.0, 1.0, 1.0]), lids, 0.8)
  # Upper lid line with lashes (it stays as the closed-eye line when blinking),
  # and a faint lower lid.
  th = 0.010 * s
  canvas.band(ex - 1.08 * w, ex + 1.08 * w, lambda x: upper(x) - th * (0.4 + 0.6 * shape(x)),
              lambda x: upper(x) + 0.25 * th * shape(x), np.float32([0.10, 0.07, 0.06]))
  canvas.band(ex - w, ex + w, lambda x: lower(x) - 0.1 * th,
              lambda x: lower(x) + 0.35 * th * shape(x), shade * 0.8, 0.6)
  # Cheek raiser (AU06): the cheek bulge and the furrow under the eye rise,
  # crow's feet appear at the outer corner.
  lift = g["cheek_raise"]
  canvas.blob(ex + sgn * 0.1 * w, ey + (0.095 - 0.035 * lift) * s, 0.9 * w, 0.028 * s,
              skin * 1.1, 0.15 + 0.3 * lift)
  canvas.band(ex - 0.8 * w, ex + 0.8 * w,
              lambda x: ey + (0.045 - 0.012 * lift) * s + 0.01 * s * (1 - shape(x)),
              lambda x: ey + (0.050 - 0.012 * lift) * s + 0.01 * s * (1 - shape(x)),
              shade * 0.9, 0.5 * lift)
  ox = ex + sgn * 1.1 * w
  for k in (-1.0, 0.0, 1.0):
    canvas.stroke([(ox, ey + k * 0.008 * s), (ox + sgn * 0.03 * s, ey + k * 0.02 * s)],
                  0.006 * s, shade * 0.75, 0.5 * lift)


def _band_mask(top_fn, bottom_fn):
  """Alpha of the region between two curves y(x), as a function of pixel-centre grids."""

  def mask(x, y):
    t0, t1 = top_fn(x), bottom_fn(x)
    return np.clip(np.minimum(y + 0.5, t1) - np.maximum(y - 0.5, t0), 0.0, 1.0)

  return mask


def _disc(canvas, cx, cy, r, colour, mask, opacity=1.0):
  rows, cols, x, y = canvas.coords(cx - r, cx + r, cy - r, cy + r)
  d = np.hypot(x - cx, y - cy) - r
  alpha = np.clip(0.5 - d, 0.0, 1.0) * mask(x, y) * opacity
  canvas.paint(rows, cols, alpha.astype(np.float32), colour)


def _draw_nose(canvas, g, skin, shade, s):
  cx, ny, nw = g["cx"], g["nose_y"], g["nose_w"]
  ey = g["eye_y"]
  # Bridge shading on both sides and the shadow under the tip.
  for sgn in (-1.0, 1.0):
    canvas.band(ey + 0.01 * s, ny - 0.01 * s,
                lambda y, sgn=sgn: cx + sgn * (0.35 * nw + 0.3 * nw * (y - ey) / (ny - ey)) - 0.004 * s,
                lambda y, sgn=sgn: cx + sgn * (0.35 * nw + 0.3 * nw * (y - ey) / (ny - ey)) + 0.004 * s,
                shade, 0.3, vertical=True)
  canvas.blob(cx, ny + 0.012 * s, 0.8 * nw, 0.012 * s, shade, 0.45)
  canvas.blob(cx, ny - 0.012 * s, 0.35 * nw, 0.012 * s, skin * 1.1, 0.4)
  for sgn in (-1.0, 1.0):
    canvas.ellipse(cx + sgn * 0.45 * nw, ny + 0.008 * s + g["nostril_dy"], 0.22 * nw,
                   0.09 * nw, np.float32([0.25, 0.13, 0.1]), 0.85)
    # Alar wings.
    canvas.ellipse(cx + sgn * 0.8 * nw, ny + g["nostril_dy"] * 0.6, 0.18 * nw, 0.3 * nw, shade,
                   0.35)
  # Nose wrinkler: horizontal creases across the bridge.
  if g["nose_wrinkle"] > 0:
    for k in range(3):
      y = ey + (0.035 + 0.014 * k) * s
      canvas.stroke([(cx - 0.45 * nw, y + 0.003 * s), (cx, y - 0.002 * s),
                     (cx + 0.45 * nw, y + 0.003 * s)], 0.006 * s, shade * 0.75,
                    0.6 * g["nose_wrinkle"])


def _draw_mouth(canvas, p, g, skin, shade, s):
  cx, hw, my = g["cx"], g["mouth_hw"], g["mouth_y"]
  mid, upper_out, upper_in, lower_in, lower_out = _mouth_curves(g)
  lips = np.asarray(p["lip_colour"], np.float32)
  ny, nw = g["nose_y"], g["nose_w"]
  # Nasolabial folds from the nose wings to beyond the mouth corners.
  corner_y = float(mid(np.float32(cx + hw)))
  for sgn in (-1.0, 1.0):
    x0, y0 = cx + sgn * 1.0 * nw, ny + g["nostril_dy"] * 0.6
    x1, y1 = cx + sgn * (hw + 0.035 * s), corner_y + 0.01 * s
    canvas.stroke([(x0, y0), (x0 + sgn * 0.25 * (x1 - x0) * 1.6, 0.5 * (y0 + y1)), (x1, y1)],
                  0.008 * s, shade * 0.85, min(1.0, g["fold"]))
  # Chin boss (AU17) and the crease under the lower lip.
  chin_y = g["cy"] + g["face_bottom"]
  canvas.blob(cx, chin_y - 0.05 * s, 0.05 * s, 0.025 * s, shade, 0.1 + 0.35 * g["chin_boss"])
  low_y = float(lower_out(np.float32(cx)))
  canvas.band(cx - 0.5 * hw, cx + 0.5 * hw,
              lambda x: low_y + 0.012 * s + 0.006 * s * ((x - cx) / (0.5 * hw))**2,
              lambda x: low_y + 0.018 * s + 0.006 * s * ((x - cx) / (0.5 * hw))**2 +
              0.004 * s * g["chin_boss"], shade, 0.2 + 0.4 * g["chin_boss"])
  # Lips, then the opening (dark), then the upper teeth inside the opening.
  canvas.band(cx - hw, cx + hw, upper_out, lower_out, lips)
  canvas.band(cx - hw, cx + hw, upper_in, lower_in, np.float32([0.25, 0.06, 0.07]))
  teeth = 0.02 * s
  canvas.band(cx - hw, cx + hw, upper_in,
              lambda x: np.minimum(upper_in(x) + teeth, lower_in(x)),
              np.float32([0.93, 0.91, 0.86]), 0.95,
              mask=lambda x, y: np.clip(1.2 - np.abs((x - cx) / hw)**2, 0, 1))
  # Lip line: a dark seam where the lips meet (visible with closed lips too).
  canvas.band(cx - hw, cx + hw, lambda x: upper_in(x) - 0.004 * s * _corner_taper(x, cx, hw),
              lambda x: upper_in(x) + 0.002 * s * _corner_taper(x, cx, hw),
              lips * 0.45, 0.9)
  # Corner shadows and dimples (AU14).
  for sgn in (-1.0, 1.0):
    x = cx + sgn * hw
    canvas.blob(x, corner_y, 0.008 * s, 0.008 * s, shade * 0.8, 0.5)
    if g["dimple"] > 0:
      dx = x + sgn * 0.02 * s
      canvas.stroke([(dx, corner_y - 0.018 * s), (dx + sgn * 0.006 * s, corner_y),
                     (dx, corner_y + 0.018 * s)], 0.007 * s, shade * 0.75, 0.7 * g["dimple"])


def _corner_taper(x, cx, hw):
  t = np.clip((x - cx) / hw, -1.0, 1.0)
  return np.maximum(1 - t * t, 0.0)**0.3
