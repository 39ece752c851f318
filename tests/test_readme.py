"""The README's quickstart runs as written and prints what the README says it prints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


@pytest.fixture(autouse=True)
def unconfigured_structlog() -> Iterator[None]:
    """Run as a fresh process does, with structlog unconfigured.

    ``structlog.testing.capture_logs()`` in any earlier test of this worker marks structlog
    as configured for good, and then machines without a logger print every event.
    """
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def quickstart() -> tuple[str, str]:
    """The first python block of the README and the ``output`` block right after it."""
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    index = next(i for i, (lang, _) in enumerate(blocks) if lang == "python")
    lang, expected = blocks[index + 1]
    assert lang == "output", "the quickstart must be followed by an ```output block"
    return blocks[index][1], expected


def test_quickstart_prints_what_the_readme_shows(capsys: pytest.CaptureFixture[str]) -> None:
    code, expected = quickstart()
    exec(compile(code, str(README), "exec"), {"__name__": "readme_quickstart"})
    out, err = capsys.readouterr()
    assert out == expected
    assert err == ""
    # the points the prose makes, pinned separately so a wrong edit is easy to read
    lines = out.splitlines()
    assert lines[0] == "duplicate"
    assert "failed_guards=['payment_captured']" in lines[1]
    assert (
        lines.count(
            "email to customer-42: thank you! (idempotency key shop:customer-42:2:send_thank_you)"
        )
        == 1
    )
    assert lines[-1] == "purchased {'cart': ['mug']} ['add_to_cart', 'order_paid']"


def test_quickstart_is_short() -> None:
    code, _ = quickstart()
    statements = [ln for ln in code.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(statements) <= 40


def test_quickstart_is_the_quickstart_example() -> None:
    code, _ = quickstart()
    example = (ROOT / "examples" / "quickstart.py").read_text(encoding="utf-8")
    assert example.endswith(code)


def test_readme_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert missing == []


def test_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text
