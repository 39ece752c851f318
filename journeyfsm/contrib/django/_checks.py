"""System checks (``manage.py check``, run by ``runserver`` and ``migrate`` too).

- ``journeyfsm.W001``: a SQLite database whose ``atomic()`` begins a deferred
  transaction.  A journey move reads, then writes; in a deferred transaction another
  writer may commit in between, and SQLite then refuses the write at once ("database is
  locked") instead of waiting.  ``"OPTIONS": {"transaction_mode": "IMMEDIATE"}``
  (Django 5.1+) takes the write lock at ``BEGIN``, where SQLite waits its timeout.
- ``journeyfsm.E001``: the ``JOURNEYFSM`` setting or a machine it names is wrong.
"""

from __future__ import annotations

from typing import Any

import django
from django import conf
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

__all__ = ["check_machines", "check_sqlite_transaction_mode"]


@checks.register(checks.Tags.database, deploy=False)
def check_sqlite_transaction_mode(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W001 for every SQLite database without ``transaction_mode`` ``IMMEDIATE``."""
    found: list[checks.CheckMessage] = []
    for alias, db in conf.settings.DATABASES.items():
        if not str(db.get("ENGINE", "")).endswith("sqlite3"):
            continue
        mode = str((db.get("OPTIONS") or {}).get("transaction_mode") or "DEFERRED").upper()
        if mode in ("IMMEDIATE", "EXCLUSIVE"):
            continue
        fix = (
            f"set DATABASES[{alias!r}]['OPTIONS']['transaction_mode'] = 'IMMEDIATE'"
            if django.VERSION >= (5, 1)
            else "upgrade to Django 5.1+ and set OPTIONS {'transaction_mode': 'IMMEDIATE'}, "
            "or serve one request at a time"
        )
        found.append(
            checks.Warning(
                f"SQLite database {alias!r} begins atomic() blocks with a deferred BEGIN: "
                "concurrent journey moves inside them fail with 'database is locked' "
                "instead of waiting for the lock",
                hint=fix,
                id="journeyfsm.W001",
            )
        )
    return found


@checks.register()
def check_machines(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E001 when ``settings.JOURNEYFSM`` or a machine it names cannot be loaded."""
    from ._registry import machines

    try:
        machines()
    except ImproperlyConfigured as err:
        return [checks.Error(str(err), id="journeyfsm.E001")]
    return []
