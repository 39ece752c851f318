"""The journeyfsm pytest plugin (entry point ``pytest11``: it loads when journeyfsm is installed).

Fixtures: ``journey_clock`` (a fresh ``ManualClock``) and ``journey_recorder`` (a
``Recorder``; attach it to a machine).  Transition coverage, each setting on the command
line or in the ini file (``[tool.pytest.ini_options]`` of pyproject.toml, pytest.ini, ...);
the command line wins:

``--journey-coverage`` / ``journey_coverage = true``
    report, per definition, which (source, trigger, dest) edges and which guard outcomes
    (passed, failed) the tests exercised, which they did not, and a percentage;
``--no-journey-coverage``
    no coverage at all, whatever else is set (for a quick run of a few tests);
``--journey-coverage-fail-under=N`` / ``journey_coverage_fail_under = N``
    fail the run when total coverage is below N percent, 0 <= N <= 100;
``--journey-coverage-definition=NAME`` / ``journey_coverage_definition`` (one per line)
    report (and judge) only the definitions called NAME; a NAME that no test used is an
    error (exit code 4) that lists the definitions the tests did use;
``--journey-coverage-report=json:PATH`` / ``journey_coverage_report`` (one per line)
    also write the report to PATH: ``json:PATH`` (shape in docs/testing.md) or
    ``text:PATH`` (the text report); relative paths are from the invocation directory.

On the command line, ``--journey-coverage-fail-under``, ``-definition`` and ``-report``
also turn coverage on; in the ini file they only configure it, ``journey_coverage = true``
turns it on.  Bad values (a threshold that is not a number in 0..100, a report that is not
``json:PATH`` or ``text:PATH``) stop pytest before any test runs.

Without coverage the plugin registers two fixtures and nothing else: no observer, no
output.  With pytest-xdist every worker collects its own coverage and sends it to the
controller in ``workeroutput``; the controller merges it, judges and reports once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from .._clock import ManualClock
    from ._coverage import CoverageCollector
    from ._recorder import Recorder

__all__ = ["CoveragePlugin", "CoverageSettings"]

_WORKER_KEY = "journeyfsm_coverage"
_REPORT_KINDS = ("json", "text")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("journeyfsm", "journeyfsm transition coverage")
    group.addoption(
        "--journey-coverage",
        action="store_true",
        default=None,
        help="report which journey edges and guard outcomes the tests exercised "
        "(ini: journey_coverage)",
    )
    group.addoption(
        "--no-journey-coverage",
        action="store_false",
        dest="journey_coverage",
        help="no journey coverage, whatever the other options and ini settings say",
    )
    group.addoption(
        "--journey-coverage-fail-under",
        default=None,
        metavar="N",
        help="fail the run if journey transition coverage is below N percent (0-100) "
        "(ini: journey_coverage_fail_under)",
    )
    group.addoption(
        "--journey-coverage-definition",
        action="append",
        default=[],
        metavar="NAME",
        help="only report journey definitions called NAME; repeat for several "
        "(ini: journey_coverage_definition, one per line)",
    )
    group.addoption(
        "--journey-coverage-report",
        action="append",
        default=[],
        metavar="json:PATH|text:PATH",
        help="also write the coverage report to PATH, as JSON or text; repeat for several "
        "(ini: journey_coverage_report, one per line)",
    )
    parser.addini(
        "journey_coverage", "report journey transition coverage", type="bool", default=False
    )
    parser.addini(
        "journey_coverage_fail_under",
        "fail the run if journey transition coverage is below this percentage (0-100)",
        default="",
    )
    parser.addini(
        "journey_coverage_definition",
        "only report journey definitions with these names (one per line)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "journey_coverage_report",
        "also write the coverage report: json:PATH or text:PATH (one per line)",
        type="linelist",
        default=[],
    )


@attrs.frozen
class CoverageSettings:
    """The coverage settings of one run, from the command line over the ini file.

    >>> CoverageSettings(enabled=True, fail_under=90.0).fail_under
    90.0
    """

    enabled: bool
    fail_under: float | None = None
    names: tuple[str, ...] = ()
    reports: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def from_config(cls, config: pytest.Config) -> CoverageSettings:
        """Read and check the settings; a bad value raises ``pytest.UsageError``."""
        flag: bool | None = config.getoption("journey_coverage")
        cli_fail_under: str | None = config.getoption("journey_coverage_fail_under")
        cli_names: list[str] = config.getoption("journey_coverage_definition")
        cli_reports: list[str] = config.getoption("journey_coverage_report")
        ini_fail_under = str(config.getini("journey_coverage_fail_under")).strip()

        if cli_fail_under is not None:
            fail_under = _threshold(cli_fail_under, "--journey-coverage-fail-under")
        elif ini_fail_under:
            fail_under = _threshold(ini_fail_under, "journey_coverage_fail_under (ini)")
        else:
            fail_under = None
        names = tuple(cli_names or _ini_list(config, "journey_coverage_definition"))
        if cli_reports:
            reports = _reports(cli_reports, "--journey-coverage-report", config)
        else:
            raw = _ini_list(config, "journey_coverage_report")
            reports = _reports(raw, "journey_coverage_report (ini)", config)

        if flag is not None:  # --journey-coverage / --no-journey-coverage
            enabled = flag
        else:
            enabled = bool(config.getini("journey_coverage")) or bool(
                cli_fail_under is not None or cli_names or cli_reports
            )
        return cls(enabled, fail_under, names, reports)


def _ini_list(config: pytest.Config, name: str) -> list[str]:
    return [line.strip() for line in config.getini(name) if line.strip()]


def _threshold(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise pytest.UsageError(
            f"{where}: expected a percentage from 0 to 100, got {text!r}"
        ) from None
    if math.isnan(value) or not 0 <= value <= 100:
        raise pytest.UsageError(
            f"{where}: expected a percentage from 0 to 100, got {text!r}; "
            "coverage is a percentage of edges and guard outcomes"
        )
    return value


def _reports(
    specs: Sequence[str], where: str, config: pytest.Config
) -> tuple[tuple[str, Path], ...]:
    out: list[tuple[str, Path]] = []
    for spec in specs:
        kind, sep, path = spec.partition(":")
        if not sep or kind not in _REPORT_KINDS or not path.strip():
            raise pytest.UsageError(
                f"{where}: expected json:PATH or text:PATH, got {spec!r} "
                "(e.g. --journey-coverage-report=json:build/journey-coverage.json)"
            )
        out.append((kind, config.invocation_params.dir / path.strip()))
    return tuple(out)


def pytest_configure(config: pytest.Config) -> None:
    settings = CoverageSettings.from_config(config)
    if settings.enabled:
        config.pluginmanager.register(CoveragePlugin(config, settings), "journeyfsm-coverage")


class CoveragePlugin:
    """Collects coverage while the session runs, then judges and reports it at the end."""

    def __init__(self, config: pytest.Config, settings: CoverageSettings) -> None:
        from .. import _observe
        from ._coverage import CoverageCollector

        self.config = config
        self.settings = settings
        self.collector: CoverageCollector = CoverageCollector()
        self.is_worker = hasattr(config, "workerinput")
        self.failed_message: str | None = None
        self.error_message: str | None = None
        self.warning_message: str | None = None
        _observe.add_observer(self.collector)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from .. import _observe

        _observe.remove_observer(self.collector)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if data is not None:
            self.collector.merge(data)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        result = yield
        if not self.is_worker:  # with xdist, the workers' coverage is merged by now
            self._judge(session)
        return result

    def _judge(self, session: pytest.Session) -> None:
        from ._coverage import total_percent

        settings, seen = self.settings, self.collector.names()
        unknown = [name for name in settings.names if name not in seen]
        if unknown:
            from .._errors import did_you_mean

            used = ", ".join(repr(name) for name in seen) or "none"
            self.error_message = "ERROR: " + "; ".join(
                f"--journey-coverage-definition {name!r} matches no definition the tests "
                f"used{did_you_mean(name, seen)}"
                for name in unknown
            )
            self.error_message += (
                f". Definitions used: {used}. Fix the name, or drop it "
                "(journey_coverage_definition in the ini file)."
            )
            return
        if not seen:
            self.warning_message = (
                "WARNING: journey coverage is on, but no test created a JourneyMachine: "
                "nothing was measured"
            )
        if settings.fail_under is None:
            return
        percent = total_percent(self.collector.results(settings.names))
        if percent < settings.fail_under:
            self.failed_message = (
                f"FAIL: journey transition coverage {percent:.1f}% is below "
                f"--journey-coverage-fail-under={settings.fail_under:g}"
            )
            session.testsfailed += 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            # pytest-xdist: hand this worker's coverage to the controller
            session.config.workeroutput[_WORKER_KEY] = self.collector.to_json()  # type: ignore[attr-defined]
            return
        if self.error_message is not None:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        self._write_reports()

    def _write_reports(self) -> None:
        from ._coverage import report_json, report_lines

        results = self.collector.results(self.settings.names)
        for kind, path in self.settings.reports:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "json":
                report = report_json(results, fail_under=self.settings.fail_under)
                text = json.dumps(report, indent=2) + "\n"
            else:
                text = "\n".join(report_lines(results)) + "\n"
            path.write_text(text, encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        from ._coverage import report_lines

        terminalreporter.write_sep("-", "journeyfsm transition coverage")
        if self.error_message is not None:
            terminalreporter.write_line(self.error_message, red=True, bold=True)
            return
        if self.warning_message is not None:
            terminalreporter.write_line(self.warning_message, yellow=True, bold=True)
        for line in report_lines(self.collector.results(self.settings.names)):
            terminalreporter.write_line(line)
        for kind, path in self.settings.reports:
            terminalreporter.write_line(f"{kind} report written to {path}")
        fail_under = self.settings.fail_under
        if self.failed_message is not None:
            terminalreporter.write_line(self.failed_message, red=True, bold=True)
        elif fail_under is not None:
            terminalreporter.write_line(
                f"journey transition coverage meets --journey-coverage-fail-under={fail_under:g}",
                green=True,
            )


@pytest.fixture
def journey_clock() -> ManualClock:
    """A fresh ``ManualClock`` at 2026-01-01 00:00 UTC; pass it as ``clock=`` to a machine."""
    from .._clock import ManualClock

    return ManualClock()


@pytest.fixture
def journey_recorder() -> Iterator[Recorder]:
    """A ``Recorder``: ``journey_recorder.attach(machine)``, then assert on what ran."""
    from ._recorder import Recorder

    recorder = Recorder()
    yield recorder
    recorder.detach()
