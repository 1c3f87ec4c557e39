"""The SinGAN trainer's total ETA (trainer.RunEta) on fake timing sequences."""

import numpy as np
import pytest

from tfsingan.singan import scales
from tfsingan.singan import trainer

ITERATIONS = 300


def _demo_work():
  """Per-iteration work of the demo pyramid (bundled face, 64 px, 7 scales)."""
  pyr = scales.scale_schedule(200, 200, min_size=20, max_size=64, scale_factor=0.75)
  widths = [scales.channels_at(n, 32, 128, 4) for n in range(pyr.num_scales)]
  return scales.iteration_work(pyr.sizes, widths)


def _replay(work, seconds_per_iter, setup=4.0, noise=0.15, seed=0):
  """Feeds RunEta a run whose scale k takes `seconds_per_iter[k]` (+-noise) an iteration
  and whose first iteration of every scale also pays `setup` seconds (tracing); returns
  (the true total, [(time, predicted total)], the time each scale started)."""
  rng = np.random.default_rng(seed)
  eta = trainer.RunEta(work, ITERATIONS)
  now, predictions, starts = 0.0, [], []
  for n, t in enumerate(seconds_per_iter):
    starts.append(now)
    eta.start_scale(n, now)
    for i in range(ITERATIONS):
      now += t * rng.uniform(1 - noise, 1 + noise) + (setup if i == 0 else 0.0)
      left = eta.step(i + 1, now)
      if left is not None:
        predictions.append((now, now + left))
    eta.finish_scale(now)
  return now, np.array(predictions), starts


@pytest.mark.parametrize("regime", ["overhead", "work"])
def test_total_eta_stays_within_a_factor_of_the_truth(regime):
  work = _demo_work()
  assert work[-1] / work[0] > 40  # the finest scale does 41x the coarsest's work
  if regime == "overhead":  # tiny scales: a fixed cost per iteration dominates
    truth = [0.05 + 4e-9 * w for w in work]
  else:  # convolutions dominate
    truth = [0.002 + 3e-8 * w for w in work]
  total, pred, starts = _replay(work, truth)
  ratio = pred[:, 1] / total
  # From the first measured iterations: off by at most sqrt(work ratio) = 6.4, the
  # unknown share of overhead (beta = 0.5 until two scales are finished) ...
  bound = np.sqrt(work[-1] / work[0])
  assert 1 / bound < ratio.min() and ratio.max() < bound, (ratio.min(), ratio.max())
  # ... and within 35% once two scales are finished (the old linear fit, fed traced
  # first iterations, jumped by 1.6x and then 2.7x within two minutes).
  two_done = pred[:, 0] > starts[2]
  assert 0.65 < ratio[two_done].min() and ratio[two_done].max() < 1.35
  assert abs(ratio[-1] - 1) < 0.01


def test_traced_first_iteration_is_setup_not_rate():
  work = _demo_work()
  eta = trainer.RunEta(work, ITERATIONS)
  eta.start_scale(0, 0.0)
  assert eta.step(1, 10.0) is None  # only the (traced) first iteration so far
  for done in range(2, 6):
    left = eta.step(done, 10.0 + 0.1 * (done - 1))
  assert eta.finish_scale(10.4) == pytest.approx(0.1)
  assert eta.setups == [10.0]
  # Scale 1 before its own rate is known: predicted from scale 0 (beta = 0.5), plus
  # the setup once for each later scale.
  eta.start_scale(1, 10.4)
  left = eta.step(1, 20.4)
  per = [0.1 * (w / work[0]) ** 0.5 for w in work]
  want = per[1] * (ITERATIONS - 1) + sum(10.0 + ITERATIONS * p for p in per[2:])
  assert left == pytest.approx(want)
  assert left is not None


def test_resumed_run_uses_the_recorded_rates():
  work = [1.0, 4.0, 16.0]
  eta = trainer.RunEta(work, 10, timed={0: 1.0, 1: 2.0})  # beta = log 2 / log 4 = 0.5
  eta.start_scale(2, 0.0)
  assert eta.step(1, 5.0) == pytest.approx(9 * 4.0)
  assert eta.beta({0: 1.0, 1: 8.0}) == 1.0  # clamped
  assert eta.beta({0: 1.0, 1: 0.5}) == 0.0
