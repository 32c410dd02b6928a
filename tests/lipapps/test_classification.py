"""Certified accuracy, the margin loss and the lifted MNIST network."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.utils.parametrize as parametrize

from lipapps.certify import certify
from lipapps.classification import (
    MarginCrossEntropy,
    accuracy,
    certified_accuracy,
    certified_radii,
    evaluate,
    margins,
)
from lipapps.errors import InputError
from lipapps.models import LiftedLipschitzResNet


def test_margins_and_radii_by_hand() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5], [1.0, 1.0, 0.0]])
    labels = torch.tensor([0, 1, 0])
    torch.testing.assert_close(margins(logits, labels), torch.tensor([2.0, -0.5, 0.0]))
    radii = certified_radii(logits, labels, lipschitz_bound=0.5)
    torch.testing.assert_close(radii, torch.tensor([2.0, -0.5, 0.0]) / (math.sqrt(2) * 0.5))
    # sample 0: radius 2 sqrt(2) = 2.83; sample 1 wrong; sample 2 a tie (wrong)
    acc = certified_accuracy(logits, labels, 0.5, radii=(0.0, 1.0, 2.8, 2.9))
    assert acc == {0.0: pytest.approx(1 / 3), 1.0: pytest.approx(1 / 3), 2.8: pytest.approx(1 / 3), 2.9: 0.0}
    assert accuracy(logits, labels) == pytest.approx(1 / 3)


def test_binary_margin_has_no_sqrt2() -> None:
    f = torch.tensor([[1.5], [-0.4], [0.3]])
    y = torch.tensor([1, 0, 0])
    torch.testing.assert_close(certified_radii(f, y, 1.0), torch.tensor([1.5, 0.4, -0.3]))
    assert certified_accuracy(f, y, 1.0, radii=(0.5,)) == {0.5: pytest.approx(1 / 3)}


def test_certified_predictions_survive_attacks() -> None:
    """A certified radius is a guarantee: no perturbation inside it changes the class."""
    torch.manual_seed(0)
    model = LiftedLipschitzResNet(12, 4, lift=6, depth=2)
    x = torch.randn(64, 12)
    with torch.no_grad():
        labels = model(x).argmax(1)
    bound = certify(model).upper_bound
    radius = certified_radii(model(x).detach(), labels, bound)
    assert (radius > 0).all()
    for p in model.parameters():
        p.requires_grad_(False)

    def on_sphere(d: torch.Tensor) -> torch.Tensor:  # just inside each sample's certified ball
        return 0.999 * radius[:, None] * d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)

    delta = torch.randn_like(x).requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=0.05)
    with parametrize.cached():
        for _ in range(40):  # push every margin down
            loss = margins(model(x + on_sphere(delta)), labels).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            attacked = margins(model(x + on_sphere(delta)), labels)
    assert (attacked > 0).all()
    # the attack works: it removes much of the margin it is allowed to
    assert attacked.mean() < 0.9 * margins(model(x), labels).mean()


def test_margin_cross_entropy_matches_torch_losses() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    labels = torch.tensor([0, 2])
    plain = MarginCrossEntropy().per_sample(logits, labels)
    torch.testing.assert_close(plain, torch.nn.functional.cross_entropy(logits, labels, reduction="none"))
    f = torch.tensor([[0.7], [-0.2]])
    y = torch.tensor([1, 1])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(f[:, 0], y.float(), reduction="none")
    torch.testing.assert_close(MarginCrossEntropy().per_sample(f, y), bce)


def test_margin_cross_entropy_tends_to_hinge() -> None:
    logits = torch.tensor([[2.0, 1.5, 0.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 0])
    loss = MarginCrossEntropy(temperature=1e-3, margin=1.0).per_sample(logits, labels)
    hinge = (1.0 - margins(logits, labels)).clamp_min(0)
    torch.testing.assert_close(loss, hinge, atol=1e-2, rtol=0)


def test_bad_inputs_raise_input_error() -> None:
    with pytest.raises(InputError, match="shape"):
        margins(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(InputError, match="labels"):
        margins(torch.zeros(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(InputError, match="Lipschitz bound"):
        certified_radii(torch.zeros(1, 2), torch.zeros(1, dtype=torch.int64), float("nan"))
    with pytest.raises(InputError, match="temperature"):
        MarginCrossEntropy(temperature=0.0)


def test_evaluate_uses_the_certificate() -> None:
    torch.manual_seed(1)
    model = LiftedLipschitzResNet(10, 3, lift=5, depth=1)
    x, y = torch.randn(50, 10), torch.randint(0, 3, (50,))
    report = evaluate(model, x, y, radii=(0.0, 0.1))
    assert report.lipschitz_upper_bound == pytest.approx(certify(model).upper_bound)
    assert report.lipschitz_upper_bound <= 1.0
    assert report.certified_accuracy[0.0] == pytest.approx(report.test_accuracy)
    assert report.certified_accuracy[0.1] <= report.test_accuracy
