"""The reference Django shop end to end: its server and worker as real processes on
127.0.0.1 (on SQLite and on PostgreSQL), driven over HTTP by httpx, mailing to a real SMTP server that counts.

- bad input is a proper answer (422 naming the field, 404, 409 with what is allowed and
  the failed guards, 422 for an unknown trigger) and writes nothing;
- the payment webhook delivered 3 times: one move, one e-mail;
- 200 concurrent requests for 50 customers: no 5xx, every history contiguous, the counts
  those sent;
- SIGKILL of the server during load, then a restart: no order without its move, no move
  without its order, every purchase has an e-mail and no e-mail lacks a purchase; an
  effect run again after its mail went out sends nothing (the unique-key table).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django_shop_support import Mailbox, Shop, fresh_pg_database, running_shop
from service_support import pg_dsn


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Shop, Mailbox]]:
    dsn = fresh_pg_database(pg_dsn()) if request.param == "postgres" else None
    with running_shop(tmp_path_factory.mktemp("django-shop"), dsn) as found:
        yield found


def new_customer(client: httpx.Client, cid: str) -> None:
    r = client.post("/customers", json={"id": cid, "email": f"{cid}@example.com"})
    assert r.status_code == 201, r.text


def buy(client: httpx.Client, cid: str, price: int = 1250) -> int:
    """Cart, then order: the order's id."""
    r = client.post(
        f"/customers/{cid}/cart", json={"items": [{"sku": "mug", "qty": 2, "price": price}]}
    )
    assert r.status_code == 200, r.text
    r = client.post(f"/customers/{cid}/orders", json={})
    assert r.status_code == 201, r.text
    assert r.json()["total"] == 2 * price
    return int(r.json()["order"])


def wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s")


def test_bad_input_is_answered_and_writes_nothing(shop: tuple[Shop, Mailbox]) -> None:
    server, _ = shop
    with httpx.Client(base_url=server.url, timeout=30) as client:
        new_customer(client, "bad-1")
        r = client.post("/customers/bad-1/cart", content=b"{not json")
        assert r.status_code == 422 and "not JSON" in r.json()["error"]
        r = client.post(
            "/customers/bad-1/cart", json={"items": [{"sku": "mug", "qty": 0, "price": 5}]}
        )
        assert r.status_code == 422 and r.json()["field"] == "qty"
        r = client.post("/customers/bad-1/cart", json={"items": "mug"})
        assert r.status_code == 422 and r.json()["field"] == "items"
        r = client.post("/webhooks/payment", json={"event_id": "x", "order": "1", "amount": 5})
        assert r.status_code == 422 and r.json()["field"] == "order"
        r = client.post("/customers/nobody/product-viewed", json={"product": "mug"})
        assert r.status_code == 404
        r = client.post("/webhooks/payment", json={"event_id": "x", "order": 999999, "amount": 5})
        assert r.status_code == 404
        r = client.post("/customers/bad-1/events", json={"trigger": "order_payed"})
        assert r.status_code == 422 and r.json()["field"] == "trigger"
        assert "payment_captured" in r.json()["error"] or "order_placed" in r.json()["error"]
        # an order with an empty cart: 409, what is allowed, the failed guard; no order row
        r = client.post("/customers/bad-1/orders", json={})
        assert r.status_code == 409, r.text
        assert "cart_updated" in r.json()["allowed"] and r.json()["stage"] == "visitor"
        assert server.sql("SELECT COUNT(*) FROM shop_order WHERE customer_id = 'bad-1'") == [(0,)]
        order = buy(client, "bad-1")
        r = client.post(
            "/webhooks/payment", json={"event_id": "p-bad", "order": order, "amount": 1}
        )
        assert r.status_code == 409
        assert r.json()["failed_guards"] == ["amount_matches"]
        assert sorted(r.json()["allowed"]) == ["payment_captured", "product_viewed"]
        journey = client.get("/customers/bad-1/journey").json()
        assert journey["stage"] == "ordered"
        assert [h["trigger"] for h in journey["history"]] == ["cart_updated", "order_placed"]
        assert server.sql("SELECT status FROM shop_order WHERE id = ?", order) == [("placed",)]
        # a customer that never moved: the journey as it would start, nothing stored
        new_customer(client, "bad-2")
        fresh = client.get("/customers/bad-2/journey").json()
        assert (fresh["stage"], fresh["version"], fresh["started"]) == ("visitor", 0, False)
        assert server.sql("SELECT COUNT(*) FROM journeyfsm_journeys WHERE key = 'bad-2'") == [(0,)]


