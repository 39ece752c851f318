"""The journey explorer over HTTP (httpx against the ASGI app in-process), on SQLite and
PostgreSQL: every page shows what the store holds, masks what it must, escapes customer
text, answers bad requests with a page and a status, and writes only when allowed."""

from __future__ import annotations

import html
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import checkout_builder
from explorer_support import (
    HOSTILE_KEY,
    NOW,
    PHONE,
    START,
    client_of,
    email_of,
    fill,
    postgres_store,
    rows_by_first,
    sqlite_store,
    table,
)

from journeyfsm import HistoryEntry, JourneyMachine, JourneyService, ManualClock, templates
from journeyfsm.analytics import funnel
from journeyfsm.explorer import create_app
from journeyfsm.explorer._journey import stays
from journeyfsm.explorer._mask import MASKED
from journeyfsm.explorer._overview import FigureCache
from journeyfsm.service._core import JourneyRow
from journeyfsm.stores import SCHEMA_VERSION, SQLiteStore

NAME = "demo-shop"
TOKEN = "t0ken-for-the-tests-only"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, JourneyMachine]]:
    """A store filled by the simulated shop, once per store kind for the module."""
    if request.param == "sqlite":
        store, close = sqlite_store(tmp_path_factory.mktemp("explorer"))
    else:
        store, close = postgres_store()
    machine = fill(store)
    yield store, machine
    close()


def app_of(store: Any, machine: JourneyMachine | None, **kwargs: Any) -> Any:
    kwargs.setdefault("clock", ManualClock(NOW))
    kwargs.setdefault("refresh", 0)
    return create_app(store, definitions=[machine] if machine else [], **kwargs)


def stored(store: Any, machine: JourneyMachine) -> dict[str, Any]:
    """What the store holds, read through the service (the explorer must agree)."""
    journeys = list(JourneyService(machine, store).journeys(NAME))
    with store.transaction(write=False) as tx:
        counts = tx.outbox_counts(NAME)
        dead = tx.outbox(NAME, status="dead")
        pending = tx.outbox(NAME, status="pending")
    return {
        "journeys": journeys,
        "funnel": funnel(journeys, machine.definition),
        "counts": counts,
        "dead": dead,
        "pending": pending,
    }


# -- the numbers shown are the store's ------------------------------------------------


def test_home_lists_the_definitions_with_their_counts(shop: tuple[Any, JourneyMachine]) -> None:
    store, machine = shop
    truth = stored(store, machine)
    with client_of(app_of(store, machine)) as client:
        page = client.get("/")
    assert page.status_code == 200
    row = rows_by_first(page.text, "definitions")[NAME]
    assert row[:3] == [
        str(len(truth["journeys"])),
        str(truth["counts"]["pending"]),
        str(truth["counts"]["dead"]),
    ]


def test_overview_counts_equal_the_analytics_funnel(shop: tuple[Any, JourneyMachine]) -> None:
    store, machine = shop
    truth = stored(store, machine)["funnel"]
    assert truth.journeys > 30 and truth.stage("purchase").entered > 0  # a funnel worth checking
    with client_of(app_of(store, machine)) as client:
        page = client.get("/overview", definition=NAME)
    assert page.status_code == 200
    assert re.search(rf'id="journey-total">{truth.journeys}<', page.text)
    shown = rows_by_first(page.text, "stages")
    for s in truth.stages:
        label = s.stage if s.in_funnel else f"{s.stage} (not in funnel)"
        conversion = "-" if s.conversion is None else f"{s.conversion:.1%}"
        assert shown[label][:5] == [
            str(s.current),
            str(s.entered),
            str(s.reached),
            conversion,
            str(s.drop_off),
        ], s.stage
    moves = {tuple(r[:3]): int(r[3]) for r in table(page.text, "moves")[1:]}
    assert moves == {(m.source, m.dest, m.trigger): m.count for m in truth.moves}
    # the diagram and the funnel chart are the export code's SVG, annotated with the counts
    assert page.text.count("<svg") == 2
    purchase = truth.stage("purchase")
    assert f"entered {purchase.entered} \u00b7 now {purchase.current}" in page.text


