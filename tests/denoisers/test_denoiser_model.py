from pathlib import Path

import pytest
import torch

import lipapps
from lipapps import CheckpointError, InputError

from denoisers.images import write_image
from denoisers.model import CONDITIONED_RIDGE, MULTISCALE_RIDGE, AveragedDenoiser
from lipapps.spectral import conv_perron_bound as perron_conv_bound
from denoisers.pnp import RelaxedDenoiser, ScaledDenoiser
from denoisers.training import image_files, random_patches, split_files, train_denoiser, validation_files
from denoisers.weights import CONDITIONED, FAMILIES, available_sigmas, load_denoiser, weights_digest, weights_name


def _pairs(n: int = 4, size: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=gen)
    return x, x + 0.05 * torch.randn(x.shape, generator=gen)


def _assert_firmly_non_expansive(model, x, y):
    """``||(2D - I) x - (2D - I) y|| <= ||x - y||`` for ``a = 1/2``, and ``D`` non-expansive."""
    with torch.no_grad():
        dx, dy = model(x), model(y)
    gap = (x - y).flatten(1).norm(dim=1)
    # D runs in float32: the allowance is the rounding of this measurement, never the certificate's
    assert ((dx - dy).flatten(1).norm(dim=1) <= gap * (1 + 1e-5)).all()
    assert ((2 * dx - x - 2 * dy + y).flatten(1).norm(dim=1) <= gap * (1 + 1e-5)).all()


def test_perron_bound_is_exact_for_orthogonal_and_above_the_circular_norm():
    kernel = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    exact = lipapps.layers.conv_norm_bound(kernel, (4, 64, 64))
    assert exact <= perron_conv_bound(kernel) * (1 + 1e-9)
    identity = torch.zeros(4, 4, 3, 3)
    identity[:, :, 1, 1] = torch.eye(4)
    assert abs(perron_conv_bound(identity) - 1.0) < 1e-12


@pytest.mark.parametrize("injection", [0.0, 0.3])
def test_certificate_holds_after_training_and_on_load(tmp_path, injection):
    folder = tmp_path / "images"
    gen = torch.Generator().manual_seed(0)
    for i in range(4):
        write_image(folder / f"{i}.png", torch.rand(24, 24, generator=gen))
    model = AveragedDenoiser(channels=4, hidden_channels=8, depth=2, averaging=0.5, injection=injection)
    run = train_denoiser(folder, 25, model=model, epochs=2, patch_size=16, patches_per_image=8, batch_size=8,
                         lr=0.05, validation_crop=16, checkpoint=tmp_path / "c.ckpt", progress=False)
    assert len(run.history) == 2 and "validation_psnr" in run.history[-1]
    assert model.network_bound() <= 1.0
    assert lipapps.certify(model).upper_bound <= 1.0
    assert model.certified_averagedness() == 0.5
    _assert_firmly_non_expansive(model, *_pairs())
    lipapps.save(model, tmp_path / "d.pt")
    loaded = lipapps.load(tmp_path / "d.pt")
    x, _ = _pairs()
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)
    resumed = train_denoiser(folder, 25, model=AveragedDenoiser(channels=4, hidden_channels=8, depth=2, averaging=0.5, injection=injection), epochs=2,
                             patch_size=16, patches_per_image=8, batch_size=8, validation_crop=16,
                             checkpoint=tmp_path / "c.ckpt", resume=True, progress=False)
    assert resumed.history == run.history


