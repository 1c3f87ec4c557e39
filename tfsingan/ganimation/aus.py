"""Action units for GANimation (Pumarola et al., ECCV 2018): names, presets, tiling.

The model is conditioned on the 17 intensity AUs that OpenFace estimates, in
OpenFace's order, each divided by `AU_SCALE` so that it lies in [0, 1].
`EMOTIONS` holds the prototypical displays of the six basic emotions after
EMFACS (Friesen & Ekman, 1983) as commonly tabulated; see the note above it.
"""

import math
import re

import numpy as np

from tfsingan.errors import UserInputError

AU_NAMES = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
            "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")
NUM_AUS = 17
AU_SCALE = 5.0  # OpenFace intensities run 0..5; the model sees them divided by this.

AU_DESCRIPTIONS = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU09": "nose wrinkler", "AU10": "upper lip raiser", "AU12": "lip corner puller",
    "AU14": "dimpler", "AU15": "lip corner depressor", "AU17": "chin raiser",
    "AU20": "lip stretcher", "AU23": "lip tightener", "AU25": "lips part",
    "AU26": "jaw drop", "AU45": "blink",
}

# Prototypical emotion displays of EMFACS (Friesen & Ekman, 1983) as commonly
# tabulated (e.g. the FACS article of Wikipedia, Cohn et al. 2007):
#   happiness 6+12; sadness 1+4+15; surprise 1+2+5B+26; fear 1+2+4+5+7+20+26;
#   anger 4+5+7+23; disgust 9+15+16.
# Intensities: the AUs that define the display at 0.8-1.0, the supporting ones at
# 0.5-0.6, an explicit FACS "B" (slight) grade at 0.4. AU16 (lower lip depressor)
# is not among OpenFace's intensity AUs, so disgust uses AU10 (upper lip raiser,
# part of the EMFACS disgust variants 10+17 / 9+10) in its place.
# Happiness is the open (lips-parted, teeth-showing) smile 6+12+25, the common
# variant of the happy faces of FACS-coded sets (CK+): the FER2013 judge reads the
# closed smile 6+12 as neutral (warp of Grace Hopper and Biden: p(happy) 0.28 and
# 0.33; with AU25 at 1.0: 0.72 and 0.77, judged happy; issue 14).
EMOTIONS = {
    "happy": {"AU06": 0.8, "AU12": 1.0, "AU25": 1.0},
    "sad": {"AU01": 0.8, "AU04": 0.6, "AU15": 0.8},
    "surprise": {"AU01": 1.0, "AU02": 1.0, "AU05": 0.4, "AU26": 0.8},
    "fear": {"AU01": 0.8, "AU02": 0.6, "AU04": 0.6, "AU05": 0.8, "AU07": 0.5,
             "AU20": 0.8, "AU26": 0.6},
    "anger": {"AU04": 1.0, "AU05": 0.6, "AU07": 0.8, "AU23": 0.8},
    "disgust": {"AU09": 1.0, "AU10": 0.5, "AU15": 0.6},
}


def au_index(name):
  """'AU12', 'au12', 'AU 12' or '12' -> its position in AU_NAMES (UserInputError if unknown)."""
  m = re.fullmatch(r"\s*(?:au)?\s*0*(\d+)\s*", str(name), flags=re.IGNORECASE)
  canonical = f"AU{int(m.group(1)):02d}" if m else str(name).strip()
  if canonical not in AU_NAMES:
    raise UserInputError(
        f"unknown action unit {str(name).strip()!r}; expected one of {', '.join(AU_NAMES)}")
  return AU_NAMES.index(canonical)


def aus_from_dict(values, *, what="AUs"):
  """{AU name: intensity in [0, 1]} -> (17,) float32; the other AUs are 0."""
  out = np.zeros(NUM_AUS, np.float32)
  seen = set()
  for name, value in values.items():
    i = au_index(name)
    if i in seen:
      raise UserInputError(f"{what}: {AU_NAMES[i]} is given twice")
    seen.add(i)
    try:
      v = float(value)
    except (TypeError, ValueError):
      raise UserInputError(
          f"{what}: {AU_NAMES[i]} has value {value!r}; expected a number in [0, 1]") from None
    if not math.isfinite(v) or v < 0.0 or v > 1.0:
      raise UserInputError(
          f"{what}: {AU_NAMES[i]}={value} is outside [0, 1]; intensities are OpenFace's "
          f"0..5 divided by {AU_SCALE:g}")
    out[i] = v
  return out


