"""The command line's one rule for exit codes and its errors under ``--json``.

Exit 2: the command line is wrong (an unknown command, option or template, a bad option
value, a file that is missing or unreadable, a name that is not there). Exit 1: a file
was read and what it holds is wrong (not JSON, a definition with problems, a malformed
mapping or funnel), no such journey, a run that stopped.  With ``--json`` every failure
also prints one JSON object on stdout: ``{"ok": false, "command", "exit", "error", ...}``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journeyfsm.cli import main

LOG = "k,e,t\nc1,engage,2026-01-01T10:00:00Z\n"
FLAGS = ["--key", "k", "--event", "e", "--time", "t", "--quiet"]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text(LOG)
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "map.json").write_text(json.dumps({"key": 5}))
    (tmp_path / "db").mkdir()
    return tmp_path


# each: argv, the exit code the rule gives
CASES = {
    "validate: missing file": (["validate", "nofile.json"], 2),
    "validate: not JSON": (["validate", "bad.json"], 1),
    "diagram: missing file": (["diagram", "nofile.json"], 2),
    "diagram: not JSON": (["diagram", "bad.json"], 1),
    "diagram: missing funnel": (["diagram", "aida", "--funnel", "nofile.json"], 2),
    "diagram: funnel not JSON": (["diagram", "aida", "--funnel", "bad.json"], 1),
    "diagram: not a funnel": (["diagram", "aida", "--funnel", "list.json"], 1),
    "show: unknown template": (["show", "no-such-template"], 2),
    "show: not JSON": (["show", "bad.json"], 1),
    "replay: missing log": (["replay", "nolog.csv", "--definition", "aida", *FLAGS], 2),
    "replay: missing map": (["replay", "log.csv", "--definition", "aida", "--map", "no.json"], 2),
    "replay: map not JSON": (["replay", "log.csv", "--definition", "aida", "--map", "bad.json"], 1),
    "replay: malformed map": (
        ["replay", "log.csv", "--definition", "aida", "--map", "map.json"],
        1,
    ),
    "replay: definition not JSON": (["replay", "log.csv", "--definition", "bad.json", *FLAGS], 1),
    "replay: missing definition": (["replay", "log.csv", "--definition", "no.json", *FLAGS], 2),
    "replay: unknown column": (
        [
            "replay",
            "log.csv",
            "--definition",
            "aida",
            "--key",
            "nope",
            "--event",
            "e",
            "--time",
            "t",
        ],
        2,
    ),
    "replay: compare not JSON": (
        ["replay", "log.csv", "--definition", "aida", *FLAGS, "--compare", "bad.json"],
        1,
    ),
    "funnel: definition not JSON": (["funnel", "--db", "x.db", "--definition", "bad.json"], 1),
    "funnel: unreachable store": (["funnel", "--db", "db", "--definition", "aida"], 2),
    "outbox: unreachable store": (["outbox", "list", "--db", "db"], 2),
    "templates: unknown option": (["templates", "--bogus"], 2),
    "demo: --db in no directory": (["demo", "--customers", "2", "--db", "no/dir/x.db"], 2),
    "demo: --report in no directory": (["demo", "--customers", "2", "--report", "no/r.html"], 2),
    "demo: --db a directory": (["demo", "--customers", "2", "--db", "db"], 2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_exit_code_rule_for_every_command(
    files: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, code = CASES[case]
    assert main(argv) == code, capsys.readouterr()
    err = capsys.readouterr().err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", list(CASES))
def test_a_failing_json_command_prints_one_json_error_on_stdout(
    files: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, code = CASES[case]
    assert main([*argv, "--json"]) == code
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # exactly one JSON document, nothing else
    assert report["ok"] is False
    assert report["exit"] == code
    assert report["command"] == argv[0]
    assert isinstance(report["error"], str) and report["error"]
    assert "error" in captured.err  # the text message stays on stderr for people


def test_json_error_of_a_definition_with_problems_lists_them(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from journeyfsm import templates

    data = templates.aida().to_dict()
    data["stages"].append({"name": "orphan"})
    (files / "orphan.json").write_text(json.dumps(data))
    for command in ("validate", "show", "diagram"):
        assert main([command, "orphan.json", "--json"]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] is False and report["command"] == command
        assert any("orphan" in p for p in report["problems"]), report


def test_no_such_journey_under_json_is_a_json_error(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "init", "--db", "j.db"]) == 0
    capsys.readouterr()
    assert main(["funnel", "--db", "j.db", "--definition", "aida", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "ok": False,
        "command": "funnel",
        "exit": 1,
        "error": report["error"],
    }
    assert "no journey" in report["error"]
    assert main(["show", "c-1", "--db", "j.db", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and "no journey" in report["error"]
