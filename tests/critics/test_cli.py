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
