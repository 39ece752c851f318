"""Logging: one event per outcome, routed where the host's logging points *now*.

The first half pins the events (names, levels, fields).  The second half pins the routing
of issue 7 point 5: configuring structlog or stdlib logging after a machine was made, or
after its first event, takes effect; an unconfigured host sees warnings and errors only,
fields intact; ``capture_logs()`` leaves no later machine printing; an injected logger is
used as given; filtered-out levels build nothing.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from conftest import START, checkout_builder
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import Context, HookError, JourneyMachine, ManualClock
from journeyfsm import _logging as jlog
from journeyfsm._logging import JourneyLog, structlog_configured_by_host

Events = list[dict[str, Any]]


def new_machine(**kwargs: Any) -> JourneyMachine:
    return JourneyMachine(checkout_builder().build(), clock=ManualClock(START), **kwargs)


def only(events: Events, name: str) -> dict[str, Any]:
    matching = [e for e in events if e["event"] == name]
    assert len(matching) == 1, events
    return matching[0]


def failing_effect_machine() -> JourneyMachine:
    machine = new_machine()

    def send_email(call: Any) -> None:
        raise TimeoutError("smtp")

    machine.effect(send_email, on_enter="cart", name="send_email")
    return machine


class Records(logging.Handler):
    """A stdlib handler that keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self) -> list[str]:
        return [getattr(r, "event", "?") for r in self.records]


@pytest.fixture
def records() -> Iterator[Records]:
    """Records reaching the stdlib logger "journeyfsm" (its level left as the host's)."""
    handler = Records()
    std = logging.getLogger("journeyfsm")
    std.addHandler(handler)
    yield handler
    std.removeHandler(handler)


# ======================================================================================
# the events
# ======================================================================================
def test_moved_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1")
        machine.fire(journey, "add_to_cart", event_id="e-1")

    assert events == [
        {
            "event": "journey.moved",
            "log_level": "info",
            "definition": "checkout",
            "definition_version": 3,
            "key": "c-1",
            "trigger": "add_to_cart",
            "source": "browsing",
            "dest": "cart",
            "event_id": "e-1",
        }
    ]


def test_blocked_event_names_the_failing_guards() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1")
        machine.fire(journey, "add_to_cart")
        events.clear()
        machine.fire(journey, "checkout", event_id="e-2")

    (event,) = events
    assert event["event"] == "journey.blocked"
    assert event["log_level"] == "info"
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "checkout",
        "cart",
        "e-2",
    )
    assert event["guards"] == ["cart_not_empty"]  # is_vip is not evaluated


def test_ignored_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        machine.fire(machine.start("c-1"), "pay", event_id="e-3")

    (event,) = events
    assert event["event"] == "journey.ignored"
    assert event["log_level"] == "debug"
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "pay",
        "browsing",
        "e-3",
    )


def test_duplicate_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1")
        machine.fire(journey, "add_to_cart", event_id="e-1")
        events.clear()
        machine.fire(journey, "add_to_cart", event_id="e-1")

    (event,) = events
    assert event["event"] == "journey.duplicate"
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "add_to_cart",
        "cart",
        "e-1",
    )


def _hook_failure_events(position: str) -> Events:
    def crm_veto(ctx: Context) -> None:
        raise RuntimeError("no")

    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        register: dict[str, Callable[[], Any]] = {
            "before": lambda: machine.before(crm_veto),
            "after": lambda: machine.after(crm_veto),
            "on_exit": lambda: machine.on_exit("browsing", crm_veto),
            "on_enter": lambda: machine.on_enter("cart", crm_veto),
            "on_transition": lambda: machine.on_transition("add_to_cart", crm_veto),
        }
        register[position]()
        with pytest.raises(HookError):
            machine.fire(machine.start("c-1"), "add_to_cart", event_id="e-1")
    return events


POSITIONS = ["before", "on_exit", "on_enter", "on_transition", "after"]


