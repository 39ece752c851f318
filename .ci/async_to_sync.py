#!/usr/bin/env python3
"""Generate the sync twins of the service's async modules (STYLE 15: one source).

The async module is the source; its sync twin is derived from it, as psycopg 3 derives
``connection.py`` from ``connection_async.py`` (``tools/async_to_sync.py``).  Unlike
psycopg's AST rewrite this one works on the token stream (stdlib ``tokenize``), so the
comments, docstrings and layout of the source survive into the twin:

- ``async def`` / ``async with`` / ``async for`` lose their ``async``; ``await x`` is ``x``;
- a name of ``NAMES`` is renamed wherever it appears: in code, comments and strings
  (``AsyncJourneyService`` -> ``JourneyService``, ``__aenter__`` -> ``__enter__``, ...),
  and the article before it follows ("an AsyncPostgresStore" is "a PostgresStore");
- ``asyncio.<name>`` is replaced by its sync twin (``DOTTED``; another asyncio name is an
  error: the sync module cannot have it), ``import asyncio`` by the imports of the modules
  those twins are in (``asyncio.sleep`` and ``asyncio.Event``: ``import threading, time``);
- in docstring examples (``>>>`` / ``...`` lines) the same rewrite, and more: an
  ``asyncio.run(x)`` is ``x``, an ``asyncio.<name>`` of ``DOTTED`` its twin, and the line
  ``>>> import asyncio`` imports the twins' modules (dropped when there are none), so an
  example written for the async API is the same example for the sync one;
- in f-strings, the names renamed and ``await`` dropped (from the replacement fields);
- parentheses that only wrap an await of a primary are dropped with the ``await``:
  ``await (await conn.execute(q)).fetchone()`` is ``conn.execute(q).fetchone()`` (psycopg's
  async cursors), not ``(conn.execute(q)).fetchone()``;
- a docstring line with the comment ``# async only`` is dropped (a step only the async
  API has, as ``await store.open()`` in a usage example);
- a block ``if True:  # ASYNC`` ... ``else:`` ... keeps only its ``else`` body (dedented)
  in the twin, as written (no renames: it is sync code, and may name an async class, as
  "give an AsyncConnection to AsyncPostgresStore"), and one without ``else`` is dropped:
  the few lines that must differ (checking that a store is an async one).

The result goes through ``ruff check --fix --select I,RUF022,PYI016`` (imports and
``__all__`` sorted after the renames, a union the renames made twice of one type, as
``JourneyMachine | AsyncJourneyMachine``, made one) and ``ruff format``, and opens with a
comment naming its source.

    python .ci/async_to_sync.py           # (re)write every twin
    python .ci/async_to_sync.py --check   # exit 1 naming each twin that is stale
"""

from __future__ import annotations

import io
import keyword
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# source -> generated twin, relative to the repository root
TWINS = {
    "journeyfsm/service/_store_async.py": "journeyfsm/service/_store.py",
    "journeyfsm/service/_tick_async.py": "journeyfsm/service/_tick.py",
    "journeyfsm/service/_async.py": "journeyfsm/service/_sync.py",
    "journeyfsm/stores/_postgres_outbox_async.py": "journeyfsm/stores/_postgres_outbox.py",
    "journeyfsm/stores/_postgres_bulk_async.py": "journeyfsm/stores/_postgres_bulk.py",
    "journeyfsm/stores/_postgres_rows_async.py": "journeyfsm/stores/_postgres_rows.py",
    "journeyfsm/stores/_postgres_async.py": "journeyfsm/stores/_postgres.py",
    "journeyfsm/stores/_postgres_schema_async.py": "journeyfsm/stores/_postgres_schema.py",
    "journeyfsm/stores/_postgres_host_async.py": "journeyfsm/stores/_postgres_host.py",
    "journeyfsm/stores/_postgres_errors_async.py": "journeyfsm/stores/_postgres_errors.py",
    "journeyfsm/service/_outbox_async.py": "journeyfsm/service/_outbox.py",
    "journeyfsm/service/_timeout_worker_async.py": "journeyfsm/service/_timeout_worker.py",
}

