"""The docs are executed: every ```python block of the tutorial and the semantics page runs.

Blocks of one page share a namespace and run in order.  A ```output block right after a
python block is what that block must print.  The API page names every public name.
"""

from __future__ import annotations

import contextlib
import io
import re
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
    "explorer.md",
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
def test_page_code_runs_and_prints_what_the_page_shows(page: str) -> None:
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


def test_api_page_lists_every_public_name_once() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([\w.]+)` \|", text, re.M)
    assert sorted(documented) == sorted(journeyfsm.__all__)


def test_api_page_describes_every_name() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    for name, description in re.findall(r"^\| `([\w.]+)` \| (.*) \|$", text, re.M):
        assert len(description.split()) >= 3, name


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
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    missing = [t for t in targets if "://" not in t and not (DOCS / t).exists()]
    assert missing == []


def test_index_links_every_page() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    wanted = ["tutorial.md", "semantics.md", "api.md", "testing.md", "templates.md"]
    wanted += ["performance.md", "timeouts.md", "service.md", "async.md"]
    for page in wanted:
        assert f"({page})" in text, page