def test_the_convex_ridge_denoiser_stays_averaged_through_training_and_loading(tmp_path, monkeypatch):
    """One spline block on the image itself (Goujon et al.'s gradient-step denoiser), a = 0.99,
    trained on fresh crops every epoch with the splines at 10x the learning rate."""
    folder = tmp_path / "images"
    gen = torch.Generator().manual_seed(1)
    for i in range(3):
        write_image(folder / f"{i}.png", torch.rand(24, 24, generator=gen))
    model = AveragedDenoiser(channels=1, hidden_channels=6, depth=1, kernel_size=5, averaging=0.99, downsampling=1,
                             activation="spline", lifting=False)
    seeds = []

    def recording_patches(images, size, per_image, seed):
        seeds.append(seed)
        return random_patches(images, size, per_image, seed)

    monkeypatch.setattr("denoisers.training.random_patches", recording_patches)
    run = train_denoiser(folder, 25, model=model, epochs=3, patch_size=16, patches_per_image=8, batch_size=8, lr=0.1,
                         activation_lr_factor=10.0, fresh_patches=True, validation_crop=16, progress=False)
    assert len(set(seeds)) == 3 == len(run.history)
    assert model.certified_averagedness((1, 16, 16)) == 0.99
    x, y = _pairs()
    with torch.no_grad():  # N = (D - (1 - a) I) / a is non-expansive (measured in float32: its rounding allowance)
        nx, ny = (model(x) - 0.01 * x) / 0.99, (model(y) - 0.01 * y) / 0.99
    assert ((nx - ny).flatten(1).norm(dim=1) <= (x - y).flatten(1).norm(dim=1) * (1 + 1e-5)).all()
    assert lipapps.empirical_lipschitz(model, x, steps=30, power_iterations=5) <= model.lipschitz_bound((1, 16, 16)) * (1 + 1e-6)
    lipapps.save(model, tmp_path / "ridge.pt")
    loaded = lipapps.load(tmp_path / "ridge.pt")
    assert loaded.config()["activation"] == "spline"
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_the_multiscale_denoiser_stays_certified_averaged_after_aggressive_steps_and_on_load(tmp_path):
    """The convex-ridge form on a multi-scale K: Adam at lr 1 pushing the gain up cannot lift the
    certificate above 1 (no tolerance), no searched pair beats it, D is a-averaged, and it loads."""
    model = AveragedDenoiser(**{**MULTISCALE_RIDGE, "hidden_channels": 4, "kernel_size": 5, "dilations": [[1], [1, 2], [2]]})
    assert [type(m).__name__ for m in model.network] == ["PixelUnshuffle", "MultiScaleGradientFlowBlock", "PixelShuffle"]
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1.0)
    for _ in range(8):
        out = model(torch.rand(4, 1, 16, 16, generator=gen))
        loss = -(out - out.roll(1, 0)).pow(2).sum() - out.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert model.network_bound() <= 1.0 and lipapps.certify(model).upper_bound <= 1.0
    assert model.certified_averagedness((1, 17, 22)) == model.certified_averagedness() == 0.99
    model.check_constraint()
    x = torch.rand(4, 1, 17, 22, generator=gen)
    y = x + 0.1 * torch.randn(x.shape, generator=gen)
    assert lipapps.empirical_lipschitz(model, x, steps=30, power_iterations=5) <= model.lipschitz_bound((1, 17, 22)) * (1 + 1e-6)
    with torch.no_grad():  # a-averaged: ||Dx - Dy||^2 + (1 - a) / a ||(I - D)x - (I - D)y||^2 <= ||x - y||^2
        dx, dy = model(x), model(y)
    lhs = (dx - dy).pow(2).flatten(1).sum(1) + 0.01 / 0.99 * (x - dx - y + dy).pow(2).flatten(1).sum(1)
    assert (lhs <= (x - y).pow(2).flatten(1).sum(1) * (1 + 1e-5)).all()
    lipapps.save(model, tmp_path / "multiscale.pt")
    loaded = lipapps.load(tmp_path / "multiscale.pt")
    assert loaded.config()["dilations"] == [[1], [1, 2], [2]]
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_the_noise_conditioned_denoiser_is_certified_averaged_at_every_level_after_aggressive_steps_and_on_load(tmp_path):
    """One certificate for every sigma: Adam at lr 1 on random levels per image cannot lift it above 1,
    no searched pair beats it at any level, D is a-averaged at each, and the file loads the same map."""
    model = AveragedDenoiser(**{**CONDITIONED_RIDGE, "hidden_channels": 4, "kernel_size": 5})
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1.0)
    for _ in range(8):
        out = model(torch.rand(4, 1, 16, 16, generator=gen), 5 + 45 * torch.rand(4, generator=gen))
        loss = -(out - out.roll(1, 0)).pow(2).sum() - out.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert model.network_bound() <= 1.0 and lipapps.certify(model).upper_bound <= 1.0
    assert model.certified_averagedness((1, 17, 22)) == 0.99
    x = torch.rand(4, 1, 17, 22, generator=gen)
    y = x + 0.1 * torch.randn(x.shape, generator=gen)
    for sigma in (5.0, 20.0, 50.0):
        model.sigma = sigma
        assert lipapps.empirical_lipschitz(model, x, steps=20, power_iterations=5) <= model.lipschitz_bound((1, 17, 22)) * (1 + 1e-6)
        with torch.no_grad():  # a-averaged at this level
            dx, dy = model(x), model(y)
        lhs = (dx - dy).pow(2).flatten(1).sum(1) + 0.01 / 0.99 * (x - dx - y + dy).pow(2).flatten(1).sum(1)
        assert (lhs <= (x - y).pow(2).flatten(1).sum(1) * (1 + 1e-5)).all()
    lipapps.save(model, tmp_path / "conditioned.pt")
    loaded = lipapps.load(tmp_path / "conditioned.pt")
    assert loaded.noise_conditioned and loaded.sigma == 50.0
    with torch.no_grad():
        assert torch.allclose(loaded(x, 12.0), model(x, 12.0), atol=1e-6)


