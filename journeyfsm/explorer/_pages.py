"""The explorer's read-only pages: what each shows, rendered by Jinja2 on the server.

Theory of operation
-------------------
Every page is rendered here and works without JavaScript; the only graphics are the
SVG drawings of :mod:`journeyfsm.export`, whose own text is escaped there.  Jinja2
autoescapes everything else: customer data, keys and definition names are untrusted
text.  Each response carries a Content-Security-Policy that allows no script at all.
Masked fields (:mod:`._mask`) are replaced before a value reaches a template.

The journey pages read through the store's own protocol (``load``, ``history``); the
overview, the lists and the search through the aggregate queries of :mod:`._queries`.
An overview is counted, drawn and sorted once per ``refresh`` seconds
(:class:`._overview.FigureCache`); a request then only renders its template.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .._clock import Clock
from .._records import HistoryEntry
from .._runtime import JourneyMachine
from ..analytics import human_duration
from ..analytics._funnel import _self_moves
from ..export import funnel_svg, to_svg
from ._journey import explain_trigger, goal_rows, next_steps, restore, stays
from ._mask import MASKED, Masker
from ._overview import FigureCache, conversion_blocker, conversion_of, funnel_of
from ._queries import (
    chain_moves,
    definitions_in_store,
    funnel_figures,
    has_journeys,
    outbox_rows,
    search_keys,
    stage_keys,
)
from ._source import PageError, StoreSource

__all__ = ["CSRF_COOKIE", "HEADERS", "MAX_TEXT", "Explorer", "text_arg", "url"]

CSRF_COOKIE = "journeyfsm_csrf"
LIST_LIMIT = 200  # rows an outbox or stage list shows at once
HISTORY_LIMIT = 1000  # history entries a journey page shows (the newest are last)
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


def _iso(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def url(path: str, **params: object) -> str:
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
        self.source = StoreSource(store)
        self.machines = dict(machines)
        self.masker = masker
        self.allow_writes = allow_writes
        self.token = token
        self.clock = clock
        self.title = title
        self.figures: FigureCache[dict[str, Any]] = FigureCache(refresh)
        self.names: FigureCache[dict[str, int]] = FigureCache(refresh)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # the templates ship with the package: no stat per request
        )
        self.env.globals.update(
            url=url, iso=_iso, pct=_pct, duration=human_duration, as_json=_json_text
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
    def _read_names(self) -> dict[str, int]:
        store, tables = self.source.get()
        with store.transaction(write=False) as tx:
            return definitions_in_store(tx, tables)

    def stored_definitions(self) -> dict[str, int]:
        """``{definition: journeys}`` of the store (kept as the overviews are)."""
        return self.names.get("", self._read_names)

    def known(self, name: str) -> bool:
        """Whether ``name`` is a loaded or a stored definition (one stored since the
        kept list was read too: a primary-key probe, not a recount)."""
        if name in self.machines or name in self.stored_definitions():
            return True
        store, tables = self.source.get()
        with store.transaction(write=False) as tx:
            return has_journeys(tx, tables, name)

    def definition_arg(self, request: Request) -> str:
        name = text_arg(request, "definition")
        if self.known(name):
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

    def _count(self, name: str) -> dict[str, Any]:
        """One definition's overview, counted, drawn and sorted (kept ``refresh`` s)."""
        store, tables = self.source.get()
        machine = self.machines.get(name)
        order = machine.definition.funnel if machine is not None else ()
        blocker = None if machine is None else conversion_blocker(machine.definition)
        counts = None
        with store.transaction(write=False) as tx:
            figures = funnel_figures(tx, tables, name, order)
            if machine is not None and blocker is None:
                counts = chain_moves(tx, tables, name, _self_moves(machine.definition))
        view: dict[str, Any] = {
            "figures": figures,
            "funnel": None,
            "diagram": None,
            "chart": None,
            "unknown": {},
            "current": sorted(figures.current.items(), key=lambda kv: (-kv[1], kv[0])),
            "moves": sorted(figures.moves.items(), key=lambda kv: (-kv[1], kv[0])),
            "conversion": None,
            "conversion_missing": blocker,
        }
        if machine is not None:
            d = machine.definition
            funnel = funnel_of(figures, d)
            view["funnel"] = funnel
            view["diagram"] = Markup(to_svg(d, funnel=funnel))  # export escapes its text
            view["chart"] = Markup(funnel_svg(funnel)) if d.funnel else None
            view["unknown"] = {s: n for s, n in figures.current.items() if not d.has_stage(s)}
            if counts is not None:
                view["conversion"] = conversion_of(d, counts)
        return view

    def _overview_page(self, request: Request, name: str, view: dict[str, Any]) -> Response:
        return self.render(
            request,
            "overview.html",
            name=name,
            machine=self.machines.get(name),
            refresh=self.figures.refresh,
            **view,
        )

    def overview(self, request: Request) -> Response:
        name = self.definition_arg(request)
        return self._overview_page(
            request, name, self.figures.get(name, partial(self._count, name))
        )

    def overview_kept(self, request: Request) -> Response | None:
        """The overview from what is kept, touching no database (``None``: nothing kept
        for this request, ask :meth:`overview`).  The event loop serves it: no thread."""
        name = request.query_params.get("definition")
        if not name or len(name) > MAX_TEXT or not self.source.ready:
            return None
        if name not in self.machines:
            names = self.names.peek("", self._read_names)
            if names is None or name not in names:
                return None
        view = self.figures.peek(name, partial(self._count, name))
        return None if view is None else self._overview_page(request, name, view)

    def stage_list(self, request: Request) -> Response:
        name = self.definition_arg(request)
        stage = text_arg(request, "stage")
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
        if len(exact) == 1:  # one journey has exactly this key: go there
            d, k, _ = exact[0]
            return RedirectResponse(
                url("/journey", definition=d, key=k), status_code=303, headers=HEADERS
            )
        return self.render(request, "search.html", q=text, found=found, limit=50)

    def journey(self, request: Request) -> Response:
        name = self.definition_arg(request)
        key = text_arg(request, "key")
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
            # the newest HISTORY_LIMIT moves (seqs run 1..version without gaps)
            first = max(0, row.version - HISTORY_LIMIT)
            history: list[HistoryEntry] = []
            while True:
                after = history[-1].seq if history else first
                page = tx.history(name, key, after=after, limit=500)
                history.extend(page)
                if len(page) < 500:
                    break
            effects = []
            for kind in ("pending", "dead", "dropped", "done"):
                effects += outbox_rows(tx, tables, name, kind, limit=LIST_LIMIT, key=key)
        effects.sort(key=lambda r: r.id)
        now = self.clock.now()
        machine = self.machines.get(name)
        definition = machine.definition if machine is not None else None
        path = stays(row, history, definition, now, earlier=first > 0)
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
            history_cut=first,
            path=path,
            machine=machine,
            restore_problem=journey if isinstance(journey, str) else None,
            steps=steps,
            trigger=trigger or "",
            payload_text=payload_text,
            explained=explained,
            explain_problem=explain_problem,
            effects=outbox_view,
            goals=goal_rows(row.goals, now),
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
            dropped = outbox_rows(tx, tables, name, "dropped", limit=LIST_LIMIT)
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
            dropped=view(dropped),
            limit=LIST_LIMIT,
            requeued=requeued if requeued and requeued.isdigit() else None,
        )


def text_arg(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise PageError(400, "Missing parameter", f"this page needs ?{name}=...")
    if len(value) > MAX_TEXT:
        raise PageError(400, "Parameter too long", f"{name} is longer than {MAX_TEXT} characters")
    return value
