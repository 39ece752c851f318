"""The journeyfsm pytest plugin (entry point ``pytest11``: it loads when journeyfsm is installed).

Fixtures: ``journey_clock`` (a fresh ``ManualClock``) and ``journey_recorder`` (a
``Recorder``; attach it to a machine).  Options:

``--journey-coverage``
    report, per definition, which (source, trigger, dest) edges and which guard outcomes
    (passed, failed) the tests exercised, which they did not, and a percentage;
``--journey-coverage-fail-under=N``
    fail the run when total coverage is below N percent (implies ``--journey-coverage``);
``--journey-coverage-definition=NAME``
    report (and judge) only the definitions called NAME; repeat for several.

Without these options the plugin registers two fixtures and nothing else: no observer,
no output.  With pytest-xdist every worker collects its own coverage and sends it to the
controller in ``workeroutput``; the controller merges it and reports once.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._clock import ManualClock
    from ._coverage import CoverageCollector
    from .testing import Recorder

__all__ = ["CoveragePlugin"]

_WORKER_KEY = "journeyfsm_coverage"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("journeyfsm", "journeyfsm transition coverage")
    group.addoption(
        "--journey-coverage",
        action="store_true",
        default=False,
        help="report which journey edges and guard outcomes the tests exercised",
    )
    group.addoption(
        "--journey-coverage-fail-under",
        type=float,
        default=None,
        metavar="N",
        help="fail the run if journey transition coverage is below N percent",
    )
    group.addoption(
        "--journey-coverage-definition",
        action="append",
        default=[],
        metavar="NAME",
        help="only report journey definitions called NAME (repeat for several)",
    )


def pytest_configure(config: pytest.Config) -> None:
    wanted = config.getoption("journey_coverage") or (
        config.getoption("journey_coverage_fail_under") is not None
    )
    if wanted:
        config.pluginmanager.register(CoveragePlugin(config), "journeyfsm-coverage")


class CoveragePlugin:
    """Collects coverage while the session runs and reports it at the end."""

    def __init__(self, config: pytest.Config) -> None:
        from . import _observe
        from ._coverage import CoverageCollector

        self.config = config
        self.collector: CoverageCollector = CoverageCollector()
        self.fail_under: float | None = config.getoption("journey_coverage_fail_under")
        self.names: list[str] = list(config.getoption("journey_coverage_definition"))
        self.is_worker = hasattr(config, "workerinput")
        self.failed_message: str | None = None
        _observe.add_observer(self.collector)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from . import _observe

        _observe.remove_observer(self.collector)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            # pytest-xdist: hand this worker's coverage to the controller
            session.config.workeroutput[_WORKER_KEY] = self.collector.to_json()  # type: ignore[attr-defined]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if data is not None:
            self.collector.merge(data)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        result = yield
        if self.is_worker or self.fail_under is None:
            return result
        from ._coverage import total_percent

        percent = total_percent(self.collector.results(self.names))
        if percent < self.fail_under:
            self.failed_message = (
                f"FAIL: journey transition coverage {percent:.1f}% is below "
                f"--journey-coverage-fail-under={self.fail_under:g}"
            )
            session.testsfailed += 1
        return result

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        from ._coverage import report_lines

        results = self.collector.results(self.names)
        terminalreporter.write_sep("-", "journeyfsm transition coverage")
        if not results:
            wanted = f" called {', '.join(self.names)}" if self.names else ""
            terminalreporter.write_line(f"no journey definition{wanted} was used by the tests")
        for line in report_lines(results) if results else []:
            terminalreporter.write_line(line)
        if self.failed_message is not None:
            terminalreporter.write_line(self.failed_message, red=True, bold=True)
        elif self.fail_under is not None:
            terminalreporter.write_line(
                f"journey transition coverage meets --journey-coverage-fail-under="
                f"{self.fail_under:g}",
                green=True,
            )


@pytest.fixture
def journey_clock() -> ManualClock:
    """A fresh ``ManualClock`` at 2026-01-01 00:00 UTC; pass it as ``clock=`` to a machine."""
    from ._clock import ManualClock

    return ManualClock()


@pytest.fixture
def journey_recorder() -> Iterator[Recorder]:
    """A ``Recorder``: ``journey_recorder.attach(machine)``, then assert on what ran."""
    from .testing import Recorder

    recorder = Recorder()
    yield recorder
    recorder.detach()
