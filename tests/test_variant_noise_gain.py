"""expand's --variant_noise_gain: the SinGAN's noise amplitudes from --start_scale on."""

import numpy as np
import pytest

from tfsingan.errors import UserInputError
from tfsingan.singan.config import SinGANConfig
from tfsingan.singan.inference import TrainedSinGAN
from tfsingan.singanimation import pipeline
from tfsingan.singanimation.config import SinGANimationConfig


def _regenerator(monkeypatch, **overrides):
  config = SinGANimationConfig(singan_workdir="unused", **overrides)
  trained = TrainedSinGAN(["g0", "g1", "g2"], [0.1, 0.2, 0.3], [(8, 8), (10, 10), (12, 12)],
                          np.zeros((8, 8, 3)))
  regen = pipeline._Regenerator(config, SinGANConfig(), "out", None)  # pylint: disable=protected-access
  monkeypatch.setattr(regen, "_train", lambda *args: trained)
  regen.train_shared()
  return regen.shared


def test_gain_scales_the_amplitudes_from_the_start_scale_only(monkeypatch):
  shared = _regenerator(monkeypatch, start_scale=1, variant_noise_gain=3.0)
  np.testing.assert_allclose(shared.noise_amps, [0.1, 0.6, 0.9])
  assert shared.generators == ["g0", "g1", "g2"] and shared.sizes[-1] == (12, 12)


def test_gain_one_keeps_the_trained_model(monkeypatch):
  shared = _regenerator(monkeypatch, start_scale=1)
  assert shared.noise_amps == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("gain", [float("nan"), float("inf"), -1.0])
def test_bad_gains_are_refused(gain):
  with pytest.raises(UserInputError, match="variant_noise_gain"):
    SinGANimationConfig(variant_noise_gain=gain)
