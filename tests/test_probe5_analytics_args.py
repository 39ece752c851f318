"""The analytics entry points check their arguments and say what to pass (a bare
"'NoneType' object is not iterable" said nothing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from journeyfsm import JourneyMachine, templates
from journeyfsm.analytics import (
    breakdown,
    fit_chain,
    funnel,
    goal_conversion,
    human_duration,
    split_by_key,
    write,
)

AIDA = templates.aida()
JOURNEYS = [JourneyMachine(AIDA).start("c1")]
NOT_ITERABLE = "takes an iterable of Journey objects"

CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "funnel None": (lambda: funnel(None, AIDA), NOT_ITERABLE),  # type: ignore[arg-type]
    "funnel int": (lambda: funnel(5, AIDA), NOT_ITERABLE),  # type: ignore[arg-type]
    "funnel str": (lambda: funnel("c1", AIDA), NOT_ITERABLE),  # type: ignore[arg-type]
    "funnel one journey": (lambda: funnel(JOURNEYS[0], AIDA), r"pass \[journey\]"),  # type: ignore[arg-type]
    "funnel dict": (lambda: funnel({"c1": JOURNEYS[0]}, AIDA), r"pass its \.values\(\)"),  # type: ignore[arg-type]
    "funnel order int": (lambda: funnel(JOURNEYS, AIDA, order=5), r"order takes a list"),  # type: ignore[arg-type]
    "breakdown None": (lambda: breakdown(None, AIDA, by="data.plan"), NOT_ITERABLE),  # type: ignore[arg-type]
    "goal_conversion None": (lambda: goal_conversion(None, AIDA), NOT_ITERABLE),  # type: ignore[arg-type]
    "goal_conversion no definition": (
        lambda: goal_conversion(JOURNEYS, None),  # type: ignore[arg-type]
        r"goal_conversion\(\) needs the JourneyDefinition",
    ),
    "fit_chain None": (lambda: fit_chain(None, AIDA), NOT_ITERABLE),  # type: ignore[arg-type]
    "human_duration str": (lambda: human_duration("3d"), r"takes a timedelta"),  # type: ignore[arg-type]
    "write no path": (lambda: write(funnel(JOURNEYS, AIDA), None), r"write\(\) takes the path"),  # type: ignore[arg-type]
    "split_by_key None": (lambda: split_by_key(None, "k", 2), r"takes a pyarrow\.Table"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_analytics_arguments_are_checked(case: str) -> None:
    if case == "split_by_key None":
        pytest.importorskip("pyarrow")
    call, message = CASES[case]
    with pytest.raises(TypeError, match=message):
        call()


def test_the_checks_do_not_consume_a_generator(tmp_path: Path) -> None:
    f = funnel((j for j in JOURNEYS), AIDA)
    assert f.journeys == 1
    assert human_duration(timedelta(hours=2)) == "2h"
    assert write(f, tmp_path / "f.csv").exists()
