"""The shop's admin pages (journeys and outbox pages come from journeyfsm's app)."""

from django.contrib import admin

from .models import Customer, Order, SentEmail


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    search_fields = ("id", "email")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "total", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("customer__id",)


@admin.register(SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
    list_display = ("idempotency_key", "to", "subject", "sent_at")
    search_fields = ("idempotency_key", "to")
