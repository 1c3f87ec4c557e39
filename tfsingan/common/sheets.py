"""Figures a person looks at: titled cells, variation maps, contact and side-by-side sheets."""

import math

import cv2
import numpy as np

from tfsingan.common import image_io

TITLE_HEIGHT = 16
# The contact sheet's cells are enlarged to at least this height (nearest neighbour, so
# that no pixel is invented): the demo's 64 px variants differ in details.
MIN_CELL = 128
# The variation map shows the per-pixel std over the variants times this gain: a std of
# 1/GAIN (25% of the [0, 1] range) is full scale.
STD_GAIN = 4.0


def titled(image, title):
  """The image (H x W x 3 in [0, 1]) with `title` in white on a black bar across its top."""
  canvas = image_io.to_uint8(np.asarray(image, np.float32)).copy()
  if canvas.ndim == 2 or canvas.shape[2] == 1:
    canvas = np.repeat(canvas.reshape(canvas.shape[:2] + (1,)), 3, axis=2)
  bar = min(TITLE_HEIGHT, canvas.shape[0])
  canvas[:bar] = 0
  cv2.putText(canvas, title, (3, bar - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
              cv2.LINE_AA)
  return canvas.astype(np.float32) / 255.0


def enlarge(image, min_height=MIN_CELL):
  """Nearest-neighbour enlargement by the smallest integer factor reaching `min_height`."""
  factor = max(1, math.ceil(min_height / image.shape[0]))
  if factor == 1:
    return np.asarray(image, np.float32)
  return np.repeat(np.repeat(np.asarray(image, np.float32), factor, axis=0), factor, axis=1)


def variation_map(variants):
  """Where M variants (M x H x W x 3) differ: their per-pixel std (mean over channels)
  times STD_GAIN, as a heat map (black = identical)."""
  std = np.asarray(variants, np.float64).std(axis=0).mean(axis=2)
  gray = np.clip(std * STD_GAIN, 0.0, 1.0)
  heat = cv2.applyColorMap((gray * 255 + 0.5).astype(np.uint8), cv2.COLORMAP_INFERNO)
  return heat[:, :, ::-1].astype(np.float32) / 255.0


def contact_sheet(rows, labels, diversities=None, editor=""):
  """One row per expression: its image, its variants, the map of where they differ.

  Args:
    rows: per expression, (expression image resized to the variants' size, list of
      variants; either may be None / empty).
    labels: the row labels (expression names).
    diversities: per row, the diversity figure written on its map (or None).
    editor: what made the expression images, written on each ("warp edit"); empty:
      "expression".
  """
  sheet = []
  for i, (expression, variants) in enumerate(rows):
    cells = []
    if expression is not None:
      cells.append(titled(enlarge(expression), f"{editor} edit" if editor else "expression"))
    cells += [titled(enlarge(v), f"variant {k + 1}") for k, v in enumerate(variants)]
    if len(variants) >= 2:
      title = f"std x{STD_GAIN:g}"
      if diversities is not None and diversities[i] is not None:
        title += f"  div {diversities[i]:.2f}"
      cells.append(titled(enlarge(variation_map(variants)), title))
    sheet.append(cells)
  return image_io.make_grid(sheet, labels)


def side_by_side(rows, labels, titles):
  """`rows` of equally sized face crops, one column per editor, `titles` above each."""
  return image_io.make_grid([[titled(c, t) for c, t in zip(row, titles)] for row in rows],
                            labels)
