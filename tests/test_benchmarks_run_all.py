"""Tests of benchmarks.run_all (table and JSON assembly, section plans, the CLI on a tiny
section) and of benchmarks.singan_quality's scoring."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import run_all
from benchmarks import singan_quality
from tfsingan.errors import UserInputError
from tfsingan.metrics.diversity import diversity

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ok(result, seconds=1.5, peak=100.0):
  return {"status": "ok", "seconds": seconds, "peak_rss_mb": peak, "result": result}


def _fake_records():
  sizes = [[25, 25], [126, 126], [250, 250]]
  return {
      "singan_speed": _ok({
          "sizes": sizes,
          "rows": [{"scale": 0, "impl": "tfsingan", "mode": "xla", "precision": "float32",
                    "seconds_per_iter": 0.016, "peak_rss_mb": 1474.0},
                   {"scale": 2, "impl": "tfsingan", "mode": "function",
                    "precision": "mixed_bfloat16", "error": "boom"}],
          "summary": {"extrapolated_hours_tfsingan_float32": 15.07}}),
      "ganimation_speed": _ok({
          "image_size": 128, "batch_size": 25, "pytorch_same_run": None,
          "rows": [{"precision": "float32", "jit_compile": False, "critic_s": 2.0,
                    "full_s": 4.5, "avg_s": 2.5, "g_latency_ms": 90.0, "peak_mb": 3920.0}]}),
      "ganimation_pipeline": _ok({"rows": [{"pipeline": "tf.data cached, with AU maps",
                                             "images_per_second": 2271.0}]}),
      "export_latency": _ok({"batch": 1, "quick": False, "models": {"gan": {
          "forms": {"tflite_int8": {"median_ms": 12.5}}, "int8_size_vs_float32": 0.36}}}),
      "gmface_fit": {"status": "failed", "seconds": 3.0, "peak_rss_mb": 50.0,
                     "error": "ValueError: bad m"},
      "singan_quality": _ok({
          "images": {"coffee": {"sizes": [[16, 24], [21, 32]], "train_seconds": 9.0,
                                "per_start_scale": {"0": {"diversity_rgb": 0.25,
                                                          "diversity_gray": 0.3},
                                                    "2": {"skipped": "only 2 scales"}}}},
          "mean": {"0": {"diversity_rgb": 0.25, "diversity_gray": 0.3}},
          "sifid_note": singan_quality.SIFID_SKIPPED, "psnr": float("inf")}),
      "ganimation_quality": {"status": "skipped", "reason": "no GANimation run"},
  }


def test_report_and_table_from_fake_results(tmp_path):
  path = tmp_path / "report.json"
  rows = run_all.write_report(str(path), "quick", _fake_records(), ["a note"])
  report = json.loads(path.read_text())  # standard JSON: inf became null
  assert report["mode"] == "quick" and report["notes"] == ["a note"]
  assert report["failed"] == ["gmface_fit"]
  assert report["total_seconds"] == pytest.approx(5 * 1.5 + 3.0)
  assert report["machine"]["cpu_count"] == os.cpu_count()
  assert "keras" in report["machine"] and "date" in report
  assert report["sections"]["singan_quality"]["result"]["psnr"] is None
  assert len(report["table"]) == len(rows)
  assert report["table"][0] == dict(zip(("section", "metric", "value", "unit"), rows[0]))
  by_metric = {(s, m): (v, u) for s, m, v, u in rows}
  assert by_metric[("singan_speed", "scale 0 (25x25) xla float32")] == (0.016, "s/iter")
  assert by_metric[("singan_speed", "scale 2 (250x250) function mixed_bfloat16")][0] \
      == "ERROR boom"
  assert by_metric[("singan_speed", "full training 250x250 (extrapolated), tfsingan float32")] \
      == (15.07, "h")
  # 25 images per iteration of 2.5 s on average.
  assert by_metric[("ganimation_speed", "train step float32 (128 px, batch 25)")] == (
      pytest.approx(10.0), "images/s")
  assert by_metric[("export_latency", "gan tflite_int8 (batch 1)")] == (12.5, "ms")
  assert by_metric[("gmface_fit", "FAILED")] == ("ValueError: bad m", "")
  assert by_metric[("gmface_fit", "section wall time")] == (3.0, "s")
  assert by_metric[("singan_quality", "coffee start 0 diversity RGB / gray")][0] == "0.25 / 0.3"
  assert by_metric[("singan_quality", "coffee start 2")][0] == "skipped: only 2 scales"
  assert by_metric[("singan_quality", "SIFID")][0].startswith("SIFID skipped: no Inception")
  assert by_metric[("ganimation_quality", "skipped")] == ("no GANimation run", "")
  table = run_all.format_table(rows).splitlines()
  assert table[0].split() == ["section", "metric", "value", "unit"]
  assert len(table) == len(rows) + 2
  assert any(line.startswith("gmface_fit") and "FAILED" in line for line in table)


def test_a_result_the_extractor_cannot_read_still_gives_a_row():
  rows = run_all.table_rows("gmface_fit", _ok({"unexpected": 1}))
  assert rows[0][0] == "gmface_fit" and "could not read the result" in rows[0][2]
  rows = run_all.table_rows("export_latency", _ok({"table": [
      {"metric": "TFLite latency", "value": 3.5, "unit": "ms"}]}))
  assert rows[0] == ("export_latency", "TFLite latency", 3.5, "ms")
  # A section without an extractor: its numeric leaves, booleans left out.
  rows = run_all.table_rows("other", _ok({"a": {"ms": 2.5}, "ok": True, "name": "x"}))
  assert rows[0] == ("other", "a ms", 2.5, "") and len(rows) == 3


def test_error_line_is_the_exception_not_the_end_of_its_message(tmp_path):
  # pylint: disable=protected-access
  log = tmp_path / "s.log"
  log.write_text("progress 1/2\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
                 "tfsingan.errors.UserInputError: --workdir: bad\n  [[1. 2.]\n   3.]]>\n")
  assert run_all._error_line(str(log), 1) == "tfsingan.errors.UserInputError: --workdir: bad"
  log.write_text("killed\n")
  assert run_all._error_line(str(log), -9) == "killed"


def test_section_plans(tmp_path):
  options = {"files_dir": str(tmp_path), "inception_weights": None}
  module, function, quick = run_all.section_plan("singan_speed", True, options)
  assert (module, function) == ("benchmarks.singan_step", "run")
  assert quick["torch_mode"] == "off" and quick["modes"] == ["function"]
  assert quick["scale_modes"] == {"coarse": ["xla"]}
  assert run_all.section_plan("singan_speed", False, options)[2] == {}
  _, _, quality = run_all.section_plan("singan_quality", True, options)
  assert quality["quick"] and quality["out_dir"] == str(tmp_path / "singan_quality")
  assert "--ganimation_workdir" in run_all.section_plan("ganimation_quality", True, options)
  run = tmp_path / "gan"
  run.mkdir()
  (run / "config.json").write_text(json.dumps({"lambda_au": 160.0, "data_dir": "data/x"}))
  _, function, kwargs = run_all.section_plan(
      "ganimation_quality", True, {**options, "ganimation_workdir": str(run)})
  assert function == "evaluate" and kwargs["data_dir"] == "data/x"
  assert kwargs["max_images"] == 100
  present = importlib.util.find_spec("benchmarks.export_latency") is not None
  assert isinstance(run_all.section_plan("export_latency", True, options), tuple) == present
  with pytest.raises(UserInputError, match="unknown section"):
    run_all.section_plan("nope", True, options)


def test_find_ganimation_run(tmp_path):
  assert run_all.find_ganimation_run(str(tmp_path / "missing")) is None
  for name, config in (("singan", {"max_size": 250}), ("old", {"lambda_au": 1.0}),
                       ("new", {"lambda_au": 1.0})):
    (tmp_path / name / "checkpoints").mkdir(parents=True)
    (tmp_path / name / "config.json").write_text(json.dumps(config))
  os.utime(tmp_path / "old" / "checkpoints", (1e9, 1e9))
  assert run_all.find_ganimation_run(str(tmp_path)) == str(tmp_path / "new")


def test_score_samples_diversity_and_sifid():
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.metrics.sifid import SIFID  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)])
  rng = np.random.default_rng(0)
  reference = rng.random((12, 12, 3)).astype(np.float32)
  same = np.stack([reference, reference])
  scores = singan_quality.score_samples(same, reference, SIFID(model=model), "ref")
  assert scores["diversity_rgb"] == 0.0 and scores["sifid_mean"] == pytest.approx(0, abs=1e-6)
  noisy = np.clip(same + rng.normal(0, 0.2, same.shape), 0, 1).astype(np.float32)
  scores = singan_quality.score_samples(noisy, reference, SIFID(model=model), "ref")
  assert scores["num_samples"] == 2
  assert scores["diversity_rgb"] == pytest.approx(diversity(noisy, reference))
  assert scores["diversity_gray"] == pytest.approx(diversity(noisy, reference, gray=True))
  assert scores["sifid_mean"] == pytest.approx(np.mean(scores["sifid"])) and all(
      v > 0 for v in scores["sifid"])
  assert "sifid_mean" not in singan_quality.score_samples(noisy, reference)


@pytest.mark.slow  # 5 min under load: two trainings and six samplings
def test_compare_with_reference_tiny(tmp_path):
  pytest.importorskip("torch")
  import keras  # pylint: disable=import-outside-toplevel
  from tfsingan.metrics.sifid import SIFID  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)])
  # The reference has the paper's widths (32 at these scales): no width overrides here.
  tiny = {"max_size": 32, "min_size": 16, "iterations": 2, "lr_decay_at": 2,
          "checkpoint_every": 2, "image_every": 2}
  result = singan_quality.compare_with_reference(str(tmp_path), SIFID(model=model), ["coffee"],
                                                 num_samples=3, config_overrides=tiny)
  entry = result["images"]["coffee"]
  assert entry["sizes"][-1] == [22, 32]
  assert [(r["image"], r["start_scale"]) for r in result["rows"]] == [
      ("coffee", 0), ("coffee", 1), ("coffee", 2)]
  for row in result["rows"]:
    assert row["sifid_ours"] > 0 and row["sifid_reference"] > 0
    assert row["sifid_ratio"] == pytest.approx(row["sifid_ours"] / row["sifid_reference"])
  mean = result["mean"]["0"]
  assert mean["within_target"] == (mean["sifid_ratio"] <= singan_quality.COMPARE_SIFID_TARGET)
  assert "coffee" in singan_quality.format_comparison(result)
  assert (tmp_path / "coffee" / "grid.png").is_file()
  # Both sides are kept: scoring again reuses them (same numbers, no training).
  again = singan_quality.compare_with_reference(str(tmp_path), SIFID(model=model), ["coffee"],
                                                num_samples=3, config_overrides=tiny,
                                                which=())
  assert again["rows"] == result["rows"]


def _cli(tmp_path, *args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_HOME=str(tmp_path / "keras_home"),
             PYTHONPATH=ROOT)
  # From an empty folder: no runs/ to find a GANimation run or AU regressor in.
  return subprocess.run([sys.executable, "-m", "benchmarks.run_all", *args], cwd=tmp_path,
                        capture_output=True, text=True, env=env, timeout=600)


# Slow: 35 s idle on 2 cores: trains a tiny SinGAN in a subprocess; the section loop is covered by the fast tests above.
@pytest.mark.slow
def test_cli_tiny_singan_quality_and_a_failing_section(tmp_path):
  fake_run = tmp_path / "not_a_run"
  fake_run.mkdir()
  (fake_run / "config.json").write_text(json.dumps({"lambda_au": 1.0, "data_dir": "x"}))
  tiny = {"images": ["coffee"], "num_samples": 3, "config_overrides": {
      "max_size": 32, "min_size": 16, "base_channels": 8, "max_channels": 8,
      "iterations": 4, "checkpoint_every": 4, "image_every": 4}}
  out = tmp_path / "res" / "r.json"
  proc = _cli(tmp_path, "--quick", "--only=singan_quality,ganimation_quality",
              f"--ganimation_workdir={fake_run}", f"--out={out}",
              "--section_args=" + json.dumps({"singan_quality": tiny}))
  assert proc.returncode == 1, proc.stderr  # ganimation_quality fails, the run goes on
  report = json.loads(out.read_text())
  assert list(report["sections"]) == ["singan_quality", "ganimation_quality"]
  assert report["failed"] == ["ganimation_quality"]
  failed = report["sections"]["ganimation_quality"]
  assert failed["status"] == "failed" and "Error" in failed["error"]
  quality = report["sections"]["singan_quality"]
  assert quality["status"] == "ok" and quality["peak_rss_mb"] > 50
  assert quality["cpu_seconds"] > 1.0 and quality["seconds"] > 1.0
  coffee = quality["result"]["images"]["coffee"]
  assert coffee["sizes"][-1] == [22, 32] and len(coffee["sizes"]) == 3
  for k in ("0", "1", "2"):
    scores = coffee["per_start_scale"][k]
    assert scores["num_samples"] == 3
    assert 0.0 < scores["diversity_rgb"] < 5.0 and math.isfinite(scores["diversity_gray"])
  assert quality["result"]["sifid_note"] == singan_quality.SIFID_SKIPPED
  files = out.parent / "r"
  assert (files / "logs" / "singan_quality.log").stat().st_size > 0
  assert (files / "singan_quality" / "coffee" / "grid.png").is_file()
  assert len(os.listdir(files / "singan_quality" / "coffee" / "start2")) == 3
  assert "SIFID skipped: no Inception weights (pass --inception_weights=...)" in proc.stdout
  assert "ganimation_quality  FAILED" in proc.stdout
  assert "coffee start 1 diversity RGB / gray" in proc.stdout


def test_cli_user_errors(tmp_path):
  proc = _cli(tmp_path, "--quick", "--full")
  assert proc.returncode == 2 and "exactly one of --quick" in proc.stderr
  proc = _cli(tmp_path, "--quick", "--only=singan_speed,bogus")
  assert proc.returncode == 2 and "unknown section 'bogus'" in proc.stderr
  proc = _cli(tmp_path, "--quick", f"--inception_weights={tmp_path / 'nope.h5'}")
  assert proc.returncode == 2 and "file not found" in proc.stderr
  proc = _cli(tmp_path, "--quick", "--section_args={bad")
  assert proc.returncode == 2 and "--section_args: not JSON" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_machine_info_says_where_a_benchmark_ran():
  from benchmarks import machine  # pylint: disable=import-outside-toplevel
  info = machine.machine_info(gpus=[])
  for key in ("cpu_model", "cpu_flags", "cpu_count", "load_average", "precision_auto"):
    assert key in info, key
  assert set(info["cpu_flags"]) <= set(machine.FLAGS_OF_INTEREST)
  assert info["cpu_count"] >= 1 and len(info["load_average"]) == 3
  # tests/conftest.py pins --precision=auto to float32 and it is recorded as such.
  assert info["precision_auto"] == "float32"
  assert info["env"]["TFSINGAN_AUTO_PRECISION"] == "float32"
  if "avx2" in machine.precision_lib.read_cpu_flags():
    assert "avx2" in info["cpu_flags"]
