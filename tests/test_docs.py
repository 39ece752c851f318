"""The docs are executed: every ```python block of the tutorial and the semantics page runs.

Blocks of one page share a namespace and run in order.  A ```output block right after a
python block is what that block must print.  The API page names every public name.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import journeyfsm

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
EXECUTED = [
    "tutorial.md",
    "semantics.md",
    "timeouts.md",
    "async.md",
    "async_machine.md",
    "fastapi.md",
    "getting_started.md",
    "cookbook.md",
    "forecasts.md",
    "rules.md",
    "explorer.md",
    "versions.md",
    "caps.md",
]


@pytest.fixture(autouse=True)
def unconfigured_structlog() -> Iterator[None]:
    """Run as a fresh process does, with structlog unconfigured.

    ``structlog.testing.capture_logs()`` in any earlier test of this worker marks structlog
    as configured for good, and then machines without a logger print every event.
    """
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def blocks(page: str) -> list[tuple[str, str, int]]:
    """(info string, body, line number) of every fenced block of ``page``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return [(m[1], m[2], text.count("\n", 0, m.start()) + 2) for m in FENCE.finditer(text)]


@pytest.mark.parametrize("page", EXECUTED)
def test_page_code_runs_and_prints_what_the_page_shows(
    page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # pages name files from the repository root (examples/data/...)
    found = blocks(page)
    assert sum(lang == "python" for lang, _, _ in found) >= (5 if page in EXECUTED[:2] else 2)
    namespace: dict[str, object] = {"__name__": f"docs_{page[:-3]}"}
    for i, (lang, code, line) in enumerate(found):
        if lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile("\n" * (line - 1) + code, str(DOCS / page), "exec"), namespace)
        if i + 1 < len(found) and found[i + 1][0] == "output":
            expected = found[i + 1][1]
            assert out.getvalue() == expected, f"{page}, block at line {line}"


@pytest.mark.parametrize("page", EXECUTED)
def test_every_output_block_follows_a_python_block(page: str) -> None:
    found = blocks(page)
    for i, (lang, _, line) in enumerate(found):
        if lang == "output":
            assert i > 0 and found[i - 1][0] == "python", f"{page}, line {line}"


def public_modules() -> list[str]:
    """Every public module with a non-empty ``__all__`` (docs/_ext/apiref.py's list)."""
    found = ["journeyfsm"]
    django_app = tuple(
        f"journeyfsm.contrib.django.{m}"
        for m in ("admin", "apps", "models", "migrations", "management")
    )
    for info in pkgutil.walk_packages(journeyfsm.__path__, "journeyfsm."):
        if info.name.startswith(django_app) or "._" in info.name:
            continue
        if hasattr(importlib.import_module(info.name), "__all__"):
            found.append(info.name)
    return found


def test_api_page_has_a_generated_section_for_every_public_module() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    sections = re.findall(r"^```\{api-module\} ([\w.]+)$", text, re.M)
    assert sorted(sections) == sorted(public_modules())


def _sphinx(src: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q"]
    command += ["-E", "-d", str(out / ".doctrees"), str(src), str(out)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    """`make docs`: every page, the API reference from every ``__all__``, no broken reference."""
    built = _sphinx(DOCS, tmp_path)
    assert built.returncode == 0, built.stderr
    api = (tmp_path / "api.html").read_text(encoding="utf-8")
    for module in public_modules():
        for name in importlib.import_module(module).__all__:
            # documented here, or listed as the same object documented elsewhere
            assert (
                f'id="{module}.{name}"' in api
                or f"<code>{name}</code>" in api
                or (f'<span class="pre">{name}</span>' in api)
            ), f"{module}.{name}"
    assert 'id="journeyfsm.JourneyMachine.fire"' in api
    assert 'id="journeyfsm.JourneyMachine.tick"' in api  # written in a private mixin
    # inline code naming a public object links to it (the markdown stays plain)
    service = (tmp_path / "service.html").read_text(encoding="utf-8")
    assert 'href="api.html#journeyfsm.JourneyService"' in service
    forecasts = (tmp_path / "forecasts.html").read_text(encoding="utf-8")
    assert 'href="api.html#journeyfsm.analytics.fit_chain"' in forecasts
    pages = {p.stem for p in DOCS.glob("*.md")}
    assert pages <= {p.stem for p in tmp_path.glob("*.html")}


def test_a_public_name_without_a_docstring_fails_the_build(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"__file__ = {str(DOCS / 'conf.py')!r}\n"
        "exec(open(__file__).read())\n"
        "import journeyfsm\n"
        "journeyfsm.ManualClock.advance.__doc__ = None\n"
        "journeyfsm.guard.__doc__ = ''\n",
        encoding="utf-8",
    )
    (src / "index.md").write_text(
        "# API\n\n## `journeyfsm`\n\n```{api-module} journeyfsm\n```\n", encoding="utf-8"
    )
    built = _sphinx(src, tmp_path / "out")
    assert built.returncode != 0
    assert "journeyfsm.guard has no docstring" in built.stderr
    assert "journeyfsm.ManualClock.advance has no docstring" in built.stderr
    # the other public modules have no section in this page: that fails too
    assert "public module journeyfsm.analytics has no section" in built.stderr


def test_semantics_page_covers_semantics_1_to_13() -> None:
    text = (DOCS / "semantics.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, re.M)]
    assert numbers == list(range(1, 14))


def test_semantics_hook_order_matches_the_runtime_theory_of_operation() -> None:
    theory = (ROOT / "journeyfsm" / "_runtime.py").read_text(encoding="utf-8")
    page = (DOCS / "semantics.md").read_text(encoding="utf-8")
    order = [
        "before hooks",
        "exit hooks",
        "stage set",
        "enter hooks",
        "on_transition",
        "after hooks",
    ]
    for whole in (theory, page):
        text = whole[whole.index("Order inside a move") :].replace("`", "")
        positions = [text.find(step) for step in order]
        assert -1 not in positions, order
        assert positions == sorted(positions)


@pytest.mark.parametrize(
    "page",
    [
        "index.md",
        "tutorial.md",
        "semantics.md",
        "api.md",
        "service.md",
        "timeouts.md",
        "async.md",
        "explorer.md",
    ],
)
def test_links_resolve(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    # "path:" is MyST's mark for a file linked as a download (outside the site)
    targets = [t.removeprefix("path:") for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)]
    missing = [t for t in targets if "://" not in t and not (DOCS / t).exists()]
    assert missing == []


def test_index_links_every_page() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    wanted = ["tutorial.md", "semantics.md", "api.md", "testing.md", "templates.md"]
    wanted += ["performance.md", "timeouts.md", "service.md", "async.md"]
    wanted += ["getting_started.md", "concepts.md", "why.md", "cookbook.md", "forecasts.md"]
    for page in wanted:
        assert f"({page})" in text, page


def test_every_page_is_in_the_site_navigation() -> None:
    """The toctrees of index.md list every page (Sphinx would warn, failing the build)."""
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = set()
    for body in re.findall(r"^```\{toctree\}\n(.*?)^```", text, re.S | re.M):
        listed |= {line.strip() for line in body.splitlines() if line.strip()[:1].isalpha()}
    assert listed == {p.stem for p in DOCS.glob("*.md")} - {"index"}
