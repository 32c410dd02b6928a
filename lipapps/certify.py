"""Certificates: a provable upper bound and an adversarial lower bound of the Lipschitz constant.

``certify`` multiplies per-layer bounds (Lipschitz constants of a composition multiply, docs/math.md section 2):
each constrained layer reports a bound from float64 singular values rounded outward (dense maps)
or a provable convolution bound, and the product is rounded up. ``empirical_lipschitz`` searches
for input pairs with a large ratio ``||f(x) - f(y)|| / ||x - y||``; every ratio it reports is
attained, so it is a lower bound.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from lipapps.contract import CertifiedModel, LipschitzModule
from lipapps.errors import CertificationError
from lipapps.rounding import product_up

#: Parameter-free maps that are 1-Lipschitz in l2 (applied coordinate-wise, or permutations of
#: the coordinates such as the pixel (un)shuffles). Matched by exact type: a subclass may change
#: the forward.
ONE_LIPSCHITZ = (nn.ReLU, nn.Identity, nn.Flatten, nn.Tanh, nn.PixelShuffle, nn.PixelUnshuffle)


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


def _parameter_free_bound(module: nn.Module) -> float | None:
    """The Lipschitz constant of a known parameter-free map, or ``None`` when it is not one.

    ``LeakyReLU(x) = max(x, s x)`` is 1-Lipschitz for ``|s| <= 1`` (slopes ``1`` and ``s``);
    ``Dropout`` is the identity in eval mode (or with ``p = 0``), but scales the kept
    coordinates by ``1 / (1 - p)`` in training mode.
    """
    kind = type(module)
    if kind in ONE_LIPSCHITZ:
        return 1.0
    if kind is nn.LeakyReLU and abs(module.negative_slope) <= 1.0:
        return 1.0
    if kind is nn.Dropout and (not module.training or module.p == 0.0):
        return 1.0
    return None


def _factors(module: nn.Module, name: str, input_shape: tuple[int, ...] | None) -> list[tuple[str, float]]:
    if isinstance(module, CertifiedModel) and module.composition is not None:
        part = module.composition
        return _factors(getattr(module, part), f"{name}.{part}" if name else part, input_shape)
    if isinstance(module, LipschitzModule):
        return [(name, float(module.lipschitz_bound(input_shape)))]
    if type(module) is nn.Sequential:
        out: list[tuple[str, float]] = []
        for child_name, child in module.named_children():
            out.extend(_factors(child, f"{name}.{child_name}" if name else child_name, input_shape))
        return out
    bound = _parameter_free_bound(module)
    if bound is not None:
        return [(name, bound)]
    raise CertificationError(
        f"cannot certify {type(module).__qualname__} ({name or 'the model'}): it is not a lipapps.LipschitzModule, an "
        "nn.Sequential, or a known 1-Lipschitz map (ReLU, LeakyReLU with |slope| <= 1, Dropout in eval mode, ...)"
    )


@torch.no_grad()
def certify(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> Certificate:
    """A provable upper bound on the l2 Lipschitz constant of ``model``.

    Dense maps contribute their spectral norm (float64 SVD, rounded outward); gradient-flow blocks
    ``max(1, tau ||W||^2 - 1)``; convolutions the bound of :func:`lipapps.layers.conv_norm_bound`
    (size-independent Gram bound, and with ``input_shape = (C, H, W)`` also the circular norm on
    the padded grid, whichever is smaller). The factors multiply, exactly in rational arithmetic,
    and the product is rounded up: the result is a true upper bound, to be compared with 1
    without tolerance (``docs/math.md``, "Floating point").

    A module is bounded only through what it declares (:mod:`lipapps.contract`): a
    :class:`~lipapps.contract.CertifiedModel` with a ``composition`` is the product of that
    sequence's factors, any other :class:`~lipapps.contract.LipschitzModule` reports its own
    ``lipschitz_bound``, an ``nn.Sequential`` is the product of its children, and the
    parameter-free maps of :data:`ONE_LIPSCHITZ` (with ``LeakyReLU`` of slope at most 1 in
    absolute value, ``Dropout`` in eval mode) count 1. Raises
    :class:`~lipapps.errors.CertificationError` for any other module instead of assuming a bound.
    """
    factors = _factors(unwrap(model), "", input_shape)
    return Certificate(upper_bound=product_up(*(b for _, b in factors)), per_layer=factors)


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
