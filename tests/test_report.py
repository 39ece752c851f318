"""The HTML report: self-contained, every user string escaped, every section present."""

from __future__ import annotations

from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import checkout_builder
from test_export import HOSTILE, funnel_by_hand, hostile_definition, run_customers

from journeyfsm import JourneyDefinition
from journeyfsm.analytics import (
    BadRow,
    Breakdown,
    Comparison,
    Funnel,
    ReplaySummary,
    StageDifference,
    TriggerCounts,
)
from journeyfsm.export import html_report, write_report


class Page(HTMLParser):
    """Elements (tag, attrs), the visible text, and the text of each section by id."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "section":
            self._open.append(dict(attrs).get("id") or "")
            self.sections.setdefault(self._open[-1], [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for section in self._open:
            self.sections[section].append(data)

    def section(self, name: str) -> str:
        return " ".join(" ".join(self.sections[name]).split())


def summary_of(d: JourneyDefinition, source: str = "events.csv") -> ReplaySummary:
    return ReplaySummary(
        source=source,
        definition=d.name,
        version=d.version,
        rows_read=120,
        events_applied=100,
        journeys=30,
        triggers=(TriggerCounts("go", moved=40, blocked=2, ignored=8, timeouts=3),),
        skipped={"page_view": 15, "<img src=x onerror=alert(1)>": 5},
        bad_rows=(BadRow(7, 'no timestamp in column "ts"'), BadRow(12, "key is empty")),
        bad_row_count=3,
        timeouts_fired=3,
        timezone="Europe/Berlin",
        end=datetime(2026, 4, 1, tzinfo=timezone.utc),
        fast_path=True,
        seconds=0.25,
        warnings=("62% of events were ignored: top reasons go from <script> x3",),
    )


@pytest.fixture
def hostile() -> tuple[JourneyDefinition, Funnel]:
    d = hostile_definition()
    return d, funnel_by_hand(d, run_customers(d, 20, seed=2), d.stage_names[:3])


def test_report_escapes_every_hostile_string(hostile: tuple[JourneyDefinition, Funnel]) -> None:
    d, funnel = hostile
    breakdown = Breakdown(f"data.{HOSTILE[0]}", funnel, {HOSTILE[2]: funnel, "(none)": funnel})
    page_text = html_report(
        d,
        funnel=funnel,
        summary=summary_of(d, source='"/tmp/<evil>&.csv"'),
        breakdown=breakdown,
        title=HOSTILE[0],
    )
    page = Page(page_text)
    tags = [tag for tag, _ in page.elements]
    assert "script" not in tags and "img" not in tags and "b" not in tags
    # nothing is fetched: no element has a src or href, the CSP forbids any fetch
    assert not [a for _, a in page.elements if "src" in a or "href" in a]
    csp = [
        a["content"] for t, a in page.elements if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]
    text = " ".join(page.text)
    for name in (*HOSTILE, '"/tmp/<evil>&.csv"', "<img src=x onerror=alert(1)>"):
        assert name in text  # shown as text, exactly
    for stage in d.stage_names:
        stages = [a.get("data-stage") for _, a in page.elements if a.get("data-stage")]
        assert stage in stages


def test_report_sections_in_order_with_warnings_first(
    hostile: tuple[JourneyDefinition, Funnel],
) -> None:
    d, funnel = hostile
    page = Page(html_report(d, funnel=funnel, summary=summary_of(d)))
    ids = [a.get("id") for tag, a in page.elements if tag == "section"]
    assert ids == ["warnings", "summary", "diagram", "funnel", "funnel-table", "triggers"]
    warnings = page.section("warnings")
    assert "62% of events were ignored" in warnings
    assert "3 bad row(s) could not be read" in warnings
    summary = page.section("summary")
    assert "rows read 120" in summary and "events applied 100" in summary
    # unmapped events, most frequent first
    assert "20 (top unmapped: page_view \u00d715, <img src=x onerror=alert(1)> \u00d75)" in summary
    assert '7 no timestamp in column "ts"' in summary and "12 key is empty" in summary
    assert "1 more bad row(s) not listed." in summary
    assert "naive timestamps read as Europe/Berlin" in summary
    triggers = page.section("triggers")
    assert "go" in triggers and "40 2 8 0 3" in triggers


def test_report_without_a_summary_has_no_warnings_section() -> None:
    d = checkout_builder().build()
    funnel = funnel_by_hand(d, run_customers(d, 10, seed=1))
    page = Page(html_report(d, funnel=funnel))
    ids = [a.get("id") for tag, a in page.elements if tag == "section"]
    assert ids == ["diagram", "funnel", "funnel-table", "triggers"]
    table = page.section("funnel-table")
    for s in funnel.stages:
        assert f"{s.stage} " in table
    for trigger, n in funnel.trigger_moves.items():
        assert f"{trigger} {n}" in page.section("triggers")


def test_report_breakdown_and_comparison_show_each_group_and_change() -> None:
    d = checkout_builder().build()
    order = ("browsing", "cart", "checkout", "paid")
    vip = funnel_by_hand(d, run_customers(d, 12, seed=4), order)
    rest = funnel_by_hand(d, run_customers(d, 20, seed=6), order)
    total = funnel_by_hand(d, run_customers(d, 32, seed=8), order)
    b = d.builder().build(name="checkout-v2", version=4)
    funnel_b = funnel_by_hand(b, run_customers(b, 32, seed=8), order)
    diffs = tuple(
        StageDifference(
            s.stage,
            s.reached,
            funnel_b.stage(s.stage).reached,
            s.current,
            funnel_b.stage(s.stage).current,
            s.conversion,
            funnel_b.stage(s.stage).conversion,
        )
        for s in total.stages
    )
    page = Page(
        html_report(
            d,
            funnel=total,
            breakdown=Breakdown("data.vip", total, {"false": rest, "true": vip}),
            comparison=Comparison(total, funnel_b, None, None, diffs),
        )
    )
    breakdown = page.section("breakdown")
    for label, f in (("false", rest), ("true", vip), ("(all)", total)):
        reached = " ".join(str(f.stage(s).reached) for s in order)
        assert f"{label} {f.journeys} {reached}" in breakdown
    comparison = page.section("comparison")
    assert "A: checkout v3 vs B: checkout-v2 v4" in comparison
    for s in total.stages:
        change = funnel_b.stage(s.stage).reached - s.reached
        assert f"{s.stage} {s.reached} {funnel_b.stage(s.stage).reached} {change:+d}" in comparison
    charts = [a.get("id") for tag, a in page.elements if tag == "svg"]
    assert charts == ["journey-diagram", "funnel-chart", "funnel-chart-a", "funnel-chart-b"]


def test_report_is_deterministic_and_written_as_utf8(
    tmp_path: Path, hostile: tuple[JourneyDefinition, Funnel]
) -> None:
    d, funnel = hostile
    out = write_report(tmp_path / "r.html", d, funnel=funnel, summary=summary_of(d))
    assert out == tmp_path / "r.html"
    assert out.read_text(encoding="utf-8") == html_report(d, funnel=funnel, summary=summary_of(d))


def test_report_refuses_wrong_arguments_clearly(
    tmp_path: Path, hostile: tuple[JourneyDefinition, Funnel]
) -> None:
    d, funnel = hostile
    with pytest.raises(
        TypeError, match=r"funnel must be a journeyfsm\.analytics\.Funnel, got dict"
    ):
        html_report(d, funnel=funnel.to_dict())  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"summary must be a journeyfsm\.analytics\.ReplaySummary or None"
    ):
        html_report(d, funnel=funnel, summary="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="title must be a str or None, got int"):
        html_report(d, funnel=funnel, title=3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match=r"the folder .*nowhere does not exist"):
        write_report(tmp_path / "nowhere" / "r.html", d, funnel=funnel)
    with pytest.raises(ValueError, match="the funnel is of definition"):
        html_report(checkout_builder().build(), funnel=funnel)
