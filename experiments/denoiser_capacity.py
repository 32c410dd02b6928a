"""How far the certified averaged denoiser goes with more capacity, when compute is not the limit.

The shipped sigma = 25 denoiser (16 channels, 64 hidden, depth 6, half resolution) is sized for
an hour on 2 CPU cores, and longer training did not move it (20 epochs: 27.10 dB validation
against 27.18 with 10). This script asks whether *size* is the limit: each variant is a certified
:class:`denoisers.model.AveragedDenoiser` (``a = 1/2`` unless the variant sets it, parametrization) trained within the same
wall-clock budget on one device (meant for a GPU), the number of epochs fitted to the budget from
the measured time of a few training steps. Then every variant, and the shipped weights, denoise
all of BSD68 at sigma = 25 with the noise of ``bench_pnp.py --bsd68-denoising`` (seed = image
index), so the PSNRs compare with that table (shipped: 27.34 dB; BM3D 28.57 dB published).

Records go to ``--results`` (``lipapps.results``: one per variant, replacing the stored one of the
same variant) and the markdown table beside it; ``--weights-dir`` keeps each trained model (``lipapps.save`` format).
Variants can run as separate processes sharing one GPU, each with its own ``--results`` file;
``--merge FILE ...`` then joins their records into the default results.

    python experiments/denoiser_capacity.py --device cuda --minutes 7 --variants "32 ch, 128 hidden, depth 8"
    python experiments/denoiser_capacity.py --merge a.json b.json
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

import lipapps
from lipapps.results import ResultsFile, data_dir, markdown_table, read_records
from denoisers.benchmark import mean_denoising_psnr
from denoisers.model import CONVEX_RIDGE, AveragedDenoiser
from denoisers.training import epochs_for_budget, image_files, seconds_per_step, split_files, train_denoiser
from denoisers.weights import load_denoiser

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "denoiser_capacity.json"
SIGMA = 25
SHIPPED = {"channels": 16, "hidden_channels": 64, "depth": 6, "patch_size": 40, "patches_per_image": 32}
LARGER = {"patch_size": 64, "patches_per_image": 64}
VARIANTS = {
    "shipped size (16 ch, 64 hidden, depth 6)": SHIPPED,
    "32 ch, 128 hidden, depth 8": {**LARGER, "channels": 32, "hidden_channels": 128, "depth": 8},
    "64 ch, 256 hidden, depth 8": {**LARGER, "channels": 64, "hidden_channels": 256, "depth": 8},
    "32 ch, 128 hidden, depth 16": {**LARGER, "channels": 32, "hidden_channels": 128, "depth": 16},
    "full resolution, 32 ch, 128 hidden, depth 8": {**LARGER, "channels": 32, "hidden_channels": 128, "depth": 8, "downsampling": 1},
    # Goujon et al.'s convex-ridge gradient-step denoiser: one spline block on the image, a = 0.99
    "convex ridge (1 spline block, 32 hidden, 13 x 13, a = 0.99)": {**CONVEX_RIDGE, "patch_size": 40, "patches_per_image": 32},
}
#: Share of the budget planned for training; the rest covers validation and the timing itself.
BUDGET_SHARE = 0.85


def run_variant(name: str, args: argparse.Namespace, device: torch.device, shipped_psnr: float) -> dict:
    spec = dict(VARIANTS[name])
    patch_size, per_image = spec.pop("patch_size"), spec.pop("patches_per_image")
    torch.manual_seed(args.seed)
    model = AveragedDenoiser(**spec, sigma=SIGMA)
    # the split train_denoiser makes (validation fraction 0.1, same seed): only its size is needed here
    train_files, _ = split_files(image_files(args.data / "train400"), 0.1, args.seed)
    step = seconds_per_step(model, SIGMA, patch_size, args.batch_size, device)
    steps_per_epoch = math.ceil(len(train_files) * per_image / args.batch_size)
    epochs = epochs_for_budget(BUDGET_SHARE * 60 * args.minutes, step, steps_per_epoch)
    print(f"{name}: {step * 1e3:.1f} ms per step, {steps_per_epoch} steps per epoch -> {epochs} epochs", flush=True)
    run = train_denoiser(args.data / "train400", SIGMA, model=model, epochs=epochs, patch_size=patch_size,
                         patches_per_image=per_image, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         progress=False, device=device)
    model = run.model.cpu()  # saved and certified on the CPU, scored on the device
    if args.weights_dir is not None:
        slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
        lipapps.save(model, args.weights_dir / f"{slug}.pt", metadata={"variant": name, "sigma": SIGMA})
    return {
        "variant": name,
        "config": {**model.config(), "patch_size": patch_size, "patches_per_image": per_image},
        "parameters": sum(p.numel() for p in model.parameters()),
        "certificate": lipapps.certify(model).upper_bound,
        "epochs": epochs,
        "minutes": args.minutes,
        "seconds_per_step": step,
        "train_seconds": run.seconds,
        "validation_psnr": [h["validation_psnr"] for h in run.history],
        "bsd68_psnr": mean_denoising_psnr(model.to(device), image_files(args.data / "bsd68"), SIGMA, device),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "shipped_bsd68_psnr": shipped_psnr,
    }


def markdown(records: list[dict]) -> str:
    """The table, variants in the order of VARIANTS (unknown ones last); the header from the first record."""
    order = list(VARIANTS)
    records = sorted(records, key=lambda r: order.index(r["variant"]) if r["variant"] in order else len(order))
    first = records[0] if records else {}
    lines = [
        f"# Denoiser capacity (sigma 25, certified, a = 1/2 unless the variant says; {first.get('device', '?')})",
        "",
        "BSD68: all 68 images, the noise of `bench_pnp.py --bsd68-denoising`; the shipped weights (CPU, 10 epochs) score "
        f"{first.get('shipped_bsd68_psnr', float('nan')):.2f} dB there. Published BM3D: 28.57 dB. Epochs fitted to each "
        "row's budget from the timed steps (variants sharing the GPU time each other).",
        "",
    ]
    columns = [
        ("variant", lambda r: r["variant"]),
        ("parameters", lambda r: r["parameters"]),
        ("certificate of D", lambda r: f"{r['certificate']:.4f}"),
        ("budget (min)", lambda r: f"{r['minutes']:g}"),
        ("ms / step", lambda r: f"{1e3 * r['seconds_per_step']:.0f}"),
        ("epochs", lambda r: r["epochs"]),
        ("best validation PSNR", lambda r: f"{max(r['validation_psnr']):.2f}" if r.get("validation_psnr") else "-"),
        ("BSD68 PSNR", lambda r: f"{r['bsd68_psnr']:.2f}"),
        ("note", lambda r: r.get("note", "")),
    ]
    return "\n".join(lines) + "\n" + markdown_table(records, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--minutes", type=float, default=7.0, help="training budget per variant")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=data_dir("images"), help="folder holding train400/ and bsd68/")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--weights-dir", type=Path, help="keep each trained model here")
    parser.add_argument("--merge", nargs="+", type=Path, help="only: join the rows of these results files into --results")
    args = parser.parse_args()
    results = ResultsFile(args.results, key=lambda r: r["variant"], markdown=markdown)
    if args.merge:
        for path in args.merge:
            results.merge(read_records(path))
        return
    device = lipapps.resolve_device(args.device)
    shipped_psnr = mean_denoising_psnr(load_denoiser(SIGMA).to(device), image_files(args.data / "bsd68"), SIGMA, device)
    for name in args.variants:
        results.add(run_variant(name, args, device, shipped_psnr), device=device)
        print(markdown(results.records), flush=True)


if __name__ == "__main__":
    main()
