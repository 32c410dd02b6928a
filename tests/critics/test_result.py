"""W1Estimate.summary: every number of the result, JSON-able, so callers never rebuild it."""

import dataclasses
import json

import numpy as np
import pytest
from torch import nn

from critics.defaults import BoundPlan, TrainingPlan
from critics.gluing import GluedBracket
from critics.result import W1Estimate

MODULES_AND_LOGS = {"critic", "network", "history"}


def estimate(**changes) -> W1Estimate:
    fields = dict(
        lower=1.0, upper=1.25, exact=1.1, heldout=1.05, heldout_ci95=(1.0, 1.1), critic=nn.Identity(),
        network=nn.Identity(), network_lower=0.95, certificate=0.99, history=[{"loss": -1.0}], n_x=10, n_y=12,
        dim=3, seconds=2.5, plan=TrainingPlan(depth=4, lr=0.03, epochs=5, batch_size=16, train_points=17, depths=(4, 2)),
        critic_lower=0.98, coupling_upper=1.3, bounds=BoundPlan(cells=4, envelope=True, refine=False, passes=2),
        glued=GluedBracket(lower=1.0, upper=1.25, centroid_cost=1.05, cells_x=4, cells_y=4, edges=7, seconds=0.1,
                            glued_upper=1.3, passes=2),
    )
    return W1Estimate(**{**fields, **changes})


def test_summary_holds_every_field_but_the_modules_and_the_width():
    result = estimate()
    summary = result.summary()
    numbers = {f.name for f in dataclasses.fields(W1Estimate)} - MODULES_AND_LOGS
    assert set(summary) == numbers | {"width"}
    assert summary["width"] == pytest.approx(0.2)
    assert summary["plan"] == {"depth": 4, "lr": 0.03, "epochs": 5, "batch_size": 16, "train_points": 17,
                               "validation_points": 0, "check_every": 1, "check_from": 1, "patience": 0, "radial": False,
                               "depths": [4, 2]}
    assert summary["bounds"] == {"cells": 4, "envelope": True, "refine": False, "passes": 2, "tolerance": 0.0}
    assert summary["glued"]["upper"] == 1.25 and summary["glued"]["edges"] == 7
    assert summary["heldout_ci95"] == [1.0, 1.1]
    for name in numbers - {"plan", "heldout_ci95", "bounds", "glued"}:
        assert summary[name] == getattr(result, name)
    assert json.loads(json.dumps(summary)) == summary


def test_summary_without_optional_parts():
    summary = estimate(exact=None, heldout=None, heldout_ci95=None, plan=None, glued=None, bounds=None).summary()
    assert summary["exact"] is None and summary["heldout_ci95"] is None and summary["plan"] is None
    assert summary["glued"] is None and summary["bounds"] is None
    assert np.isfinite(summary["width"])