def test_the_funnel_built_in_sql_equals_the_one_counted_in_python(
    shop: tuple[Any, JourneyMachine],
) -> None:
    from journeyfsm.explorer._overview import funnel_of
    from journeyfsm.explorer._queries import funnel_figures, tables_of

    store, machine = shop
    d = machine.definition
    truth = stored(store, machine)["funnel"]
    with store.transaction(write=False) as tx:
        figures = funnel_figures(tx, tables_of(store), NAME, d.funnel)
    ours = funnel_of(figures, d)
    without_durations = [
        (s.stage, s.entered, s.reached, s.current, s.conversion) for s in ours.stages
    ]
    assert without_durations == [
        (s.stage, s.entered, s.reached, s.current, s.conversion) for s in truth.stages
    ]
    assert ours.moves == truth.moves
    assert dict(ours.trigger_moves) == dict(truth.trigger_moves)


def test_a_stage_count_links_to_the_journeys_in_that_stage(
    shop: tuple[Any, JourneyMachine],
) -> None:
    store, machine = shop
    journeys = stored(store, machine)["journeys"]
    with client_of(app_of(store, machine)) as client:
        overview = client.get("/overview", definition=NAME)
        link = re.search(r'href="(/stage\?definition=demo-shop&amp;stage=dormant)"', overview.text)
        assert link is not None
        page = client.get(html.unescape(link[1]))
    keys = [r[0] for r in table(page.text, "stage-journeys")[1:]]
    assert keys == sorted(j.key for j in journeys if j.stage == "dormant")


def test_journey_page_shows_stage_path_events_effects_and_what_next(
    shop: tuple[Any, JourneyMachine],
) -> None:
    store, machine = shop
    truth = stored(store, machine)
    # a journey that bought, so it has an effect
    journey = next(j for j in truth["journeys"] if any(e.dest == "purchase" for e in j.history))
    with client_of(app_of(store, machine)) as client:
        page = client.get("/journey", definition=NAME, key=journey.key)
    assert page.status_code == 200
    summary = rows_by_first(page.text, "summary", header=False)
    assert summary["stage"] == [journey.stage]
    assert summary["moves"] == [str(journey.version)]
    events = table(page.text, "history")[1:]
    assert [(int(r[0]), r[2], r[4]) for r in events] == [
        (e.seq, e.trigger, e.event_id) for e in journey.history
    ]
    path = table(page.text, "path")[1:]
    assert path[0][0] == machine.definition.initial_stage
    assert path[-1][0] == journey.stage and path[-1][2] == "still here"
    effects = table(page.text, "effects")[1:]
    with store.transaction(write=False) as tx:
        outbox = tx.outbox(NAME, key=journey.key)
    assert [(int(r[0]), r[1], r[3]) for r in effects] == [
        (o.id, o.effect, o.status) for o in outbox
    ]
    allowed = machine.allowed_triggers(JourneyService(machine, store).get(journey.key))  # type: ignore[arg-type]
    assert [r[0] for r in table(page.text, "next")[1:]] == list(allowed)


def test_what_next_names_the_guard_that_blocks(shop: tuple[Any, JourneyMachine]) -> None:
    store, machine = shop
    journeys = stored(store, machine)["journeys"]
    key = next(j.key for j in journeys if j.stage == "decision")
    with client_of(app_of(store, machine)) as client:
        page = client.get("/journey", definition=NAME, key=key)
        explained = client.get(
            "/journey",
            definition=NAME,
            key=key,
            trigger="order_paid",
            payload='{"payment": "declined"}',
        )
        passing = client.get(
            "/journey",
            definition=NAME,
            key=key,
            trigger="order_paid",
            payload='{"payment": "captured"}',
        )
    nxt = rows_by_first(page.text, "next")
    # no payload: the guard wants a dict, so it cannot tell; with one it explains
    assert nxt["order_paid"][0] == "cannot tell" and "payment_captured" in nxt["order_paid"][1]
    assert explained.status_code == 200
    assert 'class="status-blocked">blocked' in explained.text
    assert (
        "<code>payment_captured</code>: the payment provider captured the money" in explained.text
    )
    assert (
        'class="status-would_move">would move</span> to <strong>purchase</strong>' in passing.text
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"trigger": "fly_to_the_moon"}, "is not a trigger of definition"),
        ({"trigger": "order_paid", "payload": "{not json"}, "the payload is not JSON"),
    ],
)
def test_a_bad_explain_request_is_a_400_page_that_says_why(
    shop: tuple[Any, JourneyMachine], params: dict[str, str], message: str
) -> None:
    store, machine = shop
    with client_of(app_of(store, machine)) as client:
        page = client.get("/journey", definition=NAME, key="c001", **params)
    assert page.status_code == 400
    assert message in html.unescape(page.text)
    assert "Traceback" not in page.text


