"""The ``lipapps w1`` / ``lipapps wgan`` commands: JSON output, and one clear line with exit code
2 for every kind of bad input."""

import json

import numpy as np
import pytest

from lipapps.cli import main


@pytest.fixture
def sets(tmp_path):
    rng = np.random.default_rng(0)
    good_x, good_y = tmp_path / "x.npy", tmp_path / "y.csv"
    np.save(good_x, rng.normal(size=(30, 2)))
    np.savetxt(good_y, rng.normal(size=(20, 2)) + 1, delimiter=",")
    return tmp_path, good_x, good_y


def test_w1_json(sets, capsys):
    _, x, y = sets
    assert main(["w1", str(x), str(y), "--json", "--epochs", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"lower", "upper", "exact", "heldout", "heldout_ci95", "n_x", "n_y", "dim", "seconds"} <= set(out)
    assert (out["n_x"], out["n_y"], out["dim"]) == (30, 20, 2)
    assert out["lower"] <= out["exact"] + 1e-9 <= out["upper"] + 2e-9


def _bad_files(tmp_path):
    np.save(tmp_path / "three.npy", np.zeros((5, 3)))
    np.save(tmp_path / "nan.npy", np.array([[0.0, 1.0], [np.nan, 0.0]]))
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    (tmp_path / "garbage.pt").write_bytes(b"\x00\x01 not a tensor file")
    return {
        "three.npy": "different dimensions",
        "nan.npy": "NaN",
        "empty.npy": "empty",
        "garbage.pt": "cannot read",
        "missing.npy": "not found",
    }


def test_w1_bad_input_is_one_line_and_exit_2(sets, capsys):
    tmp_path, x, _ = sets
    for name, message in _bad_files(tmp_path).items():
        code = main(["w1", str(x), str(tmp_path / name), "--json", "--epochs", "1"])
        captured = capsys.readouterr()
        assert code == 2, name
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lipapps: error:"), captured.err
        assert message in lines[0], (name, lines[0])
        assert "Traceback" not in captured.err and captured.out == ""


def test_w1_depth_and_lr_reach_the_critic(sets, capsys, monkeypatch):
    import critics.estimate

    _, x, y = sets
    calls = []
    real = critics.estimate.estimate_w1
    monkeypatch.setattr(critics.estimate, "estimate_w1", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    assert main(["w1", str(x), str(y), "--json", "--epochs", "2", "--depth", "3", "--lr", "0.005"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lower"] <= out["exact"] + 1e-9
    assert calls[0]["depth"] == 3 and calls[0]["lr"] == 0.005
    monkeypatch.undo()
    for option, value in (("--depth", "0"), ("--lr", "-1")):
        assert main(["w1", str(x), str(y), "--json", option, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "must be positive" in err[0]


def test_unknown_choice_exits_2(sets, capsys):
    _, x, y = sets
    with pytest.raises(SystemExit) as exit_info:
        main(["w1", str(x), str(y), "--exact", "sometimes"])
    assert exit_info.value.code == 2


def test_wgan_out_must_be_a_folder(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert main(["wgan", "--steps", "1", "--out", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_w1_weights_and_saved_critic_connect_to_certify(sets, capsys):
    import lipapps

    tmp_path, x, y = sets
    weights = np.zeros(30)
    weights[:10] = 1.0
    np.save(tmp_path / "wx.npy", weights)
    critic = tmp_path / "critic.pt"
    assert main(["w1", str(x), str(y), "--json", "--epochs", "2", "--weights-x", str(tmp_path / "wx.npy"),
                 "--save-critic", str(critic)]) == 0
    weighted = json.loads(capsys.readouterr().out)
    from critics.exact import exact_w1

    values_x, values_y = np.load(x), np.loadtxt(y, delimiter=",")
    assert weighted["exact"] == pytest.approx(exact_w1(values_x[:10], values_y), rel=1e-12)  # zero weight drops a sample
    assert lipapps.load(critic).config()["in_features"] == 2
    assert main(["certify", str(critic), "--json", "--steps", "2", "--points", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["upper_bound"] == pytest.approx(weighted["certificate"], rel=1e-6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--weights-x", "{short}"], "expected shape (30,)"),
        (["--weights-y", "{negative}"], "non-negative"),
        (["--weights-x", "{text}"], "not a .npy file"),
        (["--save-critic", "{tmp}"], "is a folder"),
    ],
)
def test_w1_bad_weights_or_critic_path_exit_2(sets, capsys, extra, message):
    tmp_path, x, y = sets
    np.save(tmp_path / "short.npy", np.ones(29))
    np.save(tmp_path / "negative.npy", -np.ones(20))
    (tmp_path / "text.npy").write_text("1\n2\n")
    paths = {"short": tmp_path / "short.npy", "negative": tmp_path / "negative.npy", "text": tmp_path / "text.npy",
             "tmp": tmp_path}
    assert main(["w1", str(x), str(y), "--json", "--epochs", "1", *[a.format(**paths) for a in extra]]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipapps: error:") and message in lines[0], captured.err
    assert captured.out == ""


@pytest.mark.parametrize("option, value", [("--steps", "0"), ("--batch-size", "1"), ("--log-every", "0")])
def test_wgan_checks_numbers_before_creating_out(tmp_path, capsys, option, value):
    out = tmp_path / "run"
    assert main(["wgan", "--out", str(out), option, value]) == 2
    assert f"{option} must be at least" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture
def idx_dir(tmp_path, tiny_idx):
    """A tiny MNIST-layout folder of gzipped IDX files: 40 training and 20 test images."""
    tiny_idx(tmp_path / "idx")
    return tmp_path / "idx"


def image_wgan(idx_dir, out, *extra):
    return main(["wgan", "--data", "fashion-mnist", "--data-dir", str(idx_dir), "--batch-size", "4", "--log-every", "1",
                 "--checkpoint-every", "1", "--eval-samples", "0", "--out", str(out), *extra])


def test_wgan_on_images_writes_grids_and_resumes_to_the_same_run(idx_dir, tmp_path, capsys):
    import torch

    import lipapps
    from critics.wgan import STATE_FORMAT

    assert image_wgan(idx_dir, tmp_path / "a", "--steps", "2", "--device", "cpu") == 0
    assert image_wgan(idx_dir, tmp_path / "b", "--steps", "1") == 0
    assert image_wgan(idx_dir, tmp_path / "b", "--steps", "2", "--resume") == 0
    capsys.readouterr()
    states = [torch.load(tmp_path / run / "checkpoint.pt", weights_only=True) for run in ("a", "b")]
    assert states[0]["format"] == STATE_FORMAT and states[0]["step"] == states[1]["step"] == 2
    for net in ("generator", "critic"):
        for name, value in states[0][net].items():
            assert torch.equal(value, states[1][net][name]), name
    assert sorted(p.name for p in (tmp_path / "a" / "grids").iterdir()) == ["step_000001.png", "step_000002.png"]
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["steps"] == 2 and all(h["certificate"] <= 1.0 for h in metrics["history"])
    from critics.image_wgan import IMAGE_WGAN_RECIPES

    critic = IMAGE_WGAN_RECIPES["certified"].build(0)[1]  # the critic the CLI trains
    critic.load_state_dict(states[0]["critic"])
    assert lipapps.certify(critic).upper_bound <= 1.0


@pytest.mark.parametrize("case, message", [
    ("missing files", "train-images-idx3-ubyte"),
    ("corrupt checkpoint", "not a plain-tensor checkpoint"), ("foreign checkpoint", "does not fit"),
    ("bad device", "not a torch device"), ("bad eval samples", "--eval-samples must be at least 0"),
])
def test_wgan_image_input_errors_are_one_line(idx_dir, tmp_path, capsys, case, message):
    out = tmp_path / "run"
    if case == "corrupt checkpoint":
        out.mkdir()
        (out / "checkpoint.pt").write_bytes(b"\x00 not a checkpoint")
    if case == "foreign checkpoint":  # a toy run's checkpoint does not fit the image networks
        assert main(["wgan", "--steps", "1", "--batch-size", "8", "--log-every", "1", "--eval-samples", "8",
                     "--out", str(out)]) == 0
        capsys.readouterr()
    extra = {"missing files": ["--data-dir", str(tmp_path / "empty")],
             "bad device": ["--device", "nosuch"], "bad eval samples": ["--eval-samples", "-1"]}.get(case, [])
    if case == "missing files":
        (tmp_path / "empty").mkdir()
    code = image_wgan(idx_dir, out, "--steps", "1", "--resume", *extra)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("lipapps: error:") and message in lines[0], captured.err


def test_wgan_unknown_data_set_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["wgan", "--data", "cifar", "--out", str(tmp_path / "run")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert raised.value.code == 2 and len(lines) == 1 and "invalid choice: 'cifar'" in lines[0]
    assert not (tmp_path / "run").exists()
