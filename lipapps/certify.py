"""Certificates: a provable upper bound and an adversarial lower bound of the Lipschitz constant.

``certify`` multiplies per-layer bounds (Lipschitz constants of a composition multiply, MATH.md):
each constrained layer reports a bound from exact float64 singular values (dense maps) or a
provable convolution bound. ``empirical_lipschitz`` searches for input pairs with a large ratio
``||f(x) - f(y)|| / ||x - y||``; every ratio it reports is attained, so it is a lower bound.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

#: Parameter-free maps that are 1-Lipschitz in l2 (applied coordinate-wise, or permutations of
#: the coordinates such as the pixel (un)shuffles).
ONE_LIPSCHITZ = (nn.ReLU, nn.LeakyReLU, nn.Identity, nn.Flatten, nn.Tanh, nn.Dropout, nn.PixelShuffle, nn.PixelUnshuffle)


@dataclass(frozen=True)
class Certificate:
    """A provable l2 -> l2 Lipschitz bound, with the factors it is the product of."""

    upper_bound: float
    per_layer: list[tuple[str, float]] = field(default_factory=list)

    def __float__(self) -> float:
        return self.upper_bound


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    return getattr(model, "module", model) if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _factors(module: nn.Module, name: str, input_shape: tuple[int, ...] | None) -> list[tuple[str, float]]:
    if hasattr(module, "lipschitz_bound"):
        return [(name, float(module.lipschitz_bound(input_shape)))]
    if isinstance(module, nn.Sequential):
        out: list[tuple[str, float]] = []
        for child_name, child in module.named_children():
            out.extend(_factors(child, f"{name}.{child_name}" if name else child_name, input_shape))
        return out
    if isinstance(module, ONE_LIPSCHITZ):
        return [(name, 1.0)]
    if isinstance(getattr(module, "layers", None), nn.Sequential):
        return _factors(module.layers, f"{name}.layers" if name else "layers", input_shape)
    raise TypeError(
        f"cannot certify {type(module).__name__} ({name or 'model'}): give it a "
        "lipschitz_bound(input_shape) method or build it from nn.Sequential of the suite's layers"
    )


@torch.no_grad()
def certify(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> Certificate:
    """A provable upper bound on the l2 Lipschitz constant of ``model``.

    Dense maps contribute their exact spectral norm (float64 SVD); gradient-flow blocks
    ``max(1, tau ||W||^2 - 1)``; convolutions the bound of :func:`lipapps.layers.conv_norm_bound`
    (size-independent Gram bound, and with ``input_shape = (C, H, W)`` also the exact circular
    norm on the padded grid, whichever is smaller). The factors multiply.

    Modules are traversed through ``nn.Sequential``, a model with a sequential ``layers``
    (as :class:`~lipapps.LipschitzResNet`, whose forward is ``self.layers(x)``), and any module defining
    ``lipschitz_bound(input_shape) -> float`` (for its own composition rule).
    """
    factors = _factors(unwrap(model), "", input_shape)
    return Certificate(upper_bound=math.prod(b for _, b in factors), per_layer=factors)


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1)


def _jacobian_power_iteration(model: nn.Module, x: torch.Tensor, n_iter: int) -> torch.Tensor:
    """``||J(x) v||`` per sample after ``n_iter`` steps of ``v <- J^T J v`` (double backward)."""
    v = torch.randn_like(x)
    v = v / _per_sample_norm(v).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
    gain = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(n_iter):
        xi = x.detach().requires_grad_(True)
        out = model(xi)
        u = torch.zeros_like(out, requires_grad=True)
        (jt_u,) = torch.autograd.grad(out, xi, u, create_graph=True)
        (jv,) = torch.autograd.grad(jt_u, u, v)
        gain = _per_sample_norm(jv)
        (jtjv,) = torch.autograd.grad(out, xi, jv)
        v = jtjv / _per_sample_norm(jtjv).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
    return gain.detach()


def empirical_lipschitz(
    model: nn.Module, x: torch.Tensor, steps: int = 100, lr: float = 1e-2, power_iterations: int = 20, seed: int = 0
) -> float:
    """A lower bound on the Lipschitz constant of ``model`` by adversarial search around ``x``.

    Two searches, both from the points ``x`` (a batch):

    * gradient ascent (Adam) on ``||f(x') - f(y')|| / ||x' - y'||`` over pairs started at
      ``x' = x``, ``y' = x + small noise``; the largest ratio seen is attained by a real pair;
    * power iteration on ``J(x)^T J(x)`` (double backward), giving ``||J(x) v||`` with ``||v|| = 1``,
      a lower bound on the local, hence on the global, Lipschitz constant.

    The search runs on a float64 copy of the model, so that rounding cannot inflate a ratio of
    nearby points. Returns the largest value found; ``model`` itself is not modified.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    model = copy.deepcopy(unwrap(model)).double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = x.detach().double()
    scale = x.detach().flatten(1).std().clamp_min(1e-3)
    a = x.detach().clone().requires_grad_(True)
    b = (x.detach() + 0.1 * scale * torch.randn(x.shape, generator=gen).to(x)).requires_grad_(True)
    opt = torch.optim.Adam([a, b], lr=lr * float(scale))
    best = 0.0
    for _ in range(steps):
        ratio = _per_sample_norm(model(a) - model(b)) / _per_sample_norm(a - b).clamp_min(1e-12)
        best = max(best, float(ratio.detach().max()))
        opt.zero_grad()
        (-ratio.sum()).backward()
        opt.step()
    with torch.no_grad():
        ratio = _per_sample_norm(model(a) - model(b)) / _per_sample_norm(a - b).clamp_min(1e-12)
        best = max(best, float(ratio.max()))
    if power_iterations > 0:
        best = max(best, float(_jacobian_power_iteration(model, x, power_iterations).max()))
    return best
