"""The explorer's requeue form, probed with ids a hand-made POST can carry: each is a
400 naming the form (never a 500, never a write), and a real id still requeues."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from explorer_support import NOW, client_of, fill, sqlite_store

from journeyfsm import ManualClock
from journeyfsm.explorer import create_app

TOKEN = "t0ken-for-the-tests-only"


def _counts(store: Any, name: str) -> Any:
    with store.transaction(write=False) as tx:
        return tx.outbox_counts(name), [r.id for r in tx.outbox(name, status="dead")]


def _form(client: Any, name: str) -> dict[str, str]:
    page = client.get("/outbox", definition=name)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    return {"csrf": csrf[1], "definition": name, "token": TOKEN}


@pytest.mark.parametrize(
    "ids",
    [
        "99999999999999999999",
        "9223372036854775808",
        "",
        " , ",
        "-1",
        "0",
        "+3",
        "\u0663",
        "1_0",
        "0x10",
        "abc",
        "1;2",
    ],
)
def test_a_requeue_with_ids_that_are_not_outbox_ids_is_a_400_and_writes_nothing(
    tmp_path: Path, ids: str
) -> None:
    """A 20-digit id was a 500 (``OverflowError`` from SQLite); an empty list, a sign, an
    Arabic-Indic digit or ``1_0`` were taken (``int()`` reads them) and requeued
    whatever they happened to name."""
    store, close = sqlite_store(tmp_path)
    try:
        machine = fill(store, customers=12)
        name = machine.definition.name
        before = _counts(store, name)
        assert before[1], "the shop has dead letters"
        app = create_app(
            store, definitions=[machine], clock=ManualClock(NOW), refresh=0,
            allow_writes=True, token=TOKEN,
        )  # fmt: skip
        with client_of(app) as client:
            answer = client.post("/outbox/requeue", {**_form(client, name), "ids": ids})
            assert answer.status_code == 400, answer.text[:300]
            assert "ids must be" in answer.text and "separated by commas" in answer.text
            assert _counts(store, name) == before
            one = before[1][0]
            ok = client.post("/outbox/requeue", {**_form(client, name), "ids": f" {one}, "})
        assert ok.status_code == 303 and ok.headers["location"].endswith("requeued=1")
        assert _counts(store, name)[1] == before[1][1:]
    finally:
        close()