def test_a_noise_conditioned_denoiser_takes_a_level_per_image_and_its_own_by_default():
    model = AveragedDenoiser(**{**CONDITIONED_RIDGE, "hidden_channels": 3, "kernel_size": 3}, sigma=15.0)
    with torch.no_grad():
        for p in model.network[1].activation.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
        x, _ = _pairs(3, 12)
        levels = torch.tensor([5.0, 15.0, 40.0])
        together = model(x, levels)
        for i, level in enumerate(levels):
            assert torch.allclose(together[i : i + 1], model(x[i : i + 1], float(level)), atol=1e-6)
        assert torch.equal(model(x), model(x, 15.0))
        assert not torch.allclose(model(x, 5.0), model(x, 40.0))


def test_sigma_goes_only_to_a_noise_conditioned_denoiser_and_must_be_positive():
    with pytest.raises(ValueError, match="not noise-conditioned"):
        AveragedDenoiser(depth=1)(torch.zeros(1, 1, 8, 8), 25.0)
    with pytest.raises(ValueError, match="sigma must be positive"):
        AveragedDenoiser(**{**CONDITIONED_RIDGE, "kernel_size": 3})(torch.zeros(1, 1, 8, 8), 0.0)
    with pytest.raises(ValueError, match="noise-conditioned denoiser has spline activations"):
        AveragedDenoiser(noise_conditioned=True)
    with pytest.raises(ValueError, match="2 banks need noise_conditioned=True"):
        AveragedDenoiser(filter_banks=2)


def test_a_noise_conditioned_denoiser_trains_over_a_range_of_levels_and_validates_at_each(tmp_path):
    folder = tmp_path / "images"
    gen = torch.Generator().manual_seed(3)
    for i in range(3):
        write_image(folder / f"{i}.png", torch.rand(24, 24, generator=gen))

    def run(**kwargs):
        model = AveragedDenoiser(**{**CONDITIONED_RIDGE, "hidden_channels": 4, "kernel_size": 5})
        return train_denoiser(folder, 25, model=model, sigma_range=(10.0, 40.0), epochs=2, patch_size=16, patches_per_image=8,
                              batch_size=8, lr=0.05, activation_lr_factor=10.0, fresh_patches=True, validation_crop=16,
                              progress=False, **kwargs)

    trained = run(checkpoint=tmp_path / "c.ckpt")
    per_level = trained.history[-1]["validation_psnr_per_level"]
    assert list(per_level) == ["10", "15", "25", "40"]
    assert trained.history[-1]["validation_psnr"] == pytest.approx(sum(per_level.values()) / 4)
    assert trained.model.certified_averagedness((1, 16, 16)) == 0.99
    assert run(checkpoint=tmp_path / "c.ckpt", resume=True).history == trained.history
    with pytest.raises(InputError, match="needs a noise-conditioned model"):
        train_denoiser(folder, 25, model=AveragedDenoiser(depth=1), sigma_range=(10.0, 40.0), epochs=1, progress=False)
    with pytest.raises(InputError, match="two increasing positive levels"):
        train_denoiser(folder, 25, model=AveragedDenoiser(**CONDITIONED_RIDGE), sigma_range=(40.0, 10.0), epochs=1, progress=False)


