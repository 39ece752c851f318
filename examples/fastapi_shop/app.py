"""The shop's HTTP API (FastAPI).  Each request is one database transaction: the shop's
rows and the journey's move commit together, or neither does.

``uvicorn examples.fastapi_shop.app:app`` serves it (``python -m examples.fastapi_shop``
migrates first).  Answers: 200/201 with what happened; 404 for an unknown customer or
order; 409 when the journey does not allow the step now (with what is allowed and the
guards that failed); 422 for malformed JSON, a body of the wrong shape (FastAPI names
the field) or an unknown trigger.  Nothing is written when the answer is not 2xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from journeyfsm import (
    AsyncJourneyService,
    ConcurrencyConflict,
    InvalidTransition,
    Journey,
    Outcome,
    UnknownTrigger,
)
from journeyfsm.contrib.sqlalchemy import AsyncSessionStore

from .db import make_engine, make_sessions, worker_store
from .journey import make_machine
from .models import Customer, Order, Review
from .settings import load
from .workers import start_workers

settings = load()
engine = make_engine(settings.database_url)
sessions = make_sessions(engine)
machine = make_machine(settings, sessions)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    stop, tasks, store = asyncio.Event(), [], None
    if settings.workers_in_app:
        store = await worker_store(settings.database_url)
        tasks = start_workers(machine, store, stop, settings)
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if store is not None:
            await store.close()  # type: ignore[attr-defined]
        await engine.dispose()


app = FastAPI(title="journeyfsm shop", lifespan=lifespan)


# --- dependencies: a session per request, and the journey service on it ---------------


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


def service_of(session: AsyncSession) -> AsyncJourneyService:
    """The journey service of this request: its moves go into the session's transaction."""
    return AsyncJourneyService(machine, AsyncSessionStore(session), max_attempts=10)


async def customer_or_404(session: AsyncSession, customer_id: str) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise HTTPException(404, f"no customer {customer_id!r}: create it with POST /customers")
    return customer


async def fire(
    session: AsyncSession,
    customer: Customer,
    trigger: str,
    payload: dict[str, Any] | None = None,
    *,
    event_id: str | None = None,
) -> Outcome:
    """Move the customer's journey in the request's transaction; a step the journey does
    not allow now is a 409 (the ``async with session.begin()`` around rolls back)."""
    service = service_of(session)
    body = {**(payload or {}), "email": customer.email}
    try:
        outcome = await service.handle(
            customer.id, trigger, body, event_id=event_id, policy="strict"
        )
    except InvalidTransition as err:
        raise HTTPException(
            409,
            {
                "error": str(err),
                "stage": err.stage,
                "allowed": list(err.allowed),
                "failed_guards": [],
            },
        ) from None
    except UnknownTrigger as err:
        raise HTTPException(
            422, {"error": str(err), "suggestions": list(err.suggestions)}
        ) from None
    except ConcurrencyConflict as err:
        raise HTTPException(409, {"error": str(err), "retry": True}) from None
    if outcome.blocked:
        journey = await service.get(customer.id)
        allowed = machine.allowed_triggers(journey or machine.start(customer.id))
        raise HTTPException(
            409,
            {
                "error": f"{trigger!r} is blocked for customer {customer.id!r} in stage "
                f"{outcome.source!r}",
                "stage": outcome.source,
                "allowed": list(allowed),
                "failed_guards": list(outcome.failed_guards),
            },
        )
    return outcome


def answer(outcome: Outcome, **extra: Any) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "trigger": outcome.trigger,
        "source": outcome.source,
        "dest": outcome.dest,
        **extra,
    }


# --- the request bodies (pydantic: a wrong shape is a 422 naming the field) -----------


class Body(BaseModel):
    model_config = {"extra": "forbid"}


class CustomerIn(Body):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class ProductViewed(Body):
    sku: str = Field(min_length=1, max_length=64)
    event_id: str | None = Field(default=None, max_length=200)


class CartUpdated(Body):
    items: dict[str, Annotated[int, Field(ge=0, le=1000)]]
    event_id: str | None = Field(default=None, max_length=200)


class OrderIn(Body):
    order_id: str = Field(min_length=1, max_length=64)
    items: dict[str, Annotated[int, Field(ge=1, le=1000)]] = Field(min_length=1)
    total_cents: int = Field(gt=0)


class PaymentWebhook(Body):
    event_id: str = Field(min_length=1, max_length=200)
    order_id: str = Field(min_length=1, max_length=64)
    status: Literal["captured", "failed"]


class Delivered(Body):
    order_id: str = Field(min_length=1, max_length=64)


class ReviewIn(Body):
    rating: int = Field(ge=1, le=5)
    text: str = Field(default="", max_length=5000)


class EventIn(Body):
    trigger: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    event_id: str | None = Field(default=None, max_length=200)


# --- the endpoints --------------------------------------------------------------------


@app.post("/customers", status_code=201)
async def create_customer(body: CustomerIn, session: Session) -> dict[str, Any]:
    async with session.begin():
        found = await session.get(Customer, body.id)
        if found is not None:
            if found.email != body.email:
                raise HTTPException(409, f"customer {body.id!r} exists with another e-mail")
            return {"id": found.id, "email": found.email, "created": False}
        session.add(Customer(id=body.id, email=body.email))
    return {"id": body.id, "email": body.email, "created": True}


