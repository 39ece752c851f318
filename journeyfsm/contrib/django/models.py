"""Read-only models of journeyfsm's tables, for the admin and for the project's queries.

The tables are the stores' (created by the app's migration, written only through the
service and workers), so the models are unmanaged: Django never alters them.  Their
primary keys are composite (``(definition, key)``), which the admin cannot address (Django
5.2's ``CompositePrimaryKey`` is refused by the admin, and Django 4.2 has none): the
``Journey`` model declares ``key`` as its primary key for Django's sake, and the admin
addresses a journey by both columns (see admin.py).  Filter on ``definition`` too when a
key may have journeys of several definitions.

    >>> Journey.objects.filter(definition="shop", stage="purchase").count()  # doctest: +SKIP
"""

from __future__ import annotations

from django.db import models

from ._settings import table

__all__ = ["Journey", "OutboxRow"]


class Journey(models.Model):
    """One customer's journey of one definition: stage, data, version, timeout clock."""

    definition = models.TextField()
    key = models.TextField(primary_key=True)
    definition_version = models.JSONField()
    stage = models.TextField()
    data = models.JSONField()
    version = models.IntegerField(help_text="moves made (the history's last seq)")
    entered_at = models.DateTimeField(help_text="when the journey entered its stage")
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField()
    entry_seq = models.IntegerField()
    timeouts_fired = models.IntegerField()
    next_due = models.DateTimeField(null=True, help_text="when its next timeout fires")
    goals = models.JSONField(null=True, help_text="the goal clocks of the current run")

    class Meta:
        managed = False
        db_table = table("journeys")
        app_label = "journeyfsm"
        ordering = ("-updated_at",)
        verbose_name = "journey"

    def __str__(self) -> str:
        return f"{self.key} ({self.definition}: {self.stage})"


class OutboxRow(models.Model):
    """One effect of a move, waiting for the worker, done, or dead-lettered."""

    id = models.BigAutoField(primary_key=True)
    definition = models.TextField()
    key = models.TextField()
    seq = models.IntegerField()
    effect = models.TextField()
    idempotency_key = models.TextField(unique=True)
    call = models.JSONField()
    status = models.TextField()
    attempts = models.IntegerField()
    available_at = models.DateTimeField()
    lease_owner = models.TextField(null=True)
    lease_until = models.DateTimeField(null=True)
    last_error = models.TextField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = table("outbox")
        app_label = "journeyfsm"
        ordering = ("-id",)
        verbose_name = "outbox row"

    def __str__(self) -> str:
        return f"{self.effect} for {self.key} ({self.status})"
