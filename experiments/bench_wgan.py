"""WGAN with a certified ``lipapps`` critic against WGAN-GP, same generator and budget.

Both runs use ``critics.wgan.train_wgan`` with the same generator architecture, seed, number of
generator steps, critic steps per generator step, batch size and learning rates; they differ only
in the critic: a ``W1Critic`` (1-Lipschitz by construction, no penalty) or an unconstrained
MLP of similar size with the gradient penalty of Gulrajani et al. 2017 (weight 10). Reported:
the final exact W1 (``ot.emd2``, Euclidean) between 5000 generated and 5000 real samples, the
curve of exact W1 over training, and wall time (CPU, ``torch.set_num_threads(1)``). The WGAN-GP
critic is ``critics.baselines.gp_critic``. Results go to ``experiments/results/wgan_bench.{json,md}``
(through ``lipapps.results``) and ``wgan_<data>_<critic>_*.png``; finished runs are skipped on a rerun.

    .venv/bin/python experiments/bench_wgan.py [--steps 1000] [--data 8gaussians 25gaussians]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

import lipapps
from critics.baselines import gp_critic
from critics.toy import TOY_DATASETS
from critics.wgan import train_wgan, write_wgan_outputs
from lipapps.results import ResultsFile, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("certified", "wgan-gp")


def run(data: str, kind: str, steps: int, seed: int, out: Path) -> dict[str, Any]:
    torch.manual_seed(seed)
    critic = gp_critic(2, width=128, hidden_layers=3) if kind == "wgan-gp" else None
    result = train_wgan(data, steps=steps, critic=critic, gp_weight=10.0 if kind == "wgan-gp" else 0.0,
                        log_every=max(1, steps // 10), progress=False, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = write_wgan_outputs(result, data, Path(tmp))
        for name in ("samples.png", "critic.png", "training_curve.png"):
            shutil.copy(Path(tmp) / name, out / f"wgan_{data}_{kind}_seed{seed}_{name}")
    row = {"data": data, "critic": kind, "steps": steps, "seed": seed, "final_exact_w1": metrics["final_exact_w1"],
           "seconds": result.seconds, "curve": [(h["step"], h["exact_w1"], h["critic_estimate"]) for h in result.history]}
    if kind == "certified":
        row["certificate"] = lipapps.certify(result.critic).upper_bound
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    return "\n".join([
        "# WGAN benchmark (CPU, 1 thread)", "",
        "Same generator, seed, steps, batch (256), 3 critic steps per generator step, Adam (5e-4 generator, 2e-3 critic). "
        "Final exact W1 between 5000 generated and 5000 real samples (ot.emd2).", "",
    ]) + "\n" + markdown_table(rows, [
        ("data", lambda r: r["data"]), ("critic", lambda r: r["critic"]), ("steps", lambda r: r["steps"]),
        ("seed", lambda r: r["seed"]), ("final exact W1", lambda r: f"{r['final_exact_w1']:.4f}"),
        ("seconds", lambda r: f"{r['seconds']:.1f}"),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--data", nargs="+", choices=sorted(TOY_DATASETS), default=["8gaussians", "25gaussians"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = ResultsFile(args.out / "wgan_bench.json", key=lambda r: (r["data"], r["critic"], r["steps"], r["seed"]),
                          markdown=markdown)
    for data in args.data:
        for seed in args.seeds:
            for kind in KINDS:
                if not results.has((data, kind, args.steps, seed)):
                    results.add(run(data, kind, args.steps, seed, args.out))
    results.write()


if __name__ == "__main__":
    main()
