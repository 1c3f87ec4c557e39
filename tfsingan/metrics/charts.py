"""Bar charts for the evaluation reports (SinGAN / GANimation metrics), drawn with OpenCV.

matplotlib is not a dependency of tfsingan; these charts need only bars, error
bars, labels and a value axis.
"""

import math

import cv2
import numpy as np

from tfsingan.common.image_io import save_image

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BAR = (70, 110, 190)  # RGB
_INK = (30, 30, 30)


def _nice_max(value):
  if not value > 0 or not math.isfinite(value):
    return 1.0
  exp = 10.0 ** math.floor(math.log10(value))
  for step in (1.0, 2.0, 2.5, 5.0, 10.0):
    if value <= step * exp:
      return step * exp
  return 10.0 * exp


def bar_chart(labels, values, errors=None, *, title="", ylabel="", height=360):
  """uint8 RGB image of a bar chart; `errors` (same length) draws +-error whiskers."""
  values = [float(v) for v in values]
  errors = [0.0] * len(values) if errors is None else [float(e or 0.0) for e in errors]
  finite = [v + e for v, e in zip(values, errors) if math.isfinite(v + e)]
  top = _nice_max(max(finite) if finite else 1.0)
  slot = max(34, 9 * max((len(str(l)) for l in labels), default=1) // 2)
  left, right, y0, y1 = 64, 16, 34, height - 56
  title_width = cv2.getTextSize(title, _FONT, 0.5, 1)[0][0] + 16
  slot = max(slot, (title_width - left - right) // max(len(values), 1))
  width = left + right + slot * max(len(values), 1)
  img = np.full((height, width, 3), 255, np.uint8)
  cv2.putText(img, title, (8, 20), _FONT, 0.5, _INK, 1, cv2.LINE_AA)
  for k in range(5):  # value axis with 4 ticks
    v = top * k / 4
    y = int(round(y1 - (y1 - y0) * k / 4))
    cv2.line(img, (left - 4, y), (width - right, y), (225, 225, 225), 1)
    cv2.putText(img, f"{v:.3g}", (4, y + 4), _FONT, 0.35, _INK, 1, cv2.LINE_AA)
  cv2.line(img, (left, y0), (left, y1), _INK, 1)
  cv2.line(img, (left, y1), (width - right, y1), _INK, 1)
  if ylabel:
    cv2.putText(img, ylabel, (4, height - 8), _FONT, 0.35, _INK, 1, cv2.LINE_AA)

  def to_y(v):
    return int(round(y1 - (y1 - y0) * min(max(v, 0.0), top) / top))

  for i, (label, v, e) in enumerate(zip(labels, values, errors)):
    x = left + slot * i + slot // 2
    if math.isfinite(v):
      cv2.rectangle(img, (x - slot // 3, to_y(v)), (x + slot // 3, y1), _BAR, -1)
      if e > 0:
        cv2.line(img, (x, to_y(v - e)), (x, to_y(v + e)), _INK, 1)
        for yy in (to_y(v - e), to_y(v + e)):
          cv2.line(img, (x - 4, yy), (x + 4, yy), _INK, 1)
    # labels are rotated by drawing them on their own strip
    text = str(label)
    (tw, th), _ = cv2.getTextSize(text, _FONT, 0.35, 1)
    strip = np.full((th + 6, tw + 4, 3), 255, np.uint8)
    cv2.putText(strip, text, (2, th + 2), _FONT, 0.35, _INK, 1, cv2.LINE_AA)
    strip = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
    h = min(strip.shape[0], height - y1 - 4)
    w = min(strip.shape[1], width - (x - strip.shape[1] // 2))
    xs = max(0, x - strip.shape[1] // 2)
    img[y1 + 3:y1 + 3 + h, xs:xs + w] = strip[strip.shape[0] - h:, :w]
  return img


def save_chart(path, labels, values, errors=None, **kwargs):
  """Draws `bar_chart` and writes it as PNG (atomically)."""
  save_image(path, bar_chart(labels, values, errors, **kwargs))
