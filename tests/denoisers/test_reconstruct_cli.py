import json

import numpy as np
import pytest
import torch

import lipapps

from lipapps.cli import main

from denoisers.images import read_image, write_image
from denoisers.metrics import psnr
from denoisers.operators import Blur, gaussian_kernel
from denoisers.radon import ParallelBeamCT, uniform_angles
from denoisers.weights import _weights_dir

SHIPPED = _weights_dir() / "sigma25.pt"


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipapps: error:"), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def truth_png(tmp_path, make_image):
    path = tmp_path / "truth.png"
    write_image(path, make_image(32, 0))
    return path


def _run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("problem", ["denoise", "deblur", "inpaint", "superres", "ct"])
def test_simulated_problems_report_json_and_beat_a_trivial_estimate(problem, truth_png, capsys):
    max_iter = 8 if problem == "ct" else 20  # CT's data prox is a conjugate-gradient solve
    out = _run_json(capsys, ["reconstruct", "--problem", problem, "--image", str(truth_png), "--max-iter", str(max_iter),
                             "--algorithm", "fbs" if problem == "deblur" else "admm"])
    assert set(out) == {"psnr", "ssim", "iterations", "residual", "converged", "seconds", "stage_iterations"}
    assert 1 <= max(out["stage_iterations"]) <= max_iter and out["residual"] >= 0  # the limit is per PnP run
    assert sum(out["stage_iterations"]) == out["iterations"]
    assert out["psnr"] > 20 and 0 < out["ssim"] <= 1


def test_denoising_beats_the_noisy_measurement(tmp_path, make_image, capsys):
    path = tmp_path / "truth64.png"  # the non-local stage needs room: on 32 x 32 images it loses to the ridge denoiser alone
    write_image(path, make_image(64, 0))
    truth = read_image(path)
    noisy = truth + 0.1 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    command = ["reconstruct", "--problem", "denoise", "--image", str(path), "--noise", "0.1"]
    admm = _run_json(capsys, command + ["--algorithm", "admm", "--family", "firm"])
    assert admm["converged"] and admm["psnr"] > psnr(noisy, truth) + 3
    default = _run_json(capsys, command)  # DEFAULT_CONFIGURATION: the conditioned denoiser once, then the non-local stages
    assert default["converged"] and len(default["stage_iterations"]) == 3
    single = _run_json(capsys, command + ["--no-non-local"])
    assert single["stage_iterations"] == [single["iterations"]]
    assert default["psnr"] > single["psnr"] + 0.3 and single["psnr"] > psnr(noisy, truth) + 2


def test_family_option_picks_the_shipped_ridge_denoiser(truth_png, capsys):
    common = ["reconstruct", "--problem", "denoise", "--image", str(truth_png), "--noise", str(25 / 255), "--algorithm", "fbs"]
    firm, ridge = _run_json(capsys, common + ["--family", "firm"]), _run_json(capsys, common + ["--family", "ridge"])
    assert ridge["psnr"] != firm["psnr"] and ridge["psnr"] > 20
    with pytest.raises(SystemExit) as exit_info:
        main(common + ["--family", "deep"])
    assert exit_info.value.code == 2


def test_given_measurements_with_operator_options(tmp_path, truth_png, capsys):
    truth = read_image(truth_png)
    kernel = gaussian_kernel(5, 1.2).numpy()
    np.save(tmp_path / "k.npy", kernel)
    np.save(tmp_path / "blurred.npy", Blur(torch.from_numpy(kernel), truth.shape).A(truth).numpy())
    out = _run_json(capsys, ["reconstruct", "--problem", "deblur", "--measurement", str(tmp_path / "blurred.npy"),
                             "--kernel", str(tmp_path / "k.npy"), "--truth", str(truth_png), "--noise", "0.01"])
    assert out["psnr"] > 25
    mask = (np.random.default_rng(0).random(truth.shape) < 0.6).astype(np.float32)
    np.save(tmp_path / "m.npy", mask)
    np.save(tmp_path / "masked.npy", mask * truth.numpy())
    out = _run_json(capsys, ["reconstruct", "--problem", "inpaint", "--measurement", str(tmp_path / "masked.npy"),
                             "--mask", str(tmp_path / "m.npy"), "--truth", str(truth_png), "--max-iter", "60"])
    assert out["psnr"] > 22
    np.save(tmp_path / "sino.npy", ParallelBeamCT(32, uniform_angles(12)).A(truth).numpy())
    out = _run_json(capsys, ["reconstruct", "--problem", "ct", "--measurement", str(tmp_path / "sino.npy"),
                             "--angles", "12", "--max-iter", "5", "--algorithm", "admm"])
    assert out["psnr"] is None and out["stage_iterations"] == [5, 5, 5]  # the first run, the non-local and collaborative stages