def test_outbox_lists_pending_and_dead_letters_with_their_last_error(
    shop: tuple[Any, JourneyMachine],
) -> None:
    store, machine = shop
    truth = stored(store, machine)
    assert truth["dead"] and truth["pending"]  # the fill makes both
    with client_of(app_of(store, machine, mask=["email"])) as client:
        page = client.get("/outbox", definition=NAME)
    assert page.status_code == 200
    assert re.search(rf'id="count-dead">{truth["counts"]["dead"]}<', page.text)
    assert re.search(rf'id="count-pending">{truth["counts"]["pending"]}<', page.text)
    dead = rows_by_first(page.text, "dead")
    assert sorted(map(int, dead)) == [o.id for o in truth["dead"]]
    for row in dead.values():
        assert row[5] == f"RuntimeError: mailbox {MASKED} is full"  # the address masked
    assert sorted(map(int, rows_by_first(page.text, "pending"))) == [o.id for o in truth["pending"]]
    assert "Read-only" in page.text and 'method="post"' not in page.text


def test_search_finds_keys_by_prefix_and_goes_straight_to_an_exact_one(
    shop: tuple[Any, JourneyMachine],
) -> None:
    store, machine = shop
    keys = sorted(j.key for j in stored(store, machine)["journeys"])
    with client_of(app_of(store, machine)) as client:
        found = client.get("/search", q="c00")
        exact = client.get("/search", q="c001")
        none = client.get("/search", q="nobody")
    assert [r[0] for r in table(found.text, "matches")[1:]] == [
        k for k in keys if k.startswith("c00")
    ]
    assert exact.status_code == 303
    assert exact.headers["location"] == "/journey?definition=demo-shop&key=c001"
    assert none.status_code == 200 and 'id="no-match"' in none.text


# -- masking and escaping ---------------------------------------------------------------


def test_masked_fields_appear_on_no_page(shop: tuple[Any, JourneyMachine]) -> None:
    store, machine = shop
    truth = stored(store, machine)
    keys = [j.key for j in truth["journeys"]]
    with client_of(app_of(store, machine, mask=["email", "Phone"])) as client:
        pages = [client.get("/"), client.get("/overview", definition=NAME)]
        pages.append(client.get("/outbox", definition=NAME))
        pages += [client.get("/journey", definition=NAME, key=k) for k in keys]
    assert all(p.status_code == 200 for p in pages)
    text = "\n".join(html.unescape(p.text) for p in pages)
    assert "@example.com" not in text
    assert PHONE not in text
    assert text.count(MASKED) > len(keys)
    # unmasked, they are there: the test would see a leak
    with client_of(app_of(store, machine)) as client:
        plain = client.get("/journey", definition=NAME, key=keys[0])
    assert email_of(keys[0]) in html.unescape(plain.text) and PHONE in plain.text


