"""The explorer as a Starlette application: routes, pages, errors, the one write.

Theory of operation
-------------------
Every page is rendered on the server by Jinja2 (autoescaping on: customer data, keys and
definition names are untrusted text) and works without JavaScript; the only script-free
graphics are the SVG drawings of :mod:`journeyfsm.export`, whose own text is escaped
there.  Each response carries a Content-Security-Policy that allows no script at all.

Reads go through the store the app was given (opened on first use when it was given a
function that opens it, so a store that cannot be opened yet, as one of an older schema,
is a 503 page that says what to run, and the next request tries again).  Route handlers
are plain functions: Starlette runs them in its thread pool, where the stores' sync
transactions belong.

Nothing is written unless the app was made with ``allow_writes=True`` and a token.  Then
one form posts "requeue these dead letters": the POST must carry the token, a CSRF value
equal to the app's HttpOnly ``SameSite=Strict`` cookie (double submit), and, when the
browser sends one, an ``Origin`` of this very server.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .._clock import Clock, SystemClock
from .._definition import JourneyDefinition
from .._errors import JourneyError, StoreError
from .._records import HistoryEntry
from .._runtime import JourneyMachine
from ..analytics import Funnel, human_duration
from ..export import funnel_svg, to_svg
from ._journey import explain_trigger, next_steps, restore, stays
from ._mask import MASKED, Masker
from ._overview import FigureCache, funnel_of
from ._queries import (
    StageFigures,
    Tables,
    definitions_in_store,
    funnel_figures,
    outbox_rows,
    search_keys,
    stage_keys,
    tables_of,
)

__all__ = ["create_app"]

log = logging.getLogger("journeyfsm.explorer")

CSRF_COOKIE = "journeyfsm_csrf"
LIST_LIMIT = 200  # rows an outbox or stage list shows at once
HISTORY_LIMIT = 1000  # history entries a journey page shows (the newest are last)
MAX_FORM = 16 * 1024
MAX_TEXT = 2000  # a key, a definition name, a payload in a query

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """A request the explorer answers with an error page (status, title, what to do)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


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


class _StoreSource:
    """The store: given, or opened on first use (and again after it failed to open)."""

    def __init__(self, store: Any) -> None:
        self._opener: Callable[[], Any] | None = None
        self._store: Any = None
        self._tables: Tables | None = None
        if callable(store) and not hasattr(store, "transaction"):
            self._opener = store
        else:
            self._tables = tables_of(store)
            self._store = store

    def get(self) -> tuple[Any, Tables]:
        if self._store is None:
            assert self._opener is not None
            try:
                store = self._opener()
            except StoreError as err:
                raise PageError(503, "The store cannot be read", str(err)) from None
            self._tables = tables_of(store)
            self._store = store
        assert self._tables is not None
        return self._store, self._tables

    def close(self) -> None:
        close = getattr(self._store, "close", None)
        if self._opener is not None and callable(close):
            close()


