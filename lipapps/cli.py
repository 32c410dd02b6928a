"""The ``lipapps`` command.

Core subcommands live here (``certify``, ``demo``); the applications add theirs through the
entry-point group ``lipapps.commands`` (a function ``register(subparsers)``), and their demo
parts through ``lipapps.demos`` (a function ``run(out_dir)``), so the core imports nothing of
theirs. Bad input (:class:`~lipapps.errors.InputError`, a missing file) prints one line on
stderr and exits with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NoReturn, Sequence

import torch

from lipapps.errors import InputError

COMMAND_GROUP = "lipapps.commands"
DEMO_GROUP = "lipapps.demos"


def fail(message: str) -> NoReturn:
    """One line on stderr, ``lipapps: error: <message>``, and exit code 2: how bad input ends in
    the command and in the scripts of ``experiments/``."""
    print(f"lipapps: error: {message}", file=sys.stderr)
    sys.exit(2)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (``lipapps: error: ...``) and exit code 2 like every
    other bad input, and every option's help shows its default. Sub-parsers inherit the class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"lipapps: error: {message} (see {self.prog} --help)\n")


def output_path(path: str | Path, option: str, suffixes: Sequence[str] | None = None) -> Path:
    """``path`` checked as a file to write, before any long work: not a folder, its parent not a
    file, and (with ``suffixes``) one of those suffixes. Raises :class:`InputError` naming ``option``."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file name")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise InputError(f"{option} {path}: a parent of it is a file, not a folder")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"{option} {path}: unknown output format {path.suffix or '(no suffix)'!r}; use one of {', '.join(suffixes)}")
    return path


def check_positive(value: float, option: str, minimum: float = 1) -> None:
    """Raise :class:`InputError` unless ``value >= minimum`` (the option's range, checked before work)."""
    if not value >= minimum:
        raise InputError(f"{option} must be at least {minimum:g}, got {value}")


def _certify_shape(model: torch.nn.Module, path: str, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """The input shape (without batch) of ``model``: ``(in_features,)`` for a dense model, the
    user's ``C H W`` for an image model, checked by one forward pass on zeros."""
    config = model.config()
    if "in_features" in config:
        expected = (int(config["in_features"]),)
        if shape is not None and shape != expected:
            raise InputError(f"{path}: a dense model with {expected[0]} input features; --input-shape must be {expected[0]}, got {' '.join(map(str, shape))}")
        return expected
    if shape is None:
        raise InputError(f"{path}: this model takes images; give their shape with --input-shape C H W")
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"{path}: this model takes images; --input-shape must be three positive numbers C H W, got {' '.join(map(str, shape))}")
    try:
        with torch.no_grad():
            model(torch.zeros((1, *shape)))
    except RuntimeError as exc:
        raise InputError(f"{path}: --input-shape {' '.join(map(str, shape))} does not fit the model ({str(exc).splitlines()[0]})") from None
    return shape


def _certify_command(args: argparse.Namespace) -> int:
    from lipapps.certify import certify, empirical_lipschitz
    from lipapps.checkpoint import load

    check_positive(args.points, "--points")
    check_positive(args.steps, "--steps", minimum=0)
    model = load(args.path, check=False)
    given = tuple(args.input_shape) if args.input_shape else None
    shape = _certify_shape(model, args.path, given)
    cert = certify(model, input_shape=given)
    x = torch.randn((args.points, *shape), generator=torch.Generator().manual_seed(args.seed))
    lower = empirical_lipschitz(model, x, steps=args.steps)
    params = sum(p.numel() for p in model.parameters())
    result = {"upper_bound": cert.upper_bound, "empirical_lower_bound": lower, "parameters": params}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model:                  {args.path}")
        print(f"certified upper bound:  {cert.upper_bound:.6f}")
        print(f"empirical lower bound:  {lower:.6f}")
        print(f"parameters:             {params}")
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    from lipapps.demo import run_two_moons

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    run_two_moons(out_dir)
    for run_part in _plugins(DEMO_GROUP):
        run_part(out_dir)
    return 0


def _plugins(group: str) -> list:
    """The functions registered under an entry-point group; a broken one is reported, not hidden."""
    found = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            found.append(ep.load())
        except (ImportError, AttributeError) as exc:
            print(f"lipapps: warning: plugin {ep.name!r} ({ep.value}) is unavailable: {exc}", file=sys.stderr)
    return found


def build_parser() -> argparse.ArgumentParser:
    from lipapps import __version__

    parser = _ArgumentParser(prog="lipapps", description="1-Lipschitz residual networks: certify, classify, W1, denoise.")
    parser.add_argument("--version", action="version", version=f"lipapps {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    p = sub.add_parser("certify", help="certified upper and empirical lower Lipschitz bounds of a saved model")
    p.add_argument("path", help="a model file written by lipapps.save")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--input-shape", type=int, nargs="+", help="input shape without batch: C H W for image models (e.g. 1 64 64); dense models take their in_features")
    p.add_argument("--points", type=int, default=64, help="points for the adversarial search")
    p.add_argument("--steps", type=int, default=100, help="adversarial ascent steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the search's starting points")
    p.set_defaults(func=_certify_command)

    p = sub.add_parser("demo", help="the built-in demonstration (two-moons and the applications' parts)")
    p.add_argument("--out", default="demo_output", help="folder for the figures")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the demo's models are small: 1 is fastest; 0 keeps torch's default)")
    p.set_defaults(func=_demo_command)

    for register in _plugins(COMMAND_GROUP):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lipapps`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (InputError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        message = str(exc) if not isinstance(exc, OSError) or not exc.filename else f"{exc.strerror}: {exc.filename}"
        print(f"lipapps: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
