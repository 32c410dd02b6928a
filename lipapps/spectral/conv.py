"""Convolutions: circular norms for certificates, provable size-independent bounds for training.

* :func:`circular_conv_norm`: the norm of the circular convolution on a given grid, exact up to
  float64 rounding and rounded outward (largest
  singular value of the transfer matrices over the DFT frequencies; Sedghi, Gupta, Long 2019);
  zero padding on a smaller image is a compression of it, so it bounds that too;
* :func:`conv_gram_bound`, :func:`conv_grid_bound`, :func:`proved_grid_bound`: bounds valid for
  every image size (Gram-kernel Perron bound; the sup over a frequency grid with its proved slack),
  cheap enough for every optimiser step (Delattre, Barthelemy, Araujo, Allauzen 2023);
* power iterations give *lower* estimates, only ever a starting guess that a Cholesky check
  (:func:`lipapps.spectral.dense.gram_bound_holds`) confirms or replaces.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F

from lipapps.rounding import UNIT_ROUNDOFF, down, fft_error, round_up, solver_error, sqrt_up, sum_error, sum_up
from lipapps.spectral.dense import POWER_SLACKS, gram_bound_holds
from lipapps.spectral.sync import uses_sync_free

#: Relative slack on the grid bound's power estimate before the Cholesky proof.
GRID_SLACK = 1e-4
#: Frequencies whose exact top eigenvalue :func:`proved_grid_bound` computes when the warm start fails.
GRID_RETRY_FREQUENCIES = 8
#: Frequencies per axis of the grid on which :func:`conv_grid_bound` samples a convolution
#: during training; its slack is ``1 / cos(pi (n_h + n_w) / CONV_GRID)`` (1.96% for 3 x 3 kernels).
CONV_GRID = 32


def conv_gram_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """The kernel of ``K^T K`` for a stride-1 convolution ``K`` (shape ``c_out x c_in x k x k``).

    ``C[i, j, d] = sum_{o, p} K[o, i, p + d] K[o, j, p]``: the transfer matrix of ``K^T K`` at
    frequency ``w`` is ``M(w) = sum_d C[:, :, d] exp(i w d)``. Shape ``c_in x c_in x (2k-1)^2``.
    """
    kt = kernel.transpose(0, 1)  # c_in x c_out x kh x kw
    kh, kw = kernel.shape[-2:]
    return F.conv2d(kt, kt, padding=(kh - 1, kw - 1))


def conv_gram_bound(kernel: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
    """Provable bound on the operator norm of a stride-1 convolution, for every image size.

    With ``A[i, j] = sum_d |C[i, j, d]|`` (see :func:`conv_gram_kernel`) and any positive ``q``,

        ``||K||^2 = sup_w lambda_max(M(w)) <= sup_w rho(|M(w)|) <= rho(A) <= max_i (A q)_i / q_i``

    (``|M(w)| <= A`` entrywise, monotonicity of the Perron root, and the Collatz-Wielandt
    bound). The operator with zero padding on an ``n x n`` image is a compression of the
    circular one on a larger grid, whose norm is ``sup_w`` over that grid's frequencies
    (Sedghi, Gupta, Long 2019), so the bound holds for zero and circular padding and all sizes.
    It is exact for orthogonal convolutions (``A = I``) and differentiable in ``kernel``.
    ``q`` defaults to ones (Gershgorin); the Perron vector of ``A`` makes it ``rho(A)``.
    Returns ``sqrt`` of the bound, i.e. a bound on ``||K||`` itself.
    """
    return _collatz_bound(_abs_gram_matrix(conv_gram_kernel(kernel)), q)


def _abs_gram_matrix(gram_kernel: torch.Tensor) -> torch.Tensor:
    """``A[i, j] = sum_d |C[i, j, d]|`` for the Gram kernel ``C`` of :func:`conv_gram_kernel`."""
    return gram_kernel.abs().sum(dim=(-2, -1))


def _collatz_bound(a: torch.Tensor, q: torch.Tensor | None) -> torch.Tensor:
    """``sqrt(max_i (A q)_i / q_i)`` (row sums for ``q = None``): the bound of :func:`conv_gram_bound`."""
    row = a.sum(dim=1) if q is None else (a @ q) / q
    return row.max().clamp_min(1e-24).sqrt()


def conv_perron_bound(kernel: torch.Tensor) -> float:
    """``sqrt(rho(A))`` for the matrix ``A`` of :func:`conv_gram_bound`, in float64, rounded outward.

    ``A`` is symmetric and non-negative, so its Perron root is its largest eigenvalue. It is the
    tightest value of the bound of :func:`conv_gram_bound` (no ``q`` does better), so it never
    exceeds what training enforced: the certificate for convolutions when no image size is given.
    The float64 value is raised by :func:`_perron_root`'s error bound: a true upper bound.
    """
    k64 = kernel.detach().to(torch.float64).cpu()
    return sqrt_up(_perron_root(k64, conv_gram_kernel(k64)))


def _gram_kernel_error(kernel: torch.Tensor) -> float:
    """Bound on ``sum_d ||fl(C_d) - C_d||_F`` for the float64 Gram kernel of :func:`conv_gram_kernel`.

    Each entry ``C[i, j, d]`` is a sum of ``c_out T`` products (``T`` taps) whose absolute values sum
    to at most ``||K[:, i]|| ||K[:, j]||`` (Cauchy-Schwarz), so its error is at most
    ``sum_error(c_out T, ||K[:, i]|| ||K[:, j]||)``; summed over the ``D = (2k_h - 1)(2k_w - 1)``
    shifts and taken in Frobenius norm over ``(i, j)``: ``D sum_error(c_out T, ||K||_F^2)``. It
    bounds both the error of ``A = sum_d |C_d|`` and that of every ``G(w) = sum_d C_d e^{i w d}``.
    """
    taps = kernel.shape[-2] * kernel.shape[-1]
    shifts = (2 * kernel.shape[-2] - 1) * (2 * kernel.shape[-1] - 1)
    return round_up(shifts * Fraction(sum_error(kernel.shape[0] * taps, float(kernel.square().sum()))))


def _perron_root(kernel: torch.Tensor, gram_kernel: torch.Tensor) -> float:
    """An upper bound on ``rho(A)``, ``A[i, j] = sum_d |C[i, j, d]|`` (``C`` the Gram kernel of the
    float64 ``kernel``): the largest eigenvalue of the computed ``A`` plus the errors of forming
    ``C`` (:func:`_gram_kernel_error`), of the sums over ``d`` (:func:`lipapps.rounding.sum_error`)
    and of ``eigvalsh`` (:func:`lipapps.rounding.solver_error`); by Weyl's inequality the largest
    eigenvalue moves by at most the spectral norm, hence the Frobenius norm, of each error."""
    a = _abs_gram_matrix(gram_kernel)
    frobenius = float(torch.linalg.matrix_norm(a))
    shifts = gram_kernel.shape[-2] * gram_kernel.shape[-1]
    top = float(torch.linalg.eigvalsh(a)[-1].clamp_min(0.0))
    return sum_up(top, _gram_kernel_error(kernel), sum_error(shifts, frobenius), solver_error(a.shape[0], a.shape[1], frobenius))


def perron_vector_(kernel: torch.Tensor, q: torch.Tensor, n_iter: int = 1) -> None:
    """Advance the positive weights ``q`` of :func:`conv_gram_bound` towards ``A``'s Perron vector."""
    with torch.no_grad():
        _advance_perron_(_abs_gram_matrix(conv_gram_kernel(kernel)), q, n_iter)