def test_level_picks_the_shipped_denoiser(tmp_path, truth_png, capsys):
    target = tmp_path / "rec.png"
    assert main(["reconstruct", "--problem", "inpaint", "--image", str(truth_png), "--level", "15", "--out", str(target),
                 "--max-iter", "5"]) == 0
    assert "PnP-ADMM with the shipped firm sigma 15 denoiser" in capsys.readouterr().out


def test_out_writes_the_reconstruction_and_the_panel(tmp_path, truth_png, capsys):
    target = tmp_path / "result" / "rec.png"
    assert main(["reconstruct", "--problem", "deblur", "--image", str(truth_png), "--out", str(target), "--max-iter", "5"]) == 0
    assert "PSNR" in capsys.readouterr().out
    assert read_image(target).shape == (32, 32)
    assert (tmp_path / "result" / "rec_panel.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--problem", "denoise", "--image", "missing.png"], "not found"),
        (["--problem", "denoise", "--image", "{truth}", "--noise", "-1"], "noise"),
        (["--problem", "denoise", "--image", "{bad}"], "cannot read image"),
        (["--problem", "deblur", "--measurement", "{y}"], "--kernel"),
        (["--problem", "inpaint", "--measurement", "{y}", "--mask", "{wrong_mask}"], "mask shape"),
        (["--problem", "ct", "--measurement", "{y}", "--angles", "7"], "angles"),
        (["--problem", "superres", "--image", "{truth}", "--algorithm", "gd"], "invalid choice"),
        (["--problem", "deblur", "--image", "{truth}", "--level", "70"], "no shipped denoiser at or above level 70"),
        (["--problem", "deblur", "--image", "{truth}", "--level", "0"], "level must be a positive number"),
        (["--problem", "deblur", "--image", "{truth}", "--level", "25", "--algorithm", "fbs"], "ADMM only"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, truth_png, capsys, extra, message):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    np.save(tmp_path / "y.npy", np.zeros((32, 32), np.float32))
    np.save(tmp_path / "wrong_mask.npy", np.ones((5, 5), np.float32))
    paths = {"truth": truth_png, "bad": tmp_path / "bad.png", "y": tmp_path / "y.npy", "wrong_mask": tmp_path / "wrong_mask.npy"}
    argv = ["reconstruct"] + [a.format(**paths) for a in extra]
    with pytest.raises(SystemExit) if "invalid" in message else _no_raise():
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_train_command_writes_a_certified_model_and_resumes(tmp_path, capsys):
    folder = tmp_path / "images"
    gen = torch.Generator().manual_seed(0)
    for i in range(3):
        write_image(folder / f"{i}.png", torch.rand(20, 20, generator=gen))
    argv = ["denoiser", "train", "--data", str(folder), "--sigma", "25", "--out", str(tmp_path / "m.pt"), "--epochs", "1",
            "--patch-size", "12", "--patches-per-image", "4", "--batch-size", "4", "--channels", "2",
            "--hidden-channels", "4", "--depth", "1"]
    assert main(argv) == 0
    assert main(argv + ["--resume"]) == 0
    assert main(["certify", str(tmp_path / "m.pt"), "--json", "--input-shape", "1", "12", "12", "--steps", "5"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["upper_bound"] <= 1.0
    finetune = ["denoiser", "train", "--data", str(folder), "--sigma", "15", "--init", str(tmp_path / "m.pt"), "--out",
                str(tmp_path / "m15.pt"), "--epochs", "1", "--patch-size", "12", "--patches-per-image", "4", "--batch-size", "4"]
    assert main(finetune) == 0
    assert lipapps.load(tmp_path / "m15.pt").config()["sigma"] == 15.0  # the level it was fine-tuned for
    assert main(["denoiser", "train", "--data", str(tmp_path / "none"), "--sigma", "25", "--out", str(tmp_path / "x.pt")]) == 2


def test_train_command_builds_the_convex_ridge_denoiser(tmp_path):
    folder = tmp_path / "images"
    for i in range(2):
        write_image(folder / f"{i}.png", torch.rand(20, 20, generator=torch.Generator().manual_seed(i)))
    argv = ["denoiser", "train", "--data", str(folder), "--sigma", "25", "--out", str(tmp_path / "r.pt"), "--epochs", "1",
            "--patch-size", "12", "--patches-per-image", "2", "--batch-size", "2", "--channels", "1", "--hidden-channels", "4",
            "--depth", "1", "--kernel-size", "5", "--downsampling", "1", "--averaging", "0.99", "--activation", "spline", "--no-lifting",
            "--fresh-patches", "--activation-lr-factor", "5"]
    assert main(argv) == 0
    model = lipapps.load(tmp_path / "r.pt")
    assert model.config()["activation"] == "spline" and model.config()["kernel_size"] == 5 and not model.config()["lifting"]
    assert len(model.network) == 3  # unshuffle, the spline block, shuffle
    assert model.certified_averagedness((1, 12, 12)) == 0.99


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--downsampling", "0"], "downsampling must be a positive integer"), (["--averaging", "1.5"], "averaging must lie in (0, 1)"),
     (["--injection", "-0.1"], "injection must lie in [0, 1]"), (["--channels", "0"], "channels and hidden_channels must be positive"),
     (["--hidden-channels", "0"], "must be positive"), (["--depth", "-1"], "depth non-negative"),
     (["--device", "gpu0"], "not a torch device"), (["--kernel-size", "4"], "kernel_size must be odd"),
     (["--no-lifting"], "without lifting, channels must equal"),
     (["--activation-lr-factor", "0"], "activation learning-rate factor must be positive")],
)
def test_train_command_refuses_a_bad_architecture(tmp_path, capsys, extra, message):
    folder = tmp_path / "images"
    write_image(folder / "0.png", torch.rand(20, 20))
    write_image(folder / "1.png", torch.rand(20, 20))
    argv = ["denoiser", "train", "--data", str(folder), "--sigma", "25", "--out", str(tmp_path / "m.pt"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input-shape", "16", "16"], "three positive numbers C H W"),
        (["--input-shape", "2", "16", "16"], "does not fit the model"),
        (["--points", "0"], "--points must be at least 1"),
        (["--steps", "-1"], "--steps must be at least 0"),
    ],
)
def test_certify_bad_shape_or_points_on_an_image_model(capsys, extra, message):
    shape = [] if "--input-shape" in extra else ["--input-shape", "1", "8", "8"]
    assert main(["certify", str(SHIPPED), *shape, *extra]) == 2
    assert message in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image", "{rgb}"], "is in colour"),
        (["--image", "{truth}", "--out", "{tmp}/out.xyz"], "unknown output format '.xyz'"),
        (["--image", "{truth}", "--out", "{tmp}"], "is a folder"),
        (["--image", "{truth}", "--max-iter", "0"], "--max-iter must be at least 1"),
        (["--image", "{truth}", "--sigma", "-3"], "--sigma must be a non-negative"),
        (["--image", "{truth}", "--model", "{classifier}"], "does not hold an AveragedDenoiser"),
        (["--image", "{truth}", "--device", "gpu0"], "not a torch device"),
        (["--measurement", "{text}"], "not a .npy file"),
    ],
)
def test_reconstruct_checks_options_before_the_solve(tmp_path, truth_png, capsys, extra, message):
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(tmp_path / "rgb.png")
    (tmp_path / "text.npy").write_text("1, 2, 3\n")
    classifier = lipapps.save(lipapps.LipschitzResNet(2, 1, width=4, depth=1), tmp_path / "c.pt")
    paths = {"rgb": tmp_path / "rgb.png", "truth": truth_png, "tmp": tmp_path, "classifier": classifier,
             "text": tmp_path / "text.npy"}
    noise = [] if "--sigma" in extra else ["--noise", "0.1"]
    assert main(["reconstruct", "--problem", "denoise", *noise, *[a.format(**paths) for a in extra]]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out.xyz").exists()


def test_gray_image_stored_as_rgb_is_accepted(tmp_path, truth_png, capsys):
    from PIL import Image

    gray = np.asarray(Image.open(truth_png))
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "rgb_gray.png")
    first = _run_json(capsys, ["reconstruct", "--problem", "denoise", "--image", str(truth_png), "--max-iter", "3"])
    second = _run_json(capsys, ["reconstruct", "--problem", "denoise", "--image", str(tmp_path / "rgb_gray.png"), "--max-iter", "3"])
    assert first["psnr"] == pytest.approx(second["psnr"], abs=1e-3)


