"""Train the small MNIST / Fashion-MNIST classifier whose features the WGAN image metrics use.

Trains :class:`critics.image_metrics.ImageClassifier` on the 60k training images (1 thread,
seeded), measures its accuracy on the 10k test images, and ships the weights in
``experiments/classifiers/classifier_<data>.pt`` with that accuracy and the feature layer; a record
goes to ``experiments/results/image_classifiers.json`` (through ``lipapps.results``).

    LIPAPPS_DATA=... .venv/bin/python experiments/train_image_classifier.py [--data mnist] [--epochs 2] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from critics.image_metrics import FEATURE_LAYER, classifier_accuracy, save_classifier, train_classifier
from lipapps.datasets import load_mnist
from lipapps.results import ResultsFile, data_dir, markdown_table

HERE = Path(__file__).resolve().parent
FOLDERS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist"}


def flat(images: torch.Tensor) -> torch.Tensor:
    return images.reshape(len(images), -1).float() / 255.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(FOLDERS), default="mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, help="folder of the IDX files (default: the shared data folder's <data>)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = args.data_dir if args.data_dir is not None else data_dir(FOLDERS[args.data])
    train_x, train_y = load_mnist(root, "train", dataset=args.data)
    test_x, test_y = load_mnist(root, "test", dataset=args.data)
    start = time.perf_counter()
    model = train_classifier(flat(train_x), train_y.long(), epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    accuracy = classifier_accuracy(model, flat(test_x), test_y.long())
    weights = HERE / "classifiers" / f"classifier_{args.data}.pt"
    save_classifier(model, weights, args.data, accuracy)
    results = ResultsFile(HERE / "results" / "image_classifiers.json", key=lambda r: r["data"], markdown=lambda rows: (
        "# Image classifiers of the WGAN metrics (CPU, 1 thread)\n\n" + markdown_table(rows, [
            ("data", lambda r: r["data"]), ("test accuracy", lambda r: f"{100 * r['test_accuracy']:.2f}%"),
            ("epochs", lambda r: r["epochs"]), ("seconds", lambda r: f"{r['seconds']:.0f}"), ("feature layer", lambda r: r["layer"]),
        ])))
    record = results.add({"data": args.data, "test_accuracy": accuracy, "epochs": args.epochs, "seed": args.seed,
                          "seconds": seconds, "layer": FEATURE_LAYER, "weights": str(weights.relative_to(HERE.parent))})
    print({k: v for k, v in record.items() if k != "provenance"})


if __name__ == "__main__":
    main()
