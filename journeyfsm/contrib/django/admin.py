"""Read-only admin pages: journeys (stage, data, version, history) and outbox rows
(pending, done, dead; the "requeue" action puts dead rows back to pending).

What shop staff open first when a customer writes in: search the customer's key, see the
stage, the data and every move with its event id, and the effects still waiting or dead.
Nothing here writes a journey: moves go through the service, so history and outbox stay
true.  A journey is addressed by ``(definition, key)`` (its composite primary key) as the
JSON pair in the change page's URL.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ..._clock import aware_time as _when
from ..._errors import StoreError
from ._settings import config
from ._store import DjangoStore
from .models import Journey, OutboxRow

__all__ = ["JourneyAdmin", "OutboxRowAdmin", "journey_url"]


def journey_url(definition: str, key: str) -> str:
    """The admin page of journey ``(definition, key)``."""
    pair = json.dumps([definition, key], separators=(",", ":"), ensure_ascii=False)
    return reverse("admin:journeyfsm_journey_change", args=[quote(pair)])


def _shown(value: object) -> str:
    at = _when(value)
    return "" if value is None else at.isoformat(timespec="seconds") if at else str(value)


#: the journeys' time columns, read as text by the admin (JourneyAdmin.get_queryset)
_TIMES = ("entered_at", "updated_at", "started_at", "next_due")


def _time_text(obj: Journey, name: str) -> str:
    """A stored time as the admin shows it; one that cannot be read is marked, with the
    stored text, so staff see which row to repair."""
    text = getattr(obj, f"{name}_text", None)
    if text is None:
        return "" if name == "next_due" else "unreadable: no time stored"
    at = _when(_iso(str(text)))
    if at is None:
        return format_html('<span class="errornote">unreadable: {}</span>', repr(str(text)))
    return at.isoformat(timespec="seconds")


def _iso(text: str) -> str:
    """PostgreSQL's text of a timestamptz ("2026-01-01 09:00:00+00") in the ISO form
    ``aware_time`` reads (an offset of hours only gets its minutes)."""
    if len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit():
        return text + ":00"
    return text


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


class _ReadOnly(admin.ModelAdmin):
    """Viewing only: the tables are written by the service and its workers."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).using(config().database)


