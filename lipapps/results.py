"""Result records of experiments: one place that writes them, with how each was made.

Every benchmark and table script keeps its results as a JSON list of records (one object per
run or cell) beside a markdown table, both written atomically after every record so that a
stopped run resumes where it was. :class:`ResultsFile` is that file; each record it appends gets
a ``provenance`` key (:func:`provenance`): the command line, the git commit and whether the code
differed from it (:func:`code_changed`), the UTC date, the CPU model and torch's thread count, the GPU name, and the versions
of Python, torch, numpy and POT. Results are written by scripts through this module, never by
hand.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer per results file there
    fcntl = None

from lipapps.atomic import atomic_write
from lipapps.errors import InputError

#: Where the shared data sets lie when nobody names a folder: ``LIPAPPS_DATA`` if set, else
#: ``../shared/data`` beside the repository (the layout of the project's machines).
DATA_ENV = "LIPAPPS_DATA"
#: The packages whose versions a provenance records.
VERSIONED = ("torch", "numpy", "pot", "scikit-image")


def data_dir(*parts: str) -> Path:
    """The shared data folder (``$LIPAPPS_DATA`` or ``<repo>/../shared/data``), joined with ``parts``."""
    root = os.environ.get(DATA_ENV)
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base.joinpath(*parts)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


#: Result files (``<anything>/results/...``): a script that writes its records into a tracked results
#: file changes the tree, but not the code that made the records.
RESULTS_PATHSPEC = ":(exclude,glob)**/results/**"


def code_changed(repo: Path) -> bool | None:
    """Whether tracked files of the checkout at ``repo`` differ from its commit, result files aside
    (:data:`RESULTS_PATHSPEC`); ``None`` when git cannot tell."""
    status = _git(["status", "--porcelain", "--untracked-files=no", "--", ".", RESULTS_PATHSPEC], repo)
    return None if status is None else bool(status)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance(argv: Sequence[str] | None = None, device: str | torch.device | None = None) -> dict[str, Any]:
    """How a result was made: command, commit (and dirty flag), UTC date, machine, versions.

    ``argv`` defaults to ``sys.argv``; the commit is read from the git checkout that holds this
    package (``None`` outside one). ``gpu`` names the CUDA device when ``device`` is a CUDA
    device, or when none is given and CUDA is available; else ``None``.
    """
    repo = Path(__file__).resolve().parents[1]
    commit = _git(["rev-parse", "HEAD"], repo)
    device = torch.device(device) if device is not None else None
    cuda = torch.cuda.is_available() and (device is None or device.type == "cuda")
    return {
        "command": " ".join([Path(sys.executable).name, *(argv if argv is not None else sys.argv)]),
        "commit": commit,
        "dirty": code_changed(repo) if commit else None,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in VERSIONED},
    }


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a results JSON file (a list of objects), or ``[]`` if it is absent."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(f"{path}: expected a JSON list of records")
    return records


def write_records(records: list[dict[str, Any]], json_path: str | os.PathLike, markdown: str | None = None) -> None:
    """Write ``records`` as JSON and, if given, ``markdown`` beside it (``.md``), each atomically."""
    json_path = Path(json_path)
    with atomic_write(json_path) as tmp:
        tmp.write_text(json.dumps(records, indent=1) + "\n")
    if markdown is not None:
        with atomic_write(json_path.with_suffix(".md")) as tmp:
            tmp.write_text(markdown)


Column = tuple[str, Callable[[dict[str, Any]], Any]]


def markdown_table(records: Iterable[dict[str, Any]], columns: Sequence[Column]) -> str:
    """A markdown table: one row per record, one column per ``(header, cell function)``."""
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns)]
    for record in records:
        lines.append("| " + " | ".join(str(cell(record)) for _, cell in columns) + " |")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (``flock``) on ``directory`` for the block's duration, so
    that processes writing results files there take turns (POSIX; a no-op where there is none)."""
    if fcntl is None:
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class ResultsFile:
    """An experiment's ``<stem>.json`` (and ``<stem>.md``), resumed record by record.

    ``key(record)`` says which run a record is; :meth:`has` tells a resuming script what is
    done, :meth:`add` appends (or replaces the record of the same key), stamps it with
    :func:`provenance` and rewrites both files atomically. ``markdown(records)`` renders the table.
    Several processes may add to the same file: :meth:`add` re-reads it under a lock on its
    folder, so no process drops the records another wrote since it opened the file.
    """

    def __init__(
        self,
        json_path: str | os.PathLike,
        key: Callable[[dict[str, Any]], Any],
        markdown: Callable[[list[dict[str, Any]]], str] | None = None,
    ) -> None:
        self.path = Path(json_path)
        self.key = key
        self.markdown = markdown
        self.records = read_records(self.path)

    def has(self, key: Any) -> bool:
        """Whether a record with this key is already stored."""
        return any(self.key(r) == key for r in self.records)

    def get(self, key: Any) -> dict[str, Any] | None:
        """The stored record with this key, or ``None``."""
        return next((r for r in self.records if self.key(r) == key), None)

    def add(self, record: dict[str, Any], device: str | torch.device | None = None) -> dict[str, Any]:
        """Store ``record`` with its provenance (replacing one of the same key) and write the files
        (:meth:`merge`)."""
        record = {**record, "provenance": provenance(device=device)}
        self.merge([record])
        return record

    def merge(self, records: Iterable[dict[str, Any]]) -> None:
        """Store ``records`` as they are (with the provenance they carry), replacing stored records
        of the same keys, and write the files.

        The stored records are re-read first, under the folder's lock, so records other
        processes added since this one read the file are kept.
        """
        records = list(records)
        keys = [self.key(r) for r in records]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.path.parent):
            self.records = [r for r in read_records(self.path) if self.key(r) not in keys] + records
            self._write()

    def write(self) -> None:
        """Re-render both files (the markdown in this object's layout) from the records stored
        now: re-read under the folder's lock, so records other processes added are kept."""
        self.merge([])

    def _write(self) -> None:
        write_records(self.records, self.path, self.markdown(self.records) if self.markdown else None)


