"""The pyramid schedule against the published figures."""

import pytest

from tfsingan.singan import scales


def test_250_square_gives_11_scales():
  p = scales.scale_schedule(250, 250)
  assert p.num_scales == 11
  assert p.scale_factor == pytest.approx((25 / 250) ** (1 / 10))
  assert p.scale_factor == pytest.approx(0.79, abs=0.01)
  assert p.sizes[0] == (25, 25) and p.sizes[-1] == (250, 250)


def test_250x188_gives_10_scales():
  p = scales.scale_schedule(250, 188)
  assert p.num_scales == 10
  assert p.scale_factor == pytest.approx(0.80, abs=0.01)
  assert min(p.sizes[0]) == 25
  assert p.sizes[-1] == (250, 188)


def test_sizes_grow_monotonically_by_the_factor():
  p = scales.scale_schedule(250, 188)
  for (h0, w0), (h1, w1) in zip(p.sizes, p.sizes[1:]):
    assert h1 > h0 and w1 > w0
    assert h0 / h1 == pytest.approx(p.scale_factor, abs=0.03)


def test_oversize_image_is_resized_and_drops_fine_scales():
  p = scales.scale_schedule(500, 500)
  assert p.resize_to == (250, 250)
  assert p.sizes[-1] == (250, 250)
  assert p.num_scales == 10  # the original drops the scales removed by the resize


def test_too_small_image_is_refused():
  with pytest.raises(ValueError, match="min_size"):
    scales.scale_schedule(20, 40)


def test_output_size_is_robust_to_round_off():
  assert scales.output_size(188, 25 / 188) == 25
  assert scales.output_size(250, 1.0) == 250


@pytest.mark.parametrize("scale,width", [(0, 32), (3, 32), (4, 64), (7, 64), (8, 128),
                                         (12, 128)])
def test_width_doubles_every_four_scales(scale, width):
  assert scales.channels_at(scale) == width


def test_scaled_sizes():
  assert scales.scaled_sizes(((25, 25), (32, 32)), 1.0, 1.5) == ((25, 38), (32, 48))