def test_the_trained_multiscale_weights_load_certified():
    """experiments/weights/multiscale_sigma25.pt (trained, not shipped): strictly certified, 0.99-averaged."""
    model = lipapps.load(Path(__file__).resolve().parents[2] / "experiments" / "weights" / "multiscale_sigma25.pt")
    assert model.config() == {**MULTISCALE_RIDGE, "sigma": 25.0, "step_size": 2.0, "injection": 0.0, "noise_conditioned": False, "filter_banks": 1,
                              "constraint": "parametrization"}
    assert lipapps.certify(model).upper_bound <= 1.0 and model.certified_averagedness((1, 40, 40)) == 0.99
    x, _ = _pairs(2, 40, seed=3)
    assert lipapps.empirical_lipschitz(model, x, steps=10, power_iterations=5) <= 1.0 + 1e-6


@pytest.mark.parametrize("downsampling", [1, 2, 3])
def test_odd_sizes_are_padded_and_cropped_and_stay_firmly_non_expansive(downsampling):
    model = AveragedDenoiser(channels=4, hidden_channels=8, depth=2, downsampling=downsampling)
    with torch.no_grad():  # move off the orthogonal initialisation
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    gen = torch.Generator().manual_seed(downsampling)
    x = torch.rand(3, 1, 17, 22, generator=gen)
    y = x + 0.1 * torch.randn(x.shape, generator=gen)
    assert model(x).shape == x.shape
    assert model.certified_averagedness((1, 17, 22)) == 0.5
    _assert_firmly_non_expansive(model, x, y)
    ratio = lipapps.empirical_lipschitz(model, x, steps=30, power_iterations=5)
    assert 0.5 < ratio <= model.lipschitz_bound((1, 17, 22)) * (1 + 1e-6)


def test_a_file_written_before_downsampling_and_splines_existed_loads_at_full_resolution_with_relu_and_lifting(tmp_path):
    model = AveragedDenoiser(channels=4, hidden_channels=8, depth=1, downsampling=1).eval()
    lipapps.save(model, tmp_path / "old.pt")
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    for name in ("downsampling", "activation", "lifting", "dilations", "coarse_kernel_size"):
        del payload["config"][name]
    torch.save(payload, tmp_path / "old.pt")
    loaded = lipapps.load(tmp_path / "old.pt")
    assert loaded.downsampling == 1 and loaded.config()["activation"] == "relu" and loaded.config()["lifting"]
    assert loaded.config()["dilations"] is None
    x, _ = _pairs()
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_a_model_breaking_its_constraint_is_refused_on_load(tmp_path):
    model = AveragedDenoiser(channels=2, hidden_channels=4, depth=1, constraint="projection")
    with torch.no_grad():
        model.network[1].weight.mul_(3.0)
    assert model.certified_averagedness() is None
    lipapps.save(model, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="not averaged"):
        lipapps.load(tmp_path / "broken.pt")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_shipped_denoisers_are_certified_and_denoise(sigma, family):
    if family != CONDITIONED:
        assert sigma in available_sigmas(family)
    model = load_denoiser(sigma, family)
    assert model.sigma == sigma
    assert model.averaging == {"firm": 0.5, "ridge": 0.99, CONDITIONED: 0.99}[family]
    assert model.certified_averagedness() == model.averaging and 0 < model.averaging < 1
    assert lipapps.certify(model, (1, 32, 32)).upper_bound <= 1.0
    x, y = _pairs(2, 24, seed=sigma)
    _assert_firmly_non_expansive(RelaxedDenoiser(model, 0.5 / model.averaging), x, y)
    for scale in (0.3, 50 / 35):  # run at another noise level: the certificate is the model's
        scaled = ScaledDenoiser(model, scale)
        assert scaled.certified_averagedness() == model.averaging
        _assert_firmly_non_expansive(RelaxedDenoiser(scaled, 0.5 / model.averaging), x, y)
    lower = lipapps.empirical_lipschitz(model, x, steps=10, power_iterations=5)
    assert lower <= model.lipschitz_bound() * (1 + 1e-9)  # the float64 search's rounding of a ratio near 1
    clean = torch.linspace(0, 1, 32).repeat(32, 1)[None, None]
    noisy = clean + sigma / 255 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert ((model(noisy) - clean) ** 2).mean() < 0.7 * ((noisy - clean) ** 2).mean()


