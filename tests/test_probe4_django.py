"""Probing journeyfsm.contrib.django on SQLite and PostgreSQL (the test project of
tests/django_project/, see tests/django_support.py): a hook that uses the ORM inside the
caller's ``transaction.atomic()``, the ``manage.py journeyfsm`` arguments, an alias that
is not a database, and what a move refuses (the same errors as every store)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import django_support
import pytest

django_support.setup()

from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.db import connections, transaction  # noqa: E402

from journeyfsm import (  # noqa: E402
    Context,
    DataError,
    JourneyBuilder,
    JourneyMachine,
    JourneyService,
    StoreError,
)
from journeyfsm.contrib.django import DjangoStore, service  # noqa: E402
from journeyfsm.contrib.django.models import Journey  # noqa: E402

ALIASES = ["default", "pg"]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the test project: ``default`` (SQLite) or ``pg`` (PostgreSQL)."""
    yield request.param
    connections[request.param].close()


def key() -> str:
    return f"p4-{uuid.uuid4().hex[:10]}"


def _orm_machine(seen: list[Any]) -> JourneyMachine:
    """A machine whose hook reads and writes through Django's ORM and cursor, as a shop's
    hook does (the order row, a JSONField, an aware datetime)."""
    machine = JourneyMachine(
        JourneyBuilder("ormshop")
        .stage("browsing", initial=True)
        .stage("done", final=True)
        .transition("look", "browsing", None)
        .transition("finish", "browsing", "done")
        .build()
    )

    @machine.on_transition("look")
    def use_the_orm(ctx: Context) -> None:
        alias = ctx.payload["alias"]
        stored = Journey.objects.using(alias).filter(definition="ormshop", key=ctx.journey.key)
        row = stored.first()
        seen.append(None if row is None else (row.data, row.entered_at.utcoffset()))
        seen.append(stored.filter(data__looks=1).count())
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "INSERT INTO orders (customer, sku) VALUES (%s, %s)", [ctx.journey.key, "mug"]
            )
        ctx.journey.data["looks"] = ctx.journey.data.get("looks", 0) + 1

    return machine


@pytest.mark.parametrize("inside", [True, False], ids=["in atomic", "autocommit"])
def test_a_hook_may_use_the_orm_inside_and_outside_atomic(alias: str, inside: bool) -> None:
    """On PostgreSQL inside ``atomic()`` a hook's ORM query failed: the store had put
    psycopg's loaders and cursor class on Django's connection for the whole transaction
    (``AttributeError: ... TimestamptzLoader has no attribute 'timezone'``, and a
    JSONField read got a dict where Django decodes text)."""
    seen: list[Any] = []
    svc = JourneyService(_orm_machine(seen), DjangoStore(alias))
    customer = key()
    for _ in range(2):
        if inside:
            with transaction.atomic(using=alias):
                assert svc.handle(customer, "look", {"alias": alias}).moved
        else:
            assert svc.handle(customer, "look", {"alias": alias}).moved
    assert seen[0] is None and seen[1] == 0  # the first move: no row yet
    assert seen[2] == ({"looks": 1}, __import__("datetime").timedelta(0))
    assert seen[3] == 1
    journey = svc.get(customer)
    assert journey is not None and journey.data == {"looks": 2} and journey.version == 2
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM orders WHERE customer = %s", [customer])
        assert cursor.fetchone()[0] == 2


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("journeyfsm", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "--once"],
        ["worker"],  # the loop retries what the database refuses: refused before it
        ["show", "c-1"],
        ["funnel"],
        ["outbox"],
        ["prune-deliveries", "--caps", "django_project.goals:caps"],
    ],
    ids=lambda args: " ".join(args),
)
def test_a_database_alias_that_is_not_in_databases_is_a_command_error(args: list[str]) -> None:
    """``--database nope`` was Django's ``ConnectionDoesNotExist`` traceback."""
    with pytest.raises(CommandError, match=r"'nope'.*settings\.DATABASES.*'default'"):
        _command(*args, "--database", "nope")


def test_a_store_on_an_alias_that_is_not_a_database_names_the_aliases() -> None:
    svc = JourneyService(service("shop").machine, DjangoStore("nope"))
    with pytest.raises(StoreError, match=r"DjangoStore\(using='nope'\).*'default', 'pg'"):
        svc.handle(key(), "add_to_cart")
    with pytest.raises(StoreError, match="'nope'"):
        DjangoStore("nope").joins_host_transaction()


