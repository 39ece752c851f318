"""``journeyfsm serve``: the journey explorer (journeyfsm.explorer) over a store.

    $ journeyfsm demo --db shop.db --quiet
    $ journeyfsm serve --db shop.db
    $ journeyfsm serve --db postgresql://shop@db/shop --definition myshop.journeys:machine \\
          --mask email phone
    $ JOURNEYFSM_SERVE_TOKEN=... journeyfsm serve --db shop.db --allow-writes

It binds 127.0.0.1 unless ``--host`` says otherwise, and is read-only unless
``--allow-writes`` (with a token: ``--token T`` or ``JOURNEYFSM_SERVE_TOKEN``).  A store
whose schema is missing or older is served anyway, as pages that say what to run (the
next request after ``journeyfsm db init`` works); a store that cannot be reached at all
(a wrong path or DSN) is a usage error, exit 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from .._definition import JourneyDefinition
from .._errors import DefinitionError, StoreError
from .._runtime import JourneyMachine
from ._load import UsageError, import_target, load_definition, template
from ._store import CliUsageError, _is_dsn, redact

__all__ = ["add_serve_command"]

TOKEN_ENV = "JOURNEYFSM_SERVE_TOKEN"

EPILOG = """\
examples:
  journeyfsm demo --db shop.db --quiet && journeyfsm serve --db shop.db
  journeyfsm serve --db shop.db --definition myshop.journeys:machine --mask email phone
  journeyfsm serve --db postgresql://shop@db/shop --port 8081
  JOURNEYFSM_SERVE_TOKEN=$(openssl rand -hex 16) journeyfsm serve --db shop.db --allow-writes

