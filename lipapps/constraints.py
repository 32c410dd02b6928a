"""Keeping a weight inside the unit operator-norm ball, by parametrization or by projection.

Every constrained map of the suite calls :func:`constrain_` on its weight once, at construction:

* ``"parametrization"``: ``torch.nn.utils.parametrize`` replaces ``weight`` by
  ``normalize(original)``, so the forward pass is 1-Lipschitz whatever the optimiser does to
  ``original`` (the geotorch pattern).
* ``"projection"``: ``weight`` stays a plain parameter and :func:`project_` (called after every
  optimiser step) maps it back into the ball: the paper's projected gradient descent.
* ``"none"``: unconstrained; only for the baselines of benchmarks (never certified).

Dense maps are divided by ``max(1, (1 + m) c)`` with ``c >= ||W||_2`` a bound proved by a Cholesky
check of a warm-started estimate (:func:`lipapps.spectral.certified_matrix_bounds`); convolutions
with ``k > 1`` by ``max(1, (1 + m) b)`` with ``b`` the smaller of two size-independent bounds, the Gram bound of
:func:`lipapps.spectral.conv_gram_bound` and the frequency-grid bound of
:func:`lipapps.spectral.conv_grid_bound` (within 2% of the exact norm for ``3 x 3`` kernels), the
latter proved each step by a warm-started power step and a Cholesky check at every frequency
(:func:`lipapps.spectral.proved_grid_bound`, at most ``1e-4`` above it).
A ``1 x 1`` convolution is a dense map per pixel. The margin ``m =``
:data:`lipapps.rounding.TRAINING_MARGIN` keeps the float32 weight's norm at most ``1 / (1 + m)``,
far enough below 1 that its float32 rounding and that of the per-step bound cannot lift the
float64 certificate of :func:`lipapps.certify` above 1 (:func:`lipapps.rounding.training_divisor`).

Bounds and divisors stay tensors on the weights' device through a training step: on an
accelerator the per-step bounds run sync-free (:mod:`lipapps.spectral.sync`) and nothing here
reads a value on the host, so the host queues the whole step without waiting for the device.
On the CPU the adaptive bounds run, with the same numbers as before the bounds were tensors.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize

from lipapps import spectral
from lipapps.rounding import training_divisor

CONSTRAINTS = ("parametrization", "projection", "none")
#: Lanczos steps that initialise a weight's singular vector estimate.
COLD_START_STEPS = 32


def check_constraint(constraint: str) -> str:
    """Validate a constraint name."""
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint must be one of {CONSTRAINTS}, got {constraint!r}")
    return constraint


def _is_dense(weight: torch.Tensor) -> bool:
    return weight.dim() == 2 or all(s == 1 for s in weight.shape[2:])


class _UnitBall(nn.Module):
    """State and normalisation shared by both modes for one weight."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.dense = _is_dense(weight)
        gen = torch.Generator().manual_seed(0)
        if self.dense:
            v = torch.randn(min(weight.shape[0], weight[0].numel()), generator=gen)
            self.register_buffer("v", v / v.norm())
            # start the warm-started Lanczos estimate from a converged vector
            matrix = weight.detach().reshape(weight.shape[0], -1)
            spectral.certified_matrix_bounds(matrix[None], self.v[None], steps=COLD_START_STEPS)
        else:
            self.register_buffer("q", torch.full((weight.shape[1],), weight.shape[1] ** -0.5))
            # warm starts of the grid bound's power steps: rebuilt after loading, so not saved
            self.register_buffer("grid_vectors", spectral.grid_vectors(tuple(weight.shape)), persistent=False)

    def scale(self, weight: torch.Tensor, update: bool, bound: torch.Tensor | None = None) -> torch.Tensor:
        """A divisor ``s >= max(1, (1 + m) ||W||)`` (:func:`lipapps.rounding.training_divisor`; a
        tensor, differentiable in ``weight``), computed without reading a value on the host.

        ``bound`` is a checked bound on ``||W||`` already computed for this very ``weight`` (by
        :func:`prepare_parametrizations_`, batched); without it one is computed here.
        """
        if not self.dense:
            return training_divisor(spectral.conv_training_bound(weight, self.q, update, self.grid_vectors))
        w = weight.reshape(weight.shape[0], -1)
        v = self.v if update else self.v.clone()
        if bound is None:
            bound = spectral.training_matrix_bounds(w.detach()[None], v[None])[0]
        divisor = training_divisor(bound)
        # sigma(W) ~ ||W v|| (or ||W^T v||): gradients see the normalisation, as in torch's
        # spectral_norm; the value is the certified bound (1, and no gradient, where it is 1)
        estimate = torch.linalg.vector_norm(w @ v if v.shape[0] == w.shape[1] else w.mT @ v)
        return torch.where(divisor > 1.0, estimate * (estimate.detach().clamp_min(1e-12).reciprocal() * divisor), 1.0)


