"""Replay's reading of times: compact ISO-8601 dates, explicit epoch formats, and the
warning for times outside a plausible range (the CDNOW defect of issue 19)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from journeyfsm import JourneyBuilder
from journeyfsm._clock import UTC
from journeyfsm.analytics import BadRowError, LogMapping, MappingError, replay
from journeyfsm.analytics._mapping import parse_time


def lapse() -> object:
    return (
        JourneyBuilder("lapse")
        .stage("new", initial=True)
        .stage("buyer")
        .stage("lapsed", final=True)
        .transition("buy", "new", "buyer")
        .transition("buy", "buyer", "buyer")
        .transition("lapse", "buyer", "lapsed")
        .timeout("buyer", timedelta(days=180), "lapse")
        .build()
    )


def write(path: Path, times: list[str]) -> Path:
    path.write_text("who,what,when\n" + "".join(f"c1,buy,{t}\n" for t in times))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19970101", datetime(1997, 1, 1, tzinfo=UTC)),
        ("19970101T101500", datetime(1997, 1, 1, 10, 15, tzinfo=UTC)),
        ("19970101T101500Z", datetime(1997, 1, 1, 10, 15, tzinfo=UTC)),
        ("19970101T1015", datetime(1997, 1, 1, 10, 15, tzinfo=UTC)),
        ("19970101T101500.25Z", datetime(1997, 1, 1, 10, 15, 0, 250000, tzinfo=UTC)),
        ("19970101T101500+0100", datetime(1997, 1, 1, 9, 15, tzinfo=UTC)),
        ("19970101T101500-05:00", datetime(1997, 1, 1, 15, 15, tzinfo=UTC)),
        ("1997-01-01", datetime(1997, 1, 1, tzinfo=UTC)),
    ],
)
def test_compact_iso_times_read_as_their_extended_form(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["1997010", "199701011", "19971301", "19970101T25", "9970101"])
def test_malformed_compact_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_a_compact_date_log_is_read_as_dates_not_epoch_seconds(tmp_path: Path) -> None:
    log = write(tmp_path / "cdnow.csv", ["19970101", "19970301", "19980101"])
    mapping = LogMapping(key="who", event="what", time="when")
    end = datetime(1998, 6, 30, tzinfo=UTC)
    result = replay(lapse(), log, mapping, end=end)
    history = result.journeys["c1"].history
    # 1997-03-01 + 180 days is before 1998-01-01: the customer lapsed in between
    assert [(e.trigger, e.at) for e in history] == [
        ("buy", datetime(1997, 1, 1, tzinfo=UTC)),
        ("buy", datetime(1997, 3, 1, tzinfo=UTC)),
        ("lapse", datetime(1997, 8, 28, tzinfo=UTC)),
    ]
    assert result.summary.bad_row_count == 0
    assert not [w for w in result.summary.warnings if "outside" in w]


def test_numbers_without_time_format_are_bad_rows_that_name_the_option(tmp_path: Path) -> None:
    log = write(tmp_path / "epoch.csv", ["852076800", "857174400"])
    mapping = LogMapping(key="who", event="what", time="when")
    result = replay(lapse(), log, mapping, end=datetime(1998, 1, 1, tzinfo=UTC))
    s = result.summary
    assert s.bad_row_count == 2 and s.events_applied == 0
    assert "time_format='epoch'" in s.bad_rows[0].reason
    assert any("time_format='epoch'" in w for w in s.warnings)
    with pytest.raises(BadRowError, match="time_format='epoch'"):
        replay(lapse(), log, mapping, strict=True)


@pytest.mark.parametrize(
    ("fmt", "times"),
    [
        ("epoch", ["852076800", "857174400.5"]),
        ("epoch_s", ["852076800", "857174400.5"]),
        ("epoch_ms", ["852076800000", "857174400500"]),
    ],
)
def test_epoch_formats_read_numbers_in_their_unit(
    tmp_path: Path, fmt: str, times: list[str]
) -> None:
    log = write(tmp_path / "epoch.csv", times)
    mapping = LogMapping(key="who", event="what", time="when", time_format=fmt)  # type: ignore[arg-type]
    result = replay(lapse(), log, mapping)
    assert [e.at for e in result.journeys["c1"].history] == [
        datetime(1997, 1, 1, tzinfo=UTC),
        datetime(1997, 3, 1, 0, 0, 0, 500000, tzinfo=UTC),
    ]
    assert result.summary.bad_row_count == 0


def test_epoch_format_refuses_iso_strings_as_bad_rows(tmp_path: Path) -> None:
    log = write(tmp_path / "mixed.csv", ["852076800", "1997-03-01"])
    mapping = LogMapping(key="who", event="what", time="when", time_format="epoch")
    s = replay(lapse(), log, mapping).summary
    assert [b.line for b in s.bad_rows] == [3]
    assert "not a number of epoch seconds" in s.bad_rows[0].reason


def test_time_format_is_checked_and_round_trips() -> None:
    with pytest.raises(MappingError, match="time_format must be one of"):
        LogMapping(key="k", event="e", time="t", time_format="unix")  # type: ignore[arg-type]
    m = LogMapping(key="k", event="e", time="t", time_format="epoch_ms")
    assert LogMapping.from_dict(m.to_dict()) == m
    assert m.to_dict()["time_format"] == "epoch_ms"


def test_times_outside_the_plausible_range_warn(tmp_path: Path) -> None:
    # milliseconds read as seconds would overflow; seconds read as ms land in 1970
    log = write(tmp_path / "ms.csv", ["852076800", "857174400"])
    wrong = LogMapping(key="who", event="what", time="when", time_format="epoch_ms")
    s = replay(lapse(), log, wrong).summary
    assert s.bad_row_count == 0
    (warning,) = [w for w in s.warnings if "outside" in w]
    assert "1970-01-10" in warning and "'when'" in warning and "time_format" in warning
    far = write(tmp_path / "far.csv", ["2150-01-01"])
    assert any(
        "outside" in w
        for w in replay(
            lapse(), far, LogMapping(key="who", event="what", time="when")
        ).summary.warnings
    )


def test_the_engine_path_reads_times_the_same_way(tmp_path: Path) -> None:
    log = write(tmp_path / "cdnow.csv", ["19970101", "19970301"])
    mapping = LogMapping(key="who", event="what", time="when")
    fast = replay(lapse(), log, mapping)
    slow = replay(lapse(), log, mapping, fast=False)
    assert fast.journeys == slow.journeys and not slow.summary.fast_path


def test_the_cli_takes_time_format(tmp_path: Path) -> None:
    import io

    from journeyfsm.cli._replay import run_replay

    log = write(tmp_path / "epoch.csv", ["852076800", "857174400"])
    out = io.StringIO()
    code = run_replay(
        [str(log), "--definition", "tests.test_replay_times:lapse", "--key", "who",
         "--event", "what", "--time", "when", "--time-format", "epoch", "--json", "--quiet"],
        out=out, err=io.StringIO(),
    )  # fmt: skip
    assert code == 0
    assert '"bad_row_count": 0' in out.getvalue()


def test_a_stages_timeouts_are_numbered_in_due_order_not_declaration_order() -> None:
    from journeyfsm import JourneyMachine

    d = (
        JourneyBuilder("cart")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("gone", final=True)
        .transition("add", "browsing", "cart")
        .transition("nudge", "cart", None)
        .transition("abandon", "cart", "gone")
        .timeout("cart", timedelta(hours=24), "abandon")  # declared first
        .timeout("cart", timedelta(hours=1), "nudge")
        .build()
    )
    machine = JourneyMachine(d)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    journey = machine.start("c1", at=t0)
    machine.fire(journey, "add", at=t0)
    machine.tick(journey, t0 + timedelta(days=2))
    assert [(e.trigger, e.event_id) for e in journey.history[1:]] == [
        ("nudge", "timeout:cart:c1:1:0"),
        ("abandon", "timeout:cart:c1:1:1"),
    ]