def test_sigma_and_noise_are_one_scale(truth_png, capsys):
    common = ["reconstruct", "--problem", "denoise", "--image", str(truth_png), "--max-iter", "3"]
    assert _run_json(capsys, common + ["--sigma", "25.5"]) | {"seconds": 0} == _run_json(capsys, common + ["--noise", "0.1"]) | {"seconds": 0}
    with pytest.raises(SystemExit) as exit_info:
        main(common + ["--sigma", "25", "--noise", "0.1"])
    assert exit_info.value.code == 2


def test_trained_model_reconstructs_with_model_option(tmp_path, truth_png, capsys):
    folder = tmp_path / "images"
    gen = torch.Generator().manual_seed(0)
    for i in range(2):
        write_image(folder / f"{i}.png", torch.rand(20, 20, generator=gen))
    model = tmp_path / "m.pt"
    assert main(["denoiser", "train", "--data", str(folder), "--sigma", "25", "--out", str(model), "--epochs", "1",
                 "--patch-size", "12", "--patches-per-image", "2", "--batch-size", "2", "--channels", "2",
                 "--hidden-channels", "4", "--depth", "1"]) == 0
    capsys.readouterr()
    target = tmp_path / "rec.npy"
    assert main(["reconstruct", "--problem", "deblur", "--image", str(truth_png), "--model", str(model), "--device", "cpu",
                 "--max-iter", "4", "--out", str(target)]) == 0
    assert f"with the denoiser {model} (sigma 25)" in capsys.readouterr().out
    assert np.load(target).shape == (32, 32)
    assert main(["reconstruct", "--problem", "deblur", "--image", str(truth_png), "--model", str(model), "--level", "25"]) == 2
    assert "own level" in _one_error_line(capsys.readouterr().err)


