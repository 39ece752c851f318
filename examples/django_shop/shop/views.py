"""The shop's JSON API.  Every answer is JSON; bad input is refused before anything is
written: malformed JSON or a wrong field -> 422 naming the field; an unknown customer or
order -> 404; a trigger not allowed now -> 409 with the allowed triggers and the guards
that failed; an unknown trigger -> 422.

Where the shop writes its own rows (orders), the row and the journey's move are in one
``transaction.atomic()`` block: both commit, or neither does.
"""

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from journeyfsm import GuardError, Journey, Outcome, UnknownTrigger
from journeyfsm.contrib.django import service

from .journey import machine
from .models import Customer, Order, StatusRow


class Refused(Exception):
    """An answer other than 2xx; raised inside atomic() it rolls the block back."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def api(view: Any) -> Any:
    """JSON in, JSON out; ``Refused`` -> its status; CSRF exempt (a machine-to-machine API)."""

    def wrapped(request: HttpRequest, **kwargs: Any) -> JsonResponse:
        try:
            status, body = view(request, **kwargs)
        except Refused as err:
            status, body = err.status, err.body
        except UnknownTrigger as err:
            status, body = 422, {"error": str(err), "field": "trigger"}
        return JsonResponse(body, status=status)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return csrf_exempt(wrapped)


def body_of(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as err:
        raise Refused(422, {"error": f"the body is not JSON: {err}", "field": None}) from None
    if not isinstance(body, dict):
        raise Refused(422, {"error": "the body must be a JSON object", "field": None})
    return body


def field(
    body: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    *,
    required: bool = True,
    check: Any = None,
    what: str = "",
) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    ok = (isinstance(value, kind) and not isinstance(value, bool)) or (
        kind is bool and isinstance(value, bool)
    )
    if not ok or (check is not None and not check(value)):
        kinds = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        wanted = what or f"a {kinds}"
        raise Refused(
            422, {"error": f"field {name!r} must be {wanted}, got {value!r}", "field": name}
        )
    return value


def customer_of(customer: str) -> Customer:
    found = Customer.objects.filter(pk=customer).first()
    if found is None:
        raise Refused(404, {"error": f"no customer {customer!r}; create it with POST /customers"})
    return found


def journey_of(customer: str) -> Journey:
    """The stored journey, or the journey as it would start (nothing written)."""
    return service().get(customer) or machine.start(customer)


def not_now(outcome: Outcome) -> Refused:
    journey = journey_of(outcome.key)
    return Refused(
        409,
        {
            "error": f"{outcome.trigger!r} is not allowed now for {outcome.key!r} in stage "
            f"{outcome.source!r} ({outcome.status})",
            "status": outcome.status,
            "stage": journey.stage,
            "allowed": list(machine.allowed_triggers(journey)),
            "failed_guards": list(outcome.failed_guards),
        },
    )


def answer(outcome: Outcome, **extra: Any) -> tuple[int, dict[str, Any]]:
    if outcome.status not in ("moved", "duplicate"):
        raise not_now(outcome)
    return 200, {
        "status": outcome.status,
        "stage": outcome.dest or outcome.source,
        # the move's seq (for a duplicate: that of the move it made first)
        "seq": outcome.entry.seq if outcome.entry is not None else outcome.seq,
        **extra,
    }


def event_id_of(body: dict[str, Any]) -> str | None:
    return field(
        body,
        "event_id",
        str,
        required=False,
        check=lambda s: 0 < len(s) <= 64,
        what="a string of 1 to 64 characters",
    )


@require_POST
@api
def create_customer(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """POST /customers {"id", "email"}: 201 (200 when it exists with that e-mail)."""
    body = body_of(request)
    cid = field(
        body,
        "id",
        str,
        check=lambda s: 0 < len(s) <= 64 and "/" not in s,
        what="a string of 1 to 64 characters without '/'",
    )
    email = field(body, "email", str, check=lambda s: "@" in s, what="an e-mail address")
    found, created = Customer.objects.get_or_create(pk=cid, defaults={"email": email})
    if not created and found.email != email:
        raise Refused(409, {"error": f"customer {cid!r} exists with another e-mail"})
    return (201 if created else 200), {"id": cid}


@require_POST
@api
def product_viewed(request: HttpRequest, customer: str) -> tuple[int, dict[str, Any]]:
    """POST /customers/ID/product-viewed {"product", "event_id"?}."""
    body = body_of(request)
    product = field(body, "product", str, check=bool, what="a non-empty string")
    event_id = event_id_of(body)
    customer_of(customer)
    return answer(
        service().handle(customer, "product_viewed", {"product": product}, event_id=event_id)
    )


@require_POST
@api
def cart_updated(request: HttpRequest, customer: str) -> tuple[int, dict[str, Any]]:
    """POST /customers/ID/cart {"items": [{"sku", "qty", "price"}], "event_id"?}."""
    body = body_of(request)
    items = field(body, "items", list, what="a list of {sku, qty, price}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise Refused(422, {"error": f"items[{i}] must be an object", "field": f"items[{i}]"})
        field(item, "sku", str, check=bool, what="a non-empty string")
        field(item, "qty", int, check=lambda n: 0 < n <= 100, what="an int from 1 to 100")
        field(item, "price", int, check=lambda n: 0 <= n <= 10**7, what="cents, an int >= 0")
    event_id = event_id_of(body)
    customer_of(customer)
    clean = [{"sku": it["sku"], "qty": it["qty"], "price": it["price"]} for it in items]
    return answer(service().handle(customer, "cart_updated", {"items": clean}, event_id=event_id))


@require_POST
@api
def order_placed(request: HttpRequest, customer: str) -> tuple[int, dict[str, Any]]:
    """POST /customers/ID/orders {}: the order row and the journey's move in one transaction."""
    body_of(request)
    owner = customer_of(customer)
    with transaction.atomic():
        journey = journey_of(customer)
        items = journey.data.get("cart") or []
        total = sum(it["qty"] * it["price"] for it in items)
        order = Order.objects.create(customer=owner, total=total, items=items)
        outcome = service().handle(
            customer,
            "order_placed",
            {"order": order.pk, "total": total},
            event_id=f"order-{order.pk}",
        )
        if outcome.status != "moved":
            raise not_now(outcome)  # rolls the order back with it
    return 201, {"order": order.pk, "total": total, "stage": outcome.dest}


