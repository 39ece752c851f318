"""The lazy parts of a journey (issue 16): a restored journey's event-id window kept as
the snapshot listed it, the shared empty data of a journey started without any, and the
remembered ISO text of times.  None of them may be visible from the outside: the same
outcomes, equality, copies, pickles, rollbacks and snapshots as the plain forms."""

from __future__ import annotations

import copy
import inspect
import pickle
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import HookError, Journey, JourneyMachine, ManualClock, SnapshotError
from journeyfsm._clock import _ISO, iso, remember_iso
from journeyfsm._records import NO_DATA, IdWindow

MakeMachine = Callable[..., JourneyMachine]
WINDOW = 4


@pytest.fixture
def small(make_machine: MakeMachine) -> JourneyMachine:
    """A checkout machine remembering only 4 event ids (so every fire evicts one)."""
    return make_machine(event_id_window=WINDOW)


def cart_journey(machine: JourneyMachine, ids: int = WINDOW) -> Journey:
    """A journey in ``cart`` with ``ids`` event ids remembered (a full window by default)."""
    journey = machine.start("c-1", {"cart": ["sku"]})
    machine.fire(journey, "add_to_cart", event_id="e-0")
    for i in range(1, ids):
        machine.fire(journey, "note", event_id=f"e-{i}")
    return journey


def restored(machine: JourneyMachine, journey: Journey, history: bool = True) -> Journey:
    back = machine.restore(machine.snapshot(journey, history=history))
    assert back._ids.__class__ is IdWindow  # the lazy form: nobody has read event_ids yet
    return back


# -- the event-id window --------------------------------------------------------------
def test_a_restored_window_moves_exactly_as_the_dict_does(small: JourneyMachine) -> None:
    plain = cart_journey(small)
    lazy = restored(small, plain)
    assert lazy == plain and plain == lazy
    events = [("note", "e-9"), ("note", "e-2"), ("add_to_cart", "e-10"), ("note", "e-3")]
    events += [("note", f"n-{i}") for i in range(6)] + [("note", "n-2"), ("note", "e-9")]
    for trigger, event_id in events:
        a = small.fire(plain, trigger, event_id=event_id)
        b = small.fire(lazy, trigger, event_id=event_id)
        assert (a.status, a.dest) == (b.status, b.dest)
        assert lazy._ids.__class__ is IdWindow  # fire keeps the lazy form
        assert small.snapshot(lazy) == small.snapshot(plain)
        assert lazy == plain
    assert list(lazy.event_ids or ()) == list(plain.event_ids or ())
    assert lazy.event_ids == plain.event_ids and len(lazy.event_ids or ()) == WINDOW


def test_event_ids_reads_as_the_same_dict_every_time(small: JourneyMachine) -> None:
    journey = restored(small, cart_journey(small))
    first = journey.event_ids
    assert first == {f"e-{i}": None for i in range(WINDOW)} and list(first or ()) == [
        f"e-{i}" for i in range(WINDOW)
    ]
    assert journey.event_ids is first and type(first) is dict
    small.fire(journey, "note", event_id="e-new")
    assert journey.event_ids is first and list(first or ())[-1] == "e-new"


def test_threads_reading_a_restored_journey_get_one_dict_and_one_data(
    small: JourneyMachine,
) -> None:
    for _ in range(20):
        journey = restored(small, cart_journey(small))
        idle = small.restore(small.snapshot(small.start("c-2")))
        seen: list[Any] = []
        barrier = threading.Barrier(8)

        def read(
            j: Journey = journey,
            i: Journey = idle,
            barrier: threading.Barrier = barrier,
            seen: list[Any] = seen,
        ) -> None:
            barrier.wait()
            seen.append((j.event_ids, i.data))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(ids) for ids, _ in seen}) == 1 and seen[0][0] is journey.event_ids
        assert len({id(data) for _, data in seen}) == 1


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle", "copy-method"])
def test_copies_of_a_restored_journey_are_equal_and_independent(
    small: JourneyMachine, how: str
) -> None:
    original = restored(small, cart_journey(small))
    before = small.snapshot(original)
    twin: Journey = {
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
        "pickle": lambda j: pickle.loads(pickle.dumps(j)),
        "copy-method": lambda j: j.__copy__(),
    }[how](original)
    assert twin == original and small.snapshot(twin) == before
    assert original._ids.__class__ is IdWindow  # copying read nothing
    small.fire(twin, "note", event_id="e-new")
    assert small.snapshot(original) == before  # the original's window is untouched
    assert small.fire(twin, "note", event_id="e-new").duplicate
    assert small.fire(original, "note", event_id="e-new").moved


def test_a_window_on_its_own_copies_and_pickles_as_what_it_stands_for() -> None:
    from journeyfsm._records import id_window

    window = id_window(["a", "b"])
    assert copy.copy(window) == {"a", "b"} and copy.copy(window).order == ["a", "b"]
    assert copy.deepcopy(window).order is not window.order
    assert pickle.loads(pickle.dumps(window)) == {"a": None, "b": None}
    assert repr(window) == "IdWindow(['a', 'b'])"


