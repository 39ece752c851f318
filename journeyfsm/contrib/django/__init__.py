"""journeyfsm inside a Django project: migrations, a store on Django's connection that
joins ``transaction.atomic()``, the project's machines, admin pages and
``manage.py journeyfsm worker|show|funnel|replay|outbox``.

Install ``journeyfsm[django]``, then in settings::

    INSTALLED_APPS = [..., "journeyfsm.contrib.django"]
    JOURNEYFSM = {"MACHINES": ["shop.journey:machine"]}
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3",
                             "OPTIONS": {"transaction_mode": "IMMEDIATE"}}}

``python manage.py migrate`` creates the tables; in a view::

    from django.db import transaction
    from journeyfsm.contrib.django import service

    with transaction.atomic():               # the order and the move commit together
        order = Order.objects.create(customer=customer_id, total=total)
        service("shop").handle(customer_id, "order_placed", {"order": order.pk},
                               event_id=f"order-{order.pk}")

The names import without a configured Django:

>>> from journeyfsm.contrib.django import DjangoStore
>>> DjangoStore(using="default", prefix="shop_")
DjangoStore(using='default', prefix='shop_')
"""

from __future__ import annotations

import threading
from typing import Any

from ..._runtime import JourneyMachine
from ...service._sync import JourneyService
from ._registry import get_machine, machines
from ._store import DjangoStore

__all__ = ["DjangoStore", "get_machine", "machines", "service"]

_services: dict[tuple[int, str | None], JourneyService] = {}
_lock = threading.Lock()


def service(
    machine: JourneyMachine | str | None = None, *, using: str | None = None, **options: Any
) -> JourneyService:
    """A ``JourneyService`` of ``machine`` (a JourneyMachine, the definition name of one of
    the project's machines, or ``None``: the only one) on Django's database ``using``.

    Without ``options`` the service is made once and shared (it is thread-safe: each
    thread runs on its own Django connection); ``options`` (``initial_data``,
    ``max_attempts``, ...) make a new one, passed to ``JourneyService``.

    Usage::

        from journeyfsm.contrib.django import service
        outcome = service("shop").handle("customer-42", "product_viewed", event_id="e-1")

    In an async view, run it in Django's sync thread (the ORM's connection is there)::

        from asgiref.sync import sync_to_async
        outcome = await sync_to_async(service("shop").handle)("customer-42", "product_viewed")
    """
    if machine is None or isinstance(machine, str):
        machine = get_machine(machine)
    if not isinstance(machine, JourneyMachine):
        raise TypeError(
            f"service() takes a JourneyMachine or the definition name of a declared machine, "
            f"got {machine!r}"
        )
    if options:
        return JourneyService(machine, DjangoStore(using), **options)
    cache_key = (id(machine), using)
    with _lock:
        found = _services.get(cache_key)
        if found is None or found.machine is not machine:
            found = _services[cache_key] = JourneyService(machine, DjangoStore(using))
    return found
