"""Tests of the figures of `tfsingan.common.sheets` (contact and side-by-side sheets)."""

import numpy as np

from tfsingan.common import sheets


def test_enlarge_repeats_pixels_by_an_integer_factor():
  image = np.random.default_rng(0).uniform(size=(50, 40, 3)).astype(np.float32)
  big = sheets.enlarge(image, 128)
  assert big.shape == (150, 120, 3)  # factor ceil(128 / 50) = 3
  np.testing.assert_array_equal(big[::3, ::3], image)
  assert sheets.enlarge(image, 20).shape == image.shape


def test_variation_map_is_black_where_variants_agree():
  rng = np.random.default_rng(1)
  base = rng.uniform(size=(16, 16, 3))
  variants = np.repeat(base[None], 4, axis=0)
  variants[:, :8] += rng.normal(0.0, 0.1, (4, 8, 16, 3))  # the top half varies
  heat = sheets.variation_map(variants)
  assert heat.shape == (16, 16, 3)
  assert heat[8:].max() < 0.02  # identical pixels: black (inferno's first colour)
  assert heat[:8].mean() > 0.3


def test_contact_sheet_rows_hold_expression_variants_and_map():
  rng = np.random.default_rng(2)
  expr = rng.uniform(size=(64, 64, 3)).astype(np.float32)
  variants = [np.clip(expr + rng.normal(0, 0.05, expr.shape), 0, 1) for _ in range(3)]
  sheet = sheets.contact_sheet([(expr, variants), (expr, variants[:1])], ["a", "b"],
                               [0.2, None])
  pad, cell = 4, 128  # enlarged 2x
  assert sheet.shape[0] == 2 * (cell + pad) + pad
  label_width = 8 + 2 * pad
  assert sheet.shape[1] == label_width + 5 * (cell + pad) + pad  # expression, 3 variants, map
  # Titles on a black bar over each cell; the cell's pixels below it are the image's.
  x0 = label_width + pad
  assert sheet[pad:pad + sheets.TITLE_HEIGHT, x0 + 70:x0 + 120].mean() < 0.1  # past the text
  np.testing.assert_allclose(sheet[pad + 64, x0 + 64], expr[32, 32], atol=1 / 255)


def test_side_by_side_titles_every_column():
  cells = [np.full((32, 32, 3), v, np.float32) for v in (0.2, 0.5, 0.8)]
  sheet = sheets.side_by_side([cells, cells], ["happy", "sad"], ("source", "GANimation", "warp"))
  assert sheet.shape[0] == 2 * 36 + 4
  titled = sheets.titled(cells[1], "GANimation")
  assert titled[:sheets.TITLE_HEIGHT].mean() < 0.2  # the black title bar
  np.testing.assert_allclose(titled[sheets.TITLE_HEIGHT:], 0.5, atol=1 / 255)