def _advance_perron_(a: torch.Tensor, q: torch.Tensor, n_iter: int = 1) -> None:
    for _ in range(n_iter):
        q.copy_(F.normalize(a @ q + 1e-6, dim=0))


def _grid_gram(gram_kernel: torch.Tensor, grid: int) -> torch.Tensor:
    """``G(w) = K^(w)^H K^(w)`` (up to transposition) at the frequencies of a ``grid x grid`` DFT.

    The FFT of the Gram kernel of :func:`conv_gram_kernel` (``c_in x c_in x (2k_h - 1) x
    (2k_w - 1)``, zero shift at ``(k_h - 1, k_w - 1)``), times the phase that moves the zero shift
    to the origin, so that every ``G(w)`` is Hermitian; on half the grid only: the kernel is
    real, so ``G(-w)`` is the complex conjugate of ``G(w)`` and has the same eigenvalues. Shape
    ``(frequencies, c_in, c_in)``, positive semidefinite.
    """
    size_h, size_w = gram_kernel.shape[-2:]
    transfer = torch.fft.rfft2(gram_kernel, s=(grid, grid))
    freq_h = torch.arange(grid, device=gram_kernel.device, dtype=torch.float64)
    freq_w = torch.arange(grid // 2 + 1, device=gram_kernel.device, dtype=torch.float64)
    shift = torch.exp(2j * math.pi * ((size_h - 1) // 2 * freq_h[:, None] + (size_w - 1) // 2 * freq_w[None, :]) / grid)
    transfer = transfer * shift.to(transfer.dtype)
    return transfer.permute(2, 3, 0, 1).reshape(-1, gram_kernel.shape[0], gram_kernel.shape[1])


def grid_slack(kernel_shape: tuple[int, ...], grid: int) -> float:
    """``cos(pi (n_h + n_w) / grid)`` with ``n = (k - 1) / 2``: what :func:`conv_grid_bound` divides by."""
    degrees = sum((k - 1) / 2 for k in kernel_shape[-2:])
    angle = math.pi * degrees / grid
    if not angle < math.pi / 2:
        raise ValueError(f"a grid of {grid} frequencies is too coarse for a {kernel_shape[-2]}x{kernel_shape[-1]} kernel")
    return math.cos(angle)


def conv_grid_bound(kernel: torch.Tensor, grid: int = CONV_GRID) -> torch.Tensor:
    """Provable bound on a stride-1 convolution's norm for every image size, from a frequency grid.

    The norm for zero or circular padding and any image size is at most
    ``S = sup_w ||F(w)||``, ``F(w) = sum_p K[:, :, p] exp(-i w . (p - c))`` the transfer matrix
    with the taps centred at ``c`` (Sedghi, Gupta, Long 2019; the phase changes no norm), a
    trigonometric polynomial of degree ``n_h = (k_h - 1) / 2`` in ``w_1`` and ``n_w`` in ``w_2``.
    For unit vectors ``u, e``, ``t(w) = Re e^H F(w) u`` is a real trigonometric polynomial of the
    same degrees with ``|t| <= S``, so by the van der Corput-Schaake inequality
    ``t'^2 + n^2 t^2 <= n^2 S^2`` along each axis, ``arccos(t / S)`` changes by at most ``n`` per
    radian along that axis. Take ``(w*, u, e)`` where ``t = S``: the grid point nearest ``w*`` is
    within ``pi / grid`` along each axis, so there ``||F|| >= t >= S cos(pi (n_h + n_w) / grid)``.
    Hence ``S <= max_grid ||F|| / cos(pi (n_h + n_w) / grid)``: 1.96% above the grid maximum for
    ``3 x 3`` kernels on 32 frequencies, 0.48% on 64, and exact in the limit.

    The grid maximum is the largest eigenvalue of :func:`_grid_gram` over the grid (``eigvalsh``);
    the returned tensor is differentiable in ``kernel`` through the maximising frequency.
    Returns a bound on ``||K||`` (not its square), in the kernel's precision.
    """
    return _grid_bound(conv_gram_kernel(kernel), tuple(kernel.shape), grid)


def _grid_top_eigenvalues(gram_kernel: torch.Tensor, grid: int) -> torch.Tensor:
    """``lambda_max(G(w)) = ||K^(w)||^2`` at every frequency of :func:`_grid_gram` (no gradient)."""
    with torch.no_grad():
        return torch.linalg.eigvalsh(_grid_gram(gram_kernel.detach(), grid))[:, -1]


def _grid_bound(gram_kernel: torch.Tensor, kernel_shape: tuple[int, ...], grid: int) -> torch.Tensor:
    """:func:`conv_grid_bound` from the kernel's Gram kernel (differentiable through it)."""
    row, col = divmod(int(_grid_top_eigenvalues(gram_kernel, grid).argmax()), grid // 2 + 1)
    value = torch.linalg.eigvalsh(_gram_at_frequency(gram_kernel, grid, row, col))[-1].clamp_min(0.0)
    return value.sqrt() / grid_slack(kernel_shape, grid)


def _gram_at_frequency(gram_kernel: torch.Tensor, grid: int, row: int, col: int) -> torch.Tensor:
    """``G(w)`` of :func:`_grid_gram` at one frequency of the grid, differentiable in ``gram_kernel``."""
    kh, kw = (s // 2 + 1 for s in gram_kernel.shape[-2:])
    complex_dtype = torch.complex128 if gram_kernel.dtype == torch.float64 else torch.complex64
    shifts = [torch.arange(1 - k, k, device=gram_kernel.device, dtype=torch.float64) for k in (kh, kw)]
    dh, dw = (torch.exp(-2j * math.pi * f * d / grid).to(complex_dtype) for f, d in zip((row, col), shifts))
    return torch.einsum("ijab,a,b->ij", gram_kernel.to(complex_dtype), dh, dw)


def grid_vectors(kernel_shape: tuple[int, ...], grid: int = CONV_GRID) -> torch.Tensor:
    """Start vectors for :func:`proved_grid_bound`: one per frequency of the half grid, on the smaller side."""
    side = min(kernel_shape[0], kernel_shape[1])
    return torch.full((grid * (grid // 2 + 1), side), side**-0.5, dtype=torch.complex64)


def _smaller_side(kernel: torch.Tensor) -> torch.Tensor:
    """``kernel``, or the kernel of its adjoint when that has fewer input channels (same norm)."""
    return kernel if kernel.shape[1] <= kernel.shape[0] else kernel.transpose(0, 1).flip(-2, -1)


def proved_grid_bound(
    kernel: torch.Tensor, vectors: torch.Tensor, update: bool, grid: int = CONV_GRID, gram_kernel: torch.Tensor | None = None
) -> torch.Tensor:
    """:func:`conv_grid_bound` up to a slack of at most ``1e-4``, proved without eigenvalue solvers.

    ``G(w)`` (:func:`_grid_gram`, on the smaller side of ``kernel``: ``K`` and its adjoint have
    one norm) is formed at every grid frequency. A batched power step from the warm-started
    ``vectors`` (``(frequencies, side)``, see :func:`grid_vectors`; updated in place when
    ``update``) gives Rayleigh quotients ``r(w) <= lambda_max(G(w))``, and ``c = max_w r(w)
    (1 + e)^2``, ``e =`` :data:`GRID_SLACK`, is proved ``>= max_w lambda_max(G(w))`` when
    :func:`gram_bound_holds` passes at *every* frequency (one batched Cholesky). When it fails
    (a cold start), the estimates are replaced by exact top eigenvalues at the
    :data:`GRID_RETRY_FREQUENCIES` largest, then at all frequencies, and proved again; at the
    edge of float32 rounding, the float64 maximum raised by its error bound
    (:func:`_grid_top_proved`). The value is ``sqrt(c) / cos(pi (n_h + n_w) / grid)``,
    differentiable in ``kernel`` through the Rayleigh quotient at the maximising frequency
    (scaled to ``c``, as the dense bound does). ``gram_kernel``: that of ``kernel``, when the
    caller has it. A Cholesky instead of a batched ``eigvalsh`` matters most
    on CUDA, where ``eigvalsh`` runs matrix by matrix above 32 channels (seconds per step).
    """
    gram_kernel, gram, u, rayleigh = _grid_power_step(kernel, vectors, grid, gram_kernel)
    with torch.no_grad():
        proved = _proved_grid_top(gram, rayleigh)
        if proved is None:
            # the warm start was poor (a cold start, or a jump): exact top eigenpairs where the
            # estimates are largest, then everywhere
            for candidates in (rayleigh.topk(min(GRID_RETRY_FREQUENCIES, len(rayleigh))).indices, slice(None)):
                values, vectors_ = torch.linalg.eigh(gram[candidates])
                u = u.clone()
                u[candidates] = vectors_[..., -1]
                rayleigh = rayleigh.clone()
                rayleigh[candidates] = values[..., -1]
                proved = _proved_grid_top(gram, rayleigh)
                if proved is not None:
                    break
        if proved is None:  # float32 rounding at the edge of the proof: the float64 maximum, rounded outward
            side64 = _smaller_side(kernel).detach().to(torch.float64).cpu()
            proved = _grid_top_proved(side64, conv_gram_kernel(side64), grid)
        if update:
            vectors.copy_(u.to(vectors.dtype))
    best, top = proved
    row, col = divmod(best, grid // 2 + 1)
    estimate = torch.einsum("i,ij,j->", u[best].conj(), _gram_at_frequency(gram_kernel, grid, row, col), u[best]).real
    value = estimate * (top / estimate.detach().clamp_min(1e-24))
    return value.clamp_min(0.0).sqrt() / grid_slack(tuple(kernel.shape), grid)


def _grid_power_step(
    kernel: torch.Tensor, vectors: torch.Tensor, grid: int, gram_kernel: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One power step at every frequency of the grid from the warm-started ``vectors``:
    ``(gram_kernel, G(w), u(w), r(w))`` with ``u`` the normalised ``G(w) v(w)`` and ``r(w) = u^* G(w) u
    <= lambda_max(G(w))`` (no gradients; ``gram_kernel`` as in :func:`proved_grid_bound`)."""
    side = _smaller_side(kernel)
    if gram_kernel is None or side is not kernel:
        gram_kernel = conv_gram_kernel(side)
    with torch.no_grad():
        gram = _grid_gram(gram_kernel.detach(), grid)
        u = F.normalize(torch.matmul(gram, vectors.to(device=gram.device, dtype=gram.dtype).unsqueeze(-1)).squeeze(-1), dim=-1, eps=1e-12)
        rayleigh = torch.einsum("fi,fij,fj->f", u.conj(), gram, u).real
    return gram_kernel, gram, u, rayleigh


def _proved_grid_top(gram: torch.Tensor, rayleigh: torch.Tensor) -> tuple[int, float] | None:
    """``(argmax_w r(w), c)`` with ``c = max_w r(w) (1 + GRID_SLACK)^2`` proved above every
    ``lambda_max(G(w))`` by :func:`gram_bound_holds`, or ``None`` (see :func:`proved_grid_bound`)."""
    best = int(rayleigh.argmax())
    top = float(rayleigh[best])
    if not top > 0:
        return (best, 1e-24) if bool(gram_bound_holds(gram, torch.full_like(rayleigh, 1e-12)).all()) else None
    candidate = torch.full_like(rayleigh, math.sqrt(top) * (1.0 + GRID_SLACK))
    return (best, float(candidate[0]) ** 2) if bool(gram_bound_holds(gram, candidate).all()) else None


def sync_free_grid_bound(
    kernel: torch.Tensor, vectors: torch.Tensor, update: bool, grid: int = CONV_GRID, gram_kernel: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`proved_grid_bound` by tensor operations alone (no host synchronisation; see
    :mod:`lipapps.spectral.sync`): returns ``(bound, proved)``, the bound valid where ``proved``.

    The same power step from the warm-started ``vectors`` gives Rayleigh quotients ``r(w) <=
    lambda_max(G(w))``; the candidates ``c_e = max_w r(w) (1 + e)^2`` for every slack ``e`` of
    :data:`lipapps.spectral.POWER_SLACKS` (``1e-4`` to ``5e-2``) are checked at every
    frequency by one batched Cholesky factorisation (:func:`gram_bound_holds`), and the smallest
    ``c_e`` proved at *all* frequencies is kept. Where none is (``proved`` false: a cold start, or
    a jump), the returned value is finite but is no bound, and the caller must use another one
    (:func:`conv_training_bound` keeps the Gram bound alone). The maximising frequency and the
    selection are tensors, never read on the host. ``sqrt(c) / cos(pi (n_h + n_w) / grid)``,
    differentiable in ``kernel`` as in :func:`proved_grid_bound`.
    """
    gram_kernel, gram, u, rayleigh = _grid_power_step(kernel, vectors, grid, gram_kernel)
    with torch.no_grad():
        best = rayleigh.argmax().reshape(1)
        root = rayleigh.max().clamp_min(0.0).sqrt()
        candidates = torch.stack([root * (1.0 + slack) for slack in POWER_SLACKS])
        frequencies, size = gram.shape[0], gram.shape[-1]
        stacked = gram.expand(len(POWER_SLACKS), *gram.shape).reshape(-1, size, size)
        holds = gram_bound_holds(stacked, candidates.repeat_interleave(frequencies)).reshape(len(POWER_SLACKS), frequencies).all(dim=1)
        top = candidates[-1]
        for slack in reversed(range(len(POWER_SLACKS))):
            top = torch.where(holds[slack], candidates[slack], top)
        if update:
            vectors.copy_(u.to(vectors.dtype))
    half = grid // 2 + 1
    u_best = u.index_select(0, best)[0]
    estimate = torch.einsum("i,ij,j->", u_best.conj(), _gram_at_frequency(gram_kernel, grid, best[0] // half, best[0] % half), u_best).real
    value = estimate * (top.square() / estimate.detach().clamp_min(1e-24))
    return value.clamp_min(0.0).sqrt() / grid_slack(tuple(kernel.shape), grid), holds.any()


def conv_training_bound(kernel: torch.Tensor, q: torch.Tensor, update: bool, vectors: torch.Tensor) -> torch.Tensor:
    """The bound the training constraint divides a convolution by: ``min(conv_gram_bound(kernel, q),
    proved_grid_bound(kernel, vectors))``, both from one Gram kernel, differentiable in ``kernel``.

    With ``update``, ``q`` first takes one step towards the Perron vector (:func:`perron_vector_`)
    and ``vectors`` are replaced by the power step's (the warm starts of the next call). Where the
    per-step bounds run sync-free (:func:`lipapps.spectral.sync.uses_sync_free`) the grid bound is
    :func:`sync_free_grid_bound`'s, and the Gram bound alone is used at steps where it is not proved.
    """
    gram_kernel = conv_gram_kernel(kernel)
    a = _abs_gram_matrix(gram_kernel)
    if update:
        with torch.no_grad():
            _advance_perron_(a.detach(), q)
    if not uses_sync_free(kernel.device):
        grid = proved_grid_bound(kernel, vectors, update, gram_kernel=gram_kernel)
        return torch.minimum(_collatz_bound(a, q), grid)
    grid, proved = sync_free_grid_bound(kernel, vectors, update, gram_kernel=gram_kernel)
    gram_bound = _collatz_bound(a, q)
    return torch.where(proved, torch.minimum(gram_bound, grid), gram_bound)


#: Grids whose :func:`conv_grid_bound` enters the size-independent certificate (the first is
#: the training grid, so the certificate never exceeds what training enforced).
CERTIFICATE_GRIDS = (CONV_GRID, 64)


def conv_norm_certificate(kernel: torch.Tensor) -> float:
    """Provable bound on a convolution's norm for every image size, in float64, rounded outward.

    The smallest of the Perron bound (:func:`conv_perron_bound`, the tightest Gram bound) and
    the frequency-grid bounds of :func:`conv_grid_bound` on :data:`CERTIFICATE_GRIDS`: each is an
    upper bound, so their minimum is one; it is at most what either training constraint
    enforced (:func:`conv_gram_bound` with any weights is above the Perron bound, and the
    training grid is one of the grids). Each is raised by its float64 error bound
    (:func:`_perron_root`, :func:`_grid_root`), so the value is a true upper bound.
    """
    k64 = kernel.detach().to(torch.float64).cpu()
    gram_kernel = conv_gram_kernel(k64)
    bounds = [_perron_root(k64, gram_kernel), *(_grid_root(k64, gram_kernel, grid) for grid in CERTIFICATE_GRIDS)]
    return sqrt_up(min(bounds))


def _grid_top_proved(kernel: torch.Tensor, gram_kernel: torch.Tensor, grid: int) -> tuple[int, float]:
    """``(frequency, top)``: ``top`` a true upper bound on ``max_w lambda_max(G(w))`` over the grid's
    frequencies for the float64 ``kernel`` and its float64 ``gram_kernel``, attained (up to
    rounding) at the returned frequency index.

    The computed maximum (:func:`_grid_gram`, float64 ``eigvalsh``) plus the errors of forming
    ``C`` (:func:`_gram_kernel_error`), of the FFT (:func:`lipapps.rounding.fft_error`: pooled
    over all entries and frequencies, so a bound at each), of the phase products (four rounded
    complex operations per entry, the phase itself within ``2 u``) and of ``eigvalsh``
    (:func:`lipapps.rounding.solver_error`), summed rounding up.
    """
    gram = _grid_gram(gram_kernel, grid)
    frobenius = float(torch.linalg.matrix_norm(gram).max())
    tops = torch.linalg.eigvalsh(gram)[:, -1]
    return int(tops.argmax()), sum_up(
        float(tops.max().clamp_min(0.0)),
        _gram_kernel_error(kernel),
        fft_error(grid * grid, float(torch.linalg.vector_norm(gram_kernel))),
        sum_error(4, frobenius),
        solver_error(gram.shape[-2], gram.shape[-1], frobenius),
    )


def _grid_root(kernel: torch.Tensor, gram_kernel: torch.Tensor, grid: int) -> float:
    """An upper bound on the square of :func:`conv_grid_bound` of the float64 ``kernel``:
    :func:`_grid_top_proved` divided by ``cos(pi (n_h + n_w) / grid)^2`` computed low (the angle
    and ``math.cos`` are each within ``u`` relative, and ``|cos'| <= 1``, so ``cos - 4 u`` is
    below the exact value).
    """
    top = _grid_top_proved(kernel, gram_kernel, grid)[1]
    low = Fraction(down(grid_slack(tuple(kernel.shape), grid) - 4.0 * UNIT_ROUNDOFF))
    return round_up(Fraction(top) / (low * low))


def circular_conv_norm(kernel: torch.Tensor, grid: tuple[int, int]) -> float:
    """Operator norm of the circular stride-1 convolution on a ``grid`` (float64 SVDs), rounded outward.

    The operator is block circulant; its singular values are those of the ``c_out x c_in``
    transfer matrices at the 2-D DFT frequencies of the grid (Sedghi, Gupta, Long 2019).
    For zero padding on an ``n x m`` image, ``grid = (n + k - 1, m + k - 1)`` gives a bound.
    The largest computed singular value is raised by the FFT's error
    (:func:`lipapps.rounding.fft_error`, pooled over all entries and frequencies, so a bound on
    each transfer matrix's error in Frobenius, hence spectral, norm) and the SVD's
    (:func:`lipapps.rounding.solver_error`): exact up to float64 rounding, and a true upper bound.
    """
    kh, kw = kernel.shape[-2:]
    if grid[0] < kh or grid[1] < kw:
        raise ValueError(f"grid {grid} is smaller than the kernel {kh}x{kw}")
    k64 = kernel.detach().to(torch.float64).cpu()
    transfer = torch.fft.fft2(k64, s=grid)  # c_out x c_in x N x M
    mats = transfer.permute(2, 3, 0, 1).reshape(-1, kernel.shape[0], kernel.shape[1])
    return sum_up(
        float(torch.linalg.svdvals(mats).max()),
        fft_error(grid[0] * grid[1], float(torch.linalg.vector_norm(k64))),
        solver_error(kernel.shape[0], kernel.shape[1], float(torch.linalg.matrix_norm(mats).max())),
    )
