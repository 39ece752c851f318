"""The project's ``JOURNEYFSM`` setting, read and checked in one place.

``settings.JOURNEYFSM`` is an optional dict::

    JOURNEYFSM = {
        "MACHINES": ["shop.journey:machine"],  # module:attribute of each JourneyMachine
        "TABLE_PREFIX": "journeyfsm_",          # the tables' prefix (fixed once migrated)
        "DATABASE": "default",                  # the alias the tables live in
    }
"""

from __future__ import annotations

import attrs
from django import conf
from django.core.exceptions import ImproperlyConfigured

from ..._errors import close_matches
from ...stores._base import check_prefix

__all__ = ["Config", "config", "table"]

_KEYS = ("MACHINES", "TABLE_PREFIX", "DATABASE")


@attrs.frozen
class Config:
    """The checked ``JOURNEYFSM`` setting."""

    machines: tuple[str, ...] = ()
    prefix: str = "journeyfsm_"
    database: str = "default"


def config() -> Config:
    """The project's ``JOURNEYFSM`` setting, checked; ``ImproperlyConfigured`` naming the
    key that is wrong and what it takes."""
    raw = getattr(conf.settings, "JOURNEYFSM", {})
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(
            f"settings.JOURNEYFSM must be a dict (keys {', '.join(_KEYS)}), got {raw!r}"
        )
    for name in raw:
        if name not in _KEYS:
            close = close_matches(str(name), _KEYS, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ImproperlyConfigured(
                f"settings.JOURNEYFSM has an unknown key {name!r}; {hint}"
                f"the keys are {', '.join(_KEYS)}"
            )
    machines = raw.get("MACHINES", ())
    if isinstance(machines, str) or not isinstance(machines, (list, tuple)):
        raise ImproperlyConfigured(
            "settings.JOURNEYFSM['MACHINES'] must be a list of 'module:attribute' strings "
            f"(e.g. ['shop.journey:machine']), got {machines!r}"
        )
    for ref in machines:
        if (
            not isinstance(ref, str)
            or ref.count(":") != 1
            or ref.startswith(":")
            or ref.endswith(":")
        ):
            raise ImproperlyConfigured(
                "settings.JOURNEYFSM['MACHINES'] entries are 'module:attribute' naming a "
                f"JourneyMachine (or a function returning one), got {ref!r}"
            )
    prefix = raw.get("TABLE_PREFIX", "journeyfsm_")
    try:
        check_prefix(prefix)
    except ValueError as err:
        raise ImproperlyConfigured(f"settings.JOURNEYFSM['TABLE_PREFIX']: {err}") from None
    database = raw.get("DATABASE", "default")
    if not isinstance(database, str) or database not in conf.settings.DATABASES:
        raise ImproperlyConfigured(
            f"settings.JOURNEYFSM['DATABASE'] must name an alias of settings.DATABASES "
            f"({', '.join(map(repr, conf.settings.DATABASES))}), got {database!r}"
        )
    return Config(tuple(machines), prefix, database)


def table(name: str) -> str:
    """The name of the table ``name`` (``journeys``, ``history``, ...) with the prefix."""
    return f"{config().prefix}{name}"
