"""examples/fastapi_shop end to end: uvicorn serving the app as a subprocess on
127.0.0.1, httpx driving it, aiosmtpd counting the e-mails; SQLite and PostgreSQL.

Every wait is bounded (``wait_until`` fails after its timeout)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi_shop_support import Database, Shop, Smtp, wait_until

KINDS = ["sqlite", "postgres"]


@pytest.fixture(scope="module")
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=KINDS)
def shop(
    request: pytest.FixtureRequest, smtp: Smtp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    """One app per database kind, shared by the tests that do not kill it; timeouts of
    1 s (cart reminder, review request) so they fire during the tests."""
    tmp = tmp_path_factory.mktemp(f"shop-{request.param}")
    db = Database(request.param, tmp)
    app = Shop(db, smtp, tmp, SHOP_CART_REMINDER_AFTER="1", SHOP_REVIEW_REQUEST_AFTER="1").start()
    yield app
    assert app.app is not None
    app.app.stop()
    db.drop()


def new_customers(shop: Shop, n: int) -> list[str]:
    prefix = uuid.uuid4().hex[:6]
    ids = [f"{prefix}-{i}" for i in range(n)]
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        for cid in ids:
            r = client.post("/customers", json={"id": cid, "email": f"{cid}@example.com"})
            assert r.status_code == 201, r.text
    return ids


def buy(client: httpx.Client, cid: str, order: str) -> None:
    assert client.post(f"/customers/{cid}/cart", json={"items": {"sku-1": 2}}).status_code == 200
    r = client.post(
        f"/customers/{cid}/orders",
        json={"order_id": order, "items": {"sku-1": 2}, "total_cents": 2000},
    )
    assert r.status_code == 201, r.text


def test_a_webhook_delivered_three_times_moves_once_and_sends_one_email(shop: Shop) -> None:
    (cid,) = new_customers(shop, 1)
    order = f"o-{cid}"
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        buy(client, cid, order)
        hook = {"event_id": f"evt-{cid}", "order_id": order, "status": "captured"}
        statuses = [client.post("/webhooks/payments", json=hook).json()["status"] for _ in "123"]
        assert statuses == ["moved", "duplicate", "duplicate"]
        journey = client.get(f"/customers/{cid}/journey").json()
    assert journey["stage"] == "purchased"
    assert [e["trigger"] for e in journey["history"]].count("payment_succeeded") == 1
    wait_until(lambda: shop.outbox_open() == 0, 20, "the outbox to drain")
    thanks = [k for k in shop.smtp.inbox.keys("thank_you") if f":{cid}:" in k]
    assert thanks == [f"shop:{cid}:{len(journey['history'])}:thank_you"]
    assert shop.db.scalar("SELECT status FROM orders WHERE id = :id", id=order) == "paid"


def test_timeouts_send_the_cart_reminder_and_the_review_request(shop: Shop) -> None:
    waiting, buyer = new_customers(shop, 2)
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        assert (
            client.post(f"/customers/{waiting}/cart", json={"items": {"a": 1}}).status_code == 200
        )
        buy(client, buyer, f"o-{buyer}")
        hook = {"event_id": f"evt-{buyer}", "order_id": f"o-{buyer}", "status": "captured"}
        assert client.post("/webhooks/payments", json=hook).status_code == 200
        r = client.post(f"/customers/{buyer}/delivered", json={"order_id": f"o-{buyer}"})
        assert r.json()["dest"] == "delivered"

    def sent(cid: str, effect: str) -> bool:
        return any(f":{cid}:" in k for k in shop.smtp.inbox.keys(effect))

    wait_until(lambda: sent(waiting, "cart_reminder"), 20, "the cart reminder")
    wait_until(lambda: sent(buyer, "review_request"), 20, "the review request")
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        r = client.post(f"/customers/{buyer}/reviews", json={"rating": 5, "text": "great"})
        assert r.status_code == 201 and r.json()["dest"] == "reviewed"
        journey = client.get(f"/customers/{waiting}/journey").json()
    assert [e["trigger"] for e in journey["history"]][:2] == ["cart_updated", "remind_cart"]


def test_bad_input_is_an_http_answer_and_writes_nothing(shop: Shop) -> None:
    (cid,) = new_customers(shop, 1)
    journeys_before = shop.db.scalar("SELECT count(*) FROM journeyfsm_journeys")
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        r = client.post(
            f"/customers/{cid}/cart",
            content=b'{"items": {',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
        r = client.post(f"/customers/{cid}/cart", json={"items": {"a": "many"}})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "items", "a"]
        r = client.post(f"/customers/{cid}/orders", json={"order_id": "x", "items": {"a": 1}})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "total_cents"]
        r = client.post("/customers/nobody/cart", json={"items": {"a": 1}})
        assert r.status_code == 404 and "nobody" in r.json()["detail"]
        # order_placed from browsing: not allowed now
        r = client.post(
            f"/customers/{cid}/orders",
            json={"order_id": f"o-{cid}", "items": {"a": 1}, "total_cents": 100},
        )
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert detail["stage"] == "browsing"
        assert "cart_updated" in detail["allowed"] and "order_placed" not in detail["allowed"]
        # an emptied cart: the guard blocks the order, and the order row is rolled back
        client.post(f"/customers/{cid}/cart", json={"items": {"a": 0}})
        r = client.post(
            f"/customers/{cid}/orders",
            json={"order_id": f"o-{cid}", "items": {"a": 1}, "total_cents": 100},
        )
        assert r.status_code == 409 and r.json()["detail"]["failed_guards"] == ["cart_not_empty"]
        assert shop.db.scalar("SELECT count(*) FROM orders WHERE id = :id", id=f"o-{cid}") == 0
        r = client.post(f"/customers/{cid}/events", json={"trigger": "cart_updatd"})
        assert r.status_code == 422 and r.json()["detail"]["suggestions"] == ["cart_updated"]
        journey = client.get(f"/customers/{cid}/journey").json()
        fresh = client.get(f"/customers/{new_customers(shop, 1)[0]}/journey").json()
    assert [e["trigger"] for e in journey["history"]] == ["cart_updated"]
    explained = {n["trigger"]: n for n in journey["next"]}
    assert explained["order_placed"]["status"] == "blocked"
    assert explained["order_placed"]["failed_guards"] == ["cart_not_empty"]
    # a customer whose journey has not moved: the journey as it would start, not stored
    assert (fresh["stage"], fresh["stored"], fresh["history"]) == ("browsing", False, [])
    assert shop.db.scalar("SELECT count(*) FROM journeyfsm_journeys") == journeys_before + 1


def test_200_concurrent_requests_for_50_customers(shop: Shop) -> None:
    ids = new_customers(shop, 50)
    sent: dict[str, list[str]] = {cid: [] for cid in ids}

    async def load() -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=shop.url, timeout=60, limits=limits) as client:

            async def view(cid: str, n: int) -> int:
                event = f"view-{cid}-{n}"
                sent[cid].append(event)
                body = {"sku": f"sku-{n}", "event_id": event}
                r = await client.post(f"/customers/{cid}/product-viewed", json=body)
                return r.status_code

            calls = [view(cid, n) for n in range(4) for cid in ids]
            return await asyncio.wait_for(asyncio.gather(*calls), 120)

    codes = asyncio.run(load())
    assert sorted(set(codes)) == [200]
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        for cid in ids:
            history = client.get(f"/customers/{cid}/journey").json()["history"]
            assert [e["seq"] for e in history] == [1, 2, 3, 4]
            assert all(e["source"] == e["dest"] == "browsing" for e in history)
            assert sorted(e["event_id"] for e in history) == sorted(sent[cid])


# --- crashes -------------------------------------------------------------------------


def check_no_order_without_move_and_emails(db: Database, inbox_keys: list[str]) -> int:
    """The crash invariants; returns how many purchases there are."""
    orders = {r[0] for r in db.rows("SELECT id FROM orders")}
    moves = {
        r[0].removeprefix("order:")
        for r in db.rows("SELECT event_id FROM journeyfsm_history WHERE trigger = 'order_placed'")
    }
    assert orders == moves  # no order without its move, no move without its order
    purchases = {
        f"shop:{key}:{seq}:thank_you"
        for key, seq in db.rows(
            "SELECT key, seq FROM journeyfsm_history WHERE trigger = 'payment_succeeded'"
        )
    }
    thanks = [k for k in inbox_keys if k.endswith(":thank_you")]
    assert purchases <= set(thanks)  # every purchase has an e-mail ...
    assert set(thanks) <= purchases  # ... and no e-mail is without a committed purchase
    return len(purchases)


@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_of_the_app_during_load_keeps_orders_moves_and_emails_together(
    kind: str, tmp_path: Path
) -> None:
    smtp = Smtp()
    db = Database(kind, tmp_path)
    shop = Shop(db, smtp, tmp_path).start()
    try:
        ids = new_customers(shop, 30)
        placed: list[str] = []
        paid: list[str] = []

        async def flow(client: httpx.AsyncClient, cid: str, n: int) -> None:
            await asyncio.sleep(n * 0.02)  # a steady load, not one burst
            try:
                await client.post(f"/customers/{cid}/cart", json={"items": {"a": 1}})
                order = {"order_id": f"o-{cid}", "items": {"a": 1}, "total_cents": 500}
                await client.post(f"/customers/{cid}/orders", json=order)
                placed.append(cid)
                hook = {"event_id": f"evt-{cid}", "order_id": f"o-{cid}", "status": "captured"}
                await client.post("/webhooks/payments", json=hook)
                paid.append(cid)
            except httpx.HTTPError:
                pass  # the app died under this request

        async def load() -> None:
            async with httpx.AsyncClient(base_url=shop.url, timeout=30) as client:
                tasks = [asyncio.ensure_future(flow(client, c, n)) for n, c in enumerate(ids)]
                deadline = asyncio.get_running_loop().time() + 30
                while len(paid) < 5 and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.01)
                assert shop.app is not None
                shop.app.kill()  # SIGKILL, mid-load
                await asyncio.wait_for(asyncio.gather(*tasks), 60)

        asyncio.run(load())
        assert 5 <= len(paid) < len(ids), "the kill did not come during the load"
        shop.start()  # the same database, a new process: its workers drain the outbox
        wait_until(lambda: shop.outbox_open() == 0, 30, "the outbox to drain after restart")
        purchases = check_no_order_without_move_and_emails(db, smtp.inbox.keys())
        assert purchases >= 1
    finally:
        if shop.app is not None:
            shop.app.stop()
        smtp.stop()
        db.drop()


@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_of_the_worker_after_the_email_went_out_never_sends_it_twice(
    kind: str, tmp_path: Path
) -> None:
    smtp = Smtp()
    db = Database(kind, tmp_path)
    shop = Shop(db, smtp, tmp_path, SHOP_WORKERS_IN_APP="0").start()
    try:
        (cid,) = new_customers(shop, 1)
        with httpx.Client(base_url=shop.url, timeout=30) as client:
            buy(client, cid, f"o-{cid}")
            hook = {"event_id": f"evt-{cid}", "order_id": f"o-{cid}", "status": "captured"}
            assert client.post("/webhooks/payments", json=hook).json()["status"] == "moved"
        assert shop.outbox_open() == 1
        # the worker sends, records the key, and dies (SIGKILL) before marking the row done
        doomed = shop.worker(SHOP_DIE_AFTER_SEND="1")
        assert doomed.wait(30) == -9, doomed.output()
        assert len(smtp.inbox.keys("thank_you")) == 1
        assert shop.outbox_open() == 1  # still pending: the effect will run again
        worker = shop.worker()
        try:
            wait_until(lambda: shop.outbox_open() == 0, 30, "the second worker to finish the row")
        finally:
            worker.stop()
        assert worker.proc.returncode == 0, worker.output()
        assert "worker: stopped" in worker.output()  # SIGTERM: a clean stop
        assert len(smtp.inbox.keys("thank_you")) == 1  # the unique key stopped a resend
        assert db.scalar("SELECT count(*) FROM sent_emails") == 1
        check_no_order_without_move_and_emails(db, smtp.inbox.keys())
    finally:
        if shop.app is not None:
            shop.app.stop()
        smtp.stop()
        db.drop()


def test_the_migration_matches_the_models(tmp_path: Path) -> None:
    """Alembic's autogenerate finds nothing to add after ``upgrade head`` (the shop's
    tables and journeyfsm's, from the contrib metadata)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from fastapi_shop_support import Process

    from examples.fastapi_shop.models import Base

    db = Database("sqlite", tmp_path)
    migrate = Process(
        ["examples.fastapi_shop", "migrate"], {"SHOP_DATABASE_URL": db.url}, tmp_path / "m.log"
    )
    assert migrate.wait(60) == 0, migrate.output()
    with db.engine.connect() as conn:
        diff: list[Any] = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    db.drop()
