"""Convert the committed results files of earlier script versions into records with provenance.

Every ``*.json`` under ``--results-dir`` (default ``experiments/results``, subfolders included)
becomes what the scripts write now: a JSON list of records, each with a ``provenance``
(``lipapps.results``). Older layouts and what happens to them:

* a list of records without provenance (``two_moons``, ``mnist``, ``w1_bench``, ...): each record
  is kept as it is and stamped;
* ``bench_constraints*``: ``{model, samples, machine, torch, results}``: each row of ``results``
  becomes a record with the fields ``bench_constraints.py`` keeps per record (``depth``,
  ``samples``, ``device``); the machine and torch version go into the provenance;
* ``{meta, rows}`` (``denoiser_ablation``, ``denoiser_capacity*``, ``pnp_*``): each row becomes a
  record with the meta fields its script now keeps per record (:data:`PER_RECORD`); ``threads``
  and a GPU name go into the provenance, the other meta fields (the run's arguments) into its note;
* ``denoiser_training_<name>``: one object, one record, named ``<name>`` as
  ``train_denoisers.py`` names it; ``threads`` goes into the provenance;
* ``pnp_tuning``: ``{images, size, max_iter, factors, levels, psnr: {problem: {row: {k: PSNR}}}}``:
  one record per ``(problem, row, k)`` as ``tune_pnp.py`` writes them.

Every number is kept. The provenance is read from git history before the file is rewritten
(:class:`lipapps.results.FileHistory`: the last commit that changed the lines a record came
from), marked ``backfilled``; files whose history shows hand edits say so in their note
(:data:`HAND_EDITED`). Records that already carry a provenance are left alone, so a second run
changes nothing. Every file must be committed first.

    python experiments/migrate_results.py [--results-dir experiments/results]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from lipapps.errors import InputError
from lipapps.results import FileHistory, read_records, write_records

RESULTS = Path(__file__).resolve().parent / "results"
#: Meta fields of ``{meta, rows}`` files that their script now keeps in every record, by file-name prefix.
PER_RECORD = {
    "denoiser_ablation": ("epochs", "sigma", "seed", "device"),
    "denoiser_capacity": ("device", "minutes", "batch_size", "lr", "seed", "shipped_bsd68_psnr"),
    "pnp_": (),
}
#: What git history shows was edited by hand, by path under the results folder: the scripts of
#: the commit that added these files (6f0ab30) write no ``note`` field, always record
#: ``train_seconds``, ``validation_psnr`` and ``minutes`` in the meta, and record a device as
#: ``str(torch.device)``.
HAND_EDITED = {
    "gpu/denoiser_capacity.json": "partly annotated by hand: denoiser_capacity.py at 6f0ab30, the commit that added this "
    "file, writes no 'note', always records train_seconds and validation_psnr, and keeps minutes in the meta; the notes, "
    "the 64-channel row (null train_seconds and validation_psnr, 6.8 minutes) and the meta without minutes were edited by hand",
    "gpu/w1_bench_h100.json": "partly annotated by hand: bench_w1.py at 6f0ab30, the commit that added this file, records "
    "the device as str(torch.device); the stored 'cuda (NVIDIA H100 80GB HBM3)' was written by hand and is 'cuda' again here, "
    "the GPU name in gpu",
}
CPU_MACHINE = re.compile(r"(?P<cpu>.+), (?P<threads>\d+) torch threads, CPU")
GPU_DEVICE = re.compile(r"(?P<device>cuda[:\d]*) \((?P<gpu>.+)\)")


def machine_fields(machine: str) -> dict[str, Any]:
    """Provenance fields of an old ``machine`` string: ``"<cpu>, <n> torch threads, CPU"`` or a GPU name."""
    cpu = CPU_MACHINE.fullmatch(machine)
    return {"cpu": cpu["cpu"], "threads": int(cpu["threads"])} if cpu else {"gpu": machine}


def meta_fields(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a run's meta into provenance fields (threads, a GPU name) and the rest (arguments)."""
    known, rest = {}, {}
    for key, value in meta.items():
        if key == "threads":
            known["threads"] = value
        elif key == "device" and value != "cpu" and not value.startswith("cuda"):
            known["gpu"] = value  # a GPU name, as denoiser_capacity.py records one
        elif key != "device":
            rest[key] = value
    return known, rest


