"""The workload every contender is built from: 8 stages, 12 transitions, one guard, one
after-hook.  It is data; :mod:`benchmarks.contenders` turns it into a journeyfsm machine,
a raw ``transitions.Machine``, a python-statemachine class and a dict table.

::

    awareness -discover-> interest -research-> consideration -compare-> intent
    intent -checkout [cart_not_empty]-> purchase -deliver-> retention
    retention -recommend-> advocacy (final)       retention -lapse-> awareness
    awareness|interest|consideration|intent -drop-> lost -re_engage-> awareness

``CYCLE`` walks the guarded path once and comes back to ``awareness``, so one journey can
fire it over and over: every event runs the after-hook, one in six runs the guard.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "CART",
    "CYCLE",
    "GUARDED_TRIGGER",
    "GUARD_NAME",
    "HISTORY_WALK",
    "INITIAL",
    "STAGES",
    "TRANSITIONS",
    "StageSpec",
    "TransitionSpec",
    "cart_not_empty",
    "copy_data",
    "hook_calls",
    "on_moved",
]


class StageSpec(NamedTuple):
    name: str
    initial: bool = False
    final: bool = False


class TransitionSpec(NamedTuple):
    trigger: str
    source: str
    dest: str
    guarded: bool = False  # guarded by cart_not_empty


STAGES: tuple[StageSpec, ...] = (
    StageSpec("awareness", initial=True),
    StageSpec("interest"),
    StageSpec("consideration"),
    StageSpec("intent"),
    StageSpec("purchase"),
    StageSpec("retention"),
    StageSpec("advocacy", final=True),
    StageSpec("lost"),
)

TRANSITIONS: tuple[TransitionSpec, ...] = (
    TransitionSpec("discover", "awareness", "interest"),
    TransitionSpec("research", "interest", "consideration"),
    TransitionSpec("compare", "consideration", "intent"),
    TransitionSpec("checkout", "intent", "purchase", guarded=True),
    TransitionSpec("deliver", "purchase", "retention"),
    TransitionSpec("recommend", "retention", "advocacy"),
    TransitionSpec("lapse", "retention", "awareness"),
    TransitionSpec("drop", "awareness", "lost"),
    TransitionSpec("drop", "interest", "lost"),
    TransitionSpec("drop", "consideration", "lost"),
    TransitionSpec("drop", "intent", "lost"),
    TransitionSpec("re_engage", "lost", "awareness"),
)

INITIAL = next(s.name for s in STAGES if s.initial)
GUARD_NAME = "cart_not_empty"
GUARDED_TRIGGER = "checkout"
# One lap of the guarded path, back to the initial stage.
CYCLE: tuple[str, ...] = ("discover", "research", "compare", "checkout", "deliver", "lapse")
# Ten unguarded moves (no journey data needed): the "journey with 10 history entries".
HISTORY_WALK: tuple[str, ...] = ("discover", "research", "compare", "drop", "re_engage") * 2
# The data that lets the guard pass.
CART: dict[str, Any] = {"cart": ["sku-1"]}

# The after-hook counts its calls, so a test can check that every contender ran it.
hook_calls = [0]


def cart_not_empty(data: dict[str, Any]) -> bool:
    """The guard, over a journey's data; each contender adapts its own signature to it."""
    return bool(data.get("cart"))


def on_moved() -> None:
    """The after-hook body; each contender adapts its own signature to it."""
    hook_calls[0] += 1


def copy_data(value: Any) -> Any:
    """Deep copy of JSON-shaped data, as every contender's snapshot/restore makes one."""
    if type(value) is dict:
        return {k: copy_data(v) if type(v) in (dict, list) else v for k, v in value.items()}
    if type(value) is list:
        return [copy_data(v) if type(v) in (dict, list) else v for v in value]
    return value