NAMES = {
    "AsyncJourneyService": "JourneyService",
    "AsyncJourneyMachine": "JourneyMachine",
    "AsyncOutboxWorker": "OutboxWorker",
    "AsyncTimeoutWorker": "TimeoutWorker",
    "AsyncStore": "Store",
    "AsyncStoreTransaction": "StoreTransaction",
    "AsyncDriver": "Driver",
    "AsyncMemoryStore": "MemoryStore",
    "AsyncSQLiteStore": "SQLiteStore",
    "AsyncIterator": "Iterator",
    "AsyncIterable": "Iterable",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "asynccontextmanager": "contextmanager",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "_store_async": "_store",
    "_tick_async": "_tick",
    "_async_machine": "_runtime",
    "_async": "_sync",
    # the PostgreSQL store (psycopg 3's async classes and their sync twins)
    "AsyncConnection": "Connection",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncCursor": "Cursor",
    "AsyncPostgresStore": "PostgresStore",
    "AsyncPostgresTransaction": "PostgresTransaction",
    "AsyncPostgresOutboxRows": "PostgresOutboxRows",
    "AsyncPostgresBulkRows": "PostgresBulkRows",
    "_postgres_async": "_postgres",
    "_postgres_rows_async": "_postgres_rows",
    "_postgres_bulk_async": "_postgres_bulk",
    "_postgres_outbox_async": "_postgres_outbox",
    "_postgres_schema_async": "_postgres_schema",
    "_postgres_host_async": "_postgres_host",
    "_postgres_errors_async": "_postgres_errors",
}

DOTTED = {"asyncio.sleep": "time.sleep", "asyncio.Event": "threading.Event"}

_WORD = re.compile(r"\b(" + "|".join(sorted(NAMES, key=len, reverse=True)) + r")\b")
_AN = re.compile(r"\b([Aa])n (Async\w+)\b")
_PHRASE = re.compile(r"\basync (def|with|for)\b")
_ASYNC_BLOCK = re.compile(r"^(?P<indent> *)if True:  # ASYNC\n", re.M)
_DOTTED = re.compile(r"\basyncio\.(\w+)\b")
_IMPORT_ASYNCIO = "\0import asyncio\0"  # in an example: its twin's imports, known at the end


class GenerateError(Exception):
    """The source uses something that has no sync twin (named in the message)."""


def _words(text: str) -> str:
    # "an AsyncPostgresStore" is "a PostgresStore"
    text = _AN.sub(lambda m: f"{m[1]} {m[2]}" if m[2] in NAMES else m[0], text)
    return _WORD.sub(lambda m: NAMES[m[1]], text)


def _unwrap_run(code: str) -> str:
    """``asyncio.run(x)`` -> ``x`` in one line of example code."""
    while (start := code.find("asyncio.run(")) >= 0:
        depth, opened = 0, start + len("asyncio.run")
        for i in range(opened, len(code)):  # the closing parenthesis
            depth += {"(": 1, ")": -1}.get(code[i], 0)
            if depth == 0:
                break
        else:
            raise GenerateError(f"asyncio.run( without its ')' in example line {code!r}")
        code = code[:start] + code[start + len("asyncio.run(") : i] + code[i + 1 :]
    return code


def _dotted(code: str, modules: set[str]) -> str:
    """The ``asyncio.<name>`` of ``DOTTED`` in ``code`` replaced by their twins (whose
    modules are added to ``modules``); other asyncio names are left alone."""

    def twin(m: re.Match[str]) -> str:
        if m[0] not in DOTTED:
            return m[0]
        modules.add(DOTTED[m[0]].split(".")[0])
        return DOTTED[m[0]]

    return _DOTTED.sub(twin, code)


def _example_line(line: str, modules: set[str]) -> str:
    """One line of a docstring, rewritten (``_IMPORT_ASYNCIO``: its ``import asyncio``)."""
    m = re.match(r"^(\s*)(>>> |\.\.\. )(.*)$", line)
    if m is None:
        return _PHRASE.sub(r"\1", _words(line))
    code = m[3]
    if m[2] == ">>> " and code.strip() == "import asyncio":
        return m[1] + _IMPORT_ASYNCIO
    code = _dotted(_unwrap_run(code), modules)
    code = re.sub(r"\bawait ", "", code)
    code = _PHRASE.sub(r"\1", code)
    return m[1] + m[2] + _words(code)


