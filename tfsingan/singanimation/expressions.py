"""The expressions of SinGANimation (thesis ch. 5.4): single-AU sweeps, emotions and
multi-AU interpolations from the photo's own expression, as GANimation targets."""

import collections

import numpy as np

from tfsingan.errors import UserInputError
from tfsingan.ganimation import aus as aus_lib
from tfsingan.singanimation import config as config_mod

Expression = collections.namedtuple("Expression", ["name", "aus"])


def _items(spec):
  return [s.strip() for s in str(spec).split(",") if s.strip()]


def emotion_names(spec):
  """'all', 'happy,sad' or '' -> emotion names in aus.EMOTIONS (UserInputError if unknown)."""
  names = [n.lower() for n in _items(spec)]
  if names == ["all"]:
    return sorted(aus_lib.EMOTIONS)
  for n in names:
    aus_lib.emotion_aus(n)  # raises for unknown names
  if len(set(names)) != len(names):
    raise UserInputError(f"--emotions={spec}: an emotion is given twice")
  return names


def plan_expressions(config, source_aus=None):
  """The expressions of a `SinGANimationConfig`, in order: a list of `Expression`
  (name, (17,) float32 target AUs in [0, 1]).

  The edits come from `aus.plan_edits`, as `python -m tfsingan.animate` makes them;
  interpolations drop its first and last frames (the source and the emotion, which
  are expressions of their own). `source_aus` (an --aus spec) replaces
  `config.source_aus`: the AUs read for --source_aus=auto (neutral until read).
  """
  if source_aus is None:
    auto = config.source_aus.strip().lower() == config_mod.AUTO
    source_aus = "" if auto else config.source_aus
  source = aus_lib.parse_aus(source_aus, what="--source_aus")
  out = []
  if config.include_source:
    out.append(Expression("source", source))
  sweep_aus = _items(config.sweep_aus)
  if len({aus_lib.au_index(a) for a in sweep_aus}) != len(sweep_aus):
    raise UserInputError(f"--sweep_aus={config.sweep_aus}: an AU is given twice")
  for au in sweep_aus:
    edits, _ = aus_lib.plan_edits(sweep=au, source_aus=source_aus)
    out += [Expression(f"sweep_{name}", aus) for name, _, aus in edits]
  emotions = emotion_names(config.emotions)
  for emotion in emotions:
    out.append(Expression(f"emotion_{emotion}", aus_lib.emotion_aus(emotion)))
  if config.interpolate_steps:
    for emotion in emotions:
      frames, _ = aus_lib.plan_edits(emotion=[emotion], interpolate=config.interpolate_steps + 2,
                                     source_aus=source_aus)
      out += [Expression(f"interp_{emotion}_{i:02d}", aus)
              for i, (_, _, aus) in enumerate(frames[1:-1], start=1)]
  if not out:
    raise UserInputError("no expressions: --include_source is off and --sweep_aus and "
                         "--emotions are empty")
  return [e._replace(aus=np.asarray(e.aus, np.float32)) for e in out]