SHIPPED = sorted((Path(__file__).parents[2] / "denoisers" / "weights").glob("*.pt")) + sorted(
    (Path(__file__).parents[2] / "experiments" / "weights").glob("dncnn_*.pt")
)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_shipped_model_passes_the_strict_certificate(path):
    """Every constrained shipped file certifies ``<= 1.0`` exactly (no tolerance), as ``load`` demands;
    the unconstrained DnCNN baselines carry no certificate and are exempt."""
    model = lipapps.load(path)
    if not isinstance(model, AveragedDenoiser):
        assert path.name.startswith("dncnn") and model.certified_averagedness() is None
        return
    assert model.network_bound() <= 1.0
    assert lipapps.certify(model).upper_bound <= 1.0
    assert model.certified_averagedness() == model.averaging


def test_shipped_families_name_their_files_and_refuse_unknown_names():
    assert weights_name(25) == "sigma25" and weights_name(25, "ridge") == "ridge_sigma25"
    assert available_sigmas("firm") == available_sigmas() == [15, 25, 50]
    with pytest.raises(InputError, match="unknown denoiser family 'tv'"):
        load_denoiser(25, "tv")
    with pytest.raises(InputError, match="no shipped ridge denoiser for sigma 7; available: \\[15, 25, 50\\]"):
        load_denoiser(7, "ridge")



def test_the_conditioned_family_is_one_file_that_serves_every_level_of_its_range():
    assert weights_name(15, CONDITIONED) == weights_name(50, CONDITIONED) == "conditioned_ridge"
    assert weights_digest(7, CONDITIONED) == weights_digest(33, CONDITIONED)
    at_7, at_33 = load_denoiser(7, CONDITIONED), load_denoiser(33.5, CONDITIONED)
    assert at_7.noise_conditioned and (at_7.sigma, at_33.sigma) == (7.0, 33.5)
    x, _ = _pairs(1, 24)
    with torch.no_grad():
        assert torch.equal(at_7(x), at_33(x, 7.0))
    with pytest.raises(InputError, match="serves sigma 5 to 50, got 60"):
        load_denoiser(60, CONDITIONED)
    with pytest.raises(InputError, match="one file for every level from 5 to 50"):
        available_sigmas(CONDITIONED)


def test_the_weights_digest_names_the_file_and_refuses_missing_levels():
    import hashlib
    from importlib import resources

    path = Path(str(resources.files("denoisers") / "weights" / "ridge_sigma25.pt"))
    assert weights_digest(25, "ridge") == hashlib.sha256(path.read_bytes()).hexdigest()[:12] != weights_digest(25)
    with pytest.raises(InputError, match="no shipped firm denoiser for sigma 7"):
        weights_digest(7)


def test_batch_psnr_is_the_mean_of_per_image_psnr():
    from denoisers.metrics import psnr, psnr_per_image
    from denoisers.training import batch_psnr

    gen = torch.Generator().manual_seed(0)
    clean = torch.rand((5, 1, 12, 12), generator=gen, dtype=torch.float64)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=gen, dtype=torch.float64)
    model = AveragedDenoiser(channels=4, hidden_channels=4, depth=1).double().eval()
    with torch.no_grad():
        out = model(noisy)
    each = psnr_per_image(out, clean)
    assert torch.allclose(each, torch.tensor([psnr(o, c) for o, c in zip(out, clean)], dtype=torch.float64))
    assert batch_psnr(model, clean, noisy, batch_size=2) == pytest.approx(float(each.mean()))


def test_validation_files_from_an_offset_are_the_next_ones_of_the_same_split(tmp_path):
    for index in range(50):
        write_image(tmp_path / f"{index:02d}.png", torch.full((8, 8), index / 50))
    validation = validation_files(tmp_path)
    assert len(validation) == 5
    assert validation_files(tmp_path, 2, offset=1) == validation[1:3] and validation_files(tmp_path, None, 3) == validation[3:]


def test_validation_files_are_the_default_training_split_held_out(tmp_path):
    for index in range(12):
        write_image(tmp_path / f"{index:02d}.png", torch.full((8, 8), index / 12))
    training, validation = split_files(image_files(tmp_path), 0.1, seed=0)
    assert validation_files(tmp_path) == validation and len(validation) == 1
    assert validation_files(tmp_path, 5) == validation[:5]
    assert not set(validation_files(tmp_path)) & set(training)