class UnitNormParametrization(_UnitBall):
    """``W -> W / max(1, (1 + m) c(W))`` with ``c(W) >= ||W||_op`` provable: the image has norm
    ``<= 1 / (1 + m)``, ``m =`` :data:`lipapps.rounding.TRAINING_MARGIN`."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__(weight)
        self.prepared: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        bound = None
        if self.prepared is not None and self.prepared[0] is weight:
            bound = self.prepared[1]
        self.prepared = None
        return weight / self.scale(weight, update=self.training and bound is None, bound=bound)

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return weight


class UnitNormProjection(_UnitBall):
    """In-place ``W <- W / max(1, (1 + m) c(W))`` after an optimiser step (see :func:`project_`)."""

    @torch.no_grad()
    def project_(self, weight: torch.Tensor) -> None:
        weight.div_(self.scale(weight, update=True))


def constrain_(module: nn.Module, name: str, constraint: str) -> nn.Module:
    """Put ``module.<name>`` under ``constraint`` (see the module docstring); returns ``module``."""
    check_constraint(constraint)
    weight = getattr(module, name)
    if constraint == "parametrization":
        parametrize.register_parametrization(module, name, UnitNormParametrization(weight))
    elif constraint == "projection":
        projector = UnitNormProjection(weight)
        module.add_module(f"{name}_projection", projector)
        projector.project_(weight)
    return module


def _projected_weights(model: nn.Module):
    for module_name, module in model.named_modules():
        for child_name, child in list(module.named_children()):
            if isinstance(child, UnitNormProjection):
                weight_name = child_name.removesuffix("_projection")
                yield f"{module_name}.{weight_name}".lstrip("."), child, getattr(module, weight_name)


def projected_weight_norms(model: nn.Module) -> dict[str, float]:
    """Provable norm bounds of every projection-constrained weight (float64 SVD rounded outward for dense maps)."""
    with torch.no_grad():
        return {
            name: spectral.matrix_norm(w) if proj.dense else spectral.conv_norm_certificate(w)
            for name, proj, w in _projected_weights(model)
        }


def _batched_bounds_(members: list[tuple[_UnitBall, torch.Tensor]]) -> torch.Tensor:
    """Checked norm bounds of same-shaped dense weights in one batched call (updates each ``v``);
    a tensor on the weights' device, never read on the host."""
    first = members[0][1].detach()
    shape = (len(members), first.shape[0], first[0].numel())
    matrices = torch.stack(
        [w.detach().reshape(w.shape[0], -1) for _, w in members], out=spectral.workspace("stack", shape, first)
    )
    v = torch.stack([ball.v for ball, _ in members])
    bounds = spectral.training_matrix_bounds(matrices, v)
    for (ball, _), v_b in zip(members, v):
        ball.v.copy_(v_b)
    return bounds


def _group_dense(pairs) -> dict[tuple[int, ...], list[tuple[_UnitBall, torch.Tensor]]]:
    groups: dict[tuple[int, ...], list[tuple[_UnitBall, torch.Tensor]]] = {}
    for ball, weight in pairs:
        if ball.dense:
            groups.setdefault(tuple(weight.shape), []).append((ball, weight))
    return groups


@torch.no_grad()
def prepare_parametrizations_(model: nn.Module) -> None:
    """Compute the bounds of all dense parametrized weights in batched calls, for the next forward.

    The trainer calls it (in training mode) right before materialising the weights inside
    ``parametrize.cached()``; each parametrization then uses its prepared bound once, for the
    exact tensor it was computed from, so the result equals the unbatched computation.
    """
    pairs = []
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for plist in module.parametrizations.values():
                ball = plist[0]
                if isinstance(ball, UnitNormParametrization) and ball.training:
                    pairs.append((ball, plist.original))
    for members in _group_dense(pairs).values():
        for (ball, weight), bound in zip(members, _batched_bounds_(members)):
            ball.prepared = (weight, bound)


@torch.no_grad()
def project_(model: nn.Module) -> nn.Module:
    """Project every projection-constrained weight of ``model`` into the ball of radius ``1 / (1 + m)``.

    Call it after each ``optimizer.step()``. Parametrized and unconstrained maps are left as
    they are, so it is safe (a no-op) on any module of the suite. Works through
    ``DistributedDataParallel`` wrappers. Dense weights of equal shape are certified in one
    batched call. Returns ``model``.
    """
    pairs = [(projector, weight) for _, projector, weight in _projected_weights(model)]
    for projector, weight in pairs:
        if not projector.dense:
            projector.project_(weight)
    for members in _group_dense(pairs).values():
        for (_, weight), bound in zip(members, _batched_bounds_(members)):
            weight.div_(training_divisor(bound))
    return model