def test_show_of_an_empty_key_is_a_command_error() -> None:
    """``manage.py journeyfsm show ''`` was a ``ValueError`` traceback."""
    with pytest.raises(CommandError, match="journey key must be a non-empty str"):
        _command("show", "")


@pytest.mark.parametrize("value", ["[1]", "{bad"], ids=["meta not an object", "malformed"])
def test_the_admin_journey_page_opens_with_a_corrupted_history_row(alias: str, value: str) -> None:
    """A corrupted history row made the journey's admin page a 500 (the store's
    ``StoreError`` escaped the history field)."""
    from django.contrib.auth.models import User
    from django.test import Client, override_settings

    from journeyfsm.contrib.django.admin import journey_url

    if alias == "pg" and value == "{bad":
        value = '"not an object"'  # jsonb holds only well-formed JSON
    user, _ = User.objects.get_or_create(
        username="staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    customer = key()
    service("shop", using=alias).handle(customer, "add_to_cart", event_id="adm-1")
    with connections[alias].cursor() as cursor:
        cast = "::jsonb" if alias == "pg" else ""
        cursor.execute(
            f"UPDATE journeyfsm_history SET meta = %s{cast} WHERE key = %s", [value, customer]
        )
    with override_settings(
        JOURNEYFSM={"MACHINES": ["django_project.journey:machine"], "DATABASE": alias}
    ):
        page = client.get(journey_url("shop", customer))
    assert page.status_code == 200
    html = page.content.decode()
    assert "the history cannot be read" in html and "is corrupted" in html and customer in html


@pytest.mark.parametrize("text", ["mu\x00g", "mu\udcffg"], ids=["nul", "lone surrogate"])
def test_unstorable_text_is_the_same_data_error_on_django_stores(alias: str, text: str) -> None:
    """A NUL was a ``StoreError`` on PostgreSQL and stored on SQLite; a lone surrogate a
    ``StoreError`` on PostgreSQL and a ``DataError`` on SQLite."""
    svc = service("shop", using=alias)
    customer = key()
    with transaction.atomic(using=alias):
        with pytest.raises(DataError, match="nothing was written"):
            svc.handle(customer, "add_to_cart", {"sku": text}, event_id="t-1")
        assert svc.handle(customer, "add_to_cart", {"sku": "mug"}, event_id="t-1").moved
    journey = svc.get(customer)
    assert journey is not None and journey.data == {"cart": ["mug"]}


def _on_commit_machine(fired: list[str]) -> JourneyMachine:
    machine = JourneyMachine(
        JourneyBuilder("oncommit")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b")
        .build()
    )

    @machine.before
    def register(ctx: Context) -> None:
        key = ctx.journey.key
        transaction.on_commit(lambda: fired.append(key), using=ctx.payload["alias"])

    @machine.after
    def refuse(ctx: Context) -> None:
        if ctx.payload.get("boom") == "error":
            raise ValueError("refused")
        if ctx.payload.get("boom") == "interrupt":
            raise KeyboardInterrupt

    return machine


@pytest.mark.parametrize("boom", ["error", "interrupt"])
def test_a_hooks_on_commit_is_dropped_with_the_move_it_belonged_to(alias: str, boom: str) -> None:
    """Inside ``atomic()`` a hook's ``transaction.on_commit`` callback ran at the caller's
    commit although the move was rolled back (the store's savepoint is its own SQL, which
    Django's on_commit bookkeeping did not know)."""
    from journeyfsm import HookError

    fired: list[str] = []
    svc = JourneyService(_on_commit_machine(fired), DjangoStore(alias))
    customer = key()
    with transaction.atomic(using=alias):
        with pytest.raises((HookError, KeyboardInterrupt)):
            svc.handle(customer, "go", {"alias": alias, "boom": boom})
        assert svc.get(customer) is None
    assert fired == []
    with transaction.atomic(using=alias):
        assert svc.handle(customer, "go", {"alias": alias}).moved
        assert fired == []  # after the caller's commit, not before
    assert fired == [customer]
    other = key()
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        assert svc.handle(other, "go", {"alias": alias}).moved
        raise RuntimeError("the caller rolls back")
    assert fired == [customer] and svc.get(other) is None