def test_train_refuses_a_folder_as_out_before_training(tmp_path, capsys):
    assert main(["denoiser", "train", "--data", str(tmp_path), "--sigma", "25", "--out", str(tmp_path)]) == 2
    assert "is a folder" in _one_error_line(capsys.readouterr().err)


def test_documented_names_are_importable():
    import denoisers
    from denoisers.model import AveragedDenoiser
    from denoisers.pnp import pnp_admm

    assert denoisers.AveragedDenoiser is AveragedDenoiser and denoisers.pnp_admm is pnp_admm
    assert all(hasattr(denoisers, name) for name in denoisers.__all__)


def test_a_noise_conditioned_model_runs_at_the_noise_level_or_the_level_asked(tmp_path, truth_png, capsys):
    from denoisers.model import CONDITIONED_RIDGE, AveragedDenoiser

    conditioned = AveragedDenoiser(**{**CONDITIONED_RIDGE, "hidden_channels": 3, "kernel_size": 3})
    model = lipapps.save(conditioned, tmp_path / "conditioned.pt")
    assert main(["reconstruct", "--problem", "denoise", "--image", str(truth_png), "--sigma", "18", "--model", str(model),
                 "--max-iter", "2"]) == 0
    assert f"PnP-FBS with the denoiser {model} (run at sigma 18)" in capsys.readouterr().out
    assert main(["reconstruct", "--problem", "deblur", "--image", str(truth_png), "--model", str(model), "--level", "33",
                 "--max-iter", "2"]) == 0
    assert f"PnP-ADMM with the denoiser {model} (run at sigma 33)" in capsys.readouterr().out
