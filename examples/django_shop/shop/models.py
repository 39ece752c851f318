"""The shop's own tables.  The journeys live in journeyfsm's tables (the contrib app)."""

from django.db import models


class Customer(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    email = models.EmailField()

    def __str__(self) -> str:
        return self.id


class Order(models.Model):
    """An order: placed with the ``order_placed`` move, paid with ``payment_captured``."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    total = models.PositiveIntegerField(help_text="cents")
    items = models.JSONField()
    status = models.CharField(max_length=16, default="placed")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"order {self.pk} of {self.customer_id} ({self.status})"


class SentEmail(models.Model):
    """One row per e-mail sent, by the effect's idempotency key: a redelivered effect
    finds its key here and sends nothing."""

    idempotency_key = models.CharField(max_length=255, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    sent_at = models.DateTimeField(auto_now_add=True)


class StatusRow(models.Model):
    """The benchmark's baseline: a bare status column upserted per webhook."""

    customer = models.CharField(primary_key=True, max_length=64)
    status = models.CharField(max_length=32)
    event_id = models.CharField(max_length=64)
