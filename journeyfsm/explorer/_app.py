"""The explorer as a Starlette application: the routes, and failures as pages.

Route handlers are plain functions (Starlette runs them in its thread pool, where the
stores' sync transactions belong), each wrapped so that whatever it raises becomes a
page with a status: a :class:`PageError` its own, a ``StoreError`` 503, anything else
500 with the traceback in the server's log, never on the page.  An unknown path is a
404 page, a method a page does not take a 405 page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .._clock import Clock, SystemClock
from .._definition import JourneyDefinition
from .._errors import JourneyError, StoreError
from .._runtime import JourneyMachine
from ._mask import Masker
from ._pages import Explorer
from ._requeue import requeue
from ._source import PageError

__all__ = ["create_app"]

log = logging.getLogger("journeyfsm.explorer")


def _quiet_logger() -> Any:
    import structlog

    def drop(logger: Any, method: str, event: Any) -> Any:
        raise structlog.DropEvent

    return structlog.wrap_logger(structlog.testing.ReturnLogger(), processors=[drop])


def _machines(
    definitions: Iterable[JourneyDefinition | JourneyMachine], clock: Clock
) -> dict[str, JourneyMachine]:
    out: dict[str, JourneyMachine] = {}
    for item in definitions:
        if isinstance(item, JourneyMachine):
            machine = item
        elif isinstance(item, JourneyDefinition):
            machine = JourneyMachine(item, clock=clock, logger=_quiet_logger())
        else:
            raise TypeError(
                "definitions takes JourneyDefinition or JourneyMachine objects, got "
                f"{type(item).__name__}"
            )
        name = machine.definition.name
        if name in out:
            raise ValueError(f"definition {name!r} is given twice; give each definition once")
        out[name] = machine
    return out


def _guarded(explorer: Explorer, handler: Callable[[Request], Response]) -> Callable[..., Any]:
    """A sync route handler whose failures become pages (never a traceback)."""

    def endpoint(request: Request) -> Response:
        try:
            return handler(request)
        except PageError as err:
            return explorer.error(request, err.status, err.title, err.message)
        except StoreError as err:
            return explorer.error(request, 503, "The store cannot be read", str(err))
        except Exception:
            log.exception("explorer page %s failed", request.url.path)
            return explorer.error(
                request,
                500,
                "The explorer failed",
                "this page raised an error; the traceback is in the server's log",
            )

    return endpoint


def _guarded_async(explorer: Explorer, handler: Callable[[Request], Any]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except PageError as err:
            return explorer.error(request, err.status, err.title, err.message)
        except (StoreError, JourneyError) as err:
            return explorer.error(request, 503, "The store cannot be written", str(err))
        except Exception:
            log.exception("explorer page %s failed", request.url.path)
            return explorer.error(
                request, 500, "The explorer failed", "the traceback is in the server's log"
            )

    return endpoint


def _kept_first(explorer: Explorer) -> Callable[..., Any]:
    """The overview: served on the event loop from what is kept (no thread, no GIL
    hand-offs between pool threads: under load the page stays quick), else in a thread."""
    counted = _guarded(explorer, explorer.overview)

    async def endpoint(request: Request) -> Response:
        try:
            kept = explorer.overview_kept(request)
        except Exception:
            log.exception("explorer: the kept overview failed; counting it")
            kept = None
        if kept is not None:
            return kept
        response: Response = await run_in_threadpool(counted, request)
        return response

    return endpoint


def create_app(
    store: Any,
    *,
    definitions: Iterable[JourneyDefinition | JourneyMachine] = (),
    mask: Iterable[str] = (),
    allow_writes: bool = False,
    token: str | None = None,
    refresh: float = 5.0,
    clock: Clock | None = None,
    title: str = "journeyfsm explorer",
) -> Starlette:
    """The journey explorer over ``store``, as an ASGI app (serve it with uvicorn).

    ``store`` is a ``SQLiteStore`` or ``PostgresStore``, or a function that opens one
    (called on first use, and again while it raises ``StoreError``: a store of an older
    schema is a 503 page until ``journeyfsm db init`` migrates it).  ``definitions`` (the
    host's definitions or machines) draw the diagrams and explain guards; a stored
    definition without one shows its counts only.  ``mask`` names data fields that no
    page shows.  ``allow_writes`` with a ``token`` enables requeueing dead letters.
    ``refresh``: seconds an overview's figures are kept before the database counts them
    again.

    >>> import asyncio, os, tempfile, httpx
    >>> from journeyfsm import JourneyMachine, JourneyService, templates
    >>> from journeyfsm.explorer import create_app
    >>> from journeyfsm.stores import SQLiteStore
    >>> store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "j.db"), create_schema=True)
    >>> _ = JourneyService(JourneyMachine(templates.aida()), store).handle("c-1", "engage")
    >>> app = create_app(store, definitions=[templates.aida()])
    >>> async def get(path, **params):
    ...     transport = httpx.ASGITransport(app=app)
    ...     async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
    ...         return await client.get(path, params=params)
    >>> page = asyncio.run(get("/journey", definition="aida", key="c-1"))
    >>> page.status_code, "interest" in page.text
    (200, True)
    >>> store.close()
    """
    if not isinstance(allow_writes, bool):
        raise TypeError(f"allow_writes must be a bool, got {allow_writes!r}")
    if allow_writes:
        if not isinstance(token, str) or len(token) < 16:
            raise ValueError(
                "allow_writes needs a token of at least 16 characters (the form asks for "
                "it), e.g. token=secrets.token_urlsafe(16)"
            )
    elif token is not None:
        raise ValueError("a token is only used with allow_writes=True; pass both or neither")
    if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or not refresh >= 0:
        raise ValueError(f"refresh must be a number of seconds >= 0, got {refresh!r}")
    if isinstance(mask, str):
        raise TypeError(f"mask takes a list of field names, got the str {mask!r}")
    clock = clock if clock is not None else SystemClock()
    explorer = Explorer(
        store,
        _machines(definitions, clock),
        Masker(mask),
        allow_writes=allow_writes,
        token=token,
        refresh=float(refresh),
        clock=clock,
        title=title,
    )

    def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 405:
            return explorer.error(request, 405, "Method not allowed", "this page is read-only")
        return explorer.error(
            request, status, "No such page", f"there is no page {request.url.path!r}"
        )

    def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/", _guarded(explorer, explorer.home)),
        Route("/overview", _kept_first(explorer)),
        Route("/stage", _guarded(explorer, explorer.stage_list)),
        Route("/search", _guarded(explorer, explorer.search)),
        Route("/journey", _guarded(explorer, explorer.journey)),
        Route("/outbox", _guarded(explorer, explorer.outbox)),
        Route(
            "/outbox/requeue",
            _guarded_async(explorer, partial(requeue, explorer)),
            methods=["POST"],
        ),
        Route("/healthz", health),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    app.state.explorer = explorer
    return app
