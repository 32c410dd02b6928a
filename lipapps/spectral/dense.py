"""Dense maps: the exact spectral norm for certificates, and provable bounds cheap enough for training.

* :func:`matrix_norm`: ``||W||_2`` by a float64 singular value decomposition, rounded outward
  (:mod:`lipapps.rounding`): what :func:`lipapps.certify` reports;
* :func:`certified_matrix_bounds`: an upper bound ``c >= ||W||_2`` for every optimiser step, a
  warm-started Lanczos (or power) estimate, which is only a *lower* bound, raised by a slack and
  then proved by a Cholesky factorisation of ``c^2 I - W^T W`` (:func:`gram_bound_holds`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F
from scipy.linalg import lapack

from lipapps.rounding import solver_error, sqrt_up, sum_up, tensor_up
from lipapps.spectral.sync import uses_sync_free

#: Relative slacks tried, in order, on a Lanczos estimate before it is checked by
#: Cholesky; the first that passes is used (larger slacks only when the estimate is poor).
POWER_SLACKS = (1e-4, 1e-3, 1e-2, 5e-2)
#: Relative slack of the fast path (one power step from the warm start, one Cholesky check).
FAST_SLACK = 1e-3
#: Lanczos steps on the Gram matrix when the fast path fails (warm-started).
LANCZOS_STEPS = 8
#: Gram matrices up to this size get their top eigenpair from one batched ``eigh`` call
#: instead (fewer, larger operations: faster for small weights).
DIRECT_EIGENVALUE_SIZE = 32
#: Lanczos steps of :func:`sync_free_matrix_bounds`, every step (fewer than the adaptive path's
#: rarer ones: each is a dozen kernel launches; from the warm start, 4 steps kept the certificate
#: of the 784 -> 200, 10-block benchmark model at 0.9996 after 64 projected Adam steps, 8 at 0.9996).
SYNC_FREE_LANCZOS_STEPS = 4
#: Repeated squarings of the Lanczos matrix in :func:`sync_free_matrix_bounds` (its ``2^k``-th power).
SYNC_FREE_SQUARINGS = 8

def matrix_norm(weight: torch.Tensor) -> float:
    """An upper bound on ``||W||_2`` (largest singular value), exact up to float64 rounding.

    The largest singular value of the float64 copy of ``W`` (float32 and float64 weights convert
    exactly) by LAPACK, plus :func:`lipapps.rounding.solver_error` (its backward error moves every
    singular value by at most ``p(m, n) u ||W||_F``), the sum rounded up: a true upper bound, to be
    compared with 1 without tolerance (``docs/math.md``, "Floating point"). Two bounds free of
    solver error replace it where smaller, both evaluated exactly in rational arithmetic: for a
    single row or column ``||W||_2 = ||W||_F``; otherwise ``||W||_2^2 <= ||W||_1 ||W||_inf``
    (Hölder; exact for the identity, permutations and diagonal maps, e.g. the explicit
    constructions of :mod:`lipapps.constructions`), tried when a float64 estimate of it is no larger.
    """
    w = weight.detach().to(torch.float64).reshape(weight.shape[0], -1).cpu()
    sigma = float(torch.linalg.svdvals(w)[0])
    bound = sum_up(sigma, solver_error(w.shape[0], w.shape[1], float(torch.linalg.matrix_norm(w))))
    if min(w.shape) == 1:
        return min(bound, sqrt_up(sum(Fraction(x) ** 2 for x in w.flatten().tolist())))
    magnitudes = w.abs()
    if float(magnitudes.sum(0).max() * magnitudes.sum(1).max()) <= bound * bound:
        return min(bound, sqrt_up(_max_abs_sum(magnitudes) * _max_abs_sum(magnitudes.T)))
    return bound


def _max_abs_sum(magnitudes: torch.Tensor) -> Fraction:
    """``max_i sum_j |W_ij|``, exactly (float64 entries are rationals)."""
    return max(sum(map(Fraction, row), Fraction(0)) for row in magnitudes.tolist())


_WORKSPACES: dict[tuple, torch.Tensor] = {}


def workspace(tag: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A reusable scratch tensor (uninitialised) for the per-step constraint computations.

    Allocating a few MB afresh at every optimiser step costs page faults that, on the CPU, are
    a sizeable share of the constraint's time; these buffers are kept instead (one per tag,
    shape, dtype and device). Never hand a workspace out of the function that filled it.
    """
    key = (tag, tuple(shape), like.dtype, like.device)
    buf = _WORKSPACES.get(key)
    if buf is None:
        buf = _WORKSPACES[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
    return buf


def _gram(w: torch.Tensor) -> torch.Tensor:
    """Gram matrices on the smaller side: ``W^T W`` or ``W W^T`` (same nonzero spectrum); batched.

    The result lives in a :func:`workspace`: it is overwritten by the next call of this shape.
    """
    a, b = (w.mT, w) if w.shape[-2] >= w.shape[-1] else (w, w.mT)
    return torch.matmul(a, b, out=workspace("gram", (*w.shape[:-2], a.shape[-2], a.shape[-2]), w))


def _batched_mv(mats: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
    """``mats[b] @ vecs[b]``; a loop of matrix-vector products beats a one-column ``bmm`` on the CPU,
    one batched product (one kernel launch) is better elsewhere."""
    if mats.device.type == "cpu":
        return torch.stack([m @ x for m, x in zip(mats, vecs)])
    return torch.matmul(mats, vecs.unsqueeze(-1)).squeeze(-1)


def gram_bound_holds(gram: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    """Check ``||W||_2 <= bound`` from ``G = W^T W`` by a Cholesky factorisation of ``bound^2 I - G``.

    ``G`` is positive semidefinite; ``bound^2 I - G`` is positive definite exactly when every
    singular value of ``W`` is below ``bound``, and a Cholesky factorisation exists exactly for
    positive definite matrices. The check runs in the weight's precision: the rounding error of
    a float32 Gram product (measured against float64: below ``5e-7`` in spectral norm for
    unit-norm ``200 x 784``, ``200 x 200`` and ``64 x 64`` weights) is far inside the smallest
    slack callers add (``1e-4`` on ``||W||``, i.e. ``2e-4`` on ``||W||^2``), and
    :func:`lipapps.certify` recomputes every norm exactly in float64. Batched: ``gram`` is
    ``(B, n, n)``, ``bound`` is ``(B,)``; returns booleans ``(B,)``.
    """
    shifted = torch.neg(gram, out=workspace("shifted", gram.shape, gram))
    shifted.diagonal(dim1=-2, dim2=-1).add_((bound * bound)[:, None])
    if shifted.device.type == "cpu" and shifted.dtype in (torch.float32, torch.float64):
        # LAPACK potrf straight on the buffer: torch's cholesky_ex also zeroes the other
        # triangle, which costs as much as the factorisation at these sizes
        potrf = lapack.spotrf if shifted.dtype == torch.float32 else lapack.dpotrf
        info = [potrf(a.T, lower=0, clean=0, overwrite_a=1)[1] for a in shifted.numpy()]
        return torch.tensor(info, device=gram.device) == 0
    _, info = torch.linalg.cholesky_ex(shifted)
    return info == 0


def lanczos_top_(gram: torch.Tensor, v: torch.Tensor, steps: int = LANCZOS_STEPS) -> torch.Tensor:
    """Largest Ritz values of Gram matrices ``(B, n, n)`` from a Krylov space started at ``v``.

    ``steps`` Lanczos steps with full reorthogonalisation build an orthonormal basis ``Q`` of the
    Krylov space; the largest eigenvalue ``theta`` of ``Q^T G Q`` satisfies
    ``theta <= lambda_max(G)`` (Courant-Fischer), so it is an estimate from *below*, and for the
    clustered spectra of near-orthogonal weights it is far closer to ``lambda_max`` than power
    iteration with the same number of products. ``v`` (``(B, n)``) is replaced in place by the
    top Ritz vector, the warm start of the next call. Returns ``theta`` (``(B,)``).
    """
    basis, projected = _krylov(gram, v, steps)
    theta, vectors = torch.linalg.eigh(projected)
    v.copy_(F.normalize((basis @ vectors[..., -1:]).squeeze(-1), dim=-1, eps=1e-12))
    return theta[..., -1]


def _krylov(gram: torch.Tensor, v: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An orthonormal basis ``Q`` (``(B, n, steps)``) of the Krylov space of ``G`` from ``v``, by
    Lanczos with full reorthogonalisation, and ``Q^T G Q`` (symmetrised). Tensor operations only."""
    steps = min(steps, gram.shape[-1])
    basis = torch.zeros(*v.shape, steps, dtype=gram.dtype, device=gram.device)
    q = F.normalize(v, dim=-1, eps=1e-12)
    for j in range(steps):
        basis[..., j] = q
        w = _batched_mv(gram, q)
        for _ in range(2):  # twice is enough (Kahan-Parlett)
            w = w - (basis[..., : j + 1] @ (basis[..., : j + 1].mT @ w.unsqueeze(-1))).squeeze(-1)
        q = F.normalize(w, dim=-1, eps=1e-12) * (w.norm(dim=-1, keepdim=True) > 1e-6)
    projected = basis.mT @ gram @ basis
    return basis, 0.5 * (projected + projected.mT)


def certified_matrix_bounds(weights: torch.Tensor, v: torch.Tensor, steps: int = LANCZOS_STEPS) -> torch.Tensor:
    """Bounds ``c_b >= ||W_b||_2``, each checked, for a batch of matrices ``(B, m, n)``.

    ``G_b = W_b^T W_b`` (the smaller side) is formed once. Then:

    1. fast path: one power step from the warm-started ``v`` (``(B, min(m, n))``, updated in
       place) gives ``s_b^2 = ||G_b v_b|| <= lambda_max(G_b)``; :func:`gram_bound_holds` tests
       ``||W_b||_2 <= s_b (1 + e)`` with ``e = FAST_SLACK`` by one Cholesky factorisation. During
       training the weights move little between calls, ``v`` stays close to the top singular
       vector and this is all that runs: one Gram product and one Cholesky per weight;
    2. the members that fail (and small ``G_b``, up to :data:`DIRECT_EIGENVALUE_SIZE`, whose
       exact top eigenpair ``eigh`` gives cheaply) get a Lanczos estimate (:func:`lanczos_top_`)
       and the slacks of :data:`POWER_SLACKS` in turn, the first that passes is kept;
    3. where none passes (the estimate far off) the exact norm is used.

    Every returned value has passed a Cholesky proof (or is the exact norm), so it is an upper
    bound whatever the estimates were. Batching all same-shaped weights of a model into one call
    is what keeps the constraint's cost a small share of a training step
    (see ``experiments/bench_constraints.py``).
    """
    with torch.no_grad():
        gram = _gram(weights)
        bound = torch.full(gram.shape[:1], math.inf, dtype=gram.dtype, device=gram.device)
        if gram.shape[-1] > DIRECT_EIGENVALUE_SIZE:
            power = _batched_mv(gram, F.normalize(v, dim=-1, eps=1e-12))
            top = power.norm(dim=-1)
            v.copy_(F.normalize(power, dim=-1, eps=1e-12))
            candidate = top.sqrt() * (1.0 + FAST_SLACK)
            bound = torch.where((top > 0) & gram_bound_holds(gram, candidate), candidate, bound)
        open_ = torch.nonzero(torch.isinf(bound)).reshape(-1)
        if open_.numel():
            bound[open_] = _estimated_bounds(weights[open_], gram[open_], v, open_, steps)
        return bound


def sync_free_matrix_bounds(weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Bounds ``c_b >= ||W_b||_2`` for a batch ``(B, m, n)``, by tensor operations alone (no host
    synchronisation; see :mod:`lipapps.spectral.sync`).

    ``G_b = W_b^T W_b`` (the smaller side) is formed once; :data:`SYNC_FREE_LANCZOS_STEPS` Lanczos steps from
    the warm-started ``v`` (``(B, min(m, n))``, replaced in place by the estimate's vector) give
    ``Q^T G_b Q``, whose top eigenvector ``y`` is approximated without an eigensolver (whose
    error check reads a value on the host): the largest column of ``(Q^T G_b Q)^(2^k)``, ``k =``
    :data:`SYNC_FREE_SQUARINGS` repeated squarings. Its Rayleigh quotient ``s_b^2 <=
    lambda_max(G_b)`` (Courant-Fischer) is the estimate. The candidates ``s_b (1 + e)`` for every slack
    ``e`` of :data:`POWER_SLACKS` are checked together, by one batched Cholesky factorisation of
    each ``c^2 I - G_b`` (:func:`gram_bound_holds`), and the smallest proved one is kept. Where
    none is proved, Gershgorin's bound ``lambda_max(G) <= max_i sum_j |G_ij|`` is used: its
    row sums of ``n`` non-negative terms are within ``n eps`` (relative) of exact, and the square
    root is raised by ``(1 + POWER_SLACKS[0])`` for the rounding of ``G`` itself, the margin that
    the Cholesky check relies on. Every value is an upper bound whatever the estimates were;
    the selection uses masks, so nothing is read on the host.
    """
    with torch.no_grad():
        gram = _gram(weights)
        basis, projected = _krylov(gram, v, SYNC_FREE_LANCZOS_STEPS)
        power = projected
        for _ in range(SYNC_FREE_SQUARINGS):
            power = power @ power
            power = power / power.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
        largest = power.diagonal(dim1=-2, dim2=-1).argmax(dim=-1)
        y = F.normalize(torch.gather(power, -1, largest[:, None, None].expand(-1, power.shape[-2], 1)), dim=-2, eps=1e-12)
        top = (y.mT @ projected @ y).reshape(-1).clamp_min(0.0)
        v.copy_(F.normalize((basis @ y).squeeze(-1), dim=-1, eps=1e-12))
        # (slacks, B); built from Python numbers: a tensor copied from the host would synchronise
        candidates = torch.stack([top.sqrt() * (1.0 + slack) for slack in POWER_SLACKS])
        size = gram.shape[-1]
        proved = gram_bound_holds(gram.expand(len(POWER_SLACKS), *gram.shape).reshape(-1, size, size), candidates.reshape(-1))
        proved = proved.reshape(candidates.shape) & (top > 0)
        eps = torch.finfo(gram.dtype).eps
        bound = (gram.abs().sum(dim=-1).amax(dim=-1) * (1.0 + size * eps)).sqrt() * (1.0 + POWER_SLACKS[0])
        for slack in reversed(range(len(POWER_SLACKS))):
            bound = torch.where(proved[slack], candidates[slack], bound)
        return bound


def training_matrix_bounds(weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The per-step bounds of the training constraint: :func:`certified_matrix_bounds` where
    reading a value on the host is free (the CPU), :func:`sync_free_matrix_bounds` elsewhere
    (:func:`lipapps.spectral.sync.uses_sync_free`). Both are proved upper bounds."""
    if uses_sync_free(weights.device):
        return sync_free_matrix_bounds(weights, v)
    return certified_matrix_bounds(weights, v)


def _estimated_bounds(
    weights: torch.Tensor, gram: torch.Tensor, v_all: torch.Tensor, members: torch.Tensor, steps: int
) -> torch.Tensor:
    """Steps 2 and 3 of :func:`certified_matrix_bounds` for the ``members`` of the batch."""
    v = v_all[members]
    if gram.shape[-1] <= DIRECT_EIGENVALUE_SIZE:
        values, vectors = torch.linalg.eigh(gram)
        top = values[..., -1]
        v.copy_(vectors[..., -1])  # the top singular vector: gradients of the normalisation use it
    else:
        top = lanczos_top_(gram, v, steps)
    v_all[members] = v
    sigma = top.clamp_min(0.0).sqrt()
    bound = torch.full_like(sigma, math.inf)
    for slack in POWER_SLACKS:
        open_ = torch.isinf(bound) & (sigma > 0)
        if not bool(open_.any()):
            break
        candidate = sigma * (1.0 + slack)
        passed = open_ & gram_bound_holds(gram, candidate)
        bound = torch.where(passed, candidate, bound)
    for b in torch.nonzero(torch.isinf(bound)).reshape(-1).tolist():
        bound[b] = tensor_up(max(matrix_norm(weights[b]), 1e-12), bound)
    return bound