def convert(history: FileHistory, name: str) -> list[dict[str, Any]]:
    """The records of the file of ``history`` (``name``: its path under the results folder), each with a provenance."""
    data, stem, hand = history.data, Path(name).stem, HAND_EDITED.get(name, "")
    if isinstance(data, list):
        records = []
        for index, record in enumerate(data):
            if "provenance" not in record:
                record, known = dict(record), {}
                device = GPU_DEVICE.fullmatch(str(record.get("device", "")))
                if device:
                    record["device"], known["gpu"] = device["device"], device["gpu"]
                record["provenance"] = history.provenance((index,), note=hand, **known)
            records.append(record)
        return records
    if stem.startswith("bench_constraints"):
        known = {**machine_fields(data["machine"]), "versions": {"torch": data["torch"]}}
        note = "; ".join(filter(None, [f"recorded once for the file then: machine {data['machine']!r}, model "
                                      f"{json.dumps(data['model'])}; epochs not recorded", hand]))
        device = "cpu" if "cpu" in known else "cuda"
        return [
            {**row, "depth": data["model"]["depth"], "samples": data["samples"], "device": device,
             "provenance": history.provenance(("results", index), note=note, **known)}
            for index, row in enumerate(data["results"])
        ]
    if stem.startswith("denoiser_training_"):
        record = {"name": stem.removeprefix("denoiser_training_"), **{k: v for k, v in data.items() if k != "threads"}}
        return [{**record, "provenance": history.provenance((), note=hand, threads=data.get("threads"))}]
    if stem == "pnp_tuning":
        settings = {"factors": data["factors"], "levels": data["levels"]}
        note = "; ".join(filter(None, [f"the run's settings, then recorded once for the file: {json.dumps(settings)}", hand]))
        return [
            {"problem": problem, "row": row, "k": k, "images": data["images"], "size": data["size"],
             "max_iter": data["max_iter"], "psnr": value,
             "provenance": history.provenance(("psnr", problem, row, k), note=note)}
            for problem, rows in data["psnr"].items() for row, values in rows.items() for k, value in values.items()
        ]
    prefix = next((p for p in PER_RECORD if stem.startswith(p)), None)
    if prefix is not None and set(data) == {"meta", "rows"}:
        meta = data["meta"]
        kept = {k: meta[k] for k in PER_RECORD[prefix] if k in meta}
        known, rest = meta_fields(meta)
        rest = {k: v for k, v in rest.items() if k not in kept}
        note = "; ".join(filter(None, [f"the run's settings, then recorded once for the file: {json.dumps(rest)}" if rest else "", hand]))
        return [
            {**row, **{k: v for k, v in kept.items() if k not in row},
             "provenance": history.provenance(("rows", index), note=note, **known)}
            for index, row in enumerate(data["rows"])
        ]
    raise InputError(f"{history.path}: a results layout this migration does not know")


def migrate(path: Path, name: str) -> bool:
    """Rewrite ``path`` as records with provenance; whether it changed (a file of such records is left alone)."""
    data = json.loads(path.read_text())
    if isinstance(data, list) and all(isinstance(r, dict) and "provenance" in r for r in data):
        return False
    records = convert(FileHistory(path), name)
    write_records(records, path)
    read_records(path)  # what every script reads
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.results_dir.is_dir():
        print(f"lipapps: error: no results folder {args.results_dir}", file=sys.stderr)
        return 2
    try:
        for path in sorted(args.results_dir.rglob("*.json")):
            name = path.relative_to(args.results_dir).as_posix()
            print(f"{name}: {'migrated' if migrate(path, name) else 'already records with provenance'}", flush=True)
    except InputError as err:
        print(f"lipapps: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
