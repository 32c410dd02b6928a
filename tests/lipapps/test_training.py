"""The trainer: seeded, constraint kept, resumable, and DDP equal to a single process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lipapps
from lipapps.demo import LOSS as logistic_loss

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
    assert lipapps.certify(model).upper_bound <= 1.0
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
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", worker, str(double), constraint, kind],
        env=env, timeout=240, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]  # torchrun's and the workers' errors, when it fails
    a, b = torch.load(single, weights_only=True), torch.load(double, weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


def spline_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return lipapps.ConvGradientFlowBlock(1, 4, 3, activation="spline")


def test_parameter_groups_put_splines_at_the_factor():
    model = spline_model()
    groups = lipapps.parameter_groups(model, 1e-3, activation_lr_factor=10.0)
    spline = {id(p) for p in model.modules() if isinstance(p, lipapps.MonotoneSpline) for p in p.parameters()}
    assert [g["lr"] for g in groups] == [1e-3, 1e-2]
    assert {id(p) for p in groups[1]["params"]} == spline and spline
    assert not spline & {id(p) for p in groups[0]["params"]}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    relu = lipapps.LipschitzResNet(2, 1, width=4, depth=1)
    assert [g["lr"] for g in lipapps.parameter_groups(relu, 1e-3, 10.0)] == [1e-3]
    with pytest.raises(ValueError, match="activation_lr_factor"):
        lipapps.parameter_groups(model, 1e-3, 0.0)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_activation_factor_scales_the_splines_learning_rate(schedule):
    """After one Adam step from equal states, the spline parameters moved 10x as far (Adam's steps are ~lr)."""
    moved = {}
    for factor in (1.0, 10.0):
        model = spline_model()
        before = [p.detach().clone() for p in model.activation.parameters()]
        x = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(1))
        lipapps.train(model, lambda m, b: ((m(b) - 0.5 * b) ** 2).flatten(1).sum(1), (x,), epochs=1, batch_size=8, lr=1e-3,
                      activation_lr_factor=factor, schedule=schedule, progress=False)
        moved[factor] = sum(float((p.detach() - b).abs().sum()) for p, b in zip(model.activation.parameters(), before))
    assert moved[10.0] == pytest.approx(10 * moved[1.0], rel=1e-3)


def test_data_drawn_per_epoch(tmp_path):
    """A function of the epoch is called for every epoch, resumes to the same weights, and must keep its size."""
    X, y = lipapps.datasets.make_moons(800, seed=2)
    calls = []

    def draw(epoch):
        calls.append(epoch)
        return X[200 * (epoch % 4) : 200 * (epoch % 4 + 1)], y[200 * (epoch % 4) : 200 * (epoch % 4 + 1)]

    def run(ckpt=None, resume=False, callback=None):
        torch.manual_seed(0)
        model = lipapps.LipschitzResNet(2, 1, width=8, depth=2)
        lipapps.train(model, logistic_loss, draw, epochs=4, batch_size=64, lr=5e-2, seed=1, checkpoint=ckpt, resume=resume,
                      progress=False, callback=callback)
        return model

    full = run()
    assert calls == [0, 1, 2, 3]
    torch.manual_seed(0)
    fixed = lipapps.LipschitzResNet(2, 1, width=8, depth=2)
    lipapps.train(fixed, logistic_loss, (X[:200], y[:200]), epochs=4, batch_size=64, lr=5e-2, seed=1, progress=False)
    assert not torch.equal(full.state_dict()["layers.1.bias"], fixed.state_dict()["layers.1.bias"])

    def crash_in_epoch_three(epoch, model):
        if epoch == 3:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "state.ckpt", callback=crash_in_epoch_three)
    resumed = run(tmp_path / "state.ckpt", resume=True)
    for (k, va), (_, vb) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(va, vb, atol=1e-6), k

    def shrinking(epoch):
        return X[: 200 - epoch], y[: 200 - epoch]

    with pytest.raises(ValueError, match="epoch 1 drew 199 samples, epoch 0 drew 200"):
        lipapps.train(lipapps.LipschitzResNet(2, 1, width=8, depth=2), logistic_loss, shrinking, epochs=2, batch_size=64, lr=1e-2,
                      progress=False)


def test_resume_refuses_an_optimiser_state_of_other_parameter_groups(tmp_path):
    """A state whose optimiser had one group (a trainer without parameter groups) cannot resume a spline model."""
    x = torch.randn(8, 1, 6, 6, generator=torch.Generator().manual_seed(1))

    def run(resume):
        return lipapps.train(spline_model(), lambda m, b: ((m(b) - 0.5 * b) ** 2).flatten(1).sum(1), (x,), epochs=2, batch_size=8,
                             lr=1e-3, checkpoint=tmp_path / "s.ckpt", resume=resume, progress=False)

    run(resume=False)
    state = torch.load(tmp_path / "s.ckpt", weights_only=True)
    groups = state["optimizer"]["param_groups"]
    groups[0]["params"] += groups.pop()["params"]
    state["epoch"] = 1
    torch.save(state, tmp_path / "s.ckpt")
    with pytest.raises(lipapps.CheckpointError, match="parameter groups"):
        run(resume=True)


def test_a_callback_can_stop_training(tmp_path):
    """A true "stop" from the callback ends training after that epoch, checkpoint written."""
    _, result = small_run(tmp_path, epochs=6, callback=lambda epoch, _model: {"stop": epoch == 2})
    assert [r["epoch"] for r in result.history] == [1, 2] and result.history[-1]["stop"]
    assert (tmp_path / "state.ckpt").exists()