def test_the_webhook_delivered_three_times_moves_once_and_mails_once(
    shop: tuple[Shop, Mailbox],
) -> None:
    server, mailbox = shop
    with httpx.Client(base_url=server.url, timeout=30) as client:
        new_customer(client, "hook-1")
        client.post("/customers/hook-1/product-viewed", json={"product": "mug"})
        order = buy(client, "hook-1")
        webhook = {"event_id": "psp-evt-1", "order": order, "amount": 2500}
        answers = [client.post("/webhooks/payment", json=webhook).json() for _ in range(3)]
        assert [a["status"] for a in answers] == ["moved", "duplicate", "duplicate"]
        assert [a["seq"] for a in answers] == [4, 4, 4]  # viewed, cart, order, payment
        journey = client.get("/customers/hook-1/journey").json()
        assert journey["stage"] == "customer"
        assert [h["trigger"] for h in journey["history"]].count("payment_captured") == 1
        assert sorted(journey["allowed"]) == ["delivered", "product_viewed"]
        assert client.post(f"/orders/{order}/delivered", json={}).json()["status"] == "moved"
        r = client.post("/customers/hook-1/reviews", json={"rating": 5, "text": "great mug"})
        assert r.json()["stage"] == "advocate"
        # and three deliveries at once: one moves, two are duplicates
        new_customer(client, "hook-2")
        order = buy(client, "hook-2")
        webhook = {"event_id": "psp-evt-2", "order": order, "amount": 2500}

    async def three_at_once() -> list[str]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as aclient:
            answers = await asyncio.gather(
                *(aclient.post("/webhooks/payment", json=webhook) for _ in range(3))
            )
        return sorted(a.json()["status"] for a in answers)

    assert asyncio.run(three_at_once()) == ["duplicate", "duplicate", "moved"]
    server.drained()
    for cid in ("hook-1", "hook-2"):
        wait_for(lambda cid=cid: mailbox.to(f"{cid}@example.com") >= 1)
        assert mailbox.to(f"{cid}@example.com") == 1
    keys = server.sql(
        "SELECT idempotency_key FROM shop_sentemail WHERE \"to\" = 'hook-1@example.com'"
    )
    assert [k for (k,) in keys] == [k for k in mailbox.idempotency_keys() if k and ":hook-1:" in k]


def test_200_concurrent_requests_for_50_customers(shop: tuple[Shop, Mailbox]) -> None:
    server, _ = shop
    customers = [f"load-{i}" for i in range(50)]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for cid in customers:
            new_customer(client, cid)
    # per customer: 3 distinct events and one redelivery, in any order
    requests: list[tuple[str, dict[str, Any]]] = []
    for cid in customers:
        requests += [
            (f"/customers/{cid}/product-viewed", {"product": "mug", "event_id": f"{cid}-v1"}),
            (f"/customers/{cid}/product-viewed", {"product": "cup", "event_id": f"{cid}-v2"}),
            (
                f"/customers/{cid}/cart",
                {"items": [{"sku": "cup", "qty": 1, "price": 900}], "event_id": f"{cid}-c1"},
            ),
            (f"/customers/{cid}/product-viewed", {"product": "mug", "event_id": f"{cid}-v1"}),
        ]
    random.Random(7).shuffle(requests)

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=10)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(*(client.post(url, json=body) for url, body in requests))

    responses = asyncio.run(send_all())
    assert len(responses) == 200
    assert [r.status_code for r in responses if r.status_code >= 500] == []
    assert {r.status_code for r in responses} == {200}, {
        r.text for r in responses if r.status_code != 200
    }
    assert sorted(r.json()["status"] for r in responses).count("duplicate") == 50
    for cid in customers:
        seqs = server.sql(
            "SELECT seq, event_id FROM journeyfsm_history WHERE key = ? ORDER BY seq", cid
        )
        assert [s for s, _ in seqs] == [1, 2, 3]
        assert sorted(e for _, e in seqs) == [f"{cid}-c1", f"{cid}-v1", f"{cid}-v2"]
        (version,) = server.sql("SELECT version FROM journeyfsm_journeys WHERE key = ?", cid)
        assert version == (3,)


