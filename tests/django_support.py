"""Django for tests/test_contrib_django*.py: the test project (tests/django_project/)
set up once per test process, on a SQLite file (alias ``default``) and a PostgreSQL
database of its own (alias ``pg``, on the server of service_support.pg_dsn()), both
migrated, with the host's ``orders`` table beside journeyfsm's.

Django's settings are process-wide and set once, so the Django tests share this one
configuration; tests that need other settings run ``manage.py`` in a subprocess
(``project_env`` is its environment).  No pytest-django: its per-test transaction
wrapping would hide exactly what these tests check (commits, rollbacks, concurrent
connections), and its plugin would configure Django for the whole suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_STATE: dict[str, Any] = {}

ORDERS = "CREATE TABLE IF NOT EXISTS orders (id {pk}, customer TEXT NOT NULL, sku TEXT NOT NULL)"


def manage(env: dict[str, str], *args: str) -> str:
    """``python -m django ARGS`` in a subprocess with ``env``; its stdout (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def project_env() -> dict[str, str]:
    """The environment of a subprocess running the test project (the same databases)."""
    setup()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
    return env


def setup() -> None:
    """Configure Django with the test project, migrate both databases (once)."""
    if _STATE:
        return
    import psycopg
    from service_support import pg_dsn

    root = Path(tempfile.mkdtemp(prefix="journeyfsm-django-"))
    os.environ["JFSM_SQLITE"] = str(root / "shop.db")
    os.environ["JFSM_EFFECT_LOG"] = str(root / "effects.log")
    dsn = pg_dsn()
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    name = f"jfsm_django_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        JFSM_PG_NAME=name,
        JFSM_PG_HOST=str(info.get("host") or ""),
        JFSM_PG_PORT=str(info.get("port") or ""),
        JFSM_PG_USER=str(info.get("user") or ""),
        JFSM_PG_PASSWORD=str(info.get("password") or ""),
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    for alias, pk in (("default", "INTEGER PRIMARY KEY"), ("pg", "bigserial PRIMARY KEY")):
        call_command("migrate", database=alias, verbosity=0)
        with connections[alias].cursor() as cursor:
            cursor.execute(ORDERS.format(pk=pk))
    _STATE.update(root=root, pg_name=name, dsn=dsn)


def pg_dsn_of_project() -> str:
    """A DSN of the test project's PostgreSQL database."""
    import psycopg

    setup()
    info = psycopg.conninfo.conninfo_to_dict(_STATE["dsn"])
    info["dbname"] = _STATE["pg_name"]
    return str(psycopg.conninfo.make_conninfo(**info))


def root() -> Path:
    """The folder of the SQLite file and the effect log."""
    setup()
    return Path(_STATE["root"])
