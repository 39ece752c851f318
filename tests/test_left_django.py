"""The Django admin's journey list with a corrupted stored time (SQLite) renders, marking
the row unreadable, as the journey page does for a corrupted history row."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import django_support
import pytest

django_support.setup()

from django.db import connections  # noqa: E402

from journeyfsm.contrib.django import service  # noqa: E402


@pytest.fixture
def staff() -> Iterator[object]:
    from django.contrib.auth.models import User
    from django.test import Client

    user, _ = User.objects.get_or_create(
        username="staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    yield client
    connections["default"].close()


@pytest.mark.parametrize("column", ["entered_at", "updated_at", "started_at", "next_due"])
def test_the_journey_list_renders_a_row_with_a_corrupted_time(staff: object, column: str) -> None:
    good, bad = f"l-{uuid.uuid4().hex[:10]}", f"l-{uuid.uuid4().hex[:10]}"
    svc = service("shop", using="default")
    svc.handle(good, "add_to_cart", event_id="l-1")
    svc.handle(bad, "add_to_cart", event_id="l-2")
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"UPDATE journeyfsm_journeys SET {column} = %s WHERE key = %s", ["not a time", bad]
        )
    try:
        _check_pages(staff, good, bad, listed=column in ("entered_at", "updated_at"))
    finally:  # the database is shared: other tests read every journey in it
        with connections["default"].cursor() as cursor:
            for table in ("journeys", "history", "event_ids", "outbox"):
                cursor.execute(f"DELETE FROM journeyfsm_{table} WHERE key = %s", [bad])


def _check_pages(staff: object, good: str, bad: str, *, listed: bool) -> None:
    from django.test import Client, override_settings

    from journeyfsm.contrib.django.admin import journey_url

    assert isinstance(staff, Client)
    with override_settings(
        JOURNEYFSM={"MACHINES": ["django_project.journey:machine"], "DATABASE": "default"}
    ):
        listing = staff.get("/admin/journeyfsm/journey/", {"q": "l-"})
        assert listing.status_code == 200
        html = listing.content.decode()
        assert good in html and bad in html
        # the list shows entered_at and updated_at; the journey's page every time
        assert ("unreadable: &#x27;not a time&#x27;" in html) is listed
        assert journey_url("shop", bad) in html
        page = staff.get(journey_url("shop", bad))
        assert page.status_code == 200
        assert "unreadable: &#x27;not a time&#x27;" in page.content.decode()


@pytest.mark.parametrize("alias", ["default", "pg"])
def test_the_journey_list_and_page_show_readable_times_in_iso_form(
    staff: object, alias: str
) -> None:
    from django.test import Client, override_settings

    from journeyfsm.contrib.django.admin import journey_url
    from journeyfsm.contrib.django.models import Journey

    assert isinstance(staff, Client)
    customer = f"l-{uuid.uuid4().hex[:10]}"
    service("shop", using=alias).handle(customer, "add_to_cart", event_id="l-3")
    stored = Journey.objects.using(alias).get(key=customer)
    shown = stored.entered_at.isoformat(timespec="seconds")
    with override_settings(
        JOURNEYFSM={"MACHINES": ["django_project.journey:machine"], "DATABASE": alias}
    ):
        listing = staff.get("/admin/journeyfsm/journey/", {"q": customer})
        page = staff.get(journey_url("shop", customer))
    connections[alias].close()
    assert listing.status_code == 200 and page.status_code == 200
    assert shown in listing.content.decode() and shown in page.content.decode()
    assert "unreadable" not in listing.content.decode()


@pytest.fixture
def pg_in_schema() -> Iterator[str]:
    """The ``pg`` database's connection with its search_path on a fresh schema."""
    schema = f"shop_{uuid.uuid4().hex[:8]}"
    conn = connections["pg"]
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
        cursor.execute(f'SET search_path TO "{schema}"')
    yield schema
    with conn.cursor() as cursor:
        cursor.execute("SET search_path TO DEFAULT")
        cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


def test_the_django_postgres_store_uses_the_connections_schema(pg_in_schema: str) -> None:
    """The store wrote to "public" whatever the search_path, where Django's own models
    (the admin) looked in the current schema."""
    from journeyfsm import JourneyService
    from journeyfsm.contrib.django import DjangoStore
    from journeyfsm.contrib.django.models import Journey

    store = DjangoStore("pg")
    store.create_schema()
    svc = JourneyService(service("shop", using="pg").machine, store)
    customer = f"s-{uuid.uuid4().hex[:10]}"
    assert svc.handle(customer, "add_to_cart", event_id="s-1").moved
    with connections["pg"].cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            ["journeyfsm_journeys"],
        )
        schemas = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT count(*) FROM public.journeyfsm_journeys WHERE key = %s", [customer])
        in_public = cursor.fetchone()
    assert pg_in_schema in schemas
    assert in_public == (0,)
    assert Journey.objects.using("pg").get(key=customer).stage == "cart"  # the ORM sees it


def test_a_search_path_without_an_existing_schema_is_a_store_error() -> None:
    from journeyfsm import JourneyService, StoreError
    from journeyfsm.contrib.django import DjangoStore

    conn = connections["pg"]
    with conn.cursor() as cursor:
        cursor.execute("SET search_path TO nosuch_schema")
    try:
        svc = JourneyService(service("shop", using="pg").machine, DjangoStore("pg"))
        with pytest.raises(StoreError, match=r"search_path \(nosuch_schema\) names no schema"):
            svc.handle(f"s-{uuid.uuid4().hex[:10]}", "add_to_cart")
    finally:
        with conn.cursor() as cursor:
            cursor.execute("SET search_path TO DEFAULT")
        conn.close()