@app.post("/customers/{customer_id}/product-viewed")
async def product_viewed(customer_id: str, body: ProductViewed, session: Session) -> Any:
    async with session.begin():
        customer = await customer_or_404(session, customer_id)
        outcome = await fire(
            session, customer, "product_viewed", {"sku": body.sku}, event_id=body.event_id
        )
    return answer(outcome)


@app.post("/customers/{customer_id}/cart")
async def cart_updated(customer_id: str, body: CartUpdated, session: Session) -> Any:
    async with session.begin():
        customer = await customer_or_404(session, customer_id)
        items = {sku: n for sku, n in body.items.items() if n > 0}
        outcome = await fire(
            session, customer, "cart_updated", {"items": items}, event_id=body.event_id
        )
    return answer(outcome)


@app.post("/customers/{customer_id}/orders", status_code=201)
async def place_order(customer_id: str, body: OrderIn, session: Session) -> Any:
    """The order row and the journey's ``order_placed`` move, in ONE transaction."""
    try:
        async with session.begin():
            customer = await customer_or_404(session, customer_id)
            found = await session.get(Order, body.order_id)
            if found is not None:
                if found.customer_id != customer_id:
                    raise HTTPException(409, f"order {body.order_id!r} is another customer's")
                return {"status": "duplicate", "order_id": found.id}
            session.add(
                Order(
                    id=body.order_id,
                    customer_id=customer_id,
                    items=body.items,
                    total_cents=body.total_cents,
                    status="placed",
                )
            )
            outcome = await fire(
                session,
                customer,
                "order_placed",
                {"order_id": body.order_id, "total_cents": body.total_cents},
                event_id=f"order:{body.order_id}",
            )
    except IntegrityError:  # the same order placed concurrently: the other one won
        return {"status": "duplicate", "order_id": body.order_id}
    return answer(outcome, order_id=body.order_id)


@app.post("/webhooks/payments")
async def payment_webhook(body: PaymentWebhook, session: Session) -> Any:
    """The payment provider's webhook: redelivered as often as it likes, one move (its
    event id), one e-mail (the outbox row that move wrote)."""
    async with session.begin():
        order = await session.get(Order, body.order_id)
        if order is None:
            raise HTTPException(404, f"no order {body.order_id!r}")
        customer = await customer_or_404(session, order.customer_id)
        trigger = "payment_succeeded" if body.status == "captured" else "payment_failed"
        outcome = await fire(
            session,
            customer,
            trigger,
            {"order_id": order.id, "status": body.status},
            event_id=body.event_id,
        )
        if outcome.moved:
            order.status = "paid" if body.status == "captured" else "payment_failed"
    return answer(outcome, order_id=order.id)


@app.post("/customers/{customer_id}/delivered")
async def delivered(customer_id: str, body: Delivered, session: Session) -> Any:
    async with session.begin():
        customer = await customer_or_404(session, customer_id)
        order = await session.get(Order, body.order_id)
        if order is None or order.customer_id != customer_id:
            raise HTTPException(404, f"no order {body.order_id!r} of customer {customer_id!r}")
        outcome = await fire(
            session, customer, "delivered", {"order_id": order.id}, event_id=f"delivered:{order.id}"
        )
        if outcome.moved:
            order.status = "delivered"
    return answer(outcome)


@app.post("/customers/{customer_id}/reviews", status_code=201)
async def review_posted(customer_id: str, body: ReviewIn, session: Session) -> Any:
    async with session.begin():
        customer = await customer_or_404(session, customer_id)
        session.add(Review(customer_id=customer_id, rating=body.rating, text=body.text))
        outcome = await fire(session, customer, "review_posted", {"rating": body.rating})
    return answer(outcome)


@app.post("/customers/{customer_id}/events")
async def any_event(customer_id: str, body: EventIn, session: Session) -> Any:
    """Any trigger of the journey by name (an unknown one is a 422 with close matches)."""
    async with session.begin():
        customer = await customer_or_404(session, customer_id)
        outcome = await fire(session, customer, body.trigger, body.payload, event_id=body.event_id)
    return answer(outcome)


@app.get("/customers/{customer_id}/journey")
async def journey(customer_id: str, session: Session) -> dict[str, Any]:
    """Where the customer is, how they got there, and what may happen next (and why not)."""
    async with session.begin():
        await customer_or_404(session, customer_id)
        service = service_of(session)
        stored = await service.get(customer_id)
        current: Journey = stored or machine.start(customer_id)  # as it would start
        history = await service.history(customer_id, limit=10_000) if stored else []
    nexts = []
    for trigger in machine.allowed_triggers(current):
        explanation = await machine.explain(current, trigger)
        nexts.append(
            {
                "trigger": trigger,
                "status": explanation.status,
                "dest": explanation.chosen.dest if explanation.chosen else None,
                "failed_guards": list(explanation.failed_guards),
            }
        )
    return {
        "customer": customer_id,
        "stored": stored is not None,
        "stage": current.stage,
        "version": current.version,
        "data": current.data,
        "history": [
            {
                "seq": e.seq,
                "trigger": e.trigger,
                "source": e.source,
                "dest": e.dest,
                "at": e.at.isoformat(),
                "event_id": e.event_id,
            }
            for e in history
        ],
        "next": nexts,
    }


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
