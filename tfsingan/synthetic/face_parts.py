"""The parts of a procedural face (hair, brows, eyes, nose, mouth), drawn from its geometry.

`tfsingan.synthetic.faces.render` lays the head and calls these in order; `g` is the
geometry of `faces._geometry` (pixel positions that the AUs have moved), `p` the identity.
"""

import numpy as np

from tfsingan.synthetic.canvas import band_mask, disc

def draw_hair(canvas, p, g, hair, style, s):
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


def draw_brows(canvas, g, hair, s):
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


def draw_eyes(canvas, p, g, skin, shade, s):
  for sgn in (-1.0, 1.0):
    draw_eye(canvas, p, g, g["cx"] + sgn * g["eye_dx"], sgn, skin, shade, s)


def draw_eye(canvas, p, g, ex, sgn, skin, shade, s):
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
  lids = band_mask(upper, lower)
  disc(canvas, ex, ey, r, np.asarray(p["iris_colour"], np.float32), lids)
  disc(canvas, ex, ey, 0.45 * r, np.float32([0.03, 0.03, 0.04]), lids)
  disc(canvas, ex - 0.35 * r, ey - 0.35 * r, 0.2 * r, np.float32([1.0, 1.0, 1.0]), lids, 0.8)
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


def draw_nose(canvas, g, skin, shade, s):
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


def draw_mouth(canvas, p, g, curves, skin, shade, s):
  """The mouth; `curves`: (mid, upper_out, upper_in, lower_in, lower_out), functions y(x)."""
  cx, hw = g["cx"], g["mouth_hw"]
  mid, upper_out, upper_in, lower_in, lower_out = curves
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
