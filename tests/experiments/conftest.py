"""Shared set-up of the tests that run ``experiments/`` scripts as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: ``run_experiment(script, args, data=None, timeout=None)``: the completed process.
RunExperiment = Callable[..., subprocess.CompletedProcess]


def _run_experiment(script: str, args: Sequence[str], data: Path | None = None,
                    timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python experiments/<script> <args>`` from the repository root on one thread, output captured;
    ``data``: the folder ``LIPAPPS_DATA`` names (the scripts' default data paths)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if data is not None:
        env["LIPAPPS_DATA"] = str(data)
    return subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


@pytest.fixture
def run_experiment() -> RunExperiment:
    """:func:`_run_experiment`, for a test to run a script."""
    return _run_experiment
