"""Test configuration: slow tests are opt-in (--runslow).

The command-line modules (tfsingan.train, sample, evaluate, animate, ...) define
absl flags when imported, several with the same names (--workdir, --out), so one
test process may import at most one of them: tests run the others as subprocesses,
and testable logic lives in library modules.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top


def pytest_addoption(parser):
  parser.addoption("--runslow", action="store_true", default=False,
                   help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
  if config.getoption("--runslow"):
    return
  skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
  for item in items:
    if "slow" in item.keywords:
      item.add_marker(skip_slow)
