"""The result of a W1 estimation: a certified bracket, the exact value when known, a held-out
estimate of the population distance, and the critic that produced them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from critics.defaults import BoundPlan, TrainingPlan
from critics.gluing import GluedBracket


@dataclass
class W1Estimate:
    """Wasserstein-1 between two empirical measures ``mu`` (of ``x``) and ``nu`` (of ``y``).

    Guarantees (up to float64 rounding): ``lower <= W1(mu, nu) <= upper``.

    - ``lower``: the best of ``critic_lower`` and the glued bracket's lower bound (``glued``).
    - ``critic_lower``: ``E_mu f - E_nu f`` for the returned ``critic`` ``f``, which is certified
      1-Lipschitz (Kantorovich-Rubinstein duality, Villani 2009, Thm. 5.10 and Remark 6.5):
      the trained ``network`` divided by its ``certificate`` (``lipapps.certify``), or that
      function's double c-transform on the samples (:mod:`critics.envelope`), which is never
      worse. ``network_lower`` is the bound of ``network / certificate`` alone.
    - ``upper``: the cheaper of two feasible couplings of ``mu`` and ``nu``: matched blocks
      (``coupling_upper``, :mod:`critics.coupling`) and, when ``glued`` is not ``None``, the
      glued coupling of :mod:`critics.gluing`. ``bounds`` says which bounds ran.
    - ``exact``: ``W1(mu, nu)`` from ``ot.emd2`` when computed, else ``None``.
    - ``heldout``: ``E f - E f`` on samples the critic never saw in training, an unbiased estimate
      of a lower bound on the population ``W1(P, Q)`` (the empirical one is biased upward, by
      about ``n^(-1/d)``), with a normal 95% interval ``heldout_ci95``; ``None`` without a split.
    - ``history``: the training log, one dict per epoch; ``plan``: the critic's training
      settings (:func:`critics.defaults.choose_training`).
    """

    lower: float
    upper: float
    exact: float | None
    heldout: float | None
    heldout_ci95: tuple[float, float] | None
    critic: nn.Module
    network: nn.Module
    network_lower: float
    certificate: float
    history: list[dict] = field(default_factory=list)
    n_x: int = 0
    n_y: int = 0
    dim: int = 0
    seconds: float = 0.0
    plan: TrainingPlan | None = None
    critic_lower: float | None = None
    coupling_upper: float | None = None
    glued: GluedBracket | None = None
    bounds: BoundPlan | None = None

    @property
    def width(self) -> float:
        """Bracket width relative to its upper end, ``(upper - lower) / upper``."""
        return (self.upper - self.lower) / self.upper if self.upper > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """Every number of the estimate as a JSON-able dict (the CLI's ``--json`` output, a
        benchmark's record): every field but the modules and the history, and ``width``."""
        return {
            "lower": self.lower,
            "upper": self.upper,
            "exact": self.exact,
            "heldout": self.heldout,
            "heldout_ci95": list(self.heldout_ci95) if self.heldout_ci95 is not None else None,
            "network_lower": self.network_lower,
            "certificate": self.certificate,
            "width": self.width,
            "n_x": self.n_x,
            "n_y": self.n_y,
            "dim": self.dim,
            "seconds": self.seconds,
            "plan": {**asdict(self.plan), "depths": list(self.plan.depths)} if self.plan is not None else None,
            "critic_lower": self.critic_lower,
            "coupling_upper": self.coupling_upper,
            "glued": asdict(self.glued) if self.glued is not None else None,
            "bounds": asdict(self.bounds) if self.bounds is not None else None,
        }
