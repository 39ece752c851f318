"""What the package says about itself: license, one version, supported Pythons, the engine
range, the extras, and ``python -m journeyfsm``.

Read from the installed metadata (what pip and PyPI see), not from pyproject.toml alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import journeyfsm

ROOT = Path(__file__).resolve().parent.parent
META = metadata.metadata("journeyfsm")
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")


def _requirements(extra: str | None = None) -> dict[str, Requirement]:
    """The requirements of the core install (``extra=None``) or of one extra, by name."""
    out = {}
    for line in metadata.requires("journeyfsm") or []:
        req = Requirement(line)
        in_extra = req.marker is not None and req.marker.evaluate({"extra": extra or ""})
        if (extra is None and req.marker is None) or (extra is not None and in_extra):
            out[req.name] = req
    return out


def test_license_is_mit_with_the_license_file_and_an_spdx_expression() -> None:
    assert META["License-Expression"] == "MIT"
    assert META.get_all("License-File") == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_version_is_written_once_and_the_metadata_reads_it() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject, re.M)
    assert metadata.version("journeyfsm") == journeyfsm.__version__
    init = (ROOT / "journeyfsm" / "__init__.py").read_text(encoding="utf-8")
    assert init.count(journeyfsm.__version__) == 1


def test_python_classifiers_name_exactly_the_supported_versions() -> None:
    classified = sorted(
        c.rsplit(" :: ", 1)[1]
        for c in META.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert classified == sorted(SUPPORTED, key=Version)
    assert META["Requires-Python"] == ">=3.10"
    assert "{}.{}".format(*sys.version_info[:2]) in SUPPORTED


def test_engine_range_has_a_floor_and_a_ceiling_and_holds_the_installed_engine() -> None:
    spec = _requirements()["transitions"].specifier
    floors = [s.version for s in spec if s.operator == ">="]
    ceilings = [s.version for s in spec if s.operator == "<"]
    assert len(floors) == 1 and len(ceilings) == 1, spec
    installed = metadata.version("transitions")
    assert spec.contains(installed), f"transitions {installed} is outside {spec}"
    # `make test-min` installs the floor and says so; the suite must then run on it
    expected = os.environ.get("JOURNEYFSM_EXPECT_TRANSITIONS")
    if expected is not None:
        assert (installed, expected) == (floors[0], floors[0])


def test_test_extra_is_what_a_user_needs_and_dev_holds_the_project_tools() -> None:
    assert sorted(_requirements()) == ["attrs", "structlog", "transitions"]
    assert sorted(_requirements("test")) == ["hypothesis", "pytest"]
    bench = _requirements("bench")
    postgres = _requirements("postgres")
    assert sorted(postgres) == ["psycopg", "psycopg-pool"]
    sqlalchemy = _requirements("sqlalchemy")
    assert sorted(sqlalchemy) == ["sqlalchemy"]
    assert sqlalchemy["sqlalchemy"].extras == {"asyncio"}  # AsyncSessionStore: greenlet
    # the service figures run on PostgreSQL too: the bench extra brings a server and driver
    assert set(bench) == {
        "pyperf",
        "python-statemachine",
        *postgres,
        *(["pgserver"] if sys.version_info < (3, 13) else []),
    }
    # [dev] is journeyfsm[test,bench,postgres,parquet,sqlalchemy,django,forecast,docs,serve,
    # fast,dask] plus the tools
    # (hatchling spells the extras out), pgserver among them: the suite runs the PostgreSQL
    # tests on a server it starts
    assert set(_requirements("dev")) == {
        "hypothesis",
        "pytest",
        *bench,
        *postgres,
        *(["pgserver"] if sys.version_info < (3, 13) else []),  # no 3.13 wheel yet
        "mypy",
        "ruff",
        "pytest-xdist",
        "playwright",  # the HTML report's browser test, on the system chromium
        "pyarrow",  # [parquet]: the suite replays Parquet logs
        "numpy",  # [fast]: the columnar replay engine; [forecast]: conversion forecasts
        "dask",  # [dask]: replay partitioned on a Dask cluster
        "pandas",  # replay's DataFrame inputs
        "polars",
        "lifetimes",  # docs/measuring.md checks the forecasts on the CDNOW log it ships
        "pyspark",  # docs/replay.md's Spark recipe runs on a local Spark
        "django-fsm-2",  # docs/coming_from.md runs the rule on it
        *sqlalchemy,  # [sqlalchemy]: contrib.sqlalchemy and examples/fastapi_shop
        # contrib.sqlalchemy's Alembic and aiosqlite tests; examples/fastapi_shop (its
        # end-to-end test: uvicorn, httpx, an SMTP server and client)
        "alembic",
        "aiosqlite",
        "fastapi",
        "uvicorn",
        "httpx",
        "aiosmtplib",
        "aiosmtpd",
        "django",  # [django]: journeyfsm.contrib.django and examples/django_shop
        *_requirements("docs"),  # [docs]: the suite builds the site
        "starlette",  # [serve]: journeyfsm.explorer (with jinja2 and uvicorn)
        "jinja2",
    }
    assert sorted(_requirements("django")) == ["django"]
    assert sorted(_requirements("forecast")) == ["numpy"]
    assert sorted(_requirements("docs")) == ["furo", "myst-parser", "sphinx"]
    assert sorted(_requirements("serve")) == ["jinja2", "starlette", "uvicorn"]
    assert sorted(_requirements("fast")) == ["numpy", "pyarrow"]


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["--version"], 0, f"journeyfsm {journeyfsm.__version__}"),
        (["show", "aida"], 0, "aida (version 1, policy ignore)"),
        (["show", "no-such-template"], 2, "journeyfsm show: error:"),
    ],
)
def test_python_m_journeyfsm_runs_the_command(args: list[str], code: int, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "journeyfsm", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert expected in done.stdout + done.stderr


def test_importing_journeyfsm_main_runs_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import journeyfsm.__main__"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert (done.stdout, done.stderr) == ("", "")