@require_POST
@api
def payment_webhook(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """POST /webhooks/payment {"event_id", "order", "amount"}: delivered again and again by
    the provider; the event id makes every redelivery a ``duplicate`` that changes nothing."""
    body = body_of(request)
    event_id = field(
        body,
        "event_id",
        str,
        check=lambda s: 0 < len(s) <= 64,
        what="a string of 1 to 64 characters",
    )
    order_id = field(body, "order", int, check=lambda n: n > 0, what="an order id")
    amount = field(body, "amount", int, check=lambda n: n >= 0, what="cents, an int >= 0")
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise Refused(404, {"error": f"no order {order_id}"})
        outcome = service().handle(
            order.customer_id,
            "payment_captured",
            {"order": order.pk, "amount": amount},
            event_id=event_id,
        )
        if outcome.status == "moved":
            order.status = "paid"
            order.save(update_fields=["status"])
        return answer(outcome, order=order.pk)


@require_POST
@api
def delivered(request: HttpRequest, order: int) -> tuple[int, dict[str, Any]]:
    """POST /orders/ID/delivered {"event_id"?}: the carrier's notice."""
    body = body_of(request)
    event_id = event_id_of(body) or f"delivered-{order}"
    with transaction.atomic():
        found = Order.objects.select_for_update().filter(pk=order).first()
        if found is None:
            raise Refused(404, {"error": f"no order {order}"})
        outcome = service().handle(
            found.customer_id, "delivered", {"order": order}, event_id=event_id
        )
        if outcome.status == "moved":
            found.status = "delivered"
            found.save(update_fields=["status"])
        return answer(outcome, order=order)


@require_POST
@api
def review_posted(request: HttpRequest, customer: str) -> tuple[int, dict[str, Any]]:
    """POST /customers/ID/reviews {"rating": 1-5, "text"?}."""
    body = body_of(request)
    rating = field(body, "rating", int, check=lambda n: 1 <= n <= 5, what="an int from 1 to 5")
    field(body, "text", str, required=False)
    customer_of(customer)
    return answer(
        service().handle(customer, "review_posted", {"rating": rating}, event_id=event_id_of(body))
    )


@require_POST
@api
def event(request: HttpRequest, customer: str) -> tuple[int, dict[str, Any]]:
    """POST /customers/ID/events {"trigger", "payload"?, "event_id"?}: any trigger (an
    unknown one is 422, with close matches)."""
    body = body_of(request)
    trigger = field(body, "trigger", str, check=bool, what="a trigger name")
    payload = field(body, "payload", dict, required=False)
    event_id = event_id_of(body)
    customer_of(customer)
    return answer(service().handle(customer, trigger, payload, event_id=event_id))


@require_GET
@api
def journey(request: HttpRequest, customer: str) -> tuple[int, dict[str, Any]]:
    """GET /customers/ID/journey: stage, data, history and what is allowed next (with the
    guards each allowed trigger would run now)."""
    customer_of(customer)
    svc = service()
    found = journey_of(customer)
    history = []
    while True:
        page = svc.history(customer, after=history[-1].seq if history else 0, limit=500)
        history.extend(page)
        if len(page) < 500:
            break
    explained = {}
    for trigger in machine.allowed_triggers(found):
        # as an empty payload would fare: the guards on the journey's own data decide now;
        # those on the payload say what the event must carry
        try:
            e = machine.explain(found, trigger, {})
        except GuardError as err:
            explained[trigger] = {"status": "needs_payload", "error": str(err)}
            continue
        explained[trigger] = {"status": e.status, "failed_guards": list(e.failed_guards)}
    return 200, {
        "customer": customer,
        "stage": found.stage,
        "version": found.version,
        "started": found.version > 0,
        "data": found.data,
        "history": [h.to_dict() for h in history],
        "allowed": list(machine.allowed_triggers(found)),
        "next": explained,
    }


@require_POST
@api
def bare_status(request: HttpRequest, customer: str) -> tuple[int, dict[str, Any]]:
    """POST /status-rows/ID {"event_id", "status"}: the benchmark's baseline, a bare upsert
    of a status row (no journey)."""
    body = body_of(request)
    event_id = field(body, "event_id", str, check=bool, what="a string")
    status = field(body, "status", str, check=bool, what="a string")
    with transaction.atomic():
        StatusRow.objects.update_or_create(
            customer=customer, defaults={"status": status, "event_id": event_id}
        )
    return 200, {"status": status}
