"""The ``journeyfsm`` command and the demo it runs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import structlog

from journeyfsm import DefinitionError, JourneyDefinition, templates
from journeyfsm.cli import main
from journeyfsm.cli._demo import demo_definition, run_demo
from journeyfsm.stores import SCHEMA_VERSION

Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- templates / show --------------------------------------------------------------------
def test_templates_lists_every_template(capsys: Capture) -> None:
    code, out, err = run(capsys, "templates")
    assert code == 0
    assert err == ""
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == list(templates.TEMPLATES)


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_show_prints_every_stage_and_transition(capsys: Capture, name: str) -> None:
    code, out, err = run(capsys, "show", name)
    d = templates.TEMPLATES[name]()
    assert code == 0
    assert err == ""
    assert out.startswith(f"{d.name} (version {d.version}, policy {d.policy})")
    lines = out.splitlines()
    for stage in d.stages:
        assert any(line.split()[:1] == [stage.name] for line in lines), stage.name
    edges = {tuple(line.split()[:4]) for line in lines if " -> " in line}
    for e in d.edges():
        dest = e.dest if e.dest is not None else "(internal:"
        assert (e.source, e.trigger, "->", dest) in edges


def test_show_marks_initial_and_final_stages(capsys: Capture) -> None:
    _, out, _ = run(capsys, "show", "eight-phases")
    assert any(line.split()[:2] == ["awareness", "initial"] for line in out.splitlines())
    assert any(line.split()[:2] == ["churned", "final"] for line in out.splitlines())


def test_show_unknown_template_suggests_close_names(capsys: Capture) -> None:
    code, out, err = run(capsys, "show", "eight_phases")
    assert code == 2
    assert out == ""
    assert "unknown template 'eight_phases'" in err
    assert "did you mean eight-phases?" in err


def test_show_reads_a_json_definition_with_guards_and_timeouts(
    capsys: Capture, tmp_path: Path, checkout_definition: JourneyDefinition
) -> None:
    d = checkout_definition.builder().timeout("cart", 3600, "abandon").build()
    path = tmp_path / "checkout.json"
    path.write_text(json.dumps(d.to_dict()))
    code, out, _ = run(capsys, "show", str(path))
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert ["cart", "checkout", "->", "express", "if", "(cart_not_empty", "&", "is_vip)"] in lines
    assert ["cart", "checkout", "->", "checkout", "if", "cart_not_empty"] in lines
    assert ["paid", "final", "order", "paid"] in lines
    assert "browsing   note         -> (internal: recorded, stage unchanged)" in out
    assert ["cart", "after", "1:00:00", "fires", "abandon"] in lines


# -- validate ----------------------------------------------------------------------------
def write(tmp_path: Path, data: object, name: str = "journey.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_validate_ok_names_the_guards(
    capsys: Capture, tmp_path: Path, checkout_definition: JourneyDefinition
) -> None:
    path = write(tmp_path, checkout_definition.to_dict())
    code, out, err = run(capsys, "validate", path)
    assert code == 0
    assert err == ""
    assert out.startswith(f"OK: {path}: definition 'checkout' version 3: 6 stages,")
    assert "guards (checked by name only): cart_not_empty, is_vip, payment_ok" in out


def test_validate_reports_every_problem_at_once(capsys: Capture, tmp_path: Path) -> None:
    data = templates.aida().to_dict()
    data["stages"] += [{"name": "orphan"}, {"name": "interest"}]
    data["transitions"].append(
        {"trigger": "bad-name", "source": "nowhere", "dest": "desire", "guards": ["vip"]}
    )
    code, out, _ = run(capsys, "validate", write(tmp_path, data))
    assert code == 1
    problems = [line for line in out.splitlines() if line.startswith("  - ")]
    assert out.splitlines()[0].endswith(f"{len(problems)} problem(s)")
    text = "\n".join(problems)
    assert "duplicate stage 'interest'" in text
    assert "trigger 'bad-name' is not a valid identifier" in text
    assert "unknown stage 'nowhere'" in text
    assert "stage 'orphan' is unreachable" in text
    assert "stage 'orphan' is a dead end" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "not valid JSON: Expecting property name"),
        ("[1, 2]", "the file must hold a JSON object, got list"),
        ({"name": "x", "stages": 5, "transitions": []}, "'stages' must be a list, got int"),
        ({"name": "x"}, "missing the required key 'stages'"),
        ({"name": "x", "stages": [], "transitions": [], "colour": 1}, "unknown key 'colour'"),
    ],
)
def test_validate_reports_bad_files_as_problems(
    capsys: Capture, tmp_path: Path, content: object, message: str
) -> None:
    code, out, _ = run(capsys, "validate", write(tmp_path, content))
    assert code == 1
    assert message in out


def test_validate_missing_file_is_a_usage_error(capsys: Capture, tmp_path: Path) -> None:
    code, out, err = run(capsys, "validate", str(tmp_path / "nope.json"))
    assert code == 2
    assert out == ""
    assert "no such file" in err


def test_validate_reads_stdin(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(templates.aida().to_dict())))
    code, out, _ = run(capsys, "validate", "-")
    assert code == 0
    assert out.startswith("OK: -: definition 'aida'")


# -- usage -------------------------------------------------------------------------------
def test_no_command_prints_help_and_fails(capsys: Capture) -> None:
    code, out, err = run(capsys)
    assert out == ""
    assert code == 2
    assert "demo" in err and "validate" in err


@pytest.mark.parametrize(
    "argv",
    [["demo", "--customers", "0"], ["demo", "--seed", "x"], ["frobnicate"], ["validate"]],
)
def test_bad_arguments_exit_2(capsys: Capture, argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "error:" in err


def test_broken_pipe_is_not_a_traceback(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    monkeypatch.setattr("journeyfsm.cli._main._silence_stdout", lambda: None)
    assert main(["show", "aida"]) == 1


def test_version(capsys: Capture) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.startswith("journeyfsm ")


def test_console_script_entry_point() -> None:
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "journeyfsm"]
    assert ep.value == "journeyfsm.cli:main"
    script = Path(sys.executable).parent / "journeyfsm"
    done = subprocess.run(
        [str(script), "demo", "--quiet", "--customers", "5"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("journeyfsm demo: a small shop, 5 customers")
    assert done.stderr == ""


COLUMNS = ["--key", "key", "--event", "event", "--time", "time", "--json"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["diagram", "mydefs:shop"], "stateDiagram-v2"),
        (["diagram", "mydefs:machine"], "stateDiagram-v2"),
        (["replay", "log.csv", "--definition", "mydefs:shop", *COLUMNS], '"events_applied": 1'),
        (["validate", "mydefs:nothing"], None),  # validate takes files and templates only
    ],
    ids=["diagram-definition", "diagram-machine", "replay-definition", "validate"],
)
def test_console_script_imports_module_attr_from_the_working_directory(
    tmp_path: Path, argv: list[str], expected: str | None
) -> None:
    # the console script's sys.path[0] is its own bin/ folder, not the user's directory:
    # MODULE:ATTR must still be found where the user runs it, as with `python -m journeyfsm`
    (tmp_path / "mydefs.py").write_text(
        "from journeyfsm import JourneyMachine, templates\n"
        "shop = templates.aida()\n"
        "machine = JourneyMachine(shop)\n",
        encoding="utf-8",
    )
    (tmp_path / "log.csv").write_text(
        "key,event,time\nc-1,engage,2026-01-01T00:00:00+00:00\n", encoding="utf-8"
    )
    script = Path(sys.executable).parent / "journeyfsm"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(script), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    if expected is None:
        assert done.returncode != 0 and "Traceback" not in done.stderr
        return
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


# -- demo --------------------------------------------------------------------------------
def test_demo_same_seed_same_bytes(capsys: Capture) -> None:
    _, first, _ = run(capsys, "demo", "--seed", "11")
    _, second, _ = run(capsys, "demo", "--seed", "11")
    _, other, _ = run(capsys, "demo", "--seed", "12")
    assert first == second
    assert first != other


def test_demo_shows_emails_duplicates_blocks_and_summary(capsys: Capture) -> None:
    code, out, err = run(capsys, "demo")
    assert code == 0
    assert err == ""
    assert out.startswith("journeyfsm demo: a small shop, 40 customers, 30 days, seed 7\n")
    assert "thank-you email  [" in out
    assert "redelivered: duplicate dropped" in out
    assert "blocked: payment declined" in out
    assert "where the 40 customers ended up:" in out
    for stage in demo_definition().stage_names:
        assert f"\n  {stage} " in out


def test_demo_quiet_prints_the_summary_only(capsys: Capture) -> None:
    _, loud, _ = run(capsys, "demo", "--seed", "5")
    _, quiet, _ = run(capsys, "demo", "--seed", "5", "--quiet")
    assert "thank-you email  [" not in quiet
    summary = quiet.splitlines()[1:]
    assert summary[0] == "where the 40 customers ended up:"
    assert loud.endswith("\n".join(summary) + "\n")


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_demo_counts_add_up(seed: int) -> None:
    r = run_demo(seed=seed, customers=40, out=io.StringIO())
    assert sum(r.stages.values()) == 40
    assert list(r.stages) == list(demo_definition().stage_names)
    assert r.fired == r.moved + r.blocked + r.ignored + r.duplicates
    # one email per move into purchase, never twice for the same move
    assert len(r.emails) == r.purchases > 0
    assert len(set(r.emails)) == len(r.emails)
    assert r.duplicates > 0 and r.blocked > 0 and r.ignored > 0


def test_demo_output_matches_its_counts() -> None:
    out = io.StringIO()
    r = run_demo(seed=3, customers=25, out=out)
    text = out.getvalue()
    assert text.count("thank-you email  [") == len(r.emails)
    assert text.count("duplicate dropped") == r.duplicates
    assert text.count("blocked: payment declined") == r.blocked
    assert f"thank-you emails    {len(r.emails):>5}" in text


def test_demo_leaves_logging_configuration_alone(capsys: Capture) -> None:
    before = structlog.get_config()
    run_demo(seed=2, customers=10)
    assert structlog.get_config() == before
    assert capsys.readouterr().err == ""


def test_demo_rejects_no_customers() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_demo(customers=0, out=io.StringIO())


# -- core rough edges found while writing `validate` ----------------------------------------
def test_from_dict_reports_non_list_stages_as_a_problem() -> None:
    with pytest.raises(DefinitionError, match="stages"):
        JourneyDefinition.from_dict({"name": "x", "stages": 5, "transitions": []})


def test_from_dict_reports_a_bad_stage_field_readably() -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(
            {"name": "x", "stages": [{"name": "a", "initial": "yes"}], "transitions": []}
        )
    assert "Attribute(" not in str(info.value)


# -- the durable path: demo on a store, db init, worker, show KEY --db ----------------------
def test_demo_keeps_its_store_where_asked_and_the_outbox_is_drained(
    capsys: Capture, tmp_path: Path
) -> None:
    db = tmp_path / "shop.db"
    code, out, _ = run(capsys, "demo", "--customers", "8", "--seed", "4", "--db", str(db))
    assert code == 0 and db.exists()
    r = run_demo(seed=4, customers=8, out=io.StringIO())  # a temporary store: same story
    assert f"outbox              {len(r.emails):>5} delivered, 0 pending, 0 dead" in out
    from journeyfsm.stores import SQLiteStore

    store = SQLiteStore(db)
    with store.transaction(write=False) as tx:
        counts = tx.outbox_counts("demo-shop")
        rows = [tx.load("demo-shop", f"c{n}") for n in range(1, 9)]
    store.close()
    assert counts == {"pending": 0, "dead": 0, "done": len(r.emails), "dropped": 0}
    # every customer who did anything has a stored row, in the stage the demo counted
    stored = Counter(row.stage for row in rows if row is not None)
    untouched = 8 - sum(stored.values())
    assert stored + Counter({"awareness": untouched}) == Counter(
        {stage: n for stage, n in r.stages.items() if n}
    )


MACHINE_MODULE = """
from pathlib import Path
from journeyfsm import JourneyMachine, templates

