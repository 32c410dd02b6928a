"""Shared set-up of the tests that run ``experiments/`` scripts as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from denoisers.images import write_image

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


@pytest.fixture
def train400_stand_in(tmp_path: Path) -> Path:
    """A folder of ten smooth random 32 x 32 images in place of train400 (the 0.1 validation split
    of ``denoisers.training.validation_files`` keeps one), for the tuning scripts."""
    gen = torch.Generator().manual_seed(0)
    for i in range(10):
        image = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 36, 36, generator=gen), 5, stride=1)
        write_image(tmp_path / "train" / f"{i}.png", image[0, 0])
    return tmp_path / "train"
