"""docs/coming_from.md: the same shop rule written with each peer and with journeyfsm.

Each python block runs in a fresh interpreter (the django-fsm-2 block configures Django's
settings, which a process can do once), and prints exactly the output block after it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "coming_from.md"
PAIR = re.compile(r"^```python\n(.*?)^```\n\nprints\n\n```output\n(.*?)^```\n", re.S | re.M)
PAIRS = PAIR.findall(PAGE.read_text(encoding="utf-8"))


def test_the_page_shows_the_rule_in_four_libraries() -> None:
    imports = [re.search(r"^from (\w+)", code, re.M) for code, _ in PAIRS]
    found = {m[1] for m in imports if m}
    assert {"transitions", "statemachine", "django", "journeyfsm"} <= found, found


@pytest.mark.parametrize(
    "code, expected", PAIRS, ids=["transitions", "statemachine", "django-fsm-2", "journeyfsm"]
)
def test_block_prints_what_the_page_shows(code: str, expected: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
