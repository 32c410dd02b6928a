"""Image-GAN metrics: the Frechet distance matches its closed form, class entropy spans 0 to
ln 10, the certified W1 bracket holds, and classifier files are checked when read."""

import math

import numpy as np
import pytest
import torch
from scipy import linalg

from critics.image_metrics import (
    MAX_CLASS_ENTROPY,
    ImageClassifier,
    certified_w1,
    class_entropy,
    frechet_distance,
    image_metrics,
    load_classifier,
    save_classifier,
    trained_generator_frechet,
)
from critics.wgan import WGANResult, sample_generator
from critics.exact import exact_w1
from lipapps.errors import CheckpointError, InputError


def test_frechet_distance_matches_scipy_and_vanishes_on_equal_sets():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(400, 6, generator=gen)
    b = torch.randn(300, 6, generator=gen) @ torch.randn(6, 6, generator=gen) + 2.0
    ma, mb = a.double().mean(0).numpy(), b.double().mean(0).numpy()
    sa, sb = np.cov(a.double().numpy().T), np.cov(b.double().numpy().T)
    expected = np.sum((ma - mb) ** 2) + np.trace(sa + sb - 2 * linalg.sqrtm(sa @ sb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert abs(frechet_distance(a, a)) < 1e-9


class Cycling(torch.nn.Module):
    """Predicts class ``i % 10`` for the ``i``-th image of a batch."""

    def forward(self, v):
        return torch.nn.functional.one_hot(torch.arange(len(v)) % 10, 10).float()


def test_class_entropy_from_collapse_to_coverage():
    classifier = ImageClassifier()
    with torch.no_grad():
        classifier.head.weight.zero_()
        classifier.head.bias.copy_(torch.nn.functional.one_hot(torch.tensor(3), 10).float())
    images = torch.rand(50, 784)
    assert class_entropy(classifier, images) == 0.0
    assert class_entropy(Cycling(), images[:40]) == pytest.approx(MAX_CLASS_ENTROPY) == pytest.approx(math.log(10))


def test_trained_generator_frechet_scores_the_trained_weights_only_beside_an_average():
    classifier = ImageClassifier()
    trained, averaged = torch.nn.Linear(4, 784), torch.nn.Linear(4, 784)
    real = torch.rand(200, 784, generator=torch.Generator().manual_seed(2))
    assert trained_generator_frechet(WGANResult(trained, torch.nn.Identity()), classifier, real, 4, 5) is None
    result = WGANResult(trained, torch.nn.Identity(), averaged_generator=averaged)
    score = trained_generator_frechet(result, classifier, real, 4, 5)
    assert score == pytest.approx(frechet_distance(classifier.features(sample_generator(trained, 200, 4, 5)),
                                                   classifier.features(real)))
    assert result.sampling_generator is averaged and score != pytest.approx(
        frechet_distance(classifier.features(sample_generator(averaged, 200, 4, 5)), classifier.features(real)))


def test_certified_w1_brackets_the_exact_distance():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(120, 16, generator=gen), torch.rand(100, 16, generator=gen) + 0.3
    w1 = certified_w1(x, y, epochs=20)
    exact = exact_w1(x.double().numpy(), y.double().numpy())
    assert w1.lower <= exact + 1e-9 and exact <= w1.upper + 1e-9 and w1.heldout is not None


def test_image_metrics_bracket_w1_on_the_first_w1_samples():
    gen = torch.Generator().manual_seed(2)
    fake, real = torch.rand(40, 784, generator=gen), torch.rand(30, 784, generator=gen)
    classifier = ImageClassifier().eval()
    metrics = image_metrics(fake, real, classifier, w1_epochs=5, w1_samples=12)
    assert (metrics.samples, metrics.w1_samples) == (40, 12)
    exact = exact_w1(fake[:12].double().numpy(), real[:12].double().numpy())
    assert metrics.w1_lower <= exact + 1e-9 <= metrics.w1_upper + 2e-9
    assert metrics.frechet_distance == frechet_distance(classifier.features(fake), classifier.features(real))
    for bad in (1, 31):
        with pytest.raises(InputError):
            image_metrics(fake, real, classifier, w1_epochs=5, w1_samples=bad)


def test_classifier_files_round_trip_and_are_checked(tmp_path):
    model = ImageClassifier().eval()
    save_classifier(model, tmp_path / "c.pt", "mnist", 0.5)
    loaded, info = load_classifier(tmp_path / "c.pt")
    assert info["dataset"] == "mnist" and info["test_accuracy"] == 0.5
    v = torch.rand(3, 784)
    assert torch.equal(loaded(v), model(v))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a plain-tensor checkpoint"):
        load_classifier(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_classifier(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError):
        load_classifier(tmp_path / "foreign.pt")