def parse_aus(spec, *, what="--aus"):
  """'AU12:1.0,AU06:0.8' -> (17,) float32 in [0, 1]; unnamed AUs are 0.

  '=' works as well as ':', names are case-insensitive and 'AU1' means 'AU01'.
  An empty string is the neutral face (all zeros). Unknown AUs, duplicates and
  values outside [0, 1] raise UserInputError.
  """
  values = {}
  for item in str(spec).split(","):
    if not item.strip():
      continue
    parts = re.split(r"[:=]", item)
    if len(parts) != 2 or not parts[1].strip():
      raise UserInputError(
          f"{what}: cannot read {item.strip()!r}; expected NAME:VALUE pairs such as "
          "'AU12:1.0,AU06:0.8'")
    name = parts[0].strip()
    if AU_NAMES[au_index(name)] in values:
      raise UserInputError(f"{what}: {AU_NAMES[au_index(name)]} is given twice")
    values[AU_NAMES[au_index(name)]] = parts[1].strip()
  return aus_from_dict(values, what=what)


def emotion_aus(name, *, intensity=1.0):
  """The EMFACS prototype of an emotion (see EMOTIONS) as (17,) float32, scaled by `intensity`."""
  key = str(name).strip().lower()
  aliases = {"happiness": "happy", "sadness": "sad", "surprised": "surprise",
             "afraid": "fear", "angry": "anger", "disgusted": "disgust"}
  key = aliases.get(key, key)
  if key not in EMOTIONS:
    raise UserInputError(
        f"unknown emotion {name!r}; expected one of {', '.join(sorted(EMOTIONS))}")
  if not 0.0 <= float(intensity) <= 1.0:
    raise UserInputError(f"emotion intensity {intensity} is outside [0, 1]")
  return aus_from_dict(EMOTIONS[key], what=f"emotion {key}") * np.float32(intensity)


def format_aus(aus, *, threshold=0.05):
  """(17,) -> 'AU06:0.80,AU12:1.00' listing the AUs above `threshold` ('neutral' if none)."""
  aus = np.asarray(aus, np.float32).reshape(NUM_AUS)
  items = [f"{n}:{v:.2f}" for n, v in zip(AU_NAMES, aus) if v > threshold]
  return ",".join(items) if items else "neutral"


def tile_aus(aus, height, width):
  """Repeats AU vectors over space: (B, 17) -> (B, H, W, 17), or (17,) -> (H, W, 17).

  A product with a map of ones (exact: x * 1 = x): TFLite converts it to MUL, which
  XNNPACK runs in int8 and the GPU delegate lists; `tf.broadcast_to` became
  BROADCAST_TO, which neither does (6 ms of the int8 generator at 128 px).
  """
  # Imported here so that the AU tables (used by the synthetic-face renderer and the
  # CLIs' flag checks) load without paying TensorFlow's import time.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  aus = tf.convert_to_tensor(aus, tf.float32)
  rank = aus.shape.rank
  if rank == 1:
    out = tf.reshape(aus, [1, 1, -1]) * tf.ones(tf.stack([height, width, 1]))
    static = [height, width, aus.shape[0]]
  elif rank == 2:
    out = (tf.reshape(aus, tf.stack([-1, 1, 1, tf.shape(aus)[1]]))
           * tf.ones(tf.stack([1, height, width, 1])))
    static = [aus.shape[0], height, width, aus.shape[1]]
  else:
    raise ValueError(f"tile_aus expects (17,) or (batch, 17) AUs, got shape {aus.shape}")
  out.set_shape([d if isinstance(d, int) else None for d in static])
  return out


# Intensities of a single-AU sweep (figure 5.4 of the thesis).
SWEEP = (0.0, 0.33, 0.66, 1.0)


def plan_edits(*, emotion=None, aus=None, sweep=None, interpolate=0, source_aus=""):
  """The edits the flags ask for: a list of (name, label, (17,) target AUs), and
  the name of the interpolation they form (None without --interpolate)."""
  chosen = [n for n, v in (("--emotion", emotion), ("--aus", aus), ("--sweep", sweep)) if v]
  if len(chosen) != 1:
    raise UserInputError("expected exactly one of --emotion, --aus, --sweep"
                         + (f"; got {' and '.join(chosen)}" if chosen else ""))
  source = parse_aus(source_aus, what="--source_aus")
  if interpolate and interpolate < 2:
    raise UserInputError(f"--interpolate={interpolate}: expected a number of frames >= 2")
  if emotion:
    names = [e.strip().lower() for e in emotion if e.strip()]
    if names == ["all"]:
      names = sorted(EMOTIONS)
    targets = [(n, n, emotion_aus(n)) for n in names]
  elif aus:
    targets = [("aus", format_aus(parse_aus(aus)), parse_aus(aus))]
  else:
    index = au_index(sweep)
    name = AU_NAMES[index]
    targets = []
    for v in SWEEP:
      target = source.copy()
      target[index] = v
      targets.append((f"{name}_{v:.2f}", f"{name} {v:.2f}", target))
  if not interpolate:
    return targets, None
  if len(targets) != 1:
    raise UserInputError("--interpolate: expected one target (one --emotion, or --aus)")
  name, _, target = targets[0]
  frames = []
  for i in range(interpolate):
    alpha = i / (interpolate - 1)
    frames.append((f"frame_{i:03d}", f"{name} {alpha:.2f}",
                   (alpha * target + (1.0 - alpha) * source).astype(np.float32)))
  return frames, name