--definition takes a template name, a .json definition file (guards are placeholders:
no explain), or MODULE:ATTR naming the host's JourneyMachine or JourneyDefinition (or a
function returning one); give it once per definition.  Without it, a definition the
store holds is shown with its counts only (the demo's 'demo-shop' is known).

exit codes: 0 stopped (Ctrl-C), 2 bad usage or a store that cannot be reached
"""


def add_serve_command(sub: Any) -> None:
    """Add ``serve`` to the command's subparsers."""
    serve = sub.add_parser(
        "serve",
        help="serve the journey explorer: a small web app over a store (read-only by default)",
        description="Serve the journey explorer over a store: an overview per definition "
        "(journeys per stage, funnel, diagram with counts), search, one journey's page "
        "(path, events, effects, what next and why, explain), the outbox. Needs the "
        "extra journeyfsm[serve].",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--db", required=True, metavar="URL", help="SQLite path or PostgreSQL DSN")
    serve.add_argument(
        "--definition",
        action="append",
        default=[],
        metavar="REF",
        help="a definition to draw and explain: template name, .json file or MODULE:ATTR "
        "(repeat for several)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8080, help="port to bind (8080; 0: any free port)"
    )
    serve.add_argument(
        "--mask",
        nargs="+",
        action="extend",
        default=[],
        metavar="FIELD",
        help="data fields never shown (in data, history meta and outbox payloads), e.g. "
        "--mask email phone",
    )
    serve.add_argument(
        "--allow-writes",
        action="store_true",
        help="allow requeueing dead letters (needs a token)",
    )
    serve.add_argument(
        "--token",
        metavar="T",
        default=None,
        help=f"the token the requeue form asks for (default: ${TOKEN_ENV}); 16+ characters",
    )
    serve.add_argument(
        "--refresh",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds an overview's counts are kept before they are counted again (5)",
    )
    serve.set_defaults(run=_cmd_serve)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, got {value}")
    return value


def load_definitions(refs: list[str]) -> list[JourneyDefinition | JourneyMachine]:
    """Each ``--definition`` reference as a definition or machine; a usage error if bad."""
    out: list[JourneyDefinition | JourneyMachine] = []
    for ref in refs:
        if ":" in ref and not Path(ref).exists():
            target = import_target(
                ref, "--definition", (JourneyMachine, JourneyDefinition), CliUsageError
            )
            out.append(target)
        elif ref.endswith(".json") or Path(ref).is_file():
            try:
                out.append(load_definition(ref))
            except DefinitionError as err:
                problems = "; ".join(p.message for p in err.problems)
                raise CliUsageError(f"--definition {ref}: {problems}") from None
        else:
            try:
                out.append(template(ref))
            except UsageError as err:
                raise CliUsageError(f"--definition: {err}") from None
    return out


def _opener(url: str) -> Any:
    from .. import stores

    if _is_dsn(url):
        return lambda: stores.PostgresStore(url)
    return lambda: stores.SQLiteStore(url)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    try:
        import uvicorn

        from ..explorer import create_app
        from ..explorer._queries import definitions_in_store, tables_of
    except ImportError as err:
        raise CliUsageError(
            f"journeyfsm serve needs the extra journeyfsm[serve] ({err}): "
            "pip install 'journeyfsm[serve]'"
        ) from None
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    if args.allow_writes and not token:
        raise CliUsageError(
            f"--allow-writes needs a token: --token T or ${TOKEN_ENV} (16+ characters; the "
            "requeue form asks for it)"
        )
    if token is not None and not args.allow_writes:
        if args.token is not None:
            raise CliUsageError("--token goes with --allow-writes (the explorer is read-only)")
        token = None  # the variable is set for another run: read-only anyway
    if args.allow_writes and token is not None and len(token) < 16:
        raise CliUsageError(f"the token must be at least 16 characters, got {len(token)}")
    if not args.refresh >= 0:
        raise CliUsageError(f"--refresh must be seconds >= 0, got {args.refresh}")
    if not _is_dsn(args.db) and not Path(args.db).is_file():
        raise CliUsageError(
            f"no SQLite file {args.db!r}; check the path, or create a store there with "
            f"'journeyfsm db init --db {args.db}' (or 'journeyfsm demo --db {args.db}')"
        )
    definitions = load_definitions(args.definition)
    try:
        from ..explorer._mask import check_mask_fields

        mask = check_mask_fields(args.mask)
    except ValueError as err:
        raise CliUsageError(str(err)) from None
    open_store = _opener(args.db)
    store: Any
    problem = None
    try:
        store = open_store()
    except StoreError as err:
        if err.table != "schema_version":  # unreachable, refused: not a page's business
            raise CliUsageError(redact(str(err))) from None
        store, problem = open_store, redact(str(err))
    if problem is None:
        from ._demo import demo_definition

        named = {(d.definition if isinstance(d, JourneyMachine) else d).name for d in definitions}
        with store.transaction(write=False) as tx:
            stored = definitions_in_store(tx, tables_of(store))
        if "demo-shop" in stored and "demo-shop" not in named:
            definitions.append(demo_definition())
    try:
        app = create_app(
            store,
            definitions=definitions,
            mask=mask,
            allow_writes=args.allow_writes,
            token=token,
            refresh=args.refresh,
        )
    except (TypeError, ValueError) as err:
        raise CliUsageError(str(err)) from None
    try:
        sock = socket.socket(
            socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        # listening before the address is printed: a client that reads it and connects
        # at once waits in the backlog until the server accepts, never refused
        sock.listen(2048)
    except OSError as err:
        raise CliUsageError(f"cannot listen on {args.host}:{args.port}: {err}") from None
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    mode = "read-write (requeue)" if args.allow_writes else "read-only"
    print(
        f"journeyfsm explorer on http://{shown}:{port}/ over {redact(args.db)} ({mode}); "
        "Ctrl-C stops",
        file=out,
        flush=True,
    )
    if problem is not None:
        print(f"warning: the store cannot be read yet: {problem}", file=sys.stderr, flush=True)
    if not _is_loopback(host):
        print(
            f"warning: listening on {host}: whoever reaches it reads customer data "
            "(mask fields with --mask; bind 127.0.0.1 behind a proxy with authentication)",
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    try:
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again
        # (KeyboardInterrupt for Ctrl-C): the command stopped as asked, exit 0
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        close = getattr(store, "close", None)
        if callable(close):
            close()
    return 0
