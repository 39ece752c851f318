"""The explorer's one write: dead letters back to pending, through a checked POST.

Only an app made with ``allow_writes=True`` and a token takes it.  The form must carry:
the token (compared in constant time); a CSRF value equal to the HttpOnly,
``SameSite=Strict`` cookie the page set (double submit: another site can make a browser
post, but cannot read the cookie to copy it into the form); and, where the browser
says where the form came from (``Origin``, ``Sec-Fetch-Site``), this very server.  The
body is read up to ``MAX_FORM`` bytes.  The write runs in the thread pool, in one store
transaction (``requeue_dead``), and is logged at WARNING.
"""

from __future__ import annotations

import hmac
import logging
import re
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ._pages import CSRF_COOKIE, HEADERS, Explorer, url
from ._source import PageError

__all__ = ["MAX_FORM", "check_post", "read_form", "requeue"]

log = logging.getLogger("journeyfsm.explorer")

MAX_FORM = 16 * 1024


async def requeue(explorer: Explorer, request: Request) -> Response:
    """POST /outbox/requeue: dead letters of a definition (all, or ``ids``) back to pending."""
    if not explorer.allow_writes:
        raise PageError(
            403,
            "Writes are off",
            "this explorer is read-only; start it with --allow-writes --token T to "
            "requeue dead letters",
        )
    form = await read_form(request)
    check_post(explorer, request, form)
    name = form.get("definition", "")
    ids_text = form.get("ids", "all")
    ids = None if ids_text == "all" else _ids(ids_text)
    count = await run_in_threadpool(_requeue, explorer, name, ids)
    return RedirectResponse(
        url("/outbox", definition=name, requeued=count), status_code=303, headers=HEADERS
    )


_ID = re.compile(r"[0-9]{1,19}")
_MAX_ID = 2**63 - 1  # the outbox's ids are 64-bit integers in every store


def _ids(text: str) -> list[int]:
    """The outbox ids of a form's ``ids`` field (``1,2,3``); :class:`PageError` (400)
    for anything else: no id at all, a non-ASCII digit, a sign, a number past 64 bits."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(_ID.fullmatch(p) and 0 < int(p) <= _MAX_ID for p in parts):
        raise PageError(
            400,
            "Bad request",
            f"ids must be 'all' or outbox ids (whole numbers from 1 to {_MAX_ID}) separated "
            f"by commas, e.g. 12,15; got {text[:100]!r}",
        )
    return [int(p) for p in parts]


def _requeue(explorer: Explorer, name: str, ids: list[int] | None) -> int:
    if not name or not explorer.known(name):
        raise PageError(404, "No such definition", f"there is no definition {name!r} here")
    store, _ = explorer.source.get()
    with store.transaction() as tx:
        count = int(tx.requeue_dead(name, now=explorer.clock.now(), ids=ids))
    explorer.figures.clear()
    log.warning("explorer requeued %d dead letter(s) of %r", count, name)
    return count


def check_post(explorer: Explorer, request: Request, form: dict[str, str]) -> None:
    """Refuse a POST without the token, the CSRF value, or from another origin."""
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
            raise PageError(403, "Cross-site request refused", "the form came from another site")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site not in (None, "same-origin", "none"):
        raise PageError(403, "Cross-site request refused", "the form came from another site")
    token = form.get("token", "")
    assert explorer.token is not None
    if not hmac.compare_digest(token.encode(), explorer.token.encode()):
        raise PageError(403, "Wrong token", "the token does not match the server's --token")


async def read_form(request: Request) -> dict[str, str]:
    """The fields of an urlencoded form of at most ``MAX_FORM`` bytes (first value each)."""
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
