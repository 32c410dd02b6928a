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