@admin.register(Journey)
class JourneyAdmin(_ReadOnly):
    """The journeys: search a customer's key, filter by definition and stage."""

    list_display = ("journey", "definition", "stage", "version", "entered", "updated")
    list_display_links = None
    list_filter = ("definition", "stage")
    search_fields = ("key",)
    fields = (
        "definition",
        "key",
        "stage",
        "version",
        "definition_version",
        "entered",
        "started",
        "updated",
        "due",
        "timeouts_fired",
        "data_json",
        "goal_clocks",
        "history",
        "effects",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """The journeys, with their times read as text: Django's SQLite converter raises
        on a stored time it cannot parse (the page was a 500); shown as "unreadable",
        as a corrupted history row is."""
        found = super().get_queryset(request)
        return found.defer(*_TIMES).annotate(
            **{f"{name}_text": Cast(name, TextField()) for name in _TIMES}
        )

    @admin.display(description="entered at", ordering="entered_at")
    def entered(self, obj: Journey) -> str:
        """When the journey entered its stage."""
        return _time_text(obj, "entered_at")

    @admin.display(description="updated at", ordering="updated_at")
    def updated(self, obj: Journey) -> str:
        """When the journey last moved."""
        return _time_text(obj, "updated_at")

    @admin.display(description="started at", ordering="started_at")
    def started(self, obj: Journey) -> str:
        """When the journey started."""
        return _time_text(obj, "started_at")

    @admin.display(description="next due", ordering="next_due")
    def due(self, obj: Journey) -> str:
        """When its next timeout or goal miss is due."""
        return _time_text(obj, "next_due")

    @admin.display(description="journey", ordering="key")
    def journey(self, obj: Journey) -> str:
        """The key, linked to the journey's page."""
        return format_html('<a href="{}">{}</a>', journey_url(obj.definition, obj.key), obj.key)

    @admin.display(description="data")
    def data_json(self, obj: Journey) -> str:
        """The journey's data, as JSON."""
        return format_html("<pre>{}</pre>", _pretty(obj.data))

    @admin.display(description="goals")
    def goal_clocks(self, obj: Journey) -> str:
        """The goal clocks of the journey's current run: status, since, deadline, met or
        missed at (docs/rules.md, "Goals"); a pending clock past its deadline is marked
        (the next tick records the miss)."""
        clocks = obj.goals if isinstance(obj.goals, dict) else {}
        if not clocks:
            return "none" if obj.goals is None else "no goal clock has started"
        now = datetime.now(timezone.utc)
        rows = []
        for name, clock in sorted(clocks.items()):  # jsonb keeps no key order
            got = clock if isinstance(clock, dict) else {}
            status = str(got.get("status", "unreadable"))
            deadline = _when(got.get("deadline"))
            if status == "pending" and deadline is not None and deadline < now:
                status = "pending (deadline passed: the next tick records the miss)"
            rows.append(
                (
                    name,
                    status,
                    _shown(got.get("since")),
                    _shown(got.get("deadline")),
                    _shown(got.get("at")),
                )
            )
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
        )
        return format_html(
            '<table class="journeyfsm-goals"><thead><tr><th>goal</th><th>status</th>'
            "<th>clock since</th><th>deadline</th><th>met / missed at</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="history")
    def history(self, obj: Journey) -> str:
        """Every move, oldest first: seq, time, trigger, source -> dest, event id, meta."""
        entries = []
        try:
            with DjangoStore(config().database).transaction(write=False) as tx:
                after = 0
                while True:
                    page = tx.history(obj.definition, obj.key, after=after, limit=500)
                    entries.extend(page)
                    if len(page) < 500:
                        break
                    after = page[-1].seq
        except StoreError as err:
            # a corrupted history row: the page still opens (staff open it when a
            # customer writes in), saying which row to repair
            return format_html('<p class="errornote">the history cannot be read: {}</p>', err)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} &rarr; {}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.seq,
                    e.at.isoformat(timespec="seconds"),
                    e.trigger,
                    e.source,
                    e.dest,
                    e.event_id or "",
                    "" if e.meta is None else json.dumps(e.meta, sort_keys=True),
                )
                for e in entries
            ),
        )
        return format_html(
            '<table class="journeyfsm-history"><thead><tr><th>seq</th><th>at</th>'
            "<th>trigger</th><th>move</th><th>event id</th><th>meta</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="effects")
    def effects(self, obj: Journey) -> str:
        """The journey's outbox rows (effects): status, attempts, last error."""
        found = OutboxRow.objects.using(config().database).filter(
            definition=obj.definition, key=obj.key
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:journeyfsm_outboxrow_change", args=[r.pk]),
                    r.pk,
                    r.effect,
                    r.status,
                    r.attempts,
                    r.last_error or "",
                )
                for r in found.order_by("id")
            ),
        )
        return format_html(
            "<table><thead><tr><th>row</th><th>effect</th><th>status</th><th>attempts</th>"
            "<th>last error</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Journey | None:
        """The journey ``object_id`` names: the JSON pair ``[definition, key]`` (a bare
        key where only one definition has it)."""
        queryset = self.get_queryset(request)
        try:
            pair = json.loads(object_id)
        except ValueError:
            pair = None
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            return queryset.filter(definition=pair[0], key=pair[1]).first()
        found = list(queryset.filter(key=object_id)[:2])
        return found[0] if len(found) == 1 else None


@admin.register(OutboxRow)
class OutboxRowAdmin(_ReadOnly):
    """The outbox: effects pending, done or dead; requeue dead ones after a fix."""

    list_display = (
        "id",
        "definition",
        "key",
        "effect",
        "status",
        "attempts",
        "available_at",
        "last_error",
    )
    list_filter = ("status", "definition", "effect")
    search_fields = ("key", "idempotency_key")
    readonly_fields = (
        "id",
        "definition",
        "key",
        "seq",
        "effect",
        "idempotency_key",
        "call_json",
        "status",
        "attempts",
        "available_at",
        "lease_owner",
        "lease_until",
        "last_error",
        "created_at",
    )
    fields = readonly_fields
    actions = ("requeue",)

    @admin.display(description="call")
    def call_json(self, obj: OutboxRow) -> str:
        """The effect call (as the worker will run it), as JSON."""
        return format_html("<pre>{}</pre>", _pretty(obj.call))

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        """Requeuing needs the ``change_outboxrow`` permission (it changes no journey)."""
        return bool(request.user.has_perm("journeyfsm.change_outboxrow"))

    @admin.action(description="Requeue the selected dead rows", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[OutboxRow]) -> None:
        """Dead rows back to pending, attempts reset (the worker runs them again)."""
        ids: dict[str, list[int]] = {}
        for definition, pk in queryset.filter(status="dead").values_list("definition", "id"):
            ids.setdefault(definition, []).append(pk)
        now = datetime.now(timezone.utc)
        done = 0
        with DjangoStore(config().database).transaction() as tx:
            for definition, pks in ids.items():
                done += tx.requeue_dead(definition, now=now, ids=pks)
        skipped = queryset.count() - done
        note = f"; {skipped} not dead, left as they are" if skipped > 0 else ""
        self.message_user(request, f"{done} dead row(s) requeued{note}", messages.SUCCESS)
