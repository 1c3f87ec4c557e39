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
from tfsingan.synthetic import face_parts
from tfsingan.synthetic.canvas import Canvas

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
  canvas = Canvas(size, bg)
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

  face_parts.draw_hair(canvas, p, g, hair, style, s)
  face_parts.draw_brows(canvas, g, hair, s)
  face_parts.draw_eyes(canvas, p, g, skin, shade, s)
  face_parts.draw_nose(canvas, g, skin, shade, s)
  face_parts.draw_mouth(canvas, p, g, _mouth_curves(g), skin, shade, s)
  return np.clip(canvas.img, 0.0, 1.0)
