"""The trainer: seeded, constraint kept, resumable, and DDP equal to a single process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lipapps
from lipapps.demo import logistic_loss

HERE = Path(__file__).parent


def small_run(tmp_path=None, epochs=4, resume=False, constraint="projection", callback=None):
    torch.manual_seed(0)
    X, y = lipapps.datasets.make_moons(400, seed=2)
    model = lipapps.LipschitzResNet(2, 1, width=8, depth=2, constraint=constraint)
    ckpt = tmp_path / "state.ckpt" if tmp_path is not None else None
    result = lipapps.train(
        model, logistic_loss, (X, y), epochs=epochs, batch_size=64, lr=5e-2, seed=1, checkpoint=ckpt, resume=resume, progress=False,
        callback=callback,
    )
    return model, result


@pytest.mark.parametrize("constraint", ["parametrization", "projection"])
def test_training_learns_and_stays_certified(constraint):
    model, result = small_run(epochs=6, constraint=constraint)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert lipapps.certify(model).upper_bound <= 1 + 1e-5
    assert result.seconds_per_epoch > 0 and 0 <= result.constraint_seconds_per_epoch <= result.seconds_per_epoch


def test_same_seed_same_weights():
    a, _ = small_run()
    b, _ = small_run()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_resume_matches_an_uninterrupted_run(tmp_path):
    full, full_result = small_run(epochs=4)

    def crash_in_epoch_three(epoch, model):
        if epoch == 3:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        small_run(tmp_path, epochs=4, callback=crash_in_epoch_three)
    resumed, result = small_run(tmp_path, epochs=4, resume=True)
    assert len(result.history) == 4
    for (k, va), (_, vb) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(va, vb, atol=1e-6), k


def test_resume_refuses_a_foreign_file(tmp_path):
    torch.save({"format": "something else"}, tmp_path / "state.ckpt")
    with pytest.raises(lipapps.CheckpointError):
        small_run(tmp_path, resume=True)


@pytest.mark.parametrize(("constraint", "kind"), [("projection", "dense"), ("parametrization", "dense"), ("parametrization", "conv")])
def test_ddp_two_gloo_processes_match_a_single_process(tmp_path, constraint, kind):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    single, double = tmp_path / "single.pt", tmp_path / "ddp.pt"
    worker = str(HERE / "ddp_worker.py")
    subprocess.run([sys.executable, worker, str(single), constraint, kind], check=True, env=env, timeout=240)
    subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", worker, str(double), constraint, kind],
        check=True, env=env, timeout=240, capture_output=True,
    )
    a, b = torch.load(single, weights_only=True), torch.load(double, weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
