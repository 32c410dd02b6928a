"""Result records: provenance on every record, atomic files, resume by key."""

from __future__ import annotations

import json
import multiprocessing
import subprocess

import pytest

from lipapps.errors import InputError
from lipapps.results import ResultsFile, code_changed, data_dir, markdown_table, provenance, read_records


def test_provenance_says_how_a_result_was_made() -> None:
    p = provenance(["experiments/x.py", "--quick"])
    assert p["command"].endswith("experiments/x.py --quick")
    assert len(p["commit"]) == 40 and isinstance(p["dirty"], bool)
    assert p["date"].endswith("Z") and p["threads"] >= 1 and p["cpu"]
    assert p["versions"]["torch"] and p["versions"]["numpy"]


def test_results_file_resumes_and_replaces_by_key(tmp_path) -> None:
    path = tmp_path / "r.json"
    table = lambda rs: markdown_table(rs, [("name", lambda r: r["name"]), ("value", lambda r: f"{r['value']:.1f}")])
    results = ResultsFile(path, key=lambda r: r["name"], markdown=table)
    results.add({"name": "a", "value": 1.0})
    results.add({"name": "b", "value": 2.0})
    results.add({"name": "a", "value": 3.0})
    again = ResultsFile(path, key=lambda r: r["name"])
    assert again.has("a") and again.has("b") and not again.has("c")
    assert again.get("a")["value"] == 3.0 and len(again.records) == 2
    assert all("provenance" in r for r in json.loads(path.read_text()))
    assert path.with_suffix(".md").read_text().splitlines()[2:] == ["| b | 2.0 |", "| a | 3.0 |"]
    assert not list(tmp_path.glob(".*tmp"))


def test_results_files_opened_together_keep_each_others_records(tmp_path) -> None:
    path = tmp_path / "r.json"
    first, second = ResultsFile(path, key=lambda r: r["name"]), ResultsFile(path, key=lambda r: r["name"])
    first.add({"name": "a"})
    second.add({"name": "b"})  # opened before "a" was written: must not drop it
    first.add({"name": "c"})
    assert [r["name"] for r in read_records(path)] == ["a", "b", "c"]


def _add_records(path, prefix: str) -> None:
    results = ResultsFile(path, key=lambda r: r["name"])
    for i in range(5):
        results.add({"name": f"{prefix}{i}"})


def test_results_file_written_by_concurrent_processes_loses_nothing(tmp_path) -> None:
    path = tmp_path / "r.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_records, args=(path, p)) for p in "wxyz"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert all(w.exitcode == 0 for w in workers)
    assert sorted(r["name"] for r in read_records(path)) == sorted(f"{p}{i}" for p in "wxyz" for i in range(5))


def test_read_records_refuses_foreign_json(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(InputError, match="list of records"):
        read_records(bad)
    bad.write_text("not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_records(bad)
    assert read_records(tmp_path / "absent.json") == []


def test_data_dir_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LIPAPPS_DATA", str(tmp_path))
    assert data_dir("images", "bsd68") == tmp_path / "images" / "bsd68"
    monkeypatch.delenv("LIPAPPS_DATA")
    assert data_dir().parts[-2:] == ("shared", "data")


def test_json_line_spans_read_any_layout() -> None:
    from lipapps.results import json_line_spans

    spans = json_line_spans('{"rows": [{"a": 1},\n  {"a": [2,\n 3]}],\n "meta": "x"}\n')
    assert spans[("rows", 0)] == (0, 0) and spans[("rows", 1)] == (1, 2) and spans[("rows", 1, "a", 1)] == (2, 2)
    assert spans[("meta",)] == (3, 3) and spans[()] == (0, 3)


def test_file_history_dates_values_by_their_last_commit(tmp_path) -> None:
    import subprocess

    from lipapps.results import FileHistory

    def git(*args: str, date: str = "2026-01-01T00:00:00Z") -> str:
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
               "GIT_COMMITTER_DATE": date, "PATH": "/usr/bin:/bin"}
        return subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"meta": {"threads": 2}, "rows": [{"v": 1}, {"v": 2}]}, indent=2) + "\n")
    git("add", "r.json")
    git("commit", "-qm", "first")
    first = git("rev-parse", "HEAD")
    path.write_text(json.dumps({"meta": {"threads": 2}, "rows": [{"v": 1}, {"v": 3}]}, indent=2) + "\n")
    git("commit", "-qam", "second", date="2026-01-02T00:00:00Z")
    second = git("rev-parse", "HEAD")
    history = FileHistory(path)
    assert history.last_change(("rows", 0)) == (first, "2026-01-01T00:00:00Z")
    assert history.last_change(("rows", 0), ("rows", 1))[0] == second and history.last_change(())[0] == second
    made = history.provenance(("rows", 0), note="meta then", threads=2)
    assert made["commit"] == first and made["threads"] == 2 and made["backfilled"].endswith("; meta then")
    with pytest.raises(ValueError, match="not provenance fields"):
        history.provenance(("rows", 0), speed=1)
    path.write_text(path.read_text().replace('"v": 1', '"v": 4'))
    with pytest.raises(InputError, match="uncommitted"):
        FileHistory(path)


def test_rewriting_keeps_what_other_processes_added_and_merge_keeps_provenance(tmp_path) -> None:
    path = tmp_path / "r.json"
    table = lambda rs: markdown_table(rs, [("name", lambda r: r["name"])])
    first, second = ResultsFile(path, key=lambda r: r["name"], markdown=table), ResultsFile(path, key=lambda r: r["name"])
    first.add({"name": "a"})
    second.add({"name": "b"})
    first.write()  # re-renders: must not drop "b", which it never saw added
    assert [r["name"] for r in read_records(path)] == ["a", "b"]
    assert path.with_suffix(".md").read_text().splitlines()[2:] == ["| a |", "| b |"]
    second.merge([{"name": "a", "provenance": {"commit": "old"}}])
    assert [(r["name"], r["provenance"].get("commit")) for r in read_records(path)][-1] == ("a", "old")


def test_code_changed_sees_edited_code_but_not_rewritten_result_files(tmp_path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "experiments" / "results").mkdir(parents=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "experiments" / "results" / "r.json").write_text("[]\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "start")
    assert code_changed(tmp_path) is False
    (tmp_path / "experiments" / "results" / "r.json").write_text("[{}]\n")  # a script adding a record
    (tmp_path / "new.py").write_text("untracked\n")
    assert code_changed(tmp_path) is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert code_changed(tmp_path) is True
