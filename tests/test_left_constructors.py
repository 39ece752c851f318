"""An empty name in a Goal, Exit or Timeout is refused at construction, as ``guard()``
refuses one, instead of travelling to the definition (or, for a goal's name, into a
journey's goal state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from journeyfsm import Exit, Goal, JourneyDefinition, Timeout, templates

D = timedelta(days=1)

CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "goal ''": (lambda: Goal("", stage="cart", within=D), "a goal's name must be a non-empty"),
    "goal blank": (lambda: Goal("  ", stage="cart", within=D), "a goal's name must be a non-empty"),
    "exit trigger": (lambda: Exit("", "gone"), "Exit: trigger must be a non-empty name, got ''"),
    "exit stage": (lambda: Exit("bye", " "), "Exit: stage must be a non-empty name, got ' '"),
    "timeout stage": (lambda: Timeout("", 60, "go"), "Timeout: stage must be a non-empty name"),
    "timeout trigger": (lambda: Timeout("cart", 60, ""), "Timeout: trigger must be a non-empty"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_empty_name_is_refused_at_construction(case: str) -> None:
    make, words = CASES[case]
    with pytest.raises(ValueError, match=r"e\.g\.") as info:
        make()
    assert str(info.value).startswith(words), str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("goals", [{"name": "", "stage": "desire", "within": 60}], "goals[0].name must be a non"),
        ("exits", [{"trigger": "", "stage": "lost"}], "exits[0]: Exit: trigger must be a non"),
        ("timeouts", [{"stage": "", "after_seconds": 5, "trigger": "x"}], "timeouts[0]: Timeout:"),
    ],
)
def test_the_dict_form_reports_an_empty_name_as_a_problem(key: str, value: Any, words: str) -> None:
    data = templates.aida().to_dict()
    data[key] = value
    with pytest.raises(Exception) as info:
        JourneyDefinition.from_dict(data)
    assert type(info.value).__name__ == "DefinitionError"
    messages = [p.message for p in info.value.problems]  # type: ignore[attr-defined]
    assert any(m.startswith(words) for m in messages), messages