def test_a_hook_that_reads_event_ids_is_not_tampering(small: JourneyMachine) -> None:
    journey = restored(small, cart_journey(small))
    read: list[Any] = []
    small.on_enter("cart")(lambda ctx: read.append(ctx.journey.event_ids))
    assert small.fire(journey, "add_to_cart", event_id="e-new").moved
    assert read[0] is journey.event_ids
    assert list(journey.event_ids or ()) == ["e-1", "e-2", "e-3", "e-new"]


def test_a_hook_that_reads_event_ids_and_fails_rolls_the_window_back(
    small: JourneyMachine,
) -> None:
    journey = restored(small, cart_journey(small))
    before = small.snapshot(journey)

    def nosy(ctx: Any) -> None:
        assert ctx.journey.event_ids is not None
        raise RuntimeError("CRM down")

    small.after(nosy)
    with pytest.raises(HookError):
        small.fire(journey, "add_to_cart", event_id="e-new")
    assert small.snapshot(journey) == before
    assert list(journey.event_ids or ()) == [f"e-{i}" for i in range(WINDOW)]
    assert small.fire(journey, "note", event_id="e-0").duplicate


def test_a_hook_that_replaces_a_restored_window_is_refused(small: JourneyMachine) -> None:
    journey = restored(small, cart_journey(small))
    window = journey._ids

    def replace(ctx: Any) -> None:
        ctx.journey.event_ids = {"forged": None}

    small.after(replace)
    with pytest.raises(Exception, match="event ids"):
        small.fire(journey, "note", event_id="e-new")
    assert journey._ids is window and list(window.order) == [f"e-{i}" for i in range(WINDOW)]


def _move_lines() -> range:
    """The lines of ``fire`` from its first ``try`` (the trigger's lookup) to the end of its
    rollback guard: the checks before the move, the move's mark, the engine's run, until the
    move is checked and its event id remembered (DESIGN Semantics 4)."""
    lines, first = inspect.getsourcelines(JourneyMachine.fire)
    start = next(i for i, line in enumerate(lines) if line.strip() == "try:")
    end = next(i for i, line in enumerate(lines) if "except BaseException" in line)
    return range(first + start + 1, first + end)


class _Interrupt:
    """A trace function that raises KeyboardInterrupt at the n-th line ``fire`` runs
    inside its rollback guard."""

    lines = _move_lines()

    def __init__(self, n: int) -> None:
        self.n = n
        self.fired = False

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is JourneyMachine.fire.__code__:
            return self.local
        return None

    def local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and not self.fired and frame.f_lineno in self.lines:
            self.n -= 1
            if self.n == 0:
                self.fired = True
                sys.settrace(None)
                raise KeyboardInterrupt
        return self.local


@pytest.mark.parametrize("form", ["window", "dict", "read by a hook"])
def test_keyboard_interrupt_at_any_line_of_fire_leaves_the_journey_as_it_was(
    small: JourneyMachine, form: str
) -> None:
    source = cart_journey(small)
    if form == "read by a hook":
        small.after(lambda ctx: ctx.journey.event_ids)
    interrupted = 0
    for n in range(1, 400):
        journey = restored(small, source)
        if form == "dict":
            assert journey.event_ids is not None  # the plain form
        before, ids_before = small.snapshot(journey), list(journey.event_ids or ())
        if form != "dict":
            journey = restored(small, source)
        trace = _Interrupt(n)
        sys.settrace(trace)
        try:
            outcome = small.fire(journey, "add_to_cart", event_id="e-new")
        except KeyboardInterrupt:
            interrupted += 1
            assert small.snapshot(journey) == before, f"line {n}"
            assert list(journey.event_ids or ()) == ids_before
            assert small.fire(journey, "note", event_id="e-0").duplicate
        else:
            assert outcome.moved and not trace.fired
            break
        finally:
            sys.settrace(None)
    assert interrupted > 10  # every line of the move was tried, then it ran to the end


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["e-0", "", "e-2"], "event_ids[1] must be a non-empty str, got ''"),
        (["e-0", 7], "event_ids[1] must be a non-empty str, got 7"),
        (["e-0", ["x"]], "event_ids[1] must be a non-empty str, got ['x']"),
        (["e-0", "e-1", "e-0"], "event_ids[2] repeats event_ids[0] ('e-0')"),
        (["e-0", type("S", (str,), {})("e-1")], "event_ids[1] must be a non-empty str"),
        ("e-0", "'event_ids' must be a list of str or None, got str"),
    ],
)
def test_a_corrupted_window_is_still_refused_at_restore(
    small: JourneyMachine, ids: Any, message: str
) -> None:
    snap = small.snapshot(cart_journey(small))
    snap["event_ids"] = ids
    with pytest.raises(SnapshotError, match=None) as info:
        small.restore(snap)
    assert message in str(info.value)


