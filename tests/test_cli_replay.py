"""``journeyfsm replay``: the table, ``--json``, warnings on stderr, exit codes, mappings
from flags and from a file, the progress bar only on a terminal."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from journeyfsm.cli._replay import ProgressBar, run_replay

LOG = """\
customer,event,ts,id,total,channel
c1,engage,2026-01-01T10:00:00Z,e1,,ads
c1,want,2026-01-01T11:00:00Z,e2,,
c1,want,2026-01-01T11:00:00Z,e2,,
c2,engage,2026-01-01T12:00:00Z,e3,,email
c2,scroll,2026-01-01T12:30:00Z,,,
c3,engage,soon,e4,,
"""
FLAGS = ["--definition", "aida", "--key", "customer", "--event", "event", "--time", "ts"]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(LOG, encoding="utf-8")
    return path


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_replay_prints_the_summary_table(log: Path) -> None:
    code, out, err = call(str(log), *FLAGS, "--event-id", "id", "--end", "2026-03-01T00:00:00Z")
    assert code == 0, err
    assert "through aida (version 1): columnar engine" in out
    assert "rows read                   6" in out
    assert "events applied              4" in out  # 3 engage/want rows + 1 duplicate
    assert "skipped                     1  (scroll 1)" in out
    assert "line 7: time 'soon' is not an ISO-8601 time" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["want"][:4] == ["1", "0", "0", "1"]  # moved blocked ignored duplicate
    assert lines["engage"][0] == "2"


def test_replay_json_has_the_summary_and_final_stages(log: Path) -> None:
    code, out, _ = call(str(log), *FLAGS, "--event-id", "id", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["summary"]["rows_read"] == 6 and data["summary"]["bad_row_count"] == 1
    assert data["summary"]["skipped"] == {"scroll": 1}
    assert data["stages"]["desire"] == 1 and data["stages"]["interest"] == 1
    assert sum(data["stages"].values()) == data["summary"]["journeys"] == 2


def test_replay_warnings_go_to_stderr(log: Path) -> None:
    code, out, err = call(str(log), *FLAGS, "--trigger", "scroll=engage")
    assert code == 0
    assert "warning: most events moved no journey" in err
    assert "warning:" not in out
    assert err.count("most events moved no journey") == 1  # printed, not logged again


def test_strict_replay_exits_1_naming_the_bad_line(log: Path) -> None:
    code, out, err = call(str(log), *FLAGS, "--strict")
    assert code == 1 and out == ""
    assert "stopped: events.csv, line 7: time 'soon'" in err


COLUMNS = ["--key", "customer", "--event", "event"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--key", "customer"], "say which columns to read: --event, --time"),
        ([*COLUMNS, "--time", "when"], "no column 'when' in the log; its columns are: customer"),
        ([*FLAGS[2:], "--trigger", "scroll=engag"], "did you mean 'engage'"),
        ([*FLAGS[2:], "--trigger", "scroll"], "--trigger takes EVENT=TRIGGER"),
        ([*FLAGS[2:], "--end", "tomorrow"], "--end takes an ISO-8601 time"),
        ([*FLAGS[2:], "--timezone", "Mars/Base"], "unknown timezone 'Mars/Base'"),
    ],
)
def test_usage_mistakes_exit_2_with_a_clear_message(
    log: Path, argv: list[str], message: str
) -> None:
    code, out, err = call(str(log), "--definition", "aida", *argv)
    assert code == 2, err
    assert message in err and out == ""


def test_unknown_definition_and_missing_log_exit_2(log: Path, tmp_path: Path) -> None:
    code, _, err = call(str(log), *FLAGS[2:], "--definition", "aidaa")
    assert code == 2 and "not a template" in err
    code, _, err = call(str(tmp_path / "nope.csv"), *FLAGS)
    assert code == 2 and "no such log file" in err


def test_replay_reads_the_mapping_file_and_flags_add_to_it(log: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "map.json"
    mapping.write_text(
        json.dumps({"key": "customer", "event": "event", "time": "ts", "segments": ["channel"],
                    "triggers": {"engage": "engage"}}),
        encoding="utf-8",
    )  # fmt: skip
    code, out, _ = call(str(log), "--definition", "aida", "--map", str(mapping), "--json")
    assert code == 0
    assert json.loads(out)["summary"]["skipped"] == {"want": 2, "scroll": 1}
    code, out, _ = call(
        str(log), "--definition", "aida", "--map", str(mapping), "--trigger", "want=want", "--json"
    )
    assert json.loads(out)["summary"]["skipped"] == {"scroll": 1}


def test_definition_from_module_attr(log: Path, tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "myjourneys.py").write_text(
        textwrap.dedent(
            """
            from journeyfsm import JourneyMachine, templates
            seen = []
            machine = JourneyMachine(templates.aida())
            machine.after(lambda ctx: seen.append(ctx.journey.key))
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = call(str(log), *FLAGS[2:], "--definition", "myjourneys:machine")
    assert code == 0, err
    assert "through aida (version 1): engine" in out
    assert sys.modules["myjourneys"].seen == ["c1", "c1", "c2"]
    code, _, err = call(str(log), *FLAGS[2:], "--definition", "myjourneys:nothing")
    assert code == 2 and "has no 'nothing'" in err