def _iso(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _url(path: str, **params: object) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{path}?{query}" if query else path


class Explorer:
    """The state behind the routes: store, machines, masking, cache, templates."""

    def __init__(
        self,
        store: Any,
        machines: Mapping[str, JourneyMachine],
        masker: Masker,
        *,
        allow_writes: bool,
        token: str | None,
        refresh: float,
        clock: Clock,
        title: str,
    ) -> None:
        self.source = _StoreSource(store)
        self.machines = dict(machines)
        self.masker = masker
        self.allow_writes = allow_writes
        self.token = token
        self.clock = clock
        self.title = title
        self.figures: FigureCache[StageFigures] = FigureCache(refresh)
        self.names: FigureCache[dict[str, int]] = FigureCache(refresh)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            url=_url, iso=_iso, pct=_pct, duration=human_duration, as_json=_json_text
        )

    # -- rendering ------------------------------------------------------------------
    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        csrf = None
        set_cookie = False
        if self.allow_writes:
            csrf = request.cookies.get(CSRF_COOKIE)
            if not csrf or len(csrf) != 43:
                csrf, set_cookie = secrets.token_urlsafe(32), True
        body = self.env.get_template(template).render(
            title=self.title, writes=self.allow_writes, csrf=csrf, masked=MASKED, **context
        )
        response = HTMLResponse(body, status_code=status, headers=HEADERS)
        if set_cookie and csrf is not None:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/")
        return response

    def error(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status, heading=title, message=message)

    # -- shared reads ---------------------------------------------------------------
    def stored_definitions(self) -> dict[str, int]:
        store, tables = self.source.get()

        def read() -> dict[str, int]:
            with store.transaction(write=False) as tx:
                return definitions_in_store(tx, tables)

        return self.names.get("", read)

    def definition_arg(self, request: Request) -> str:
        name = _text_arg(request, "definition")
        if name in self.machines or name in self.stored_definitions():
            return name
        known = sorted({*self.machines, *self.stored_definitions()})
        raise PageError(
            404,
            "No such definition",
            f"there is no definition {name!r} in this store"
            + (f"; definitions here: {', '.join(known)}" if known else "; the store is empty"),
        )

    # -- pages ----------------------------------------------------------------------
    def home(self, request: Request) -> Response:
        store, _ = self.source.get()
        stored = self.stored_definitions()
        rows = []
        with store.transaction(write=False) as tx:
            for name in sorted({*stored, *self.machines}):
                counts = tx.outbox_counts(name)
                rows.append(
                    {
                        "name": name,
                        "journeys": stored.get(name, 0),
                        "loaded": name in self.machines,
                        "pending": counts.get("pending", 0),
                        "dead": counts.get("dead", 0),
                    }
                )
        return self.render(request, "home.html", definitions=rows)

    def overview(self, request: Request) -> Response:
        name = self.definition_arg(request)
        store, tables = self.source.get()
        machine = self.machines.get(name)
        order = machine.definition.funnel if machine is not None else ()

        def read() -> StageFigures:
            with store.transaction(write=False) as tx:
                return funnel_figures(tx, tables, name, order)

        figures = self.figures.get(name, read)
        funnel: Funnel | None = None
        diagram = chart = None
        unknown: dict[str, int] = {}
        if machine is not None:
            d = machine.definition
            funnel = funnel_of(figures, d)
            diagram = Markup(to_svg(d, funnel=funnel))
            chart = Markup(funnel_svg(funnel)) if d.funnel else None
            unknown = {s: n for s, n in figures.current.items() if not d.has_stage(s)}
        current = sorted(figures.current.items(), key=lambda kv: (-kv[1], kv[0]))
        moves = sorted(figures.moves.items(), key=lambda kv: (-kv[1], kv[0]))
        return self.render(
            request,
            "overview.html",
            name=name,
            machine=machine,
            figures=figures,
            funnel=funnel,
            diagram=diagram,
            chart=chart,
            unknown=unknown,
            current=current,
            moves=moves,
            refresh=self.figures.refresh,
        )

    def stage_list(self, request: Request) -> Response:
        name = self.definition_arg(request)
        stage = _text_arg(request, "stage")
        after = request.query_params.get("after") or ""
        store, tables = self.source.get()
        with store.transaction(write=False) as tx:
            journeys = stage_keys(tx, tables, name, stage, after=after, limit=LIST_LIMIT + 1)
        more = len(journeys) > LIST_LIMIT
        journeys = journeys[:LIST_LIMIT]
        next_after = journeys[-1][0] if more else None
        return self.render(
            request,
            "stage.html",
            name=name,
            stage=stage,
            journeys=journeys,
            next_after=next_after,
            after=after,
        )

    def search(self, request: Request) -> Response:
        text = request.query_params.get("q", "").strip()
        if len(text) > MAX_TEXT:
            raise PageError(
                400, "Search text too long", f"search for at most {MAX_TEXT} characters"
            )
        found: list[tuple[str, str, str]] = []
        if text:
            store, tables = self.source.get()
            with store.transaction(write=False) as tx:
                found = search_keys(tx, tables, text, limit=50)
        exact = [f for f in found if f[1] == text]
        if len(exact) == 1 and len(found) == 1:
            d, k, _ = exact[0]
            return RedirectResponse(_url("/journey", definition=d, key=k), status_code=303)
        return self.render(request, "search.html", q=text, found=found, limit=50)

    def journey(self, request: Request) -> Response:
        name = self.definition_arg(request)
        key = _text_arg(request, "key")
        store, tables = self.source.get()
        with store.transaction(write=False) as tx:
            row = tx.load(name, key)
            if row is None:
                others = [d for d in tx.definitions_of(key) if d != name]
                close = search_keys(tx, tables, key[:3], limit=10) if len(key) >= 3 else []
                return self.render(
                    request,
                    "missing.html",
                    404,
                    name=name,
                    key=key,
                    others=others,
                    close=[c for c in close if c[0] == name],
                )
            history: list[HistoryEntry] = []
            while len(history) < HISTORY_LIMIT:
                page = tx.history(name, key, after=history[-1].seq if history else 0, limit=500)
                history.extend(page)
                if len(page) < 500:
                    break
            effects = []
            for kind in ("pending", "dead", "done"):
                effects += outbox_rows(tx, tables, name, kind, limit=LIST_LIMIT, key=key)
        effects.sort(key=lambda r: r.id)
        now = self.clock.now()
        machine = self.machines.get(name)
        definition = machine.definition if machine is not None else None
        path = stays(row, history, definition, now)
        journey = restore(machine, row) if machine is not None else None
        steps = []
        explained = None
        explain_problem = None
        trigger = request.query_params.get("trigger")
        payload_text = request.query_params.get("payload", "")
        status = 200
        if machine is not None and not isinstance(journey, str) and journey is not None:
            steps = next_steps(machine, journey, now)
            if trigger:
                explained, explain_problem = self._explain(
                    machine, journey, trigger, payload_text, now
                )
                if explain_problem is not None:
                    status = 400
        m = self.masker
        outbox_view = [
            {
                "row": e,
                "call": m.value(e.call),
                "last_error": m.text(e.last_error, e.call, row.data),
            }
            for e in effects
        ]
        return self.render(
            request,
            "journey.html",
            status,
            name=name,
            key=key,
            row=row,
            data=m.value(row.data),
            history=[(e, m.value(dict(e.meta)) if e.meta else None) for e in history],
            history_cut=len(history) >= HISTORY_LIMIT,
            path=path,
            machine=machine,
            restore_problem=journey if isinstance(journey, str) else None,
            steps=steps,
            trigger=trigger or "",
            payload_text=payload_text,
            explained=explained,
            explain_problem=explain_problem,
            effects=outbox_view,
            now=now,
        )

    def _explain(
        self,
        machine: JourneyMachine,
        journey: Any,
        trigger: str,
        payload_text: str,
        now: datetime,
    ) -> tuple[Any, str | None]:
        triggers = machine.definition.triggers
        if trigger not in triggers:
            return None, (
                f"{trigger!r} is not a trigger of definition {machine.definition.name!r}; "
                f"its triggers: {', '.join(triggers)}"
            )
        payload: Any = None
        if payload_text.strip():
            if len(payload_text) > MAX_TEXT:
                return None, f"the payload is longer than {MAX_TEXT} characters"
            try:
                payload = json.loads(payload_text)
            except ValueError as err:
                return None, f'the payload is not JSON ({err}); write e.g. {{"paid": true}}'
        found = explain_trigger(machine, journey, trigger, payload, now)
        if isinstance(found, str):
            return None, found
        return found, None

    def outbox(self, request: Request) -> Response:
        name = self.definition_arg(request)
        store, tables = self.source.get()
        with store.transaction(write=False) as tx:
            counts = tx.outbox_counts(name)
            pending = outbox_rows(tx, tables, name, "pending", limit=LIST_LIMIT)
            dead = outbox_rows(tx, tables, name, "dead", limit=LIST_LIMIT)
        m = self.masker

        def view(rows: list[Any]) -> list[dict[str, Any]]:
            return [
                {"row": r, "call": m.value(r.call), "last_error": m.text(r.last_error, r.call)}
                for r in rows
            ]

        requeued = request.query_params.get("requeued")
        return self.render(
            request,
            "outbox.html",
            name=name,
            counts=counts,
            pending=view(pending),
            dead=view(dead),
            limit=LIST_LIMIT,
            requeued=requeued if requeued and requeued.isdigit() else None,
        )

    async def requeue(self, request: Request) -> Response:
        if not self.allow_writes:
            raise PageError(
                403,
                "Writes are off",
                "this explorer is read-only; start it with --allow-writes --token T to "
                "requeue dead letters",
            )
        form = await _read_form(request)
        self._check_post(request, form)
        name = form.get("definition", "")
        ids_text = form.get("ids", "all")
        ids: list[int] | None = None
        if ids_text != "all":
            try:
                ids = [int(i) for i in ids_text.split(",") if i.strip()]
            except ValueError:
                raise PageError(
                    400, "Bad request", f"ids must be numbers, got {ids_text!r}"
                ) from None
        count = await run_in_threadpool(self._requeue, name, ids)
        return RedirectResponse(
            _url("/outbox", definition=name, requeued=count), status_code=303, headers=HEADERS
        )

    def _requeue(self, name: str, ids: list[int] | None) -> int:
        if not name or (name not in self.machines and name not in self.stored_definitions()):
            raise PageError(404, "No such definition", f"there is no definition {name!r} here")
        store, _ = self.source.get()
        with store.transaction() as tx:
            count = int(tx.requeue_dead(name, now=self.clock.now(), ids=ids))
        self.figures.clear()
        log.warning("explorer requeued %d dead letter(s) of %r", count, name)
        return count

    def _check_post(self, request: Request, form: dict[str, str]) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = form.get("csrf", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
            raise PageError(
                403,
                "Form expired",
                "the form's CSRF value does not match this browser's cookie; reload the "
                "outbox page and submit its form again",
            )
        origin = request.headers.get("origin")
        if origin is not None:
            host = request.headers.get("host", "")
            parts = urlsplit(origin)
            if parts.netloc != host or parts.scheme not in ("http", "https"):
                raise PageError(
                    403, "Cross-site request refused", "the form came from another site"
                )
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site not in (None, "same-origin", "none"):
            raise PageError(403, "Cross-site request refused", "the form came from another site")
        token = form.get("token", "")
        assert self.token is not None
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise PageError(403, "Wrong token", "the token does not match the server's --token")


def _text_arg(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise PageError(400, "Missing parameter", f"this page needs ?{name}=...")
    if len(value) > MAX_TEXT:
        raise PageError(400, "Parameter too long", f"{name} is longer than {MAX_TEXT} characters")
    return value


async def _read_form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise PageError(415, "Unsupported form", "post the explorer's own form (urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise PageError(413, "Form too large", f"a form holds at most {MAX_FORM} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise PageError(400, "Bad form", "the form is not UTF-8") from None
    return {k: v[0] for k, v in fields.items()}


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
        Route("/overview", _guarded(explorer, explorer.overview)),
        Route("/stage", _guarded(explorer, explorer.stage_list)),
        Route("/search", _guarded(explorer, explorer.search)),
        Route("/journey", _guarded(explorer, explorer.journey)),
        Route("/outbox", _guarded(explorer, explorer.outbox)),
        Route("/outbox/requeue", _guarded_async(explorer, explorer.requeue), methods=["POST"]),
        Route("/healthz", health),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    app.state.explorer = explorer
    return app