def _fstring(text: str) -> str:
    # an f-string (a message): its names renamed, ``await`` dropped from its fields
    return re.sub(r"\bawait ", "", _words(text))


def _string(text: str) -> str:
    modules: set[str] = set()
    lines = [
        _example_line(line, modules) for line in text.split("\n") if "  # async only" not in line
    ]
    if modules:  # the example's ``import asyncio``: the twins' modules instead
        imports = f">>> import {', '.join(sorted(modules))}"
        lines = [line.replace(_IMPORT_ASYNCIO, imports) for line in lines]
    return "\n".join(line for line in lines if _IMPORT_ASYNCIO not in line)


def _block_end(lines: list[str], i: int, indent: str) -> int:
    """The index of the first line from ``i`` on that is not in a block under ``indent``."""
    while i < len(lines) and (lines[i].startswith(indent + " ") or not lines[i].strip()):
        i += 1
    return i


def _async_blocks(source: str) -> tuple[str, list[range]]:
    """Keep the ``else`` body of each ``if True:  # ASYNC`` block, dedented; and the
    (1-based) line numbers of those bodies, which are sync code already."""
    kept_lines: list[range] = []
    while (m := _ASYNC_BLOCK.search(source)) is not None:
        indent = m["indent"]
        lines = source[m.end() :].split("\n")
        i = _block_end(lines, 0, indent)
        if i == len(lines) or lines[i] != indent + "else:":  # async only: dropped
            source = source[: m.start()] + "\n".join(lines[i:])
            continue
        j = _block_end(lines, i + 1, indent)
        kept = [s[4:] if s.strip() else s for s in lines[i + 1 : j]]
        first = source.count("\n", 0, m.start()) + 1
        kept_lines.append(range(first, first + len(kept)))
        source = source[: m.start()] + "\n".join(kept + lines[j:])
    return source, kept_lines


_SKIPPED = (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)


def _await_parens(tokens: list[tokenize.TokenInfo]) -> dict[int, int]:
    """The ``(`` -> ``)`` token indices of the parentheses that only wrap ``await`` and a
    primary (names, dots, calls, subscripts: no operator or comment at their own level)."""
    found: dict[int, int] = {}
    for n, tok in enumerate(tokens[:-1]):
        k = n + 1
        while k < len(tokens) - 1 and tokens[k].type in _SKIPPED:
            k += 1
        if not (tok.type == tokenize.OP and tok.string == "(" and tokens[k].string == "await"):
            continue
        prev = tokens[n - 1] if n else tok
        if (prev.type == tokenize.NAME and not keyword.iskeyword(prev.string)) or prev.string in (
            ")",
            "]",
        ):
            continue  # a call's parentheses: f(await x), not (await x)
        depth, plain = 0, True
        for m in range(k + 1, len(tokens)):
            t = tokens[m]
            if t.type == tokenize.COMMENT and depth == 0:
                plain = False
            if t.string in "([{" and t.type == tokenize.OP:
                depth += 1
            elif t.string in ")]}" and t.type == tokenize.OP:
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and t.type not in (tokenize.NAME, *_SKIPPED) and t.string != ".":
                plain = False
        else:
            continue
        if plain:
            found[n] = m
    return found


def _next(tokens: list[tokenize.TokenInfo], n: int) -> tokenize.TokenInfo:
    """The first token after ``n`` that is not a line break or an indent."""
    while tokens[n + 1].type in _SKIPPED:
        n += 1
    return tokens[n + 1]


