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