def test_a_window_longer_than_the_machine_keeps_the_newest(small: JourneyMachine) -> None:
    snap = small.snapshot(cart_journey(small))
    snap["event_ids"] = [f"x-{i}" for i in range(10)]
    journey = small.restore(snap)
    assert small.snapshot(journey)["event_ids"] == [f"x-{i}" for i in range(6, 10)]
    assert snap["event_ids"] == [f"x-{i}" for i in range(10)]  # the snapshot is not changed
    snap["event_ids"].append("later")
    assert "later" not in (journey.event_ids or {})  # nor shared


# -- the shared empty data ------------------------------------------------------------
def test_a_journey_started_without_data_shares_the_empty_data_until_read(
    machine: JourneyMachine,
) -> None:
    a, b = machine.start("a"), machine.start("b")
    assert a._data is NO_DATA and b._data is NO_DATA
    snap = machine.snapshot(a)
    assert snap["data"] == {} and a._data is NO_DATA  # a snapshot reads without making it
    same = Journey(
        "a",
        "browsing",
        {},
        definition=a.definition,
        started_at=a.started_at,
        entered_at=a.started_at,
    )
    assert machine.restore(snap) == a and a == same and same == a
    data = a.data
    assert type(data) is dict and data == {} and a.data is data and b._data is NO_DATA
    data["x"] = 1
    assert pickle.loads(pickle.dumps(b))._data is NO_DATA
    assert copy.deepcopy(b)._data is NO_DATA and copy.copy(b)._data is NO_DATA
    assert b.data == {} and machine.snapshot(a)["data"] == {"x": 1}
    with pytest.raises(TypeError):
        NO_DATA["x"] = 1  # the shared one is read-only


def test_a_hook_that_fills_empty_data_and_fails_leaves_it_empty(machine: JourneyMachine) -> None:
    journey = machine.start("c-1")

    def fill(ctx: Any) -> None:
        ctx.journey.data["cart"] = ["sku"]
        raise RuntimeError("no")

    machine.on_enter("cart")(fill)
    with pytest.raises(HookError):
        machine.fire(journey, "add_to_cart")
    assert journey.data == {} and journey.stage == "browsing"


def test_a_hook_that_replaces_empty_data_and_fails_leaves_it_empty(
    machine: JourneyMachine,
) -> None:
    journey = machine.start("c-1")

    def replace(ctx: Any) -> None:
        ctx.journey.data = {"cart": ["sku"]}
        raise RuntimeError("no")

    machine.on_enter("cart")(replace)
    with pytest.raises(HookError):
        machine.fire(journey, "add_to_cart")
    assert journey.data == {} and journey.version == 0


# -- ISO text of times ----------------------------------------------------------------
_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
)


@settings(max_examples=300, deadline=None)
@given(at=_times, zone=st.integers(-14 * 60, 14 * 60), style=st.integers(0, 5))
def test_remembered_text_is_always_what_isoformat_writes(
    at: datetime, zone: int, style: int
) -> None:
    shown = at.astimezone(timezone(timedelta(minutes=zone)))
    text = [
        shown.isoformat(),
        shown.isoformat(timespec="microseconds"),
        shown.isoformat(timespec="milliseconds"),
        shown.isoformat(sep=" "),
        shown.isoformat().replace("+00:00", "Z"),
        shown.isoformat().replace(".", ","),
    ][style]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return
    _ISO.clear()
    remember_iso(parsed, text)
    remembered = bool(_ISO)
    assert remembered == (text == parsed.isoformat() and parsed.tzinfo is timezone.utc)
    assert iso(parsed) == parsed.isoformat()


@settings(max_examples=100, deadline=None)
@given(
    starts=st.lists(_times, min_size=1, max_size=4),
    ids=st.lists(st.text(min_size=1, max_size=5), max_size=8, unique=True),
    history=st.booleans(),
)
def test_snapshot_restore_snapshot_is_exact(
    starts: list[datetime], ids: list[str], history: bool
) -> None:
    from conftest import checkout_builder, quiet_logger

    clock = ManualClock(starts[0])
    machine = JourneyMachine(
        checkout_builder().build(), clock=clock, logger=quiet_logger(), event_id_window=5
    )
    journey = machine.start("c-1", {"cart": ["sku"]})
    for i, at in enumerate(starts[1:]):
        machine.fire(journey, "add_to_cart" if i % 2 else "note", at=at, event_id=f"m-{i}")
    snap = machine.snapshot(journey, history=history)
    if not history:
        snap["event_ids"] = ids
        snap["version"] = journey.version
    again = machine.snapshot(machine.restore(snap), history=history)
    back = machine.restore(again)
    assert machine.snapshot(back, history=history) == again
    if history:
        assert again == snap and back == journey
    for field in ("started_at", "entered_at"):
        value = getattr(back, field)
        assert value.tzinfo is timezone.utc and iso(value) == snap[field]
