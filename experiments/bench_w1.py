"""Benchmark of ``critics.estimate_w1`` against exact OT and other estimators, in one process.

For each distribution pair: the certified bracket (``lower``, ``upper``, network-only lower bound),
the held-out estimate with its 95% interval, and wall times, next to ``ot.emd2`` (exact, Euclidean),
``ot.sinkhorn2`` (entropic, biased upward), ``ot.sliced_wasserstein_distance`` (p = 1, a lower
bound of W1 up to Monte Carlo error) and, on the headline pair, two other critics trained the
same way (1000 full-batch Adam steps, lr 1e-3, on the Kantorovich-Rubinstein loss): a WGAN-GP MLP
and a spectral-norm/GroupSort critic, deel-torchlip's own (``SpectralLinear`` + ``GroupSort2``,
``NegKRLoss``) when the optional ``bench`` extra installed it, else a re-implementation with
``torch.nn.utils.parametrizations.spectral_norm``; rows name which one ran. Neither critic is
certified (their Lipschitz constants rest on power-iteration estimates), so neither value is a
bound. Cases whose population W1 is known exactly (translates, scalings) report that too.
The critics and distributions are ``critics.baselines`` and ``critics.distributions``.
Results go to ``experiments/results/w1_bench.{json,md}`` (through ``lipapps.results``) and
``w1_error_vs_n.png`` / ``w1_time_vs_n.png``; the JSON is rewritten after every case and finished
cases are skipped on a rerun, so an interrupted run resumes. CPU, ``torch.set_num_threads(1)``.

    .venv/bin/python experiments/bench_w1.py [--quick] [--only NAME ...]

``--suite`` runs the pair suite of ``critics.distributions.w1_suite`` instead, with the defaults
only: for each family, dimension, n and seed, the bracket, ``ot.emd2`` and ``ot.sinkhorn2`` (value
and time) where the n x n costs fit, the held-out estimate against the population W1 where known,
wall and CPU seconds (``time.process_time``: the machine may be shared). Results go to
``experiments/results/w1_suite.{json,md}`` (a table per family, held-out families apart) and
``w1_suite_width_vs_n.png`` (bracket width against n).

    .venv/bin/python experiments/bench_w1.py --suite [--families NAME ...] [--sizes N ...] [--min-dim D] [--max-dim D] [--seeds S ...] [--rerun]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import ot  # noqa: E402
import torch  # noqa: E402

import lipapps  # noqa: E402
from critics import estimate_w1  # noqa: E402
from critics.baselines import LIPSCHITZ_BASELINES, gp_critic, lipschitz_baseline, train_baseline  # noqa: E402
from critics.exact import euclidean_costs  # noqa: E402
from critics.distributions import (  # noqa: E402
    SUITE_FAMILIES, DistributionPair, SuitePair, mnist_digits, scaled_gaussians, toy_pair, translated_gaussians, w1_suite,
)
from lipapps.results import ResultsFile, markdown_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Case:
    name: str
    n: int
    pair: DistributionPair
    exact: str = "auto"
    baselines: bool = False
    sweep: bool = False
    options: dict = field(default_factory=dict)  # estimate_w1 settings other than the defaults


def cases(quick: bool) -> list[Case]:
    ring = toy_pair("8gaussians", "gaussian")
    if quick:
        return [Case("ring-vs-gaussian", 500, ring, baselines=True)]
    return [
        Case("ring-vs-gaussian", 2000, ring, baselines=True, sweep=True),
        Case("gauss16-translate", 1_000_000, translated_gaussians(16), exact="never"),
        Case("gauss16-translate", 100_000, translated_gaussians(16), exact="never"),
        Case("ring-vs-gaussian", 1000, ring, sweep=True),
        Case("ring-vs-gaussian", 5000, ring, sweep=True),
        Case("ring-vs-gaussian", 10000, ring, exact="always", sweep=True),
        Case("ring-vs-gaussian", 20000, ring, exact="always", sweep=True),
        Case("gauss16-scale1.5", 10000, scaled_gaussians(16), exact="never"),
        # the radial critic |x| needs depth, and the population estimate needs samples:
        # depth 12, 38 epochs (about 3000 steps of 2048), lr 0.01 (estimate_w1's default for a deeper critic)
        Case("gauss16-scale1.5-depth12", 100_000, scaled_gaussians(16), exact="never", options={"depth": 12, "epochs": 38}),
        # twice the depth and the steps, and a smaller step size (lr 0.03, the default, gave -0.82%
        # here and -1.31% in d = 64): the held-out bias falls inside the interval
        Case("gauss16-scale1.5-depth24", 100_000, scaled_gaussians(16), exact="never", options={"depth": 24, "epochs": 76, "lr": 0.01}),
        Case("gauss64-translate", 10000, translated_gaussians(64), exact="never"),
        Case("gauss64-scale1.5-depth12", 100_000, scaled_gaussians(64), exact="never", options={"depth": 12, "epochs": 38}),
        Case("gauss64-scale1.5-depth24", 100_000, scaled_gaussians(64), exact="never", options={"depth": 24, "epochs": 76, "lr": 0.01}),
        Case("gauss64-scale1.5-depth32", 100_000, scaled_gaussians(64), exact="never", options={"depth": 32, "epochs": 228, "lr": 0.01}),
        # the same steps on twice the samples: the held-out shortfall is partly the critic fitting its split
        Case("gauss64-scale1.5-depth32", 200_000, scaled_gaussians(64), exact="never", options={"depth": 32, "epochs": 114, "lr": 0.01}),
        Case("mnist-0-vs-1", 2000, mnist_digits(0, 1)),
        Case("gauss16-translate", 2000, translated_gaussians(16)),
        Case("25gaussians-vs-gaussian", 2000, toy_pair("25gaussians", "gaussian")),
    ]


def timed(fn: Callable[[], float]) -> tuple[float, float]:
    start = time.perf_counter()
    value = float(fn())
    return value, time.perf_counter() - start


def run_case(case: Case, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    x, y = case.pair(case.n, seed)
    population = case.pair.w1
    print(f"--- {case.name} n={case.n} d={x.shape[1]} on {device}", flush=True)
    est = estimate_w1(x, y, exact="never", seed=seed, device=device, **case.options)
    row = {"case": case.name, "n": case.n, "population_w1": population, **est.summary(),
           "options": case.options, "device": device}
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    small = case.n * case.n <= 25_000_000
    if case.exact == "always" or (case.exact == "auto" and small):
        # the timed part includes building the n x n cost matrix, which emd2 needs
        start = time.perf_counter()
        m = euclidean_costs(x, y)
        row["exact"] = float(ot.emd2(a, b, m, numItermax=10**9))
        row["emd2_seconds"] = time.perf_counter() - start
        if small:  # 5000 Sinkhorn iterations on a larger matrix take longer than emd2 itself
            reg = 0.05 * float(m.mean())
            row["sinkhorn"], row["sinkhorn_seconds"] = timed(lambda: ot.sinkhorn2(a, b, m, reg, numItermax=5000))
            row["sinkhorn_reg"] = reg
        del m
        row["time_ratio_vs_emd2"] = row["seconds"] / row["emd2_seconds"]
        for key in ("lower", "upper", "network_lower"):
            row[f"{key}_rel_err"] = (row[key] - row["exact"]) / row["exact"]
        row["bracket_contains_exact"] = row["lower"] <= row["exact"] + 1e-9 <= row["upper"] + 2e-9
    if case.n <= 100_000:  # 500 projections of 10^6 points would need 4 GB a side
        row["sliced"], row["sliced_seconds"] = timed(
            lambda: ot.sliced_wasserstein_distance(x, y, a, b, n_projections=500, p=1, seed=seed))
    if population is not None:
        lo, hi = row["heldout_ci95"]
        row["heldout_rel_err_population"] = (row["heldout"] - population) / population
        row["ci_covers_population"] = lo <= population <= hi
    if case.baselines:
        d = x.shape[1]
        name, critic, objective = lipschitz_baseline(d)
        row[name], row[f"{name}_seconds"] = train_baseline(critic, x, y, objective=objective)
        row["wgan_gp"], row["wgan_gp_seconds"] = train_baseline(gp_critic(d), x, y, gp_weight=10.0)
        if row.get("exact") is not None:
            for key in (name, "wgan_gp"):
                row[f"{key}_rel_err"] = (row[key] - row["exact"]) / row["exact"]
    print(json.dumps(row), flush=True)
    return row


def pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:+.2f}%"


def num(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def paired(row: dict, key: str) -> str:
    """``value (seconds)`` of a baseline, or nothing when it was not run."""
    return f"{row[key]:.4f} ({row[key + '_seconds']:.1f})" if key in row else ""


def relative(row: dict, key: str) -> str:
    """``value rel-err (seconds)`` of a critic baseline, or nothing when it was not run."""
    if key not in row:
        return ""
    return f"{num(row[key])} {pct(row.get(key + '_rel_err'))} ({row[key + '_seconds']:.1f})"


def markdown(rows: list[dict]) -> str:
    devices = sorted({r.get("device", "cpu") for r in rows})
    where = "CPU, 1 thread" if devices == ["cpu"] else f"critic on {', '.join(devices)}; POT and the baselines on the CPU, 1 thread"
    lines = [
        f"# W1 benchmark ({where})",
        "",
        "lower/upper: certified bracket of `critics.estimate_w1` (lower = critic after c-transform "
        "refinement; net = the network alone), relative to `ot.emd2` where computed. "
        "held-out: estimate of the population W1 on a 20% split, with its 95% interval.",
        "",
        "| case | n | d | exact | lower | net | upper | width | held-out [95% CI] | population | ours s | emd2 s | ours / emd2 | sinkhorn (s) | sliced (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["case"], r["n"])):
        lo, hi = r["heldout_ci95"]
        lines.append(
            f"| {r['case']} | {r['n']} | {r['dim']} | {num(r.get('exact'))} | {num(r['lower'])} {pct(r.get('lower_rel_err'))} "
            f"| {num(r['network_lower'])} {pct(r.get('network_lower_rel_err'))} | {num(r['upper'])} {pct(r.get('upper_rel_err'))} "
            f"| {100 * r['width']:.2f}% | {num(r['heldout'])} [{num(lo)}, {num(hi)}] | {num(r.get('population_w1'))} "
            f"| {r['seconds']:.1f} | {num(r.get('emd2_seconds'), 1)} | {num(r.get('time_ratio_vs_emd2'), 2)} "
            f"| {paired(r, 'sinkhorn')} | {paired(r, 'sliced')} |"
        )
    base = [r for r in rows if "wgan_gp" in r]
    if base:
        ran = [k for k in LIPSCHITZ_BASELINES if any(k in r for r in base)]
        lines += ["", "Other critics, same pair, 1000 full-batch Adam steps, lr 1e-3 (not certified, not bounds: "
                  "the spectral-norm critics' Lipschitz constants, deel-torchlip's included, rest on "
                  "power-iteration estimates; the WGAN-GP MLP is only penalised):", "",
                  "| case | n | ours lower (s) | " + " | ".join(f"{LIPSCHITZ_BASELINES[k]} (s)" for k in ran)
                  + " | WGAN-GP MLP (s) |", "|---|---|---|" + "---|" * (len(ran) + 1)]
        for r in base:
            cells = [f"{num(r['lower'])} {pct(r.get('lower_rel_err'))} ({r['seconds']:.1f})"]
            cells += [relative(r, k) for k in (*ran, "wgan_gp")]
            lines.append(f"| {r['case']} | {r['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_plots(rows: list[dict], out: Path) -> None:
    sweep = sorted((r for r in rows if r["case"] == "ring-vs-gaussian" and r.get("exact") is not None), key=lambda r: r["n"])
    if len(sweep) < 2:
        return
    ns = [r["n"] for r in sweep]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(ns, [100 * abs(r["lower_rel_err"]) for r in sweep], "o-", label="|lower - exact| (refined)")
    ax.plot(ns, [100 * abs(r["network_lower_rel_err"]) for r in sweep], "s-", label="|lower - exact| (network)")
    ax.plot(ns, [100 * r["upper_rel_err"] for r in sweep], "^-", label="upper - exact")
    ax.set(xscale="log", yscale="log", xlabel="n (each set)", ylabel="% of exact W1", title="ring vs Gaussian: bracket")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "w1_error_vs_n.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(ns, [r["seconds"] for r in sweep], "o-", label="estimate_w1, ring vs Gaussian")
    ax.plot(ns, [r["emd2_seconds"] for r in sweep], "s-", label="ot.emd2")
    with_sinkhorn = [r for r in sweep if "sinkhorn_seconds" in r]
    ax.plot([r["n"] for r in with_sinkhorn], [r["sinkhorn_seconds"] for r in with_sinkhorn], "^-", label="ot.sinkhorn2")
    big = sorted((r for r in rows if r["case"] == "gauss16-translate"), key=lambda r: r["n"])
    if big:
        ax.plot([r["n"] for r in big], [r["seconds"] for r in big], "d--", label="estimate_w1, d=16 translate")
    ax.set(xscale="log", yscale="log", xlabel="n (each set)", ylabel="seconds", title="wall time (shared 2-core CPU, 1 thread)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "w1_time_vs_n.png", dpi=100)
    plt.close(fig)


EMD_MAX_N = 10_000
"""Largest n a side for which the suite runs ``ot.emd2`` and ``ot.sinkhorn2`` (10^8 costs, 0.8 GB)."""


def run_suite_case(entry: SuitePair, n: int, seed: int) -> dict[str, Any]:
    """``estimate_w1`` with its defaults on one suite pair, beside ``ot.emd2`` / ``ot.sinkhorn2``."""
    x, y = entry.pair(n, seed)
    print(f"--- {entry.name} n={n} seed={seed}", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    est = estimate_w1(x, y, exact="never", seed=seed)
    row = {"family": entry.family, "case": entry.name, "dim": entry.dim, "n": n, "seed": seed, "tuning": entry.tuning,
           "population_w1": entry.pair.w1, **est.summary(), "cpu_seconds": time.process_time() - cpu,
           "epochs_trained": len(est.history)}
    row["seconds"] = time.perf_counter() - wall
    if n <= EMD_MAX_N:
        a, b = np.full(n, 1 / n), np.full(n, 1 / n)
        start = time.perf_counter()
        m = euclidean_costs(x, y)
        row["exact"] = float(ot.emd2(a, b, m, numItermax=10**9))
        row["emd2_seconds"] = time.perf_counter() - start
        reg = 0.05 * float(m.mean())
        row["sinkhorn"], row["sinkhorn_seconds"] = timed(lambda: ot.sinkhorn2(a, b, m, reg, numItermax=5000))
        del m
        for key in ("lower", "upper"):
            row[f"{key}_rel_err"] = (row[key] - row["exact"]) / row["exact"]
        # the upper bound holds up to float64 rounding of the plans' marginals (relative 1e-12)
        row["bracket_contains_exact"] = row["lower"] <= row["exact"] <= row["upper"] * (1 + 1e-12)
    row["bracket"] = (row["upper"] - row["lower"]) / row["lower"] if row["lower"] > 0 else None
    if entry.pair.w1 is not None and row["heldout"] is not None:
        lo, hi = row["heldout_ci95"]
        row["heldout_rel_err_population"] = (row["heldout"] - entry.pair.w1) / entry.pair.w1
        row["ci_covers_population"] = lo <= entry.pair.w1 <= hi
    print(json.dumps({k: v for k, v in row.items() if k not in ("plan", "glued", "bounds")}), flush=True)
    return row


SUITE_COLUMNS = [
    ("pair", lambda r: r["case"]), ("n", lambda r: r["n"]), ("seed", lambda r: r["seed"]),
    ("exact", lambda r: num(r.get("exact"))),
    ("lower", lambda r: f"{num(r['lower'])} {pct(r.get('lower_rel_err'))}"),
    ("upper", lambda r: f"{num(r['upper'])} {pct(r.get('upper_rel_err'))}"),
    ("(upper - lower) / lower", lambda r: pct(r["bracket"])),
    ("held-out [95% CI]", lambda r: "" if r["heldout"] is None else
        f"{num(r['heldout'])} [{num(r['heldout_ci95'][0])}, {num(r['heldout_ci95'][1])}]"),
    ("population", lambda r: f"{num(r.get('population_w1'))} {pct(r.get('heldout_rel_err_population'))}"),
    ("wall s (cpu s)", lambda r: f"{r['seconds']:.1f} ({r['cpu_seconds']:.1f})"),
    ("emd2 (s)", lambda r: f"{r['exact']:.4f} ({r['emd2_seconds']:.1f})" if "emd2_seconds" in r else ""),
    ("sinkhorn (s)", lambda r: paired(r, "sinkhorn")),
    ("commit", lambda r: r.get("provenance", {}).get("commit", "")[:8]),
]


def suite_markdown(rows: list[dict]) -> str:
    lines = ["# W1 suite: `critics.estimate_w1` with its defaults (CPU)", "",
             "lower/upper relative to `ot.emd2` where it ran (n <= 10^4); population: the known W1 of the "
             "distributions and the held-out estimate's error against it. Times on a shared 2-core machine "
             "(load 2-11): wall seconds are inflated, CPU seconds beside them. `commit`: the code (and so the "
             "defaults) that made the row.", ""]
    for tuning, title in ((True, "Tuning families"), (False, "Held-out families (kept out of all tuning)")):
        lines += [f"## {title}", ""]
        for family in SUITE_FAMILIES:
            part = sorted((r for r in rows if r["family"] == family and r["tuning"] == tuning),
                          key=lambda r: (r["dim"], r["n"], r["seed"]))
            if part:
                lines += [f"### {family}", "", markdown_table(part, SUITE_COLUMNS)]
    lines += ["## Held-out estimate against the population W1, d >= 10", ""]
    for tuning, title in ((True, "tuning families"), (False, "held-out families")):
        known = [r for r in rows if r["dim"] >= 10 and r["tuning"] == tuning and "ci_covers_population" in r]
        within = sum(abs(r["heldout_rel_err_population"]) <= 0.03 for r in known)
        covers = sum(r["ci_covers_population"] for r in known)
        lines.append(f"- {title}: {len(known)} (pair, n, seed) cases; estimate within 3% on {within}, "
                     f"95% interval covering on {covers}")
    return "\n".join(lines) + "\n"


def write_suite_plot(rows: list[dict], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in sorted({r["case"] for r in rows}):
        part = sorted((r for r in rows if r["case"] == name and r["bracket"] is not None), key=lambda r: r["n"])
        if part:
            ax.plot([r["n"] for r in part], [100 * r["bracket"] for r in part], "o-", label=name)
    ax.set(xscale="log", xlabel="n (each set)", ylabel="(upper - lower) / lower, %", title="certified bracket width, defaults")
    ax.set_yscale("symlog", linthresh=0.01)  # zero where the glued bracket is exact OT (one cell per point)
    ax.set_ylim(bottom=0.0)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "w1_suite_width_vs_n.png", dpi=100)
    plt.close(fig)


def run_suite(args: argparse.Namespace) -> None:
    unknown = sorted(set(args.families or []) - set(SUITE_FAMILIES))
    if unknown:
        print(f"lipapps: error: unknown family {', '.join(unknown)}; choose from {', '.join(SUITE_FAMILIES)}", file=sys.stderr)
        raise SystemExit(2)
    results = ResultsFile(args.out / "w1_suite.json", key=lambda r: (r["case"], r["n"], r["seed"]), markdown=suite_markdown)
    for n in args.sizes or [2500]:
        for entry in w1_suite(args.families):
            if not args.min_dim <= entry.dim <= args.max_dim:
                continue
            for seed in args.seeds:
                if args.rerun or not results.has((entry.name, n, seed)):
                    results.add(run_suite_case(entry, n, seed))
    results.write()
    write_suite_plot(results.records, args.out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small case (a smoke run)")
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument("--sizes", nargs="*", type=int, help="only cases with these n")
    parser.add_argument("--device", default="cpu", help="where the critic trains (the baselines stay on the CPU)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--suite", action="store_true", help="run the pair suite with the defaults instead")
    parser.add_argument("--families", nargs="*", help="suite families to run (default: all)")
    parser.add_argument("--min-dim", type=int, default=1, help="suite pairs from this dimension")
    parser.add_argument("--max-dim", type=int, default=64, help="suite pairs up to this dimension")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0], help="suite seeds")
    parser.add_argument("--rerun", action="store_true", help="run stored suite cases again, replacing their records")
    args = parser.parse_args()
    if args.suite:
        torch.set_num_threads(1)
        run_suite(args)
        return
    todo = cases(args.quick)
    unknown = sorted(set(args.only or []) - {c.name for c in todo})
    if unknown:
        names = ", ".join(sorted({c.name for c in todo}))
        print(f"lipapps: error: unknown case {', '.join(unknown)}; choose from {names}", file=sys.stderr)
        raise SystemExit(2)
    device = str(lipapps.resolve_device(args.device))
    torch.set_num_threads(1)
    results = ResultsFile(args.out / ("w1_bench_quick.json" if args.quick else "w1_bench.json"),
                          key=lambda r: (r["case"], r["n"]), markdown=markdown)
    for case in todo:
        if results.has((case.name, case.n)) or (args.only and case.name not in args.only) or (args.sizes and case.n not in args.sizes):
            continue
        results.add(run_case(case, device=device), device=device)
    results.write()
    if not args.quick:
        write_plots(results.records, args.out)


if __name__ == "__main__":
    main()
