"""AU error of generated faces (GANimation, Pumarola et al., ECCV 2018, section 6).

An AU regressor estimates the AUs of each generated face; the error is the mean
absolute difference to the AUs the face was asked to show, per AU and overall,
on the [0, 1] scale (OpenFace intensity / 5). On synthetic faces the exact target
image is known too, so L1 and PSNR against it are reported as well.

Targets file (CSV, header required, one row per generated image):
  file                  the generated image's file name (matched by name or stem)
  AU01 ... AU45         the 17 target intensities in [0, 1] (`AU01_r` style names
                        also accepted), or instead
  aus                   the 17 values in one cell, separated by spaces or ';'
Optional: `source` (the input face's file name or id; on synthetic data this
selects the identity for the ground truth), `start_scale`, `expression`, `seed`.
The manifest.csv written by the SinGANimation pipeline has this form.
"""

import csv
import os
import re

import numpy as np
import skimage.metrics

from tfsingan.errors import UserInputError
from tfsingan.ganimation.aus import AU_NAMES, NUM_AUS

TARGETS_HELP = ("expected a CSV with a header: `file` and the 17 columns "
                f"{AU_NAMES[0]}..{AU_NAMES[-1]} (values in [0, 1]), or `file` and `aus` "
                "(17 values separated by spaces or ';')")


def _canonical(name):
  m = re.fullmatch(r"\s*au\s*0*(\d+)(_r)?\s*", name, flags=re.IGNORECASE)
  return f"AU{int(m.group(1)):02d}" if m else name.strip().lower()


def read_targets(path):
  """Reads a targets CSV (see the module docstring).

  Returns:
    list of dicts {"file", "aus" ((17,) float32), plus the other columns as strings}.
  """
  if not path or not os.path.isfile(path):
    raise UserInputError(f"--targets: file not found: {path}; {TARGETS_HELP}")
  with open(path, newline="", encoding="utf-8-sig") as f:
    rows = list(csv.reader(f))
  if len(rows) < 2:
    raise UserInputError(f"--targets: {path} has no data rows; {TARGETS_HELP}")
  header = [_canonical(h) for h in rows[0]]
  if "file" not in header:
    raise UserInputError(f"--targets: {path} has no `file` column; {TARGETS_HELP}")
  au_cols = [header.index(a) if a in header else None for a in AU_NAMES]
  vector_col = header.index("aus") if "aus" in header else None
  if any(c is None for c in au_cols) and vector_col is None:
    missing = [a for a, c in zip(AU_NAMES, au_cols) if c is None]
    raise UserInputError(f"--targets: {path} lacks columns {', '.join(missing)}; {TARGETS_HELP}")
  out = []
  for line, row in enumerate(rows[1:], start=2):
    if not any(cell.strip() for cell in row):
      continue
    if len(row) < len(header):
      raise UserInputError(f"--targets: {path} line {line}: {len(row)} cells, header has "
                           f"{len(header)}")
    try:
      if all(c is not None for c in au_cols):
        values = [float(row[c]) for c in au_cols]
      else:
        values = [float(v) for v in re.split(r"[\s;]+", row[vector_col].strip()) if v]
    except ValueError as e:
      raise UserInputError(f"--targets: {path} line {line}: {e}; {TARGETS_HELP}") from None
    aus = np.asarray(values, np.float32)
    if aus.shape != (NUM_AUS,) or not np.all(np.isfinite(aus)):
      raise UserInputError(f"--targets: {path} line {line}: {aus.size} AU values; "
                           f"expected 17 finite values")
    if aus.min() < 0.0 or aus.max() > 1.0:
      raise UserInputError(f"--targets: {path} line {line}: AU values outside [0, 1]; "
                           "expected OpenFace intensities divided by 5")
    entry = {h: row[i].strip() for i, h in enumerate(header)
             if i < len(row) and h not in AU_NAMES and h != "aus"}
    entry["aus"] = aus
    out.append(entry)
  return out


def match_targets(targets, fake_paths):
  """Pairs each generated image with its target row by file name, then stem.

  Returns (paths, rows) in the order of `fake_paths`; images without a row are an error.
  """
  by_name, by_stem = {}, {}
  for t in targets:
    name = os.path.basename(t["file"])
    by_name[name] = t
    by_stem[os.path.splitext(name)[0]] = t
  rows, missing = [], []
  for p in fake_paths:
    name = os.path.basename(p)
    t = by_name.get(name) or by_stem.get(os.path.splitext(name)[0])
    if t is None:
      missing.append(name)
    rows.append(t)
  if missing:
    raise UserInputError(f"--targets: no target AUs for {len(missing)} generated image(s), "
                         f"e.g. {missing[0]}; every file of --fake needs a row")
  return list(fake_paths), rows


def au_errors(predicted, targets):
  """Absolute error per image and AU: (N, 17) from two (N, 17) arrays."""
  predicted = np.asarray(predicted, np.float64)
  targets = np.asarray(targets, np.float64)
  if predicted.shape != targets.shape or predicted.ndim != 2 or predicted.shape[1] != NUM_AUS:
    raise UserInputError(f"AU arrays of shapes {predicted.shape} and {targets.shape}; "
                         "expected two (N, 17) arrays")
  return np.abs(predicted - targets)


def l1_psnr(image, reference):
  """Mean absolute error and PSNR (dB, peak 1) of two float [0, 1] images."""
  image = np.asarray(image, np.float64)
  reference = np.asarray(reference, np.float64)
  if image.shape != reference.shape:
    raise UserInputError(f"images of different sizes {image.shape} and {reference.shape}")
  l1 = float(np.abs(image - reference).mean())
  if l1 == 0.0:  # skimage would warn about the division by zero
    return l1, float("inf")
  return l1, float(skimage.metrics.peak_signal_noise_ratio(reference, image, data_range=1.0))