@pytest.mark.parametrize("position", POSITIONS)
def test_hook_failed_event(position: str) -> None:
    events = _hook_failure_events(position)
    event = only(events, "journey.hook_failed")
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "add_to_cart",
        "browsing",
        "e-1",
    )
    assert event["dest"] == "cart"
    assert event["hook"].endswith("crm_veto")
    assert [e["event"] for e in events] == ["journey.hook_failed"]  # no journey.moved


@pytest.mark.parametrize("position", POSITIONS)
def test_hook_failure_that_fire_raises_is_not_logged_at_error(position: str) -> None:
    event = only(_hook_failure_events(position), "journey.hook_failed")
    assert event["log_level"] == "info"  # the caller gets the HookError: it owns the error


def test_effect_failed_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = failing_effect_machine()
        machine.fire(machine.start("c-1"), "add_to_cart", event_id="e-1")

    event = only(events, "outbox.effect_failed")
    assert event["log_level"] == "error"
    assert event["effect"] == "send_email"
    assert event["idempotency_key"].endswith("send_email")
    assert (event["key"], event["trigger"]) == ("c-1", "add_to_cart")
    assert event["error"] == "TimeoutError: smtp"
    only(events, "journey.moved")
    assert len(events) == 2


def test_effect_failure_is_logged_with_its_traceback(records: Records) -> None:
    machine = failing_effect_machine()
    machine.fire(machine.start("c-1"), "add_to_cart")

    (record,) = [r for r in records.records if getattr(r, "event", "") == "outbox.effect_failed"]
    assert record.exc_info is not None and record.exc_info[0] is TimeoutError
    text = logging.Formatter().format(record)
    assert "Traceback (most recent call last)" in text and "send_email" in text


def test_one_event_per_outcome() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1", {"cart": ["sku"]})
        for trigger, event_id in [
            ("add_to_cart", "e-1"),  # moved
            ("add_to_cart", "e-1"),  # duplicate
            ("come_back", None),  # ignored
            ("checkout", None),  # moved
        ]:
            machine.fire(journey, trigger, event_id=event_id)
        machine.fire(journey, "pay", {"paid": False})  # blocked

    assert [e["event"] for e in events] == [
        "journey.moved",
        "journey.duplicate",
        "journey.ignored",
        "journey.moved",
        "journey.blocked",
    ]


# ======================================================================================
# configuring after the machine exists, or after its first event, takes effect
# ======================================================================================
def capture_config() -> structlog.testing.LogCapture:
    """Configure structlog as a host would (its own processors), capturing what arrives."""
    cap = structlog.testing.LogCapture()
    structlog.configure(processors=[cap])
    return cap


def test_structlog_configured_after_the_machine_was_made_takes_effect() -> None:
    machine = new_machine()
    cap = capture_config()
    machine.fire(machine.start("c-1"), "add_to_cart")
    assert [e["event"] for e in cap.entries] == ["journey.moved"]


def test_structlog_configured_after_the_first_event_takes_effect(
    capsys: pytest.CaptureFixture[str],
) -> None:
    machine = new_machine()
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")  # unconfigured: to stdlib, info filtered
    cap = capture_config()
    machine.fire(journey, "abandon")
    assert [(e["event"], e["dest"]) for e in cap.entries] == [("journey.moved", "abandoned")]
    assert capsys.readouterr().out == ""


def test_structlog_level_raised_after_the_first_event_takes_effect() -> None:
    cap = structlog.testing.LogCapture()
    structlog.configure(
        processors=[cap], wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )
    machine = new_machine()
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    assert cap.entries == []
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    machine.fire(journey, "abandon")
    assert [e["event"] for e in cap.entries] == ["journey.moved"]