def _blame(path: Path) -> list[tuple[str, str]]:
    """``(commit, ISO date)`` of the last change to each line of ``path`` (``git blame``)."""
    out = _git(["blame", "--line-porcelain", "--", path.name], path.parent)
    if out is None:
        raise InputError(f"{path}: not tracked by git, so its history cannot be read")
    lines, dates, commit = [], {}, ""
    for line in out.splitlines():
        head = line.split(" ", 1)
        if len(head[0]) == 40 and len(head) == 2 and head[1][:1].isdigit():
            commit = head[0]
        elif line.startswith("committer-time "):
            stamp = _dt.datetime.fromtimestamp(int(line.split()[1]), _dt.timezone.utc)
            dates[commit] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif line.startswith("\t"):
            lines.append((commit, dates[commit]))
    return lines


def backfilled_provenance(commit: str, date: str, path: Path) -> dict[str, Any]:
    """The provenance of a record written before records carried one, read from git history.

    The commit and date are those of the last commit that changed the record's lines; the command
    and machine were not recorded then, so they are ``None`` (callers fill in what the file
    stated); ``backfilled`` says so.
    """
    return {
        "command": None,
        "commit": commit,
        "dirty": None,
        "date": date,
        "cpu": None,
        "cpu_count": None,
        "threads": None,
        "gpu": None,
        "python": None,
        "versions": {},
        "backfilled": f"from git blame of {path.name}: the last commit that changed this record; the command and machine were not recorded",
    }


def json_line_spans(text: str) -> dict[tuple[str | int, ...], tuple[int, int]]:
    """The first and last line (0-based) of every value of a JSON text, by its path of keys and indices.

    The whole document is ``()``; ``("rows", 3)`` is the fourth element of its ``rows`` list. Any
    layout is read (one value per line or many), so the lines a value occupied can be looked up in
    ``git blame`` whatever indentation wrote the file.
    """
    json.loads(text)  # refuse invalid JSON before walking it
    decoder = json.JSONDecoder()
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    spans: dict[tuple[str | int, ...], tuple[int, int]] = {}

    def line(offset: int) -> int:
        return bisect.bisect_right(line_starts, offset) - 1

    def skip(i: int) -> int:
        while text[i] in " \t\r\n":
            i += 1
        return i

    def value(i: int, path: tuple[str | int, ...]) -> int:
        start = i = skip(i)
        if text[i] in "{[":
            close, index = "}" if text[i] == "{" else "]", 0
            i = skip(i + 1)
            while text[i] != close:
                if close == "}":
                    key, i = json.decoder.scanstring(text, i + 1)
                    i = value(skip(i) + 1, (*path, key))  # past the colon
                else:
                    i = value(i, (*path, index))
                    index += 1
                i = skip(i)
                if text[i] == ",":
                    i = skip(i + 1)
            end, i = i, i + 1
        else:
            _, i = decoder.raw_decode(text, i)
            end = i - 1
        spans[path] = (line(start), line(end))
        return i

    value(0, ())
    return spans


class FileHistory:
    """Which commit last changed each value of a committed JSON file, for records that lack a provenance.

    ``git blame`` of the file as it is now (every line must be committed) and the line spans of its
    values (:func:`json_line_spans`): :meth:`provenance` gives a record made from the values at
    some paths the provenance of :func:`backfilled_provenance`, dated by the newest commit among
    those values' lines. Read it before a file is rewritten in another layout.
    """

    def __init__(self, json_path: str | os.PathLike) -> None:
        self.path = Path(json_path)
        text = self.path.read_text()
        self.data = json.loads(text)
        self.spans = json_line_spans(text)
        self.blame = _blame(self.path)
        if any(commit.strip("0") == "" for commit, _ in self.blame):
            raise InputError(f"{self.path}: has uncommitted changes, so its history cannot be read")

    def last_change(self, *paths: tuple[str | int, ...]) -> tuple[str, str]:
        """``(commit, ISO date)`` of the newest commit among the lines of the values at ``paths``."""
        lines = [c for p in paths for c in self.blame[self.spans[p][0] : self.spans[p][1] + 1]]
        return max(lines, key=lambda c: c[1])

    def provenance(self, *paths: tuple[str | int, ...], note: str = "", **known: Any) -> dict[str, Any]:
        """The backfilled provenance of a record made from the values at ``paths``.

        ``known`` sets the fields the file stated (e.g. ``threads``, ``gpu``, ``versions``);
        ``note`` is appended to the ``backfilled`` text.
        """
        commit, date = self.last_change(*paths)
        record = backfilled_provenance(commit, date, self.path)
        unknown = set(known) - set(record)
        if unknown:
            raise ValueError(f"not provenance fields: {sorted(unknown)}")
        record.update(known)
        record["backfilled"] = (
            f"from git blame of {self.path.name}: the last commit that changed the lines this record came from "
            "(in the file's layout then); the command was not recorded" + (f"; {note}" if note else "")
        )
        return record
