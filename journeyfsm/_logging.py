"""JourneyLog: where a machine's log events go, decided again whenever the host changes its mind.

Theory of operation
-------------------
A library must not freeze its logging at import or first use: hosts configure structlog or
stdlib ``logging`` whenever they like (after building their machines, between tests with
``structlog.testing.capture_logs()``), and a library that bound a logger once keeps
writing to wherever logging pointed back then.  A :class:`JourneyLog` therefore holds a
*route* (the logger to call, and which levels pass) together with the identities of the
structlog configuration objects the route was built from.  Every log call compares those
identities with structlog's current ones (a handful of ``is`` checks, no allocation) and
builds a new route when one differs.  Routes, in order:

1. **Injected** (``JourneyMachine(..., logger=x)``): ``x`` is used as given.  A structlog
   lazy proxy (``structlog.get_logger()``, ``wrap_logger(...)``) is bound again when the
   global configuration changes, exactly as using it directly would behave; an already
   bound structlog logger, or any object with ``bind``, is bound once; a stdlib
   ``logging.Logger`` (or ``LoggerAdapter``) takes the stdlib route below.
2. **structlog, configured by the host** (``structlog.is_configured()`` and the
   configuration is not structlog's built-in defaults):
   ``structlog.get_logger("journeyfsm")`` bound with the machine's fields.
   ``capture_logs()`` leaves structlog "configured" with its built-in defaults (print
   everything to stdout); that counts as *not* configured, so a host's test that captured
   logs leaves no later machine printing.
3. **stdlib** (everything else): ``logging.getLogger("journeyfsm")``.  Its level decides
   per call through ``Logger.isEnabledFor`` (cached by ``logging`` itself and cleared on
   ``setLevel``/``dictConfig``), so an unconfigured host sees warnings and errors only,
   through ``logging``'s last-resort handler.  A record's message is the event and its
   fields as ``key=value`` (``journey.moved key='c-42' trigger='pay' ...``) and each field
   is also an attribute of the record (``record.key``, ``record.event``), as ``extra=``
   would set it, for JSON formatters and filters.

Filtered-out levels cost a few identity checks: a structlog route built on
``make_filtering_bound_logger`` knows its levels when it is built (that class cannot change
level), a stdlib route asks ``isEnabledFor``.  Callers on a hot path may ask
:meth:`JourneyLog.enabled` first and skip building the fields at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import structlog

__all__ = ["DEBUG", "ERROR", "INFO", "WARNING", "JourneyLog"]

DEBUG = logging.DEBUG
INFO = logging.INFO
WARNING = logging.WARNING
ERROR = logging.ERROR
CRITICAL = logging.CRITICAL
_LEVELS = (DEBUG, INFO, WARNING, ERROR, CRITICAL)
_METHOD = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error", CRITICAL: "critical"}

#: The stdlib logger journeyfsm logs to when the host has not configured structlog.
STDLIB_NAME = "journeyfsm"

# structlog's global configuration and built-in defaults.  They are private names; the
# contract test in tests/test_logging.py pins them, so a structlog release that renames
# them fails there first rather than silently freezing the route.
_config_module: Any = getattr(structlog, "_config", None)
_CONFIG: Any = getattr(_config_module, "_CONFIG", None)
_BUILTIN_PROCESSORS: tuple[Any, ...] = tuple(
    getattr(_config_module, "_BUILTIN_DEFAULT_PROCESSORS", ())
)
_BUILTIN_WRAPPER: Any = getattr(_config_module, "_BUILTIN_DEFAULT_WRAPPER_CLASS", None)
_BUILTIN_FACTORY: Any = getattr(_config_module, "_BUILTIN_DEFAULT_LOGGER_FACTORY", None)
_LAZY_PROXY: type[Any] | None = getattr(_config_module, "BoundLoggerLazyProxy", None)
# The method a filtering bound logger has for a level it filters out.
_NOP: Any = getattr(getattr(structlog, "_native", None), "_nop", None)

# Attribute names a LogRecord already has: a field with such a name is stored as
# ``field_<name>`` on the record (``logging`` refuses to overwrite them).
_RECORD_NAMES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


def structlog_configured_by_host() -> bool:
    """True if the host configured structlog with anything but its built-in defaults.

    ``structlog.testing.capture_logs()`` calls ``structlog.configure`` and restores the
    defaults afterwards, leaving ``is_configured()`` true; that state counts as
    unconfigured here.

    >>> import structlog
    >>> with structlog.testing.capture_logs():
    ...     structlog_configured_by_host()
    True
    """
    if not structlog.is_configured():
        return False
    if _CONFIG is None or _BUILTIN_FACTORY is None:  # a structlog we do not know: trust it
        return True
    c = _CONFIG
    procs = c.default_processors
    builtin = (
        c.logger_factory is _BUILTIN_FACTORY
        and c.default_wrapper_class is _BUILTIN_WRAPPER
        and c.default_context_class is dict
        and isinstance(procs, (list, tuple))
        and len(procs) == len(_BUILTIN_PROCESSORS)
        and all(a is b for a, b in zip(procs, _BUILTIN_PROCESSORS, strict=True))
    )
    return not builtin


class _Route:
    """One way to log, plus the structlog configuration objects it was built from (when it
    depends on them).  Never changed once built; a JourneyLog swaps in a new one."""

    __slots__ = (
        "emit",
        "enabled",
        "factory",
        "last",
        "n",
        "processors",
        "target",
        "watch",
        "wrapper",
    )

    def __init__(
        self,
        target: Any,
        enabled: Callable[[int], bool],
        emit: Callable[[int, str, dict[str, Any], BaseException | None], None],
        *,
        watch: bool,
    ) -> None:
        self.target = target
        self.enabled = enabled
        self.emit = emit
        self.watch = watch and _CONFIG is not None
        self.processors: Any = None
        self.factory: Any = None
        self.wrapper: Any = None
        self.n = 0
        self.last: Any = None
        if self.watch:
            procs = _CONFIG.default_processors
            self.processors = procs
            self.factory = _CONFIG.logger_factory
            self.wrapper = _CONFIG.default_wrapper_class
            if isinstance(procs, (list, tuple)):
                self.n = len(procs)
                self.last = procs[-1] if procs else None
            else:  # an iterable we cannot look into cheaply: rebuilt on every call
                self.processors = object()

    def stale(self) -> bool:
        """True if structlog's configuration is no longer the one this route was built on.

        A few attribute reads and identity checks: ``configure`` replaces objects, and
        ``capture_logs`` edits the processor list in place (its length and last item
        change on the way in and out).  A ``context_class`` change alone is not looked
        for (it takes effect with the next change that is).  The hot paths of
        :class:`JourneyLog` inline this check; keep them in step.
        """
        c = _CONFIG
        p = c.default_processors
        return not (
            p is self.processors
            and len(p) == self.n
            and (not p or p[-1] is self.last)
            and c.default_wrapper_class is self.wrapper
            and c.logger_factory is self.factory
        )


def _stdlib_route(
    std: logging.Logger | logging.LoggerAdapter[Any], bound: dict[str, Any]
) -> _Route:
    is_enabled = std.isEnabledFor

    def emit(
        level: int, event: str, fields: dict[str, Any], exc_info: BaseException | None
    ) -> None:
        every = {**fields, **bound}
        # Rendered lazily by logging (msg % args), only if a handler formats the record.
        msg = " ".join([event.replace("%", "%%"), *(f"{k}=%r" for k in every)])
        extra = {"event": event}
        for k, v in every.items():
            extra["field_" + k if k in _RECORD_NAMES else k] = v
        # stacklevel: record the runtime's call site, not this module's.
        std.log(level, msg, *every.values(), exc_info=exc_info, extra=extra, stacklevel=3)

    return _Route(std, is_enabled, emit, watch=True)


def _structlog_route(bound_logger: Any, *, watch: bool) -> _Route:
    cls = type(bound_logger)
    # A filtering bound logger's levels are fixed by its class: a filtered level's method
    # is structlog's no-op.  Anything else decides per call, so every level goes through.
    passing = frozenset(
        lvl for lvl in _LEVELS if _NOP is None or getattr(cls, _METHOD[lvl], None) is not _NOP
    )

    def emit(
        level: int, event: str, fields: dict[str, Any], exc_info: BaseException | None
    ) -> None:
        method = getattr(bound_logger, _METHOD[level])
        if exc_info is None:
            method(event, **fields)
        else:
            method(event, exc_info=exc_info, **fields)

    return _Route(bound_logger, passing.__contains__, emit, watch=watch)


def _level_method(level: int, doc: str) -> Callable[..., None]:
    """``JourneyLog.debug/info/warning/error``: one body, the level fixed (no ``**fields``
    repacking through :meth:`JourneyLog.log`, which would double a filtered call's cost)."""

    def method(
        self: JourneyLog, event: str, *, exc_info: BaseException | None = None, **fields: Any
    ) -> None:
        r = self._route
        if r.watch:  # _Route.stale(), inlined: this runs on every fire
            c = _CONFIG
            p = c.default_processors
            if not (
                p is r.processors
                and len(p) == r.n
                and (not p or p[-1] is r.last)
                and c.default_wrapper_class is r.wrapper
                and c.logger_factory is r.factory
            ):
                r = self._route = self._build()
        if r.enabled(level):
            r.emit(level, event, fields, exc_info)

    method.__name__ = method.__qualname__ = _METHOD[level]
    method.__doc__ = doc
    return method


class JourneyLog:
    """The logger a :class:`~journeyfsm.JourneyMachine` logs its events through.

    ``source`` is the injected logger (``None``: structlog if the host configured it,
    else the stdlib logger ``"journeyfsm"``); ``bound`` are fields added to every event
    (the machine binds ``definition`` and ``definition_version``).  Where events go is
    decided again whenever structlog's configuration changes; see the module docstring.

    >>> import structlog
    >>> log = JourneyLog(None, definition="checkout")
    >>> with structlog.testing.capture_logs() as events:
    ...     log.info("journey.moved", key="c-42")
    >>> events
    [{'definition': 'checkout', 'key': 'c-42', 'event': 'journey.moved', 'log_level': 'info'}]
    """

    __slots__ = ("_bound", "_route", "_source")

    def __init__(self, source: Any | None = None, **bound: Any) -> None:
        self._source = source
        self._bound = bound
        self._route = self._build()

    def _build(self) -> _Route:
        source = self._source
        if source is None:
            if structlog_configured_by_host():
                logger = structlog.get_logger(STDLIB_NAME).bind(**self._bound)
                return _structlog_route(logger, watch=True)
            return _stdlib_route(logging.getLogger(STDLIB_NAME), self._bound)
        if isinstance(source, (logging.Logger, logging.LoggerAdapter)):
            route = _stdlib_route(source, self._bound)
            route.watch = False
            return route
        if not hasattr(source, "bind"):
            raise TypeError(
                f"logger= takes a structlog logger (anything with .bind and .info, ...) or a "
                f"logging.Logger, got {type(source).__name__}; pass structlog.get_logger(...) "
                "or logging.getLogger(...)"
            )
        lazy = _LAZY_PROXY is not None and isinstance(source, _LAZY_PROXY)
        return _structlog_route(source.bind(**self._bound), watch=lazy)

    def _current(self) -> _Route:
        """The route, rebuilt first if structlog's configuration changed since it was built."""
        r = self._route
        if r.watch and r.stale():
            r = self._route = self._build()
        return r

    @property
    def target(self) -> Any:
        """The logger events go to right now: a structlog bound logger or a stdlib
        ``logging.Logger`` (``logging.getLogger("journeyfsm")`` on an unconfigured host)."""
        return self._current().target

    def enabled(self, level: int) -> bool:
        """Whether an event at ``level`` (``logging.INFO``, ...) would be logged now.

        Cheap enough for a hot path, and lets a caller skip building the fields::

            if log.enabled(INFO):
                log.info("journey.blocked", key=journey.key, guards=list(failed))
        """
        r = self._route
        if r.watch:  # _Route.stale(), inlined: this runs on every fire
            c = _CONFIG
            p = c.default_processors
            if not (
                p is r.processors
                and len(p) == r.n
                and (not p or p[-1] is r.last)
                and c.default_wrapper_class is r.wrapper
                and c.logger_factory is r.factory
            ):
                r = self._route = self._build()
        return r.enabled(level)

    def log(
        self, level: int, event: str, *, exc_info: BaseException | None = None, **fields: Any
    ) -> None:
        """Log ``event`` at ``level`` with ``fields`` (and ``exc_info``'s traceback)::

        log.log(logging.INFO, "journey.hook_failed", key="c-42", hook="crm_sync")
        """
        r = self._current()
        if r.enabled(level):
            r.emit(level, event, fields, exc_info)

    debug = _level_method(
        DEBUG, 'Log ``event`` at DEBUG: ``log.debug("journey.ignored", key="c-42")``.'
    )
    info = _level_method(
        INFO, 'Log ``event`` at INFO: ``log.info("journey.moved", key="c-42", dest="paid")``.'
    )
    warning = _level_method(
        WARNING,
        'Log ``event`` at WARNING: ``log.warning("outbox.effect_retry", effect="send_email")``.',
    )
    error = _level_method(
        ERROR,
        """Log ``event`` at ERROR, with ``exc_info``'s traceback if given::

            except Exception as err:
                log.error("outbox.effect_failed", exc_info=err, effect="send_email")
        """,
    )

    def __repr__(self) -> str:
        target = self._current().target
        name = getattr(target, "name", None) or type(target).__name__
        return f"<JourneyLog -> {name} {self._bound!r}>"
