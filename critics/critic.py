"""The Wasserstein critic: a ``lipapps.LipschitzResNet`` in standardised coordinates, and the
Kantorovich-Rubinstein training loss.

Standardising the input by a scalar, ``f(z) = s * g((z - c) / s)``, keeps the Lipschitz constant:
``|f(z) - f(z')| = s |g(u) - g(u')| <= s Lip(g) |z - z'| / s``. So ``Lip(f) = Lip(g)``, which
:func:`lipapps.certify` bounds by the product of exact per-layer norms; data of any scale train
as well as data near the unit ball, and the guarantee is unchanged.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

import lipapps
from lipapps.rounding import product_up, sum_up


#: ``eps`` of the radial term ``sqrt(||u - c||^2 + eps^2)``: the norm of ``(u - c, eps)``, so
#: 1-Lipschitz in ``u`` like the norm, and differentiable where ``u = c``.
RADIAL_SMOOTHING = 1e-6


@lipapps.register_model
class W1Critic(lipapps.CertifiedModel):
    """``f(z) = scale * h((z - center) / scale)`` with ``h = w_0 g + w_1 r``: ``g`` a 1-Lipschitz
    ``LipschitzResNet`` and, with ``radial=True``, the radial term ``r(u) = sqrt(||u - c||^2 +
    eps^2)`` (a trained centre ``c``; :data:`RADIAL_SMOOTHING`), mixed by
    ``(w_0, w_1) = m / max(1, |m_0| + |m_1|)`` for a trained pair ``m`` (without the radial
    term, ``h = g``).

    ``Lip(f) = Lip(h) <= |w_0| Lip(g) + |w_1|``, ``Lip(g)`` a certificate (module docstring) and
    ``Lip(r) = 1``, and ``|w_0| + |w_1| <= 1``. The radial term is there because a distance to a
    point is the Kantorovich potential of every pair that moves mass along rays from it (a scaled
    copy, shells of different radii: whatever their covariance), and a ReLU network needs a number
    of pieces exponential in the dimension to approximate it. The distance is the plain Euclidean
    one: a trained map ``||P (u - c)||`` (``||P|| <= 1``) can only contract it, and did so in
    d = 64 (scale-d64, seed 0, held-out -1.05% against -0.92% with ``P`` held at the identity).
    ``fixed_width=True`` uses the paper's Theorem 4.1 architecture (sorting pairs, like
    GroupSort); ``False`` Theorem 3.1.
    """

    legacy_config = {"radial": False}

    def __init__(
        self,
        in_features: int,
        width: int = 64,
        depth: int = 4,
        hidden: int | None = None,
        fixed_width: bool = False,
        center: list[float] | None = None,
        scale: float = 1.0,
        radial: bool = False,
    ) -> None:
        super().__init__()
        if scale <= 0 or not np.isfinite(scale):
            raise ValueError(f"scale must be positive and finite, got {scale}")
        self.net = lipapps.LipschitzResNet(
            in_features, 1, width=width, depth=depth, hidden=hidden, fixed_width=fixed_width
        )
        center_values = [0.0] * in_features if center is None else [float(c) for c in center]
        self.register_buffer("center", torch.tensor(center_values))
        self.scale = float(scale)
        self.radial_center = nn.Parameter(torch.zeros(in_features)) if radial else None
        self.mix = nn.Parameter(torch.tensor([1.0, 0.0])) if radial else None

    def weights(self) -> torch.Tensor:
        """``(w_0, w_1) = m / max(1, |m_0| + |m_1|)``: the network's and the radial term's weights."""
        return self.mix / self.mix.abs().sum().clamp_min(1.0)

    def single_terms(self) -> list["W1Critic"]:
        """Copies of this critic with the mix at the two vertices of ``|w_0| + |w_1| <= 1`` that
        the trained weights' signs point to, ``(sign w_0, 0)`` and ``(0, sign w_1)``: the network
        alone and the radial term alone; then the radial term alone about the standardisation
        centre (``c = 0``; none without the radial term). The Kantorovich objective is linear in
        ``w``, so on any fixed points its maximum over the ball is at a vertex; a mix inside the
        ball only trades one term for the other. The trained centre carries the optimiser's
        mini-batch noise, and a distance to a point off the common centre of two radial laws
        loses (a sphere of radius ``R`` averages ``sqrt(R^2 + |c|^2)`` from it); the data's mean is
        the lower-noise estimate of a common centre."""
        if self.radial_center is None:
            return []
        signs = torch.where(self.weights().detach() < 0, -1.0, 1.0)
        copies = []
        for vertex in torch.eye(2, dtype=self.mix.dtype, device=self.mix.device):
            copy_ = copy.deepcopy(self)
            with torch.no_grad():
                copy_.mix.copy_(vertex * signs)
            copies.append(copy_)
        centred = copy.deepcopy(copies[1])
        with torch.no_grad():
            centred.radial_center.zero_()
        return copies + [centred]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Critic values, shape ``(batch, 1)``."""
        u = (z - self.center) / self.scale
        if self.radial_center is None:
            return self.scale * self.net(u)
        w = self.weights()
        r = ((u - self.radial_center).square().sum(-1, keepdim=True) + RADIAL_SMOOTHING**2).sqrt()
        return self.scale * (w[0] * self.net(u) + w[1] * r)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """``Lip(f) = Lip(h)``: the certificate of the network, or ``|w_0| Lip(g) + |w_1|``
        rounded up (the weights as this module's dtype computes them)."""
        network = lipapps.certify(self.net).upper_bound
        if self.radial_center is None:
            return network
        w0, w1 = (abs(float(w)) for w in self.weights().detach())
        return sum_up(product_up(w0, network), w1)