OUT = Path(__file__).with_name("sent.txt")
machine = JourneyMachine(templates.aida())


@machine.effect(on_enter="interest")
def welcome(call):
    with OUT.open("a") as f:
        f.write(call.idempotency_key + "\\n")


def make():
    return machine
"""


@pytest.fixture
def host_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A host package on sys.path: ``hostapp:machine`` with one effect writing a file."""
    (tmp_path / "hostapp.py").write_text(MACHINE_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("hostapp", None)
    return tmp_path


def test_db_init_is_idempotent(capsys: Capture, tmp_path: Path) -> None:
    db = str(tmp_path / "j.db")
    for _ in range(2):
        code, out, err = run(capsys, "db", "init", "--db", db)
        assert code == 0 and err == ""
        assert out == f"journeyfsm store ready: schema version {SCHEMA_VERSION} in {db}\n"


def test_worker_once_delivers_what_the_service_committed(capsys: Capture, host_app: Path) -> None:
    from journeyfsm import JourneyService
    from journeyfsm.stores import SQLiteStore

    db = str(host_app / "j.db")
    run(capsys, "db", "init", "--db", db)
    import hostapp  # type: ignore[import-not-found]

    store = SQLiteStore(db)
    service = JourneyService(hostapp.machine, store)
    for key in ("c-1", "c-2"):
        assert service.handle(key, "engage", event_id=f"e-{key}").moved
    store.close()
    code, out, _ = run(capsys, "worker", "--db", db, "--machine", "hostapp:make", "--once")
    assert code == 0
    assert out == (
        "timeouts of 'aida': 0 fired in 0 journey(s)\noutbox of 'aida': 2 run, 0 pending, 0 dead\n"
    )
    assert (host_app / "sent.txt").read_text().split() == [
        "aida:c-1:1:welcome",
        "aida:c-2:1:welcome",
    ]
    code, out, _ = run(
        capsys, "worker", "--db", db, "--machine", "hostapp:machine", "--once", "--no-timeouts"
    )
    assert out == "outbox of 'aida': 0 run, 0 pending, 0 dead\n"  # nothing twice

    code, out, _ = run(capsys, "show", "c-1", "--db", db, "--definition", "aida")
    assert code == 0
    assert run(capsys, "show", "c-1", "--db", db) == (0, out, "")  # its only definition
    lines = out.splitlines()
    assert lines[0].startswith("journey 'c-1' of 'aida' (version 1): stage 'interest', 1 move(s)")
    assert lines[1] == "data: {}"
    assert lines[2].endswith("engage: attention -> interest  event e-c-1")


TIMEOUT_MODULE = """
from datetime import datetime, timezone
from journeyfsm import JourneyMachine, ManualClock, templates

clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
machine = JourneyMachine(templates.aida(), clock=clock)
"""


def test_worker_once_fires_due_timeouts_unless_told_not_to(
    capsys: Capture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from journeyfsm import JourneyService
    from journeyfsm.stores import SQLiteStore

    (tmp_path / "tickapp.py").write_text(TIMEOUT_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tickapp", None)
    import tickapp  # type: ignore[import-not-found]

    db = str(tmp_path / "j.db")
    run(capsys, "db", "init", "--db", db)
    store = SQLiteStore(db)
    service = JourneyService(tickapp.machine, store)
    for key in ("c-1", "c-2"):
        service.handle(key, "engage")  # interest: lose_interest after 30 days
    store.close()
    tickapp.clock.advance(timedelta(days=30))
    argv = ["worker", "--db", db, "--machine", "tickapp:machine", "--once"]
    code, out, _ = run(capsys, *argv, "--no-timeouts")
    assert (code, out) == (0, "outbox of 'aida': 0 run, 0 pending, 0 dead\n")
    code, out, _ = run(capsys, *argv)
    assert code == 0 and out.splitlines()[0] == "timeouts of 'aida': 2 fired in 2 journey(s)"
    code, out, _ = run(capsys, *argv)
    assert out.splitlines()[0] == "timeouts of 'aida': 0 fired in 0 journey(s)"  # once
    code, out, _ = run(capsys, "show", "c-1", "--db", db)
    assert out.splitlines()[-1].endswith(
        "lose_interest: interest -> lost  event timeout:aida:c-1:1:0"
    )


def test_worker_refuses_a_tick_interval_that_is_not_positive(
    capsys: Capture, host_app: Path
) -> None:
    db = str(host_app / "j.db")
    run(capsys, "db", "init", "--db", db)
    code, _, err = run(
        capsys, "worker", "--db", db, "--machine", "hostapp:machine", "--tick-interval", "0"
    )
    assert code == 2 and "--tick-interval must be a number of seconds > 0, got 0" in err


def test_show_of_an_unknown_journey_exits_1(capsys: Capture, tmp_path: Path) -> None:
    db = str(tmp_path / "j.db")
    run(capsys, "db", "init", "--db", db)
    code, out, _ = run(capsys, "show", "nobody", "--db", db, "--definition", "aida")
    assert code == 1 and "no journey 'nobody' of definition 'aida'" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["worker", "--db", "X", "--machine", "nocolon"], "module:attribute"),
        (["worker", "--db", "X", "--machine", "no_such_module_xyz:m"], "cannot import"),
        (["worker", "--db", "X", "--machine", "json:nothing"], "has no 'nothing'"),
        (["worker", "--db", "X", "--machine", "json:decoder"], "not a JourneyMachine"),
        (["show", "aida", "--definition", "aida"], "--definition goes with --db"),
    ],
)
def test_durable_commands_refuse_bad_arguments_clearly(
    capsys: Capture, tmp_path: Path, argv: list[str], message: str
) -> None:
    argv = [str(tmp_path / "j.db") if a == "X" else a for a in argv]
    run(capsys, "db", "init", "--db", str(tmp_path / "j.db"))
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_store_without_schema_says_what_to_run(capsys: Capture, tmp_path: Path) -> None:
    db = str(tmp_path / "new.db")
    code, _, err = run(capsys, "show", "k", "--db", db, "--definition", "d")
    assert code == 2 and "has no journeyfsm schema" in err
    assert err.rstrip().endswith(f"journeyfsm db init --db {db}")