def test_hostile_keys_and_data_are_text_not_markup(shop: tuple[Any, JourneyMachine]) -> None:
    store, machine = shop
    with client_of(app_of(store, machine)) as client:
        page = client.get("/journey", definition=NAME, key=HOSTILE_KEY)
        found = client.get("/search", q="<script>")
        missing = client.get("/journey", definition=NAME, key="<b>x</b>" + HOSTILE_KEY)
        bad_def = client.get("/overview", definition='"><script>alert(1)</script>')
    assert page.status_code == 200 and found.status_code == 200
    for p in (page, found, missing, bad_def):
        assert "<script" not in p.text.lower() and "<img" not in p.text.lower()
    assert "&lt;script&gt;alert(&#34;key&#34;)&lt;/script&gt;" in page.text  # the key, as text
    assert "&lt;img src=x onerror=alert(" in page.text  # the note in the data, as text
    assert "&lt;script&gt;alert(&#34;key&#34;)" in found.text
    assert missing.status_code == 404 and bad_def.status_code == 404
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


# -- errors are pages with a status --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/no/such/page", {}, 404, "there is no page '/no/such/page'"),
        ("/overview", {}, 400, "this page needs ?definition="),
        ("/overview", {"definition": "nope"}, 404, "there is no definition 'nope' in this store"),
        ("/journey", {"definition": NAME, "key": "c999"}, 404, "has no journey c999"),
        ("/journey", {"definition": NAME}, 400, "this page needs ?key="),
        ("/outbox", {"definition": "x" * 3000}, 400, "longer than 2000 characters"),
    ],
)
def test_bad_requests_are_clear_pages(
    shop: tuple[Any, JourneyMachine], path: str, params: dict[str, str], status: int, says: str
) -> None:
    store, machine = shop
    with client_of(app_of(store, machine)) as client:
        page = client.get(path, **params)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert says in html.unescape(page.text)
    assert "Traceback" not in page.text


def test_a_post_to_a_page_is_405_and_read_only_refuses_the_requeue(
    shop: tuple[Any, JourneyMachine],
) -> None:
    store, machine = shop
    before = stored(store, machine)["counts"]
    with client_of(app_of(store, machine)) as client:
        post_page = client.post("/overview", {"definition": NAME})
        requeue = client.post("/outbox/requeue", {"definition": NAME, "ids": "all", "token": TOKEN})
    assert post_page.status_code == 405
    assert requeue.status_code == 403 and "read-only" in requeue.text
    assert stored(store, machine)["counts"] == before


def test_a_definition_that_is_not_loaded_shows_its_counts_only(
    shop: tuple[Any, JourneyMachine],
) -> None:
    store, machine = shop
    journeys = stored(store, machine)["journeys"]
    with client_of(app_of(store, None)) as client:
        overview = client.get("/overview", definition=NAME)
        page = client.get("/journey", definition=NAME, key=journeys[0].key)
    assert overview.status_code == 200 and "<svg" not in overview.text
    now = {stage: int(r[0]) for stage, r in rows_by_first(overview.text, "stages").items()}
    assert now == {s: sum(j.stage == s for j in journeys) for s in {j.stage for j in journeys}}
    assert page.status_code == 200 and "--definition MODULE:ATTR" in page.text


# -- writes: token, CSRF, origin ---------------------------------------------------------


def _requeue_form(client: Any) -> dict[str, str]:
    page = client.get("/outbox", definition=NAME)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None and client.http.cookies.get("journeyfsm_csrf") == csrf[1]
    return {"csrf": csrf[1], "definition": NAME, "ids": "all", "token": TOKEN}