def test_sigkill_of_the_server_during_load_loses_no_order_and_no_move(
    shop: tuple[Shop, Mailbox],
) -> None:
    server, mailbox = shop
    customers = [f"kill-{i}" for i in range(30)]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for cid in customers:
            new_customer(client, cid)
            r = client.post(
                f"/customers/{cid}/cart", json={"items": [{"sku": "mug", "qty": 1, "price": 700}]}
            )
            assert r.status_code == 200

    failures: list[str] = []

    async def purchase(client: httpx.AsyncClient, cid: str) -> None:
        # order, then pay; after the kill, the client retries what got no answer: a new
        # order only if the first one was not committed, the webhook with its event id
        for _ in range(200):
            try:
                stage = (await client.get(f"/customers/{cid}/journey")).json()
                if stage["stage"] == "customer":
                    return
                if stage["stage"] == "cart":
                    await client.post(f"/customers/{cid}/orders", json={})
                    continue
                order = stage["data"]["order"]
                await client.post(
                    "/webhooks/payment",
                    json={"event_id": f"psp-{cid}", "order": order["id"], "amount": order["total"]},
                )
            except (httpx.TransportError, ValueError) as err:
                failures.append(type(err).__name__)
                await asyncio.sleep(0.05)
        raise AssertionError(f"{cid} never reached the customer stage")

    async def load_with_a_kill() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            tasks = [asyncio.create_task(purchase(client, cid)) for cid in customers]
            for _ in range(400):  # mid-load: once some orders are in, well before all are paid
                await asyncio.sleep(0.01)
                if (
                    server.sql("SELECT COUNT(*) FROM shop_order WHERE customer_id LIKE 'kill-%'")[
                        0
                    ][0]
                    >= 5
                ):
                    break
            server.kill_server()
            paid = server.sql(
                "SELECT COUNT(*) FROM shop_order WHERE status = 'paid' AND customer_id LIKE 'kill-%'"
            )
            assert paid[0][0] < len(customers)
            await asyncio.sleep(0.2)
            server.start_server()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=45)

    asyncio.run(load_with_a_kill())
    assert failures, "the kill should have cut requests in flight"
    server.drained()
    orders = server.sql(
        "SELECT id, customer_id, status FROM shop_order WHERE customer_id LIKE 'kill-%'"
    )
    moves = server.sql(
        "SELECT key, trigger, event_id FROM journeyfsm_history WHERE key LIKE 'kill-%' "
        "AND trigger IN ('order_placed', 'payment_captured')"
    )
    placed = {e for _, t, e in moves if t == "order_placed"}
    assert placed == {f"order-{oid}" for oid, _, _ in orders}  # each order has its move, and back
    paid_customers = {k for k, t, _ in moves if t == "payment_captured"}
    assert paid_customers == set(customers)
    assert {c for _, c, s in orders if s == "paid"} == paid_customers
    for cid in customers:
        assert mailbox.to(f"{cid}@example.com") >= 1, cid
    # every mail sent belongs to a committed purchase's effect
    effects = {k for (k,) in server.sql("SELECT idempotency_key FROM journeyfsm_outbox")}
    sent = {k for (k,) in server.sql("SELECT idempotency_key FROM shop_sentemail")}
    assert sent <= effects
    assert {k for k in mailbox.idempotency_keys() if k} <= sent


def test_an_effect_run_again_after_its_mail_went_out_sends_nothing(
    shop: tuple[Shop, Mailbox],
) -> None:
    server, mailbox = shop
    with httpx.Client(base_url=server.url, timeout=30) as client:
        new_customer(client, "again-1")
        order = buy(client, "again-1")
        webhook = {"event_id": "psp-again", "order": order, "amount": 2500}
        assert client.post("/webhooks/payment", json=webhook).json()["status"] == "moved"
    server.drained()
    assert mailbox.to("again-1@example.com") == 1
    # as if the worker was killed after the mail went out and before the row was marked
    # done: the row is pending again, its key is in the sent table
    (row, key) = server.sql(
        "SELECT id, idempotency_key FROM journeyfsm_outbox WHERE key = 'again-1' AND effect = 'thank_you'"
    )[0]
    before = len(mailbox.idempotency_keys())
    server.sql("UPDATE journeyfsm_outbox SET status = 'pending', attempts = 0 WHERE id = ?", row)
    server.drained()
    # done again (the worker ran the effect: a mail would have been accepted before that)
    assert server.sql("SELECT status FROM journeyfsm_outbox WHERE id = ?", row) == [("done",)]
    assert len(mailbox.idempotency_keys()) == before
    assert mailbox.idempotency_keys().count(key) == 1
