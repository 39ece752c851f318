"""The public surface: ``__all__`` is the API, everything public is documented, and every
docstring example runs."""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
import re
import subprocess
import sys
from types import ModuleType

import pytest
import structlog

import journeyfsm

# journeyfsm.contrib.django's app modules (models, admin, migrations, the management
# command) import only inside a configured Django project: tests/test_contrib_django.py
# imports them there and runs their examples
DJANGO_APP = tuple(
    f"journeyfsm.contrib.django.{m}"
    for m in ("admin", "apps", "models", "migrations", "management")
)
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(journeyfsm.__path__, "journeyfsm.")
    if not m.name.startswith(DJANGO_APP)
)


def test_all_names_exist_and_are_unique() -> None:
    names = journeyfsm.__all__
    assert len(names) == len(set(names))
    missing = [n for n in names if not hasattr(journeyfsm, n)]
    assert missing == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from journeyfsm import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(journeyfsm.__all__)


def test_every_public_name_of_the_package_is_listed_in_all() -> None:
    public = {
        name
        for name, value in vars(journeyfsm).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert sorted(public - set(journeyfsm.__all__)) == []


def test_core_api_is_exported() -> None:
    core = {
        "JourneyMachine",
        "JourneyDefinition",
        "JourneyBuilder",
        "Stage",
        "Transition",
        "Timeout",
        "guard",
        "Guard",
        "GuardResult",
        "Journey",
        "HistoryEntry",
        "Outcome",
        "Explanation",
        "ManualClock",
        "SystemClock",
        "Clock",
        "JourneyError",
        "DefinitionError",
        "UnknownTrigger",
        "InvalidTransition",
        "GuardError",
        "HookError",
        "SnapshotError",
        "templates",
    }
    assert core <= set(journeyfsm.__all__)


def _exported_callables() -> list[tuple[str, object]]:
    out = []
    for name in journeyfsm.__all__:
        value = getattr(journeyfsm, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            out.append((name, value))
    return out


@pytest.mark.parametrize("name", [name for name, _ in _exported_callables()])
def test_every_exported_class_and_function_has_a_docstring(name: str) -> None:
    doc = getattr(journeyfsm, name).__doc__
    assert doc and doc.strip(), f"journeyfsm.{name} has no docstring"


def test_public_methods_and_properties_of_exported_classes_have_docstrings() -> None:
    undocumented = []
    for name, cls in _exported_callables():
        if not inspect.isclass(cls) or not cls.__module__.startswith("journeyfsm"):
            continue
        for attr, raw in vars(cls).items():
            if attr.startswith("_"):
                continue
            fn = raw.fget if isinstance(raw, property) else getattr(raw, "__func__", raw)
            if not (inspect.isfunction(fn) or isinstance(raw, property)):
                continue
            if not (getattr(fn, "__doc__", None) or "").strip():
                undocumented.append(f"{name}.{attr}")
    assert not undocumented, "no docstring: " + ", ".join(undocumented)


def test_version_is_a_string() -> None:
    assert isinstance(journeyfsm.__version__, str) and journeyfsm.__version__.count(".") == 2


def _import(name: str) -> ModuleType:
    # every optional dependency (hypothesis, pytest) is in the `test` extra, so no skip here
    return importlib.import_module(name)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = _import(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = io.StringIO()
    # unconfigured structlog would print log lines into the examples' expected output
    with structlog.testing.capture_logs():
        for test in finder.find(module, module_name):
            runner.run(test, out=out.write)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, out.getvalue()


def test_doctests_cover_the_core_modules() -> None:
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in ("journeyfsm", "journeyfsm._runtime", "journeyfsm._definition"):
        examples = sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
        assert examples > 0, name


# the public topical packages and modules; everything else under journeyfsm is private
PUBLIC_MODULES = [
    "journeyfsm.analytics",
    "journeyfsm.cli",
    "journeyfsm.contrib",
    "journeyfsm.contrib.sqlalchemy",
    "journeyfsm.contrib.django",
    "journeyfsm.explorer",
    "journeyfsm.export",
    "journeyfsm.service",
    "journeyfsm.stores",
    "journeyfsm.templates",
    "journeyfsm.testing",
]


def test_every_public_module_is_a_package_or_templates() -> None:
    # the layers of DESIGN.md are packages (journeyfsm/service/, ...); templates is one module
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        assert hasattr(module, "__path__") == (name != "journeyfsm.templates"), name
    private = [
        m
        for m in MODULES
        if m.count(".") == 1
        and not m.rpartition(".")[2].startswith("_")
        and m not in PUBLIC_MODULES
        and m != "journeyfsm.contrib"  # a folder of framework packages (contrib.django, ...)
    ]
    assert private == []


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_module_all_is_exact_and_its_docstring_shows_usage(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = list(module.__all__)
    assert len(names) == len(set(names)), module_name
    assert [n for n in names if not hasattr(module, n)] == []
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(names)
    leaf = module_name.rpartition(".")[2]
    shown = rf">>> from ({re.escape(module_name)} import |journeyfsm import .*\b{leaf}\b)"
    assert re.search(shown, module.__doc__ or ""), f"{module_name}: no usage example"


def test_the_service_names_of_journeyfsm_are_those_of_journeyfsm_service() -> None:
    import journeyfsm.cli
    import journeyfsm.service

    assert journeyfsm.service.__all__ == [
        "AsyncJourneyService",
        "AsyncOutboxWorker",
        "AsyncTimeoutWorker",
        "Event",
        "FrequencyCap",
        "JourneyService",
        "MigrationReport",
        "OutboxWorker",
        "QuietHours",
        "TickReport",
        "TimeoutWorker",
    ]
    for name in journeyfsm.service.__all__:
        assert getattr(journeyfsm, name) is getattr(journeyfsm.service, name), name
    assert journeyfsm.cli.__all__ == ["main"]


def test_importing_journeyfsm_leaves_the_optional_dependencies_alone() -> None:
    # psycopg (PostgresStore), pyarrow (Parquet logs), hypothesis and pytest (the testing
    # kit) load on first use; the CLI and the testing kit are not imported either
    code = (
        "import sys, journeyfsm\n"
        "heavy = ('psycopg', 'psycopg_pool', 'pyarrow', 'hypothesis', 'pytest',\n"
        "         'journeyfsm.cli', 'journeyfsm.testing', 'journeyfsm.analytics')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