def test_json_definition_with_guards_is_refused(log: Path, tmp_path: Path) -> None:
    from journeyfsm import templates

    plain = tmp_path / "aida.json"
    plain.write_text(json.dumps(templates.aida().to_dict()), encoding="utf-8")
    code, out, err = call(str(log), *FLAGS[2:], "--definition", str(plain), "--json")
    assert code == 0, err
    assert json.loads(out)["summary"]["definition"] == "aida"
    guarded = templates.aida().to_dict()
    guarded["transitions"][0]["guards"] = ["has_budget"]
    path = tmp_path / "guarded.json"
    path.write_text(json.dumps(guarded), encoding="utf-8")
    code, _, err = call(str(log), *FLAGS[2:], "--definition", str(path))
    assert code == 2 and "uses guards (has_budget)" in err


def test_progress_bar_draws_only_on_a_terminal(log: Path) -> None:
    code, _, err = call(str(log), *FLAGS)  # StringIO is no terminal: no bar
    assert code == 0 and "replay [" not in err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = ProgressBar(stream, width=10)
    bar(0.5)
    bar(1.0)
    bar.close()
    drawn = stream.getvalue()
    assert "[#####.....]  50%" in drawn and "[##########] 100%" in drawn
    assert drawn.endswith("\r")


def test_help_shows_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_replay(["--help"]) == 0
    text = capsys.readouterr().out
    assert "journeyfsm replay events.csv --definition eight-phases" in text
    assert "exit codes: 0 replayed, 1 stopped" in text


def test_the_command_restores_the_garbage_collector(log: Path) -> None:
    import gc

    assert gc.isenabled()
    assert call(str(log), *FLAGS)[0] == 0
    assert gc.isenabled()
    assert call(str(log), *FLAGS, "--strict")[0] == 1  # stopped: restored all the same
    assert gc.isenabled()


def _many_journeys(tmp_path: Path) -> Path:
    lines = ["customer,event,ts,id,total,channel"]
    for i in range(120):
        lines.append(
            f"c{i % 23},{['engage', 'want', 'scroll'][i % 3]},2026-01-01T{i % 24:02}:00:00Z,,,"
        )
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_partitions_replays_in_key_parts_with_the_same_figures(tmp_path: Path) -> None:
    log = _many_journeys(tmp_path)
    code, whole, err = call(str(log), *FLAGS, "--json", "--partitions", "1")
    assert code == 0, err
    code, parted, err = call(str(log), *FLAGS, "--json", "--partitions", "4", "--compare", "aida")
    assert code == 0, err
    whole_data, parted_data = json.loads(whole), json.loads(parted)
    assert whole_data["summary"]["partitions"] == 1
    assert parted_data["summary"]["partitions"] == 4
    assert parted_data["comparison"]["summary_b"]["partitions"] == 4  # --compare too
    assert parted_data["stages"] == whole_data["stages"]
    assert parted_data["funnel"] == whole_data["funnel"]
    for k in ("seconds", "partitions", "source"):
        del whole_data["summary"][k], parted_data["summary"][k]
    assert parted_data["summary"] == whole_data["summary"]
    code, out, err = call(str(log), *FLAGS, "--partitions", "3", "--verbose")
    assert code == 0, err
    assert "columnar engine in 3 key-partitioned parts" in out
    assert "engine: columnar" in err and "partitions: 3 (split by journey key)" in err
    code, out, err = call(str(log), *FLAGS, "--verbose")  # small file: in memory
    assert code == 0 and "key-partitioned" not in out and "partitions:" not in err


@pytest.mark.parametrize("bad", ["0", "-2", "1.5", "four", ""])
def test_partitions_must_be_a_whole_number_of_parts(
    log: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = call(str(log), *FLAGS, "--partitions", bad)
    err = capsys.readouterr().err  # argparse's own usage error, on sys.stderr
    assert code == 2 and out == ""
    assert "--partitions" in err and "whole number of parts >= 1" in err
    assert repr(bad) in err