def rewrite(source: str) -> str:
    """The sync twin of async ``source`` (before formatting)."""
    source, verbatim = _async_blocks(source)
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))

    def at(pos: tuple[int, int]) -> int:
        return offsets[pos[0] - 1] + pos[1]

    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    # the modules of the twins of the asyncio names used: what ``import asyncio`` becomes
    modules = sorted(
        {
            DOTTED[f"asyncio.{tokens[n + 2].string}"].split(".")[0]
            for n, tok in enumerate(tokens[:-2])
            if tok.string == "asyncio"
            and tokens[n + 1].string == "."
            and f"asyncio.{tokens[n + 2].string}" in DOTTED
            and not any(tok.start[0] in lines for lines in verbatim)
        }
    )
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement), in order
    fstring_start, depth = 0, 0  # Python 3.12+ tokenizes f-strings: rewritten whole
    opens = _await_parens(tokens)
    closes = set(opens.values())
    for n, tok in enumerate(tokens):
        kind, text = tok.type, tok.string
        if any(tok.start[0] in lines for lines in verbatim):
            continue  # an else body of an ASYNC block: written for the twin, kept as is
        nxt = tokens[n + 1] if n + 1 < len(tokens) else tok
        if kind == getattr(tokenize, "FSTRING_START", None):
            fstring_start = at(tok.start) if depth == 0 else fstring_start
            depth += 1
        elif kind == getattr(tokenize, "FSTRING_END", None):
            depth -= 1
            if depth == 0:
                end = at(tok.end)
                edits.append((fstring_start, end, _fstring(source[fstring_start:end])))
        elif depth:
            continue
        elif n in opens:  # "(" and the space after it, to the await
            edits.append((at(tok.start), at(_next(tokens, n).start), ""))
        elif n in closes:  # the space before ")" and the ")"
            last = max(i for i in range(n) if tokens[i].type not in _SKIPPED)
            edits.append((at(tokens[last].end), at(tok.end), ""))
        elif kind == tokenize.NAME and text in ("async", "await"):
            edits.append((at(tok.start), at(nxt.start), ""))  # the keyword and its space
        elif kind == tokenize.NAME and text == "asyncio":
            prev = tokens[n - 1].string if n else ""
            if prev == "import":
                if not modules:
                    raise GenerateError(
                        f"line {tok.start[0]}: import asyncio, but no asyncio name with a "
                        "sync twin is used: import it in an ASYNC block"
                    )
                edits.append((at(tok.start), at(tok.end), ", ".join(modules)))
                continue
            dotted = "asyncio." + tokens[n + 2].string if nxt.string == "." else "asyncio"
            if dotted not in DOTTED:
                raise GenerateError(f"line {tok.start[0]}: {dotted} has no sync twin in DOTTED")
            edits.append((at(tok.start), at(tokens[n + 2].end), DOTTED[dotted]))
        elif kind == tokenize.NAME and text in NAMES:
            edits.append((at(tok.start), at(tok.end), NAMES[text]))
        elif kind == tokenize.COMMENT:
            edits.append((at(tok.start), at(tok.end), _PHRASE.sub(r"\1", _words(text))))
        elif kind == tokenize.STRING and re.match(r"[rRbB]*[fF]", text):  # to 3.11
            edits.append((at(tok.start), at(tok.end), _fstring(text)))
        elif kind == tokenize.STRING:
            edits.append((at(tok.start), at(tok.end), _string(text)))
    out, last = [], 0
    for start, end, new in edits:
        out.append(source[last:start] + new)
        last = end
    return "".join(out) + source[last:]


def _ruff() -> str:
    found = Path(sys.executable).parent / "ruff"
    ruff = str(found) if found.exists() else shutil.which("ruff")
    if ruff is None:
        raise GenerateError("ruff is not installed: run `make generate` (the dev extra has it)")
    return ruff


def generate(source_path: str) -> str:
    """The text of the twin of ``source_path`` (a key of ``TWINS``), formatted."""
    target = TWINS[source_path]
    header = (
        f"# GENERATED from {source_path} by .ci/async_to_sync.py: do not edit;\n"
        "# edit the source and run `make generate`.\n"
    )
    code = header + rewrite((ROOT / source_path).read_text(encoding="utf-8"))
    ruff = _ruff()
    for args in (
        [
            "check",
            "--fix",
            "--unsafe-fixes",
            "--select",
            "I,RUF022,PYI016",
            "--quiet",
            "--exit-zero",
        ],
        ["format", "--quiet"],
    ):
        done = subprocess.run(
            [ruff, *args, "--stdin-filename", target, "-"],
            input=code,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            raise GenerateError(
                f"ruff {args[0]} failed on the twin of {source_path}: {done.stderr}"
            )
        code = done.stdout
    return code


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print("usage: async_to_sync.py [--check]", file=sys.stderr)
        return 2
    stale = []
    for source, target in TWINS.items():
        text = generate(source)
        path = ROOT / target
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if check:
            stale.append(target)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"generated {target} from {source}")
    for target in stale:
        print(f"{target} is stale: run `make generate`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