def test_stdlib_level_set_after_the_first_event_takes_effect(records: Records) -> None:
    machine = new_machine()
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    assert records.records == []  # an unconfigured host: WARNING, so no info
    logging.getLogger("journeyfsm").setLevel(logging.INFO)
    machine.fire(journey, "abandon")
    assert records.events() == ["journey.moved"]


def test_structlog_reset_after_the_first_event_goes_back_to_stdlib(
    records: Records, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = capture_config()
    machine = new_machine()
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    structlog.reset_defaults()
    logging.getLogger("journeyfsm").setLevel(logging.INFO)
    machine.fire(journey, "abandon")
    assert [e["event"] for e in cap.entries] == ["journey.moved"]  # the first only
    assert records.events() == ["journey.moved"]
    assert capsys.readouterr().out == ""


# ======================================================================================
# capture_logs in a host's tests
# ======================================================================================
def test_capture_logs_sees_a_machine_made_before_it() -> None:
    machine = new_machine()
    with structlog.testing.capture_logs() as events:
        machine.fire(machine.start("c-1"), "add_to_cart")
    assert [e["event"] for e in events] == ["journey.moved"]


def test_capture_logs_leaves_no_machine_printing_to_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    earlier = new_machine()
    with structlog.testing.capture_logs() as events:
        earlier.fire(earlier.start("c-1"), "add_to_cart")
    assert structlog.is_configured()  # what capture_logs leaves behind
    later = new_machine()
    for machine in (earlier, later):
        journey = machine.start("c-2")
        machine.fire(journey, "add_to_cart")  # moved (info)
        machine.fire(journey, "come_back")  # ignored (debug)
        machine.fire(journey, "checkout")  # blocked (info)
    assert len(events) == 1
    assert capsys.readouterr().out == ""


def test_capture_logs_on_a_configured_host_restores_its_configuration() -> None:
    cap = capture_config()
    machine = new_machine()
    journey = machine.start("c-1")
    with structlog.testing.capture_logs() as events:
        machine.fire(journey, "add_to_cart")
    machine.fire(journey, "abandon")
    assert [e["dest"] for e in events] == ["cart"]
    assert [e["dest"] for e in cap.entries] == ["abandoned"]


def test_structlog_configured_with_its_builtin_defaults_counts_as_unconfigured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.configure()
    assert structlog.is_configured() and not structlog_configured_by_host()
    machine = new_machine()
    machine.fire(machine.start("c-1"), "add_to_cart")
    assert capsys.readouterr().out == ""


# ======================================================================================
# an unconfigured host: warnings and errors only, fields intact
# ======================================================================================
def test_unconfigured_host_drops_info_and_keeps_errors_with_their_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    machine = failing_effect_machine()
    machine.fire(machine.start("c-1"), "add_to_cart", event_id="e-1")

    journeyfsm_records = [r for r in caplog.records if r.name == "journeyfsm"]
    (record,) = journeyfsm_records  # journey.moved (info) was filtered out
    assert record.levelno >= logging.WARNING
    assert record.event == "outbox.effect_failed"
    assert (record.key, record.effect) == ("c-1", "send_email")
    assert record.definition == "checkout"
    message = record.getMessage()
    assert message.startswith("outbox.effect_failed ")
    assert "key='c-1'" in message and "effect='send_email'" in message
    assert "error='TimeoutError: smtp'" in message


def test_unconfigured_host_hears_warnings_through_logging_last_resort(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No handler on the way up (pytest's capture handlers sit on the root logger).
    monkeypatch.setattr(logging.getLogger("journeyfsm"), "propagate", False)
    log = JourneyLog(None, definition="checkout")
    log.info("journey.moved", key="c-1")
    log.warning("outbox.effect_retry", key="c-1", effect="send_email")
    err = capsys.readouterr().err
    assert "journey.moved" not in err
    assert "outbox.effect_retry key='c-1' effect='send_email' definition='checkout'" in err


def test_stdlib_record_points_at_the_runtime_call_site(records: Records) -> None:
    logging.getLogger("journeyfsm").setLevel(logging.INFO)
    machine = new_machine()
    machine.fire(machine.start("c-1"), "add_to_cart")
    (record,) = records.records
    assert record.funcName == "fire" and record.filename == "_runtime.py"


def test_stdlib_fields_that_clash_with_record_attributes_are_renamed(records: Records) -> None:
    JourneyLog(None).warning("journey.odd", name="n", message="m", key="k")
    (record,) = records.records
    assert record.name == "journeyfsm"
    assert (record.field_name, record.field_message) == ("n", "m")
    assert record.getMessage() == "journey.odd name='n' message='m' key='k'"


# ======================================================================================
# injected loggers
# ======================================================================================
def test_injected_logger_is_used() -> None:
    capture = structlog.testing.LogCapture()
    injected = structlog.wrap_logger(None, processors=[capture])
    with structlog.testing.capture_logs() as global_events:
        machine = new_machine(logger=injected)
        machine.fire(machine.start("c-1"), "add_to_cart")

    assert global_events == []
    (event,) = capture.entries
    assert event["event"] == "journey.moved" and event["key"] == "c-1"
    assert event["definition"] == "checkout"


def test_injected_bound_logger_is_used_as_given_whatever_the_host_configures() -> None:
    capture = structlog.testing.LogCapture()
    injected = structlog.wrap_logger(
        None,
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    ).bind(service="shop")
    machine = new_machine(logger=injected)
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    host = capture_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    machine.fire(journey, "abandon")
    assert host.entries == []
    assert [(e["service"], e["dest"]) for e in capture.entries] == [
        ("shop", "cart"),
        ("shop", "abandoned"),
    ]


def test_injected_stdlib_logger_is_used(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shop.journeys")
    machine = new_machine(logger=logging.getLogger("shop.journeys"))
    machine.fire(machine.start("c-1"), "add_to_cart")
    (record,) = [r for r in caplog.records if r.name == "shop.journeys"]
    assert record.event == "journey.moved" and record.key == "c-1"


def test_injected_logger_must_be_a_logger() -> None:
    with pytest.raises(TypeError, match=r"logger= takes a structlog logger .* got int"):
        JourneyLog(42)


def test_library_never_configures_structlog(capsys: pytest.CaptureFixture[str]) -> None:
    was_configured = structlog.is_configured()
    config_before = structlog.get_config()
    machine = new_machine()
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart", event_id="e-1")
    machine.fire(journey, "add_to_cart", event_id="e-1")
    machine.fire(journey, "come_back")
    assert machine.logger is machine.logger
    assert structlog.is_configured() is was_configured
    assert structlog.get_config() == config_before
    assert capsys.readouterr().out == ""


# ======================================================================================
# tracebacks, and filtered levels build nothing
# ======================================================================================
def _raised() -> TimeoutError:
    try:
        raise TimeoutError("smtp")
    except TimeoutError as err:
        return err


def test_error_with_exc_info_carries_the_traceback_to_stdlib(records: Records) -> None:
    JourneyLog(None).error("outbox.effect_failed", exc_info=_raised(), effect="send_email")
    (record,) = records.records
    text = logging.Formatter().format(record)
    assert "Traceback (most recent call last)" in text and "TimeoutError: smtp" in text


def test_error_with_exc_info_carries_the_traceback_to_structlog() -> None:
    err = _raised()
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(out),
    )
    JourneyLog(None).error("outbox.effect_failed", exc_info=err, effect="send_email")
    assert "Traceback (most recent call last)" in out.getvalue()
    assert "TimeoutError: smtp" in out.getvalue()


class Loud:
    """A field value that records whether anything rendered it."""

    rendered = 0

    def __repr__(self) -> str:
        Loud.rendered += 1
        return "<loud>"

    __str__ = __repr__


def test_filtered_structlog_level_runs_no_processor() -> None:
    calls: list[str] = []

    def counting(logger: Any, method: str, event: Any) -> Any:
        calls.append(method)
        return event

    structlog.configure(
        processors=[counting, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
    )
    log = JourneyLog(None)
    log.info("journey.moved", value=Loud())
    log.debug("journey.ignored", value=Loud())
    assert calls == [] and not log.enabled(logging.INFO) and log.enabled(logging.WARNING)


def test_filtered_stdlib_level_makes_no_record(records: Records) -> None:
    Loud.rendered = 0
    log = JourneyLog(None)
    log.info("journey.moved", value=Loud())
    assert records.records == [] and Loud.rendered == 0
    assert not log.enabled(logging.INFO) and log.enabled(logging.ERROR)


# ======================================================================================
# the structlog internals the cheap re-check relies on (fails first on a structlog change)
# ======================================================================================
def test_structlog_internals_journeyfsm_relies_on_are_there() -> None:
    import structlog._config as config

    assert jlog._CONFIG is config._CONFIG
    assert tuple(config._BUILTIN_DEFAULT_PROCESSORS) == jlog._BUILTIN_PROCESSORS
    assert jlog._BUILTIN_FACTORY is config._BUILTIN_DEFAULT_LOGGER_FACTORY
    assert jlog._BUILTIN_WRAPPER is config._BUILTIN_DEFAULT_WRAPPER_CLASS
    assert isinstance(structlog.get_logger(), jlog._LAZY_PROXY)  # type: ignore[arg-type]
    filtering = structlog.make_filtering_bound_logger(logging.WARNING)
    assert filtering.info is jlog._NOP
    assert filtering.warning is not jlog._NOP
    # capture_logs edits the configured processor list in place (the re-check's reason
    # for looking at its length and last item, not only its identity)
    before = structlog.get_config()["processors"]
    with structlog.testing.capture_logs():
        assert structlog.get_config()["processors"] is before


# ======================================================================================
# whatever the host does, in any order, a machine routes as a new machine would
# ======================================================================================
def _do(step: str) -> None:
    if step == "reset":
        structlog.reset_defaults()
    elif step == "configure_defaults":
        structlog.configure()
    elif step == "configure_capture":
        structlog.configure(processors=[structlog.testing.LogCapture()])
    elif step == "configure_warning":
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    elif step == "configure_debug":
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    elif step == "configure_factory":
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
    elif step == "stdlib_info":
        logging.getLogger("journeyfsm").setLevel(logging.INFO)
    elif step == "stdlib_error":
        logging.getLogger("journeyfsm").setLevel(logging.ERROR)


STEPS = [
    "reset",
    "configure_defaults",
    "configure_capture",
    "configure_warning",
    "configure_debug",
    "configure_factory",
    "stdlib_info",
    "stdlib_error",
    "capture_logs",
]


def _route(log: JourneyLog) -> tuple[Any, ...]:
    target = log.target
    levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    return (
        type(target),
        getattr(target, "_processors", None),
        type(getattr(target, "_logger", None)),
        tuple(log.enabled(lvl) for lvl in levels),
    )


def _check(old: JourneyLog, steps: list[str]) -> None:
    for i, step in enumerate(steps):
        if step == "capture_logs":
            with structlog.testing.capture_logs():
                _check(old, steps[i + 1 :])
            assert _route(old) == _route(JourneyLog(None, definition="d"))
            return
        _do(step)
        old.info("journey.moved", key="k")
        assert _route(old) == _route(JourneyLog(None, definition="d")), steps[: i + 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(STEPS), max_size=8))
def test_a_machine_log_always_routes_as_a_new_one_would(steps: list[str]) -> None:
    structlog.reset_defaults()
    logging.getLogger("journeyfsm").setLevel(logging.NOTSET)
    old = JourneyLog(None, definition="d")
    old.info("journey.moved", key="k")  # built and used before any step
    _check(old, steps)
