"""The sync twins are generated from their async sources (.ci/async_to_sync.py, STYLE 15):
each committed twin is exactly what the generator makes of its source now, and the
rewrite rules do what the generator's docstring says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("async_to_sync", ROOT / ".ci" / "async_to_sync.py")
assert _spec is not None and _spec.loader is not None
gen = importlib.util.module_from_spec(_spec)
sys.modules["async_to_sync"] = gen
_spec.loader.exec_module(gen)


@pytest.mark.parametrize("source", sorted(gen.TWINS))
def test_the_generated_twin_is_current(source: str) -> None:
    target = gen.TWINS[source]
    current = (ROOT / target).read_text(encoding="utf-8")
    assert current == gen.generate(source), (
        f"{target} is stale (or was edited by hand): it is generated from {source}; "
        "edit the source and run `make generate`"
    )


def test_every_twin_says_it_is_generated_and_from_what() -> None:
    for source, target in gen.TWINS.items():
        head = (ROOT / target).read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith(f"# GENERATED from {source}"), target


def test_async_code_becomes_sync_code() -> None:
    source = """import asyncio
from collections.abc import AsyncIterator


class AsyncJourneyService:
    async def __aenter__(self) -> "AsyncJourneyService":  # AsyncStore here
        async with self.store.transaction() as tx:
            rows = [await tx.load(k) for k in "ab"]
        async for row in self.rows():
            await asyncio.sleep(0.1)
        return f"AsyncJourneyService {await self.name()!r}"
"""
    assert (
        gen.rewrite(source)
        == """import time
from collections.abc import Iterator


class JourneyService:
    def __enter__(self) -> "JourneyService":  # Store here
        with self.store.transaction() as tx:
            rows = [tx.load(k) for k in "ab"]
        for row in self.rows():
            time.sleep(0.1)
        return f"JourneyService {self.name()!r}"
"""
    )


def test_examples_written_for_the_async_api_become_the_sync_examples() -> None:
    source = '''def f():
    """Use ``async with store.transaction()``.

    >>> import asyncio
    >>> service = AsyncJourneyService(machine, AsyncMemoryStore())
    >>> asyncio.run(service.handle("c-1", "engage")).dest
    'interest'
    >>> async def stored():
    ...     return [j.key async for j in service.journeys()]
    >>> asyncio.run(stored())
    ['c-1']
    """
'''
    assert (
        gen.rewrite(source)
        == '''def f():
    """Use ``with store.transaction()``.

    >>> service = JourneyService(machine, MemoryStore())
    >>> service.handle("c-1", "engage").dest
    'interest'
    >>> def stored():
    ...     return [j.key for j in service.journeys()]
    >>> stored()
    ['c-1']
    """
'''
    )


def test_an_async_block_keeps_its_else_body_or_nothing() -> None:
    source = """if True:  # ASYNC
    import inspect


def f(store):
    if True:  # ASYNC
        check_async(store)
    else:
        check(store)
    return store
"""
    assert (
        gen.rewrite(source)
        == """def f(store):
    check(store)
    return store
"""
    )


def test_an_asyncio_name_without_a_sync_twin_is_refused() -> None:
    with pytest.raises(gen.GenerateError, match=r"asyncio.gather has no sync twin"):
        gen.rewrite("async def f():\n    await asyncio.gather()\n")


def test_parentheses_around_an_awaited_cursor_go_with_the_await() -> None:
    source = """async def f(self):
    found = await (
        await self.conn.execute(
            q,  # a comment inside the call
            (a, b),
        )
    ).fetchone()
    n = int((await ex(q)).rowcount)
    kept = (await a + b).c
    out.extend(await self.rows())
    return [r for r in await rows.fetchall()]
"""
    assert (
        gen.rewrite(source)
        == """def f(self):
    found = self.conn.execute(
            q,  # a comment inside the call
            (a, b),
        ).fetchone()
    n = int(ex(q).rowcount)
    kept = (a + b).c
    out.extend(self.rows())
    return [r for r in rows.fetchall()]
"""
    )


def test_articles_follow_the_rename_and_async_only_doc_lines_are_dropped() -> None:
    source = '''def f():
    """The rows of an AsyncPostgresStore, an async store.

        store = AsyncPostgresStore(dsn)
        await store.open()  # async only
    """
'''
    assert (
        gen.rewrite(source)
        == '''def f():
    """The rows of a PostgresStore, an async store.

        store = PostgresStore(dsn)
    """
'''
    )


def test_an_else_body_is_sync_code_already_and_is_kept_as_written() -> None:
    source = """async def f(conn):
    if True:  # ASYNC
        check(conn, "AsyncPostgresStore")
    else:
        check(conn, "give an AsyncConnection to AsyncPostgresStore")  # AsyncStore
    await AsyncPostgresStore(conn).open()
"""
    assert (
        gen.rewrite(source)
        == """def f(conn):
    check(conn, "give an AsyncConnection to AsyncPostgresStore")  # AsyncStore
    PostgresStore(conn).open()
"""
    )


def test_import_asyncio_becomes_the_imports_of_the_twins_it_uses() -> None:
    source = '''import asyncio


async def run(stop: asyncio.Event) -> None:
    """Until stopped.

    >>> import asyncio
    >>> stop = asyncio.Event(); stop.set()
    >>> asyncio.run(run(stop))
    """
    if True:  # ASYNC
        await asyncio.wait_for(stop.wait(), 1)
    else:
        stop.wait(1)
    await asyncio.sleep(0)
'''
    assert (
        gen.rewrite(source)
        == '''import threading, time


def run(stop: threading.Event) -> None:
    """Until stopped.

    >>> import threading
    >>> stop = threading.Event(); stop.set()
    >>> run(stop)
    """
    stop.wait(1)
    time.sleep(0)
'''
    )
    with pytest.raises(gen.GenerateError, match=r"import asyncio, but no asyncio name"):
        gen.rewrite("import asyncio\n")
