"""The convex-ridge prox denoiser: its a-posteriori bound, firm non-expansiveness, convexity, training."""

from __future__ import annotations

import pytest
import torch

import lipapps
from lipapps.layers import conv_norm_bound

from denoisers.model import CONVEX_RIDGE, AveragedDenoiser
from denoisers.prox import ProxDenoiser
from denoisers.prox_training import train_prox_denoiser, unroll_steps


def small_model(seed: int = 0, strength: float = 4.0, scale: float = 2.0) -> ProxDenoiser:
    """A float64 prox denoiser with random filters and random spline slopes in (0, 1)."""
    torch.manual_seed(seed)
    model = ProxDenoiser(hidden_channels=6, kernel_size=5, tol=1e-8, max_iter=5000)
    with torch.no_grad():
        spline = model.potential.activation
        spline.slope_logits.normal_(0.0, 3.0)
        spline.end_logits.normal_(0.0, 3.0)
        model.potential.bias.normal_(0.0, 0.1)
    model.set_rule(strength, scale)
    return model.double()


def images(batch: int, size: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 1, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_error_bound_holds_against_a_solve_to_1e_10():
    model = small_model()
    y = images(4)
    reference = model.solve(y, tol=1e-10)
    assert bool(reference.converged.all())
    for tol in (1e-1, 1e-2, 1e-4):
        solution = model.solve(y, tol=tol)
        distance = (solution.x - reference.x).flatten(1).norm(dim=1)
        assert bool(solution.converged.all()) and bool((solution.error_bound <= tol).all())
        assert bool((distance <= solution.error_bound + reference.error_bound).all()), (distance, solution.error_bound)
    # a loose tolerance stops earlier, and the bound is not vacuous there
    assert bool((model.solve(y, tol=1e-1).iterations < reference.iterations).all())


def test_solution_satisfies_the_optimality_condition():
    """``x = y - lambda grad R_mu(x)`` at the prox (checked against the gradient formula, independently)."""
    model = small_model(seed=2)
    y = images(2, seed=3)
    x = model.solve(y, 25.0, tol=1e-11).x
    lam, mu = model.strength(torch.tensor(25.0)), model.scale(torch.tensor(25.0))
    block = model.potential
    k = block.weight.detach()
    response = torch.nn.functional.conv2d(mu * x, k, block.bias, padding=2)
    gradient = torch.nn.functional.conv_transpose2d(block.activation(response), k, padding=2) / mu
    assert torch.allclose(x, y - lam * gradient, atol=1e-10)


def test_converged_prox_is_firmly_non_expansive_on_random_pairs():
    model = small_model(seed=4)
    y, y2 = images(16, seed=5), images(16, seed=6)
    for first, second in ((y, y2), (y, y + 1e-3 * images(16, seed=7))):
        a, b = model.solve(first, tol=1e-10), model.solve(second, tol=1e-10)
        diff, step = (a.x - b.x).flatten(1), (first - second).flatten(1)
        slack = (a.error_bound + b.error_bound) * (diff.norm(dim=1) + step.norm(dim=1) + 1)
        assert bool(((diff**2).sum(1) <= (diff * step).sum(1) + slack).all())


def test_adversarial_search_does_not_beat_the_inexact_bound():
    """Gradient ascent on ``||D(y) - D(y')|| / ||y - y'||`` through the unrolled solver; the pair it finds
    is then solved: the ratio stays below ``1 + (e(y) + e(y')) / ||y - y'||``."""
    model = small_model(seed=8, strength=8.0, scale=4.0)
    y = images(2, size=8, seed=9)
    delta = (1e-2 * images(2, size=8, seed=10)).requires_grad_()
    optimiser = torch.optim.Adam([delta], lr=1e-3)
    for _ in range(30):
        with torch.nn.utils.parametrize.cached():  # K materialised once per step, as in training
            gap = model.unrolled(y + delta, steps=60) - model.unrolled(y, steps=60)
        ratio = gap.flatten(1).norm(dim=1) / delta.flatten(1).norm(dim=1)
        optimiser.zero_grad()
        (-ratio.sum()).backward()
        optimiser.step()
    with torch.no_grad():
        a, b = model.solve(y + delta, tol=1e-3), model.solve(y, tol=1e-3)
        distance = delta.flatten(1).norm(dim=1)
        ratio = (a.x - b.x).flatten(1).norm(dim=1) / distance
        assert bool((ratio <= 1 + (a.error_bound + b.error_bound) / distance).all())
        assert bool((ratio > 0.5).all())  # the search found a pair that the prox barely contracts


def test_potential_is_convex_for_any_parameters():
    """The spline ``s = psi'`` has slopes in [0, 1] whatever its parameters: ``psi`` convex, ``psi'' <= 1``."""
    model = small_model()
    spline = model.potential.activation
    with torch.no_grad():
        spline.slope_logits.normal_(0.0, 50.0)
        spline.end_logits.fill_(-1e4)
    slopes = spline.slopes()
    assert bool(((slopes >= 0) & (slopes <= 1)).all())
    z = torch.linspace(-1, 1, 2001, dtype=torch.float64).view(1, -1, 1).expand(6, -1, -1).transpose(0, 1).reshape(-1, 6)
    s = spline(z[:, :, None, None])[:, :, 0, 0]
    increments = (s[1:] - s[:-1]) / (z[1:] - z[:-1])
    assert bool((increments >= -1e-12).all()) and bool((increments <= 1 + 1e-9).all())


def test_from_ridge_matches_the_one_step_denoiser_at_small_lambda():
    """``prox(y) = y - lambda grad R(prox(y))`` is within ``lambda ||prox(y) - y||`` of the gradient step
    ``y - lambda grad R(y)`` (``grad R`` is 1-Lipschitz), which the ridge model computes with ``lambda = a tau``."""
    torch.manual_seed(0)
    ridge = AveragedDenoiser(**CONVEX_RIDGE).double()
    model = ProxDenoiser.from_ridge(ridge).double()
    assert float(model.strength(torch.tensor(7.0)).detach()) == pytest.approx(0.99 * 2.0)
    y = images(2, size=20)
    lam = 0.05
    model.set_rule(lam, 1.0)
    with torch.no_grad():
        step = y - lam / (0.99 * 2.0) * (y - ridge(y))
    x = model.solve(y, tol=1e-12).x
    gap = (x - step).flatten(1).norm(dim=1)
    assert bool((gap <= lam * (x - y).flatten(1).norm(dim=1) + 1e-10).all())
    assert bool((gap > 0).all())


def test_rules_are_log_linear_and_fit_exactly():
    model = ProxDenoiser(hidden_channels=2, kernel_size=3)
    model.set_rule(5.0, 2.0, 1.0, -0.5)
    sigma = torch.tensor([12.5, 25.0, 100.0])
    assert torch.allclose(model.strength(sigma), torch.tensor([2.5, 5.0, 20.0]))
    assert torch.allclose(model.scale(sigma), torch.tensor([2 * 2**0.5, 2.0, 1.0]))
    model.fit_rule([10, 40], [2.0, 8.0], [3.0, 3.0])
    assert float(model.strength(torch.tensor(20.0)).detach()) == pytest.approx(4.0, rel=1e-5)
    assert float(model.scale(torch.tensor(33.0)).detach()) == pytest.approx(3.0, rel=1e-5)


def test_per_image_noise_levels_and_bad_input():
    model = small_model()
    y = images(2)
    both = model.solve(y, torch.tensor([10.0, 40.0]), tol=1e-9)
    assert torch.allclose(both.x[1:], model.solve(y[1:], 40.0, tol=1e-9).x, atol=1e-8)
    with pytest.raises(ValueError):
        model.solve(y, -1.0)
    with pytest.raises(ValueError):
        model.solve(y[:, 0])


def test_save_load_round_trip_and_refuses_a_broken_certificate(tmp_path):
    model = ProxDenoiser(hidden_channels=3, kernel_size=3, sigma=15.0, constraint="projection")
    model.set_rule(3.0, 1.5, 0.5, 0.2)
    path = lipapps.save(model, tmp_path / "prox.pt")
    loaded = lipapps.load(path)
    y = torch.rand(1, 1, 10, 10)
    assert torch.equal(loaded(y), model(y)) and loaded.sigma == 15.0
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["potential.weight"] = payload["state_dict"]["potential.weight"] * 10
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(lipapps.CheckpointError):
        lipapps.load(tmp_path / "broken.pt")


def test_unroll_schedule():
    assert [unroll_steps(e, 4, (5, 20)) for e in range(4)] == [5, 10, 15, 20]
    assert unroll_steps(0, 1, (5, 20)) == 20


def test_training_keeps_the_certificate_and_resumes_to_the_same_weights(tmp_path, make_image, monkeypatch):
    import denoisers.prox_training as prox_training
    from denoisers.images import write_image

    for i in range(4):
        write_image(tmp_path / f"im{i}.png", make_image(48, seed=i))

    def run(resume: bool) -> ProxDenoiser:
        torch.manual_seed(0)
        model = ProxDenoiser(hidden_channels=4, kernel_size=5, tol=1e-2, max_iter=50)
        train_prox_denoiser(tmp_path, model, epochs=2, steps=(2, 4), patch_size=16, patches_per_image=2, batch_size=4,
                            lr=1e-2, validation_images=1, validation_crop=32, validation_sigmas=(25.0,),
                            checkpoint=tmp_path / "ckpt", resume=resume, progress=False)
        return model

    start = ProxDenoiser(hidden_channels=4, kernel_size=5)
    whole = run(resume=False)
    assert conv_norm_bound(whole.potential.weight, None) <= 1.0
    assert not torch.equal(whole.potential.bias, start.potential.bias)
    (tmp_path / "ckpt").unlink()
    calls = []
    real = prox_training.psnr_per_image

    def stop_in_second_epoch(*args):
        calls.append(1)
        if len(calls) == 2:  # the second epoch's validation, before its checkpoint
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(prox_training, "psnr_per_image", stop_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(resume=False)
    monkeypatch.setattr(prox_training, "psnr_per_image", real)
    resumed = run(resume=True)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_forward_is_nonexpansive_for_any_number_of_steps():
    model = small_model(seed=5, strength=8.0, scale=4.0)
    torch.manual_seed(5)
    y = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    model = model.double()
    for steps in (1, 7, 60):
        delta = 1e-2 * torch.randn_like(y)
        worst = 0.0
        for _ in range(30):  # ascend the ratio along random directions and its own gradient
            delta.requires_grad_(True)
            ratio = (model.descend(y + delta, steps=steps) - model.descend(y, steps=steps)).norm() / delta.norm()
            (grad,) = torch.autograd.grad(ratio, delta)
            worst = max(worst, float(ratio.detach()))
            delta = (delta + 1e-2 * grad / grad.norm()).detach()
        assert worst <= 1.0
    converged = model.solve(y, tol=1e-10).x
    assert (model.descend(y, steps=2000) - converged).norm() <= 1e-6
    assert model.lipschitz_bound() == 1.0 and torch.equal(model(y), model.descend(y))
