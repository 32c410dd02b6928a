"""The lipapps command: JSON output, and one clear line with exit code 2 for bad input."""

import json
import subprocess
import sys

import pytest
import torch

import lipapps
from lipapps.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "lipapps.cli", *args], capture_output=True, text=True, timeout=120)


def test_certify_json(tmp_path, capsys):
    model = lipapps.LipschitzResNet(3, 2, width=8, depth=2)
    path = lipapps.save(model, tmp_path / "m.pt")
    assert main(["certify", str(path), "--json", "--steps", "10"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"upper_bound", "empirical_lower_bound", "parameters"}
    assert result["empirical_lower_bound"] <= result["upper_bound"] <= 1.0
    assert result["parameters"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "content, message",
    [(None, "(?i)no such file"), (b"not a checkpoint at all", "refused to load|not a readable"), ("foreign", "not a lipapps model file")],
)
def test_certify_bad_files_exit_2_without_traceback(tmp_path, content, message):
    path = tmp_path / "model.pt"
    if content == "foreign":
        torch.save({"w": torch.ones(2)}, path)
    elif content is not None:
        path.write_bytes(content)
    proc = run_cli("certify", str(path), "--json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if not l.startswith("lipapps: warning")]
    assert len(lines) == 1 and lines[0].startswith("lipapps: error:")
    import re

    assert re.search(message, lines[0])
    assert proc.stdout == ""


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["certify"])
    assert exc.value.code == 2


def _one_error_line(proc_or_err: str) -> str:
    lines = proc_or_err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipapps: error:"), proc_or_err
    assert "Traceback" not in proc_or_err
    return lines[0]


def test_certify_dense_model_refuses_a_wrong_input_shape(tmp_path, capsys):
    path = lipapps.save(lipapps.LipschitzResNet(3, 2, width=8, depth=1), tmp_path / "m.pt")
    assert main(["certify", str(path), "--input-shape", "3", "--steps", "1", "--points", "2", "--json"]) == 0
    capsys.readouterr()
    assert main(["certify", str(path), "--input-shape", "4"]) == 2
    assert "3 input features" in _one_error_line(capsys.readouterr().err)


def test_usage_error_is_one_line_and_version_and_defaults_are_shown():
    proc = run_cli("certify", "model.pt", "--bogus")
    assert proc.returncode == 2 and "unrecognized arguments" in _one_error_line(proc.stderr)
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"lipapps {lipapps.__version__}"
    assert "(default: 64)" in " ".join(run_cli("certify", "--help").stdout.split())


def test_classify_out_certify_and_evaluate_connect(tmp_path, capsys):
    model = tmp_path / "m.pt"
    assert main(["classify", "two-moons", "--epochs", "1", "--depth", "2", "--out", str(model), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert main(["certify", str(model), "--json", "--steps", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["upper_bound"] == trained["lipschitz_upper_bound"]
    assert main(["classify", "evaluate", str(model), "--radii", "0", "0.1", "0.5", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["test_accuracy"] == trained["test_accuracy"]  # the same test split, rebuilt from the metadata
    assert list(scores["certified_accuracy"]) == ["0.0", "0.1", "0.5"]
    assert scores["certified_accuracy"]["0.5"] <= scores["certified_accuracy"]["0.1"] <= scores["test_accuracy"]
    x, y = lipapps.datasets.make_moons(50, noise=0.1, seed=3)
    import numpy as np

    np.savez(tmp_path / "d.npz", x=x.numpy(), y=y.numpy())
    assert main(["classify", "evaluate", str(model), "--data", str(tmp_path / "d.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 50


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["classify", "two-moons", "--epochs", "1", "--out", "{tmp}"], "is a folder"),
        (["classify", "evaluate", "{model}", "--radii", "-1"], "--radii must be non-negative"),
        (["classify", "evaluate", "{model}", "--data", "{wide}"], "the data has 3 features"),
        (["classify", "evaluate", "{model}", "--data", "{text}"], "not a .npy file|cannot read"),
        (["classify", "evaluate", "{model}", "--data", "mnist"], "needs --data-dir"),
    ],
)
def test_classify_bad_input_exits_2(tmp_path, capsys, argv, message):
    import re

    import numpy as np

    model = lipapps.save(lipapps.LipschitzResNet(2, 1, width=4, depth=1), tmp_path / "m.pt")
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 3)), y=np.zeros(4, dtype=int))
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    paths = {"tmp": tmp_path, "model": model, "wide": tmp_path / "wide.npz", "text": tmp_path / "text.npz"}
    assert main([a.format(**paths) for a in argv]) == 2
    assert re.search(message, _one_error_line(capsys.readouterr().err))
