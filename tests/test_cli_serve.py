"""``journeyfsm serve``: its options checked where they enter (exit 2 with the fix), and a
real server on 127.0.0.1 that answers, masks, and stops on Ctrl-C."""

from __future__ import annotations

import html
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from explorer_support import email_of, fill, serving

from journeyfsm.cli import main
from journeyfsm.stores import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo's definition walked by customers with e-mail addresses in their data."""
    path = tmp_path_factory.mktemp("serve") / "shop.db"
    store = SQLiteStore(path, create_schema=True)
    fill(store, customers=15)
    store.close()
    return str(path)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--db", "no-such.db"], "no SQLite file 'no-such.db'; check the path, or create"),
        (["--allow-writes"], "--allow-writes needs a token: --token T or $JOURNEYFSM_SERVE_TOKEN"),
        (["--token", "x" * 20], "--token goes with --allow-writes"),
        (["--allow-writes", "--token", "short"], "the token must be at least 16 characters"),
        (
            ["--definition", "no_such_module:machine"],
            "--definition no_such_module:machine: cannot import",
        ),
        (["--definition", "no-such-template"], "unknown template 'no-such-template'"),
        (["--mask", "e mail"], "--mask takes field names"),
        (["--refresh", "-1"], "--refresh must be seconds >= 0"),
        (
            ["--db", "postgresql://shop:s3cret@127.0.0.1:1/shop"],
            "cannot connect to PostgreSQL",
        ),
    ],
)
def test_bad_options_exit_2_and_say_the_fix(
    demo_db: str,
    args: list[str],
    says: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOURNEYFSM_SERVE_TOKEN", raising=False)
    argv = ["serve", *args] if "--db" in args else ["serve", "--db", demo_db, *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("journeyfsm serve: error: ") and says in err
    assert "s3cret" not in err


@pytest.mark.parametrize("port", ["70000", "http"])
def test_a_bad_port_is_a_usage_error(demo_db: str, port: str) -> None:
    assert main(["serve", "--db", demo_db, "--port", port]) == 2


def test_serve_binds_loopback_answers_masks_and_stops_on_ctrl_c(demo_db: str) -> None:
    with (
        serving("--db", demo_db, "--mask", "email") as (url, proc),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        home = client.get("/")
        overview = client.get("/overview", params={"definition": "demo-shop"})
        outbox = client.get("/outbox", params={"definition": "demo-shop"})
        journey = client.get("/journey", params={"definition": "demo-shop", "key": "c001"})
    assert proc.returncode == 0
    assert home.status_code == 200 and "demo-shop" in home.text
    # the demo's definition is known without --definition: the diagram is drawn
    assert overview.status_code == 200 and overview.text.count("<svg") == 2
    assert outbox.status_code == 200 and journey.status_code == 200
    assert '"email": "\u2022\u2022\u2022"' in html.unescape(journey.text)  # data, meta
    assert "@example.com" not in html.unescape(outbox.text + journey.text)
    assert email_of("c001") not in html.unescape(journey.text)
    assert home.headers.get("server") is None  # no server banner


def test_serve_reports_an_older_schema_and_serves_pages_that_say_so(tmp_path: Path) -> None:
    from test_service_timeouts import SCHEMA_1

    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in SCHEMA_1:
            conn.execute(statement)
    with serving("--db", str(path)) as (url, proc):
        with httpx.Client(base_url=url, timeout=30) as client:
            page = client.get("/")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert page.status_code == 503
    assert "schema version 1, this journeyfsm needs 5" in html.unescape(page.text)
    assert "warning: the store cannot be read yet" in err