@pytest.mark.parametrize(
    ("change", "headers", "why"),
    [
        ({"token": "wrong-token-wrong-token"}, {}, "Wrong token"),
        ({"csrf": "x" * 43}, {}, "Form expired"),
        ({"csrf": ""}, {}, "Form expired"),
        ({}, {"origin": "http://evil.example"}, "Cross-site request refused"),
        ({}, {"sec-fetch-site": "cross-site"}, "Cross-site request refused"),
    ],
)
def test_a_requeue_without_token_csrf_or_from_elsewhere_is_refused(
    tmp_path: Path, change: dict[str, str], headers: dict[str, str], why: str
) -> None:
    store, close = sqlite_store(tmp_path)
    try:
        machine = fill(store, customers=12)
        before = stored(store, machine)["counts"]
        assert before["dead"] > 0
        app = app_of(store, machine, allow_writes=True, token=TOKEN)
        with client_of(app) as client:
            form = {**_requeue_form(client), **change}
            answer = client.post("/outbox/requeue", form, headers=headers)
        assert answer.status_code == 403 and why in answer.text
        assert stored(store, machine)["counts"] == before
    finally:
        close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_requeue_with_token_and_csrf_moves_dead_letters_back_to_pending(
    tmp_path: Path, kind: str
) -> None:
    store, close = sqlite_store(tmp_path) if kind == "sqlite" else postgres_store()
    try:
        machine = fill(store, customers=12)
        before = stored(store, machine)["counts"]
        app = app_of(store, machine, allow_writes=True, token=TOKEN)
        with client_of(app) as client:
            form = _requeue_form(client)
            answer = client.post(
                "/outbox/requeue", form, headers={"origin": "http://127.0.0.1:8080"}
            )
            assert answer.status_code == 303
            assert (
                answer.headers["location"] == f"/outbox?definition={NAME}&requeued={before['dead']}"
            )
            after_page = client.get(answer.headers["location"])
        after = stored(store, machine)["counts"]
        assert after == {**before, "dead": 0, "pending": before["pending"] + before["dead"]}
        assert f"{before['dead']} dead letter(s) requeued" in after_page.text
        assert re.search(r'id="count-dead">0<', after_page.text)
    finally:
        close()


def test_writes_need_a_long_token_and_a_token_needs_writes(tmp_path: Path) -> None:
    store, close = sqlite_store(tmp_path)
    try:
        with pytest.raises(ValueError, match="at least 16 characters"):
            create_app(store, allow_writes=True)
        with pytest.raises(ValueError, match="at least 16 characters"):
            create_app(store, allow_writes=True, token="short")
        with pytest.raises(ValueError, match="only used with allow_writes=True"):
            create_app(store, token=TOKEN)
        with pytest.raises(ValueError, match="refresh must be"):
            create_app(store, refresh=-1)
        with pytest.raises(TypeError, match="list of field names"):
            create_app(store, mask="email")
        with pytest.raises(ValueError, match="--mask takes field names"):
            create_app(store, mask=["e mail"])
        with pytest.raises(ValueError, match="given twice"):
            create_app(store, definitions=[templates.aida(), templates.aida()])
        with pytest.raises(TypeError, match="JourneyDefinition or JourneyMachine"):
            create_app(store, definitions=["aida"])  # type: ignore[list-item]
        from journeyfsm.stores import MemoryStore

        with pytest.raises(TypeError, match="SQLiteStore or PostgresStore"):
            create_app(MemoryStore())
    finally:
        close()


# -- a store that cannot be read yet -------------------------------------------------------


def test_a_store_of_an_older_schema_is_a_503_page_until_it_is_migrated(tmp_path: Path) -> None:
    from test_service_timeouts import SCHEMA_1

    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in SCHEMA_1:
            conn.execute(statement)
    app = create_app(lambda: SQLiteStore(path), definitions=[checkout_builder().build()])
    with client_of(app) as client:
        old = client.get("/")
        assert old.status_code == 503
        assert "schema version 1, this journeyfsm needs 5" in html.unescape(old.text)
        assert "create_schema=True" in old.text and "Traceback" not in old.text
        assert client.get("/overview", definition="shop").status_code == 503
        SQLiteStore(path, create_schema=True).close()  # `journeyfsm db init` migrates it
        assert client.get("/").status_code == 200
        assert client.get("/journey", definition="shop", key="old").status_code == 200
    app.state.explorer.source.close()


def test_a_store_whose_tables_vanish_is_a_503_page(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "gone.db", create_schema=True)
    JourneyService(JourneyMachine(templates.aida()), store).handle("c-1", "engage")
    with client_of(create_app(store, definitions=[templates.aida()], refresh=0)) as client:
        assert client.get("/overview", definition="aida").status_code == 200
        with sqlite3.connect(tmp_path / "gone.db") as conn:
            conn.execute("DROP TABLE journeyfsm_history")
        conn.close()
        page = client.get("/overview", definition="aida")
    store.close()
    assert page.status_code == 503
    assert "no such table" in page.text and "Traceback" not in page.text


