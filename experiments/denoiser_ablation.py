"""Where the certified denoiser loses PSNR: short trainings of variants with one thing changed.

Every variant is trained with the same recipe (train400 split 360 / 40, 20 patches of 40 x 40
per image, batch 32, Adam with a cosine schedule over ``--epochs`` epochs, lr 2e-3, sigma 25)
and scored by the validation PSNR of each epoch (central 96 x 96 crops of the 40 held-out
images). The reference is the first shipped architecture (full resolution, 8 channels, 32
hidden, depth 6, ``a = 1/2``, parametrization); each other row changes one thing:

* ``unconstrained``: the same network with ``constraint="none"`` (no certificate): the price of
  the norm constraints themselves;
* ``projection``: the same constraint kept by projection after each step instead;
* ``averaging 0.9``: ``D = 0.1 I + 0.9 N``, still averaged but far from firmly non-expansive:
  the price of asking for ``a = 1/2``;
* ``hidden 64``, ``depth 12`` and ``channels 16``: twice the rows per block, twice the blocks or
  twice the state: the price of capacity;
* ``pixel-unshuffle 2 ...``: the blocks on 2 x 2 cells stacked as channels (half resolution), with
  16 channels and 64 hidden (the architecture shipped now: about the reference's cost per
  pixel), and that with 128 hidden or 10 blocks, or with input injection
  (:class:`lipapps.InputInjection`: every block's output mixed with the lifted input).

Records of variants not run keep their stored values (``--variants`` re-runs some); the files
(``lipapps.results``) are rewritten after every variant.

    python experiments/denoiser_ablation.py                 # -> experiments/results/denoiser_ablation.{json,md}
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import lipapps
from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.model import AveragedDenoiser
from denoisers.training import train_denoiser

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "denoiser_ablation.json"
REFERENCE = {"channels": 8, "hidden_channels": 32, "depth": 6, "averaging": 0.5, "downsampling": 1, "constraint": "parametrization"}
UNSHUFFLED = {"downsampling": 2, "channels": 16, "hidden_channels": 64}
VARIANTS = {
    "certified (full resolution, 8 channels)": {},
    "unconstrained": {"constraint": "none"},
    "projection": {"constraint": "projection"},
    "averaging 0.9": {"averaging": 0.9},
    "hidden 64": {"hidden_channels": 64},
    "depth 12": {"depth": 12},
    "channels 16": {"channels": 16},
    "pixel-unshuffle 2, 16 channels, 64 hidden (shipped)": UNSHUFFLED,
    "pixel-unshuffle 2, 16 channels, 128 hidden": {**UNSHUFFLED, "hidden_channels": 128},
    "pixel-unshuffle 2, 16 channels, 64 hidden, depth 10": {**UNSHUFFLED, "depth": 10},
    "pixel-unshuffle 2, 16 channels, 64 hidden, input injection 0.1": {**UNSHUFFLED, "injection": 0.1},
    "pixel-unshuffle 2, 16 channels, 64 hidden, input injection 0.3": {**UNSHUFFLED, "injection": 0.3},
}


def markdown(records: list[dict]) -> str:
    """The table, variants in the order of VARIANTS, one column per epoch of the longest run."""
    records = sorted((r for r in records if r["variant"] in VARIANTS), key=lambda r: list(VARIANTS).index(r["variant"]))
    epochs = max((len(r["validation_psnr"]) for r in records), default=0)
    columns = [
        ("variant", lambda r: r["variant"]),
        ("parameters", lambda r: r["parameters"]),
        ("certificate of D", lambda r: "none" if r["certificate"] is None else f"{r['certificate']:.4f}"),
        *[(f"epoch {e + 1}", lambda r, e=e: f"{r['validation_psnr'][e]:.2f}" if e < len(r["validation_psnr"]) else "") for e in range(epochs)],
        ("seconds", lambda r: f"{r['seconds']:.0f}"),
    ]
    title = f"# Denoiser ablation (sigma 25, {epochs} epochs each; validation PSNR on 40 held-out train400 crops; CPU, 1 thread)\n\n"
    return title + markdown_table(records, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="results JSON (the markdown table goes beside it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = ResultsFile(args.results, key=lambda r: r["variant"], markdown=markdown)
    for name in args.variants:
        config = {**REFERENCE, **VARIANTS[name]}
        torch.manual_seed(args.seed)
        model = AveragedDenoiser(**config, sigma=25)
        run = train_denoiser(args.data, 25, model=model, epochs=args.epochs, patches_per_image=20, seed=args.seed, progress=False)
        certified = config["constraint"] != "none"
        results.add({
            "variant": name,
            "config": config,
            "parameters": sum(p.numel() for p in model.parameters()),
            "certificate": lipapps.certify(model).upper_bound if certified else None,
            "validation_psnr": [h["validation_psnr"] for h in run.history],
            "seconds": run.seconds,
            "epochs": args.epochs,
            "sigma": 25,
            "seed": args.seed,
            "device": "cpu",
        })
        print(markdown(results.records), flush=True)


if __name__ == "__main__":
    main()