def test_a_dsn_password_never_appears_in_output(capsys: Capture) -> None:
    dsn = "postgresql://shop:s3cret-pw@127.0.0.1:1/shop"
    for argv in (
        ["db", "init", "--db", dsn],
        ["show", "k", "--db", dsn, "--definition", "d"],
        ["db", "init", "--db", "host=127.0.0.1 port=1 user=shop password=s3cret-pw dbname=x"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 2 and "s3cret-pw" not in out + err
    parser_help = subprocess.run(
        [sys.executable, "-m", "journeyfsm", "worker", "--help"], capture_output=True, text=True
    ).stdout
    assert "--machine" in parser_help and "password" not in parser_help


# -- --json, --help, exit codes, diagram ----------------------------------------------------
def test_templates_json_lists_every_template_with_its_stages(capsys: Capture) -> None:
    code, out, err = run(capsys, "templates", "--json")
    assert code == 0 and err == ""
    listing = json.loads(out)
    assert [t["name"] for t in listing] == list(templates.TEMPLATES)
    for item in listing:
        d = templates.TEMPLATES[item["name"]]()
        assert item["stages"] == list(d.stage_names)
        assert item["triggers"] == list(d.triggers)


def test_show_json_is_the_definition_dict(
    capsys: Capture, tmp_path: Path, checkout_definition: JourneyDefinition
) -> None:
    code, out, _ = run(capsys, "show", "aida", "--json")
    assert code == 0 and json.loads(out) == templates.aida().to_dict()
    path = write(tmp_path, checkout_definition.to_dict())
    code, out, _ = run(capsys, "show", path, "--json")
    assert code == 0 and json.loads(out) == checkout_definition.to_dict()


def test_validate_json_reports_ok_or_every_problem(
    capsys: Capture, tmp_path: Path, checkout_definition: JourneyDefinition
) -> None:
    code, out, _ = run(capsys, "validate", write(tmp_path, checkout_definition.to_dict()), "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] is True
    assert result["guards"] == ["cart_not_empty", "is_vip", "payment_ok"]
    assert (result["stages"], result["transitions"]) == (
        len(checkout_definition.stages),
        len(checkout_definition.transitions),
    )
    data = templates.aida().to_dict()
    data["stages"].append({"name": "orphan"})
    code, out, _ = run(capsys, "validate", write(tmp_path, data, "bad.json"), "--json")
    result = json.loads(out)
    assert code == 1 and result["ok"] is False
    assert any("stage 'orphan' is unreachable" in p for p in result["problems"])


def test_demo_json_prints_only_the_summary_of_the_same_run(capsys: Capture) -> None:
    code, out, err = run(capsys, "demo", "--json", "--seed", "4", "--customers", "12")
    assert code == 0 and err == ""
    summary = json.loads(out)
    r = run_demo(seed=4, customers=12, out=io.StringIO())
    assert summary["stages"] == r.stages
    assert (summary["fired"], summary["moved"], summary["emails"]) == (
        r.fired,
        r.moved,
        len(r.emails),
    )


@pytest.mark.parametrize(
    "command",
    ["demo", "validate", "show", "templates", "diagram", "db", "worker", "replay", "funnel"],
)
def test_every_command_help_has_examples_and_exit_codes(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "journeyfsm", command, "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "examples:\n  journeyfsm " in done.stdout
    assert "exit codes: 0 " in done.stdout and "2 bad usage" in done.stdout


def test_store_commands_print_json(capsys: Capture, host_app: Path) -> None:
    from journeyfsm import JourneyService
    from journeyfsm.stores import SCHEMA_VERSION, SQLiteStore

    db = str(host_app / "j.db")
    code, out, _ = run(capsys, "db", "init", "--db", db, "--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "schema_version": SCHEMA_VERSION, "db": db}
    import hostapp

    store = SQLiteStore(db)
    service = JourneyService(hostapp.machine, store)
    assert service.handle("c-1", "engage", event_id="e-1").moved
    store.close()
    code, out, _ = run(
        capsys, "worker", "--db", db, "--machine", "hostapp:make", "--once", "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "definition": "aida",
        "timeouts": {"fired": 0, "journeys": 0, "failed": []},
        "outbox": {"run": 1, "pending": 0, "dead": 0},
    }
    code, out, _ = run(capsys, "show", "c-1", "--db", db, "--json")
    assert code == 0
    [shown] = json.loads(out)
    assert (shown["key"], shown["definition"], shown["stage"], shown["version"]) == (
        "c-1",
        "aida",
        "interest",
        1,
    )
    assert [e["event_id"] for e in shown["history"]] == ["e-1"]
    assert shown["started_at"] == shown["entered_at"] == shown["history"][0]["at"]
    code, out, _ = run(capsys, "show", "nobody", "--db", db, "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def mermaid_stages(text: str) -> list[str]:
    import re

    return [
        re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), m)
        for m in re.findall(r'state "([^"]*)" as', text)
    ]


def test_diagram_of_a_template_file_and_module_attribute(
    capsys: Capture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = templates.eight_phases()
    code, out, err = run(capsys, "diagram", "eight-phases")
    assert code == 0 and err == ""
    assert sorted(s for s in mermaid_stages(out) if s != "any non-final stage") == sorted(
        d.stage_names
    )
    path = write(tmp_path, d.to_dict(), "e8.json")
    code, dot, _ = run(capsys, "diagram", path, "--format", "dot")
    assert code == 0 and dot.startswith('digraph "eight-phases" {')
    (tmp_path / "shopdefs.py").write_text(
        "from journeyfsm import JourneyMachine, templates\n"
        "definition = templates.aida()\nmachine = JourneyMachine(definition)\n"
        "def make():\n    return templates.four_steps()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("shopdefs", None)
    for ref, name in [
        ("shopdefs:definition", "aida"),
        ("shopdefs:machine", "aida"),
        ("shopdefs:make", "four-steps"),
    ]:
        code, out, _ = run(capsys, "diagram", ref, "--json")
        result = json.loads(out)
        assert code == 0 and result["definition"] == name and result["format"] == "mermaid"
        drawn = [s for s in mermaid_stages(result["diagram"]) if s != "any non-final stage"]
        assert sorted(drawn) == sorted(templates.TEMPLATES[name]().stage_names)


def test_diagram_writes_svg_annotated_with_a_funnel_file(capsys: Capture, tmp_path: Path) -> None:
    from journeyfsm.analytics import DurationStats, Funnel, StageStats, TransitionCount

    none = DurationStats(0, None, None)
    entered = {"attention": 10, "interest": 6, "desire": 3, "action": 2, "lost": 4}
    stages = tuple(
        StageStats(s, False, n, n, n // 2, None, 0, none, none) for s, n in entered.items()
    )
    moves = (
        TransitionCount("attention", "interest", "engage", 6),
        TransitionCount("attention", "lost", "lose_interest", 4),
    )
    funnel = Funnel("aida", 1, 10, (), stages, moves, {"engage": 6, "lose_interest": 4})
    funnel_path = write(tmp_path, funnel.to_dict(), "funnel.json")
    svg = tmp_path / "aida.svg"
    code, out, err = run(
        capsys, "diagram", "aida", "-f", "svg", "-o", str(svg), "--funnel", funnel_path
    )
    assert code == 0 and out == "" and f"to {svg}" in err
    text = svg.read_text(encoding="utf-8")
    assert "entered 10 \u00b7 now 5" in text
    assert "6 moves (60.0%)" in text  # 6 of the 10 moves that left attention


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diagram", "eight_phases"], "did you mean eight-phases?"),
        (["diagram", "aida", "--funnel", "NOFILE"], "no such funnel file"),
        (["diagram", "aida", "--funnel", "BAD"], "not a funnel: funnel: missing the key 'stages'"),
        (["diagram", "aida", "--funnel", "OTHER"], "the funnel is of definition 'other'"),
        (["diagram", "aida", "--format", "png"], "invalid choice: 'png'"),
        (["diagram", "json:nothing"], "module 'json' has no 'nothing'"),
        (["diagram", "json:decoder"], "not a JourneyDefinition or JourneyMachine"),
        (["diagram", "no_such_module_xyz:d"], "cannot import 'no_such_module_xyz'"),
    ],
)
def test_diagram_errors_exit_2_or_1_with_a_clear_message(
    capsys: Capture, tmp_path: Path, argv: list[str], message: str
) -> None:
    bad = write(tmp_path, {"definition": "aida"}, "bad.json")
    other = {
        "definition": "other",
        "version": 1,
        "journeys": 0,
        "order": [],
        "stages": [],
        "moves": [],
        "trigger_moves": {},
    }
    files = {
        "NOFILE": str(tmp_path / "none.json"),
        "BAD": bad,
        "OTHER": write(tmp_path, other, "o.json"),
    }
    code, out, err = run(capsys, *[files.get(a, a) for a in argv])
    # a funnel file that was read but holds the wrong thing is exit 1 (the CLI's rule)
    assert code == (1 if argv[-1] in ("BAD", "OTHER") else 2) and out == ""
    assert message in err and "Traceback" not in err


def test_diagram_of_a_bad_definition_file_exits_1(capsys: Capture, tmp_path: Path) -> None:
    data = templates.aida().to_dict()
    data["stages"].append({"name": "orphan"})
    code, out, _ = run(capsys, "diagram", write(tmp_path, data))
    assert code == 1 and "stage 'orphan' is unreachable" in out