# -- the path: stays, re-entries and internal moves ------------------------------------------


def test_stays_end_at_moves_and_reentries_but_not_at_internal_moves() -> None:
    d = checkout_builder().build()
    t0 = START

    def e(seq: int, trigger: str, source: str, dest: str, minutes: int) -> HistoryEntry:
        return HistoryEntry(seq, trigger, source, dest, t0 + timedelta(minutes=minutes))

    history = [
        e(1, "add_to_cart", "browsing", "cart", 10),
        e(2, "note", "cart", "cart", 20),  # internal: the stay goes on
        e(3, "add_to_cart", "cart", "cart", 30),  # re-entry: a new stay
        e(4, "abandon", "cart", "abandoned", 45),
    ]
    row = JourneyRow(
        definition="checkout",
        key="k",
        definition_version=3,
        stage="abandoned",
        data={},
        version=4,
        entered_at=history[-1].at,
        updated_at=history[-1].at,
        started_at=t0,
        entry_seq=4,
        timeouts_fired=0,
        next_due=None,
    )
    path = stays(row, history, d, t0 + timedelta(hours=2))
    assert [(s.stage, s.duration, s.left_by, s.internal_moves) for s in path] == [
        ("browsing", timedelta(minutes=10), "add_to_cart", 0),
        ("cart", timedelta(minutes=20), "add_to_cart", 1),
        ("cart", timedelta(minutes=15), "abandon", 0),
        ("abandoned", timedelta(minutes=75), None, 0),
    ]
    # without a definition, a same-stage move before the current stay counts as a re-entry
    unknown = stays(row, history, None, t0 + timedelta(hours=2))
    assert [s.stage for s in unknown] == ["browsing", "cart", "cart", "cart", "abandoned"]


# -- the overview's cache: counted again behind the requests ---------------------------------


def _join_refreshers() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("journeyfsm-explorer-"):
            thread.join(30)


def test_a_stale_overview_is_served_while_one_thread_counts_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from journeyfsm.explorer import _overview

    now = [100.0]
    monkeypatch.setattr(_overview.time, "monotonic", lambda: now[0])
    cache: FigureCache[int] = FigureCache(5.0)
    release = threading.Event()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        if len(calls) > 1:
            assert release.wait(30)
        return len(calls)

    assert cache.get("shop", compute) == 1
    now[0] += 4.9
    assert cache.get("shop", compute) == 1 and len(calls) == 1  # fresh: not counted
    now[0] += 0.2
    # stale: served as it is, while ONE background thread counts again (held here)
    assert [cache.get("shop", compute) for _ in range(5)] == [1] * 5
    assert len(calls) == 2
    release.set()
    _join_refreshers()
    assert cache.get("shop", compute) == 2 and len(calls) == 2


def test_a_failing_recount_keeps_the_old_figures_and_is_tried_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from journeyfsm.explorer import _overview

    now = [0.0]
    monkeypatch.setattr(_overview.time, "monotonic", lambda: now[0])
    cache: FigureCache[str] = FigureCache(1.0)
    assert cache.get("shop", lambda: "first") == "first"
    now[0] += 2

    def broken() -> str:
        raise RuntimeError("the database went away")

    assert cache.get("shop", broken) == "first"
    _join_refreshers()
    assert "counting 'shop' again failed" in caplog.text
    assert cache.get("shop", lambda: "second") == "first"  # stale: recounted behind
    _join_refreshers()
    assert cache.get("shop", lambda: "third") == "second"


def test_refresh_0_counts_on_every_request() -> None:
    cache: FigureCache[int] = FigureCache(0)
    calls = iter(range(1, 10))
    assert [cache.get("shop", lambda: next(calls)) for _ in range(3)] == [1, 2, 3]