def standardisation(points: np.ndarray) -> tuple[list[float], float]:
    """Centre (the mean) and scalar scale (root mean coordinate variance, at least 1e-12)."""
    center = points.mean(axis=0)
    scale = float(np.sqrt(np.mean((points - center) ** 2)))
    return center.tolist(), max(scale, 1e-12)


def kantorovich_loss(critic: nn.Module, z: torch.Tensor, signed_mass: torch.Tensor) -> torch.Tensor:
    """Per-sample loss ``-w_k f(z_k)`` whose mean over the pooled samples is ``-(E_mu f - E_nu f)``.

    ``z`` pools both sets; ``signed_mass`` is ``N a_i`` for a point of ``x`` and ``-N b_j`` for
    one of ``y`` (``N`` the pooled size), so the mean of a uniform mini-batch is an unbiased
    estimate of the negated Kantorovich-Rubinstein objective (:func:`kantorovich_gap` of weighted
    sets, in the per-sample form that :func:`lipapps.train` takes).
    """
    return -signed_mass * critic(z).squeeze(-1)


def kantorovich_gap(critic: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``E_x f - E_y f`` over two uniform batches (``f`` evaluated on ``x`` first): the
    Kantorovich-Rubinstein objective, at most ``Lip(f) W1`` of the two batches. A critic maximises
    it, i.e. minimises ``kantorovich_gap(critic, y, x)``; a generator of ``y`` minimises it.
    """
    return critic(x).mean() - critic(y).mean()


def pooled_training_set(
    x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tensors ``(z, signed_mass)`` of :func:`kantorovich_loss` (float32); ``a`` and ``b``
    are renormalised to probability vectors (a subset of a weighted set sums to less than one)."""
    total = len(x) + len(y)
    z = torch.from_numpy(np.concatenate([x, y])).float()
    mass = torch.from_numpy(np.concatenate([a / a.sum(), -b / b.sum()]) * total).float()
    return z, mass


@torch.no_grad()
def certified_values(
    critic: nn.Module, points: list[np.ndarray], device: str | torch.device = "cpu", chunk: int = 65536
) -> tuple[list[np.ndarray], float]:
    """Values of ``f / L`` on each array of ``points``, in float64, and the certificate ``L``.

    ``L = lipapps.certify(f)`` is a provable upper bound on ``Lip(f)``, so ``f / L`` is
    1-Lipschitz (and tighter than ``f`` whenever ``L < 1``). The critic is copied to float64
    so that the values are those of the certified function up to float64 rounding.
    """
    exact = copy.deepcopy(critic).to(device=device, dtype=torch.float64).eval()
    bound = lipapps.certify(exact).upper_bound
    if not np.isfinite(bound) or bound <= 0:
        raise RuntimeError(f"critic certificate is not a positive number: {bound}")
    values = []
    for array in points:
        parts = [
            exact(torch.from_numpy(array[i : i + chunk]).to(device=device, dtype=torch.float64)).squeeze(-1).cpu().numpy()
            for i in range(0, len(array), chunk)
        ]
        values.append(np.concatenate(parts) / bound)
    return values, bound


class ValidationStopping:
    """Early stopping on the Kantorovich-Rubinstein objective of validation points, as a
    :func:`lipapps.train` callback.

    Every ``check_every`` epochs from ``check_from`` on it evaluates ``E_a f - E_b f`` on the
    validation sets (weights renormalised); after ``patience`` evaluations without a new best it asks training to stop.
    :meth:`restore` loads the critic of the best evaluation. The validation points are used for
    nothing else, so an estimate on separate held-out points stays free of this selection.
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, check_every: int, patience: int,
        check_from: int = 1, device: str | torch.device = "cpu",
    ) -> None:
        self.z, self.mass = (t.to(device) for t in pooled_training_set(x, y, a, b))
        self.mass /= len(self.z)
        self.check_every = check_every
        self.check_from = check_from
        self.patience = patience
        self.best = -float("inf")
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.misses = 0

    @torch.no_grad()
    def objective(self, critic: nn.Module) -> float:
        """``E_a f - E_b f`` on the validation sets."""
        return float(self.mass @ critic(self.z).squeeze(-1))

    def __call__(self, epoch: int, critic: nn.Module) -> dict:
        """The validation objective at checked epochs (``{}`` otherwise) and whether to stop."""
        if epoch < self.check_from or (epoch - self.check_from) % self.check_every:
            return {}
        value = self.objective(critic)
        if value > self.best:
            self.best, self.best_epoch, self.misses = value, epoch, 0
            self.best_state = copy.deepcopy(critic.state_dict())
        else:
            self.misses += 1
        return {"validation": value, "stop": self.misses >= self.patience}

    def restore(self, critic: nn.Module) -> None:
        """Load the critic of the best evaluation (nothing when none was evaluated)."""
        if self.best_state is not None:
            critic.load_state_dict(self.best_state)
