"""The app to add to ``INSTALLED_APPS``: ``"journeyfsm.contrib.django"`` (label
``journeyfsm``): migrations, admin pages, system checks, ``manage.py journeyfsm``."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["JourneyfsmConfig"]


class JourneyfsmConfig(AppConfig):
    """journeyfsm inside a Django project."""

    name = "journeyfsm.contrib.django"
    label = "journeyfsm"
    verbose_name = "Customer journeys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks."""
        from . import _checks  # noqa: F401  (registers the checks)