def test_a_postgres_store_of_an_older_schema_is_a_503_page_too() -> None:
    from journeyfsm.stores import PostgresStore

    store, close = postgres_store()
    try:
        prefix = store.prefix
        with store.transaction() as tx:
            tx.conn.execute(f'UPDATE "{prefix}schema_version" SET version = 1')
        from explorer_support import pg_dsn

        app = create_app(lambda: PostgresStore(pg_dsn(), prefix=prefix, max_size=2))
        with client_of(app) as client:
            old = client.get("/")
            assert old.status_code == 503
            assert "schema version 1" in html.unescape(old.text)
            with store.transaction() as tx:
                tx.conn.execute(f'UPDATE "{prefix}schema_version" SET version = {SCHEMA_VERSION}')
            assert client.get("/").status_code == 200
        app.state.explorer.source.close()
    finally:
        close()


def test_an_unexpected_failure_is_a_500_page_and_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from journeyfsm.explorer import _pages

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in the explorer")

    store, close = sqlite_store(tmp_path)
    try:
        monkeypatch.setattr(_pages, "definitions_in_store", broken)
        with client_of(create_app(store)) as client:
            page = client.get("/")
        assert page.status_code == 500
        assert "the traceback is in the server's log" in html.unescape(page.text)
        assert "a bug in the explorer" not in page.text and "Traceback" not in page.text
        assert "a bug in the explorer" in caplog.text
    finally:
        close()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("x=" + "a" * 20_000, "application/x-www-form-urlencoded", 413),
        ('{"ids": "all"}', "application/json", 415),
        ("ids=1,two&csrf=&token=", "application/x-www-form-urlencoded", 403),
    ],
)
def test_a_requeue_post_that_is_not_the_form_is_refused(
    tmp_path: Path, body: str, content_type: str, status: int
) -> None:
    store, close = sqlite_store(tmp_path)
    try:
        app = create_app(store, allow_writes=True, token=TOKEN)
        with client_of(app) as client:
            answer = client.portal.call(
                lambda: client.http.post(
                    "/outbox/requeue", content=body, headers={"content-type": content_type}
                )
            )
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("text/html")
    finally:
        close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_only_loopback_addresses_go_without_a_warning(host: str, loopback: bool) -> None:
    from journeyfsm.cli._serve import _is_loopback

    assert _is_loopback(host) is loopback


def test_a_long_journey_shows_its_newest_thousand_moves(tmp_path: Path) -> None:
    d = checkout_builder().build()
    machine = JourneyMachine(d, clock=ManualClock(START))
    journey = machine.start("loyal", at=START)
    machine.fire(journey, "add_to_cart", at=START)
    for n in range(1, 1101):
        machine.fire(journey, "note", at=START + timedelta(minutes=n))
    store, close = sqlite_store(tmp_path)
    try:
        JourneyService(machine, store).import_journeys([journey])
        with client_of(create_app(store, definitions=[machine], clock=ManualClock(NOW))) as client:
            page = client.get("/journey", definition="checkout", key="loyal")
        assert page.status_code == 200
        events = table(page.text, "history")[1:]
        assert [int(r[0]) for r in events] == list(range(102, 1102))
        assert "moves 1 to 101 are left out" in page.text
        path = table(page.text, "path")[1:]
        # every shown move is internal: one stay in cart, begun before the moves shown
        assert [(r[0], r[1], r[2], r[5]) for r in path] == [
            ("cart", "before the moves shown", "still here", "1000")
        ]
    finally:
        close()


def test_a_definition_stored_after_the_list_was_kept_is_found(tmp_path: Path) -> None:
    store, close = sqlite_store(tmp_path)
    try:
        service = JourneyService(JourneyMachine(templates.aida()), store)
        service.handle("c-1", "engage")
        with client_of(create_app(store, refresh=3600)) as client:
            assert client.get("/").status_code == 200  # the list is kept: aida only
            JourneyService(JourneyMachine(checkout_builder().build()), store).handle(
                "c-1", "add_to_cart"
            )
            page = client.get("/overview", definition="checkout")
            home = client.get("/")
        assert page.status_code == 200 and "checkout" in page.text
        assert "checkout" not in rows_by_first(home.text, "definitions")  # kept an hour
    finally:
        close()
