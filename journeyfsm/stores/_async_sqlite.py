"""``AsyncSQLiteStore``: a ``SQLiteStore``'s connection driven from an event loop, the
loop never waiting for a commit or a lock.

Theory of operation.  The store owns ONE SQLite connection and ONE thread (its worker:
a queue, calls run in the order submitted).  A hand-off to the worker costs a thread
wake-up each way (~80 µs on the 2-core benchmark machine, as much as the sync
``handle``'s own work), so the store hands off only what can wait and does the rest
inline, on the loop thread, while the task holds the store's ``asyncio.Lock``:

- a READ transaction (``write=False``) runs inline: a deferred ``BEGIN``, the ``SELECT``s,
  ``COMMIT``.  In WAL mode a reader takes no lock a writer holds and a read-only commit
  writes nothing, so none of it waits for another connection or for the disk's fsync.
  The connection's ``busy_timeout`` is 0 while it runs inline: in the rare case a read
  is told ``SQLITE_BUSY`` (another connection recovering the WAL, or one that switched
  the file out of WAL mode), the transaction is rolled back and run again on the worker,
  where it may wait ``busy_timeout``.  (What an inline read can still cost: reading a
  page that is neither in SQLite's cache nor the OS's from the disk.)
- a WRITE transaction is begun lazily: its calls that return nothing (``write``,
  ``write_many``, ``import_rows``, ``mark_done``, ``mark_failed``) are buffered, and ONE
  hand-off runs ``BEGIN IMMEDIATE`` (which may wait ``busy_timeout`` for the write lock:
  tried at once first, the wait set only when SQLite says the lock is taken), the
  buffered calls and ``COMMIT`` (which fsyncs) on the worker.  A call that returns
  something (``claim``, ``claim_due_batch``, ``purge_event_ids`` ...) is one hand-off
  with the ``BEGIN`` and the calls buffered before it.  So ``handle`` is one hand-off,
  a tick's batch two.  The price: an error of a buffered call (a ``ConcurrencyConflict``)
  is raised by the next call that returns something, or by the ``async with`` itself.
- ``handle`` uses neither transaction object: ``load_event_now`` reads inline with ONE
  ``SELECT`` in autocommit (SQLite's own read transaction around one statement: the same
  snapshot a ``BEGIN`` ... ``COMMIT`` gives, two statements fewer), and ``commit_move`` is
  a write transaction's one hand-off.

The connection is never used by two threads at once: inline calls are made only by the
task holding the lock, and only once the worker has finished every call handed to it
(``_idle``; a cancelled task can leave one running, see below).

Cancellation.  An inline call is never interrupted (it has no await).  A call handed to
the worker is never withdrawn: a task cancelled while it waits leaves it to finish, and
the ``async with`` then queues a rollback behind it (the queue keeps the order); the lock
is released after that, and the next inline use waits for the worker to be idle.  A task
cancelled inside its block before the hand-off has written nothing (the calls were
buffered).  So a cancelled ``handle`` leaves its move written whole (the cancel came
while ``COMMIT`` ran, or after) or not at all.

A transaction opened by the task that holds the store's transaction joins it (a
savepoint), where the outer one runs; a write transaction cannot be opened inside a read
one (open the outer one with ``write=True``).  Use a store from one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from .._errors import StoreError
from ..service._core import Decision, JourneyRow
from ..service._store_async import AsyncStoreTransaction
from ._async_rows import _Transaction
from ._sqlite import SQLiteStore
from ._sqlite_rows import SQLiteTransaction

__all__ = ["AsyncSQLiteStore"]

#: the calls that return nothing: a write transaction buffers them (see the docstring)
_BUFFERED = frozenset(
    getattr(SQLiteTransaction, name)
    for name in ("write", "write_many", "import_rows", "mark_done", "mark_failed")
)
#: the calls that only read: what a read transaction runs inline
_READS = frozenset(
    getattr(SQLiteTransaction, name)
    for name in (
        "load",
        "load_event",
        "definitions_of",
        "event_seq",
        "load_many",
        "event_seqs",
        "history",
        "due",
        "journeys_page",
        "histories",
        "outbox",
        "outbox_counts",
    )
)
_Op = Callable[["_Work"], Any]


class _Worker:
    """One thread running submitted calls in order; each call's outcome is handed to
    ``done(ok, value)`` on that thread."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Callable[[bool, Any], None]] | None]
        self._queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, done = item
            try:
                value = fn()
            except BaseException as err:  # handed to the awaiting task, never lost
                done(False, err)
            else:
                done(True, value)
            del item, fn, done

    def submit(self, fn: Callable[[], Any], done: Callable[[bool, Any], None]) -> None:
        self._queue.put((fn, done))

    def stop(self) -> None:
        self._queue.put(None)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the thread and wait (blocking) for its result."""
        box: list[Any] = []
        ready = threading.Event()

        def done(ok: bool, value: Any) -> None:
            box.append((ok, value))
            ready.set()

        self.submit(fn, done)
        ready.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value


class _Work:
    """The worker's side of one transaction: the sync store's transactions open on the
    worker thread (outermost first; inner ones are savepoints), and the rows object."""

    __slots__ = ("busy_ms", "conn", "stack", "store", "tx")

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self.store, self.conn = store, conn
        self.busy_ms = int(store.busy_timeout * 1000)
        self.stack: list[tuple[AbstractContextManager[SQLiteTransaction], SQLiteTransaction]]
        self.stack = []
        self.tx: SQLiteTransaction | None = None

    def begin(self, write: bool) -> None:
        cm = self.store.transaction(write=write)
        try:
            tx = cm.__enter__()  # at once, as usual: nobody else holds the write lock
        except StoreError as err:
            if self.stack or not _busy_cause(err):
                raise
            # BEGIN [IMMEDIATE] was told to wait for the write lock: here it may (the
            # connection's busy_timeout is 0 for the reads on the loop); no second
            # PRAGMA per transaction when the lock is free
            cm = self.store.transaction(write=write)
            self.conn.execute(f"PRAGMA busy_timeout = {self.busy_ms}")
            try:
                tx = cm.__enter__()
            finally:
                self.conn.execute("PRAGMA busy_timeout = 0")
        self.stack.append((cm, tx))
        self.tx = tx

    def end(self, err: BaseException | None) -> None:
        cm, _ = self.stack.pop()
        self.tx = self.stack[-1][1] if self.stack else None
        if err is None:
            cm.__exit__(None, None, None)
        else:
            cm.__exit__(type(err), err, err.__traceback__)

    def run(self, ops: list[_Op]) -> Any:
        value = None
        for op in ops:
            value = op(self)
        return value

    def finish(self, ops: list[_Op]) -> None:
        """Run ``ops`` (the last ends the outermost transaction); if one raises, roll
        back whatever is still open and raise."""
        try:
            self.run(ops)
        except BaseException as err:
            self.abort(err)
            raise

    def abort(self, err: BaseException) -> None:
        while self.stack:
            self.end(err)


def _call_op(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Op:
    def op(work: _Work) -> Any:
        return fn(work.tx, *args, **kwargs)

    return op


class _Tx:
    """One outermost transaction, seen from the loop: inline (a read) or on the worker."""

    def __init__(self, store: AsyncSQLiteStore, write: bool) -> None:
        self.store, self.write = store, write
        self.inline = not write
        self.begun = False  # inline: BEGIN sent; on the worker: a hand-off has begun it
        self.depth = 0  # inline savepoints open
        self.ops: list[_Op] = []  # on the worker: buffered, not yet handed off
        self.work = _Work(store.sqlite, store._conn)
        self.rows = SQLiteTransaction(store._conn, store.sqlite._t, store.sqlite._w)
        self.handed_off = False

    # -- calls --------------------------------------------------------------------
    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.inline and fn not in _READS:  # it may write: not on the loop
            if self.begun:
                raise StoreError(
                    "an AsyncSQLiteStore read transaction (write=False) cannot write once it "
                    "has read: open it with write=True"
                )
            self.inline = False
        if self.inline:
            try:
                return self._inline(fn, args, kwargs)
            except sqlite3.OperationalError as err:
                if not _busy(err) or self.depth:
                    raise
                # told to wait: roll the inline read back and run it on the worker
                if self.store._conn.in_transaction:
                    self.store._conn.execute("ROLLBACK")
                self.begun, self.inline = False, False
        if fn in _BUFFERED:
            self.ops.append(_call_op(fn, args, kwargs))
            return None
        return await self._hand_off(_call_op(fn, args, kwargs))

    def _inline(self, fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        if not self.begun:
            self.store._conn.execute("BEGIN")
            self.begun = True
        return fn(self.rows, *args, **kw)

    async def _hand_off(self, last: _Op) -> Any:
        ops, self.ops = self.ops, []
        if not self.begun:
            write = self.write
            ops.insert(0, lambda work: work.begin(write))
            self.begun = True
        ops.append(last)
        self.handed_off = True
        return await self.store._submit(self.work.run, ops)

    # -- nesting and the end ---------------------------------------------------------
    async def enter_nested(self, write: bool) -> None:
        if write and not self.write:
            raise StoreError(
                "cannot open a write transaction inside a read transaction (write=False) "
                "of the same task on an AsyncSQLiteStore: open the outer one with write=True"
            )
        if self.inline:
            self._savepoint("SAVEPOINT")
            self.depth += 1
        else:
            self.ops.append(lambda work: work.begin(write))

    async def exit_nested(self, err: BaseException | None) -> None:
        if self.inline:
            self.depth -= 1
            if err is not None:
                self._savepoint("ROLLBACK TO")
            self._savepoint("RELEASE")
        else:
            self.ops.append(lambda work: work.end(err))

    def _savepoint(self, verb: str) -> None:
        if not self.begun:
            self.store._conn.execute("BEGIN")
            self.begun = True
        self.store._conn.execute(f'{verb} "journeyfsm_async_{self.depth}"')

    async def end(self, err: BaseException | None) -> None:
        conn = self.store._conn
        if self.inline:
            if self.begun:
                conn.execute("ROLLBACK" if err is not None else "COMMIT")
            return
        if err is None:
            if not self.begun and not self.ops:
                return  # nothing was read or written
            ops, self.ops = self.ops, []
            if not self.begun:
                write = self.write
                ops.insert(0, lambda work: work.begin(write))
            ops.append(lambda work: work.end(None))
            await self.store._submit(self.work.finish, ops)
        elif self.handed_off:  # roll back on the worker, behind what it still runs
            await self.store._submit(self.work.abort, err)


class AsyncSQLiteStore:
    """An async store in one SQLite file: reads on the event loop (they never wait), the
    writes and their commit on a thread of its own, so the loop never waits for SQLite's
    fsync or write lock (see the module docstring).

    The file is the one ``SQLiteStore`` reads and writes (same schema, WAL); the
    arguments are ``SQLiteStore``'s (a host's ``connection=`` is for the sync store
    only).  The file is opened and its schema checked when the store is made, on its
    thread, while the caller waits: make the store at start-up (a lifespan), not per
    request.  ``await store.close()`` closes the connection and ends the thread.

    >>> import asyncio, os, tempfile
    >>> from journeyfsm import AsyncJourneyService, JourneyMachine, templates
    >>> path = os.path.join(tempfile.mkdtemp(), "journeys.db")
    >>> store = AsyncSQLiteStore(path, create_schema=True)
    >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), store)
    >>> asyncio.run(service.handle("c-1", "engage")).dest
    'interest'
    >>> asyncio.run(store.close())
    """

    def __init__(
        self,
        path: str | Path,
        *,
        prefix: str = "journeyfsm_",
        create_schema: bool = False,
        busy_timeout: float = 30.0,
    ) -> None:
        if not isinstance(path, (str, Path)):
            raise TypeError(f"AsyncSQLiteStore takes a file path (str or Path), got {path!r}")
        self._worker = _Worker("journeyfsm-sqlite")
        weakref.finalize(self, self._worker.stop)

        def open_store() -> tuple[SQLiteStore, sqlite3.Connection]:
            store = SQLiteStore(
                path, prefix=prefix, create_schema=create_schema, busy_timeout=busy_timeout
            )
            conn = store._conn()  # the worker's connection: the one both threads use
            conn.execute("PRAGMA busy_timeout = 0")  # only the worker's BEGIN waits
            return store, conn

        try:
            sync, self._conn = self._worker.call(open_store)
        except BaseException:
            self._worker.stop()
            raise
        self.sqlite = sync
        self.path, self.prefix = sync.path, sync.prefix
        self._lock = asyncio.Lock()
        #: the loop the lock serves (an asyncio.Lock that made a task wait is bound to
        #: its loop): another loop gets a new lock while the store is idle
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owner: asyncio.Task[Any] | None = None
        self._current: _Tx | None = None
        self._closed = False
        #: the rows of the inline reads of ``load_event_now``
        self._rows = SQLiteTransaction(self._conn, sync._t, sync._w)
        self._pending = 0  # calls handed to the worker, not finished yet
        self._pending_lock = threading.Lock()
        self._idle_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        #: set in a child process made by ``os.fork()``: the worker thread is not there
        self._forked_from: int | None = None
        _STORES.add(self)

    # -- the worker ----------------------------------------------------------------
    def _check_open(self) -> None:
        if self._forked_from is not None:
            raise StoreError(
                f"AsyncSQLiteStore({str(self.path)!r}) was made in process "
                f"{self._forked_from}, before os.fork(): its thread and connection are not in "
                f"this process ({os.getpid()}); make a new store in the child (after the "
                "fork, e.g. in the worker's start-up or lifespan)"
            )
        if self._closed:
            raise StoreError(
                f"AsyncSQLiteStore({str(self.path)!r}) is closed; make a new store (at "
                "start-up) to use the file again"
            )

    def _bind_loop(self) -> None:
        """Serve the running loop: a store used by one ``asyncio.run`` after another
        gets a lock of the new loop; one in use by a task of another loop at the same
        time is a ``StoreError`` (one connection cannot serve two loops at once)."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        old = self._loop
        # (a call of a loop that has ended may still run on the worker: the next
        # transaction waits for it, as for a cancelled task's)
        if old is not None and not old.is_closed() and (self._lock.locked() or self._pending):
            raise StoreError(
                f"AsyncSQLiteStore({str(self.path)!r}) is in use by a task of another event "
                "loop; use a store from one event loop at a time (make one store per loop "
                "or thread)"
            )
        self._loop, self._lock = loop, asyncio.Lock()

    def _submit(self, fn: Callable[[Any], Any], arg: Any) -> asyncio.Future[Any]:
        """Hand ``fn(arg)`` to the worker; a future of its outcome.  A cancelled waiter
        leaves the call to finish on the worker (never withdrawn)."""
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:  # on the loop
            if not future.done():
                (future.set_result if ok else future.set_exception)(value)

        def done(ok: bool, value: Any) -> None:  # on the worker
            with self._pending_lock:  # counted here: a loop that ended cannot hang it
                self._pending -= 1
                waiters = self._idle_waiters if not self._pending else []
                if waiters:
                    self._idle_waiters = []
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, ok, value)
            for owner, waiter in waiters:
                with contextlib.suppress(RuntimeError):
                    owner.call_soon_threadsafe(_wake, waiter)

        with self._pending_lock:
            self._pending += 1
        self._worker.submit(lambda: fn(arg), done)
        return future

    async def _idle(self) -> None:
        """Wait until the worker has finished every call handed to it."""
        loop = asyncio.get_running_loop()
        while True:
            with self._pending_lock:
                if not self._pending:
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                self._idle_waiters.append((loop, waiter))
            await waiter

    async def _call(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on the worker (tests and ``close`` use it)."""
        return await self._submit(lambda _: fn(), None)

    # -- transactions --------------------------------------------------------------
    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncStoreTransaction]:
        """One transaction: commits when the ``async with`` block ends, rolls back when it
        raises (``CancelledError`` included)."""
        if type(write) is not bool:
            raise TypeError(f"write must be True or False, got {write!r}")
        self._check_open()
        task = asyncio.current_task()
        outer = self._current if task is not None and self._owner is task else None
        if outer is not None:  # joins the task's transaction: a savepoint
            await outer.enter_nested(write)
            try:
                yield _SQLiteTransaction(outer.call, _ROWS)
            except BaseException as err:
                await outer.exit_nested(err)
                raise
            else:
                await outer.exit_nested(None)
            return
        self._bind_loop()
        await self._lock.acquire()
        try:
            await self._idle()  # a cancelled task's call may still run: wait for it
            self._check_open()
            self._owner, self._current = task, _Tx(self, write)
            tx = self._current
            try:
                yield _SQLiteTransaction(tx.call, _ROWS)
            except BaseException as err:
                await tx.end(err)
                raise
            else:
                await tx.end(None)
        finally:
            self._owner = self._current = None
            self._lock.release()

    # -- a handle's read and write, without a transaction object ---------------------
    def load_event_now(
        self, definition: str, key: str, event_id: str | None
    ) -> tuple[JourneyRow | None, int | None] | None:
        """The journey's row and the seq of the move that committed ``event_id``, read
        at once inline (one ``SELECT`` in autocommit: a read transaction of its own), or
        ``None`` when that cannot be done now: a transaction of the store is
        open or the worker still runs a call (then read in ``transaction(write=False)``,
        which waits its turn), the store is closed, or SQLite answered ``SQLITE_BUSY``.

        What the service's ``handle`` reads with: a read transaction's result, without
        the asynchronous context manager and its objects around one statement."""
        if self._closed or self._pending or self._lock.locked():
            return None
        try:
            # ONE statement in autocommit: SQLite runs it in a read transaction of its
            # own, a snapshot as a BEGIN ... COMMIT around it gives, without the two extra
            # statements (its cursor is dropped at once: the snapshot ends with it)
            return self._rows.load_event(definition, key, event_id)
        except sqlite3.OperationalError as err:
            if not _busy(err):
                raise
            return None  # told to wait: the worker's read may

    async def commit_move(self, decision: Decision) -> None:
        """Write one move's rows (as ``tx.write`` does) and commit them in ONE hand-off
        to the worker (``BEGIN IMMEDIATE``, the writes, ``COMMIT``): what the service's
        ``handle`` does once it has decided, a write transaction without its objects on
        the loop.  Inside a transaction of this task it joins it (a savepoint).  A task
        cancelled while it waits leaves the hand-off to finish (the move committed whole
        or rolled back), as a write transaction's does."""
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            async with self.transaction() as tx:
                await tx.write(decision)
            return
        self._check_open()
        self._bind_loop()
        await self._lock.acquire()
        try:
            if self._pending:
                await self._idle()  # a cancelled task's call may still run: wait for it
            self._check_open()
            await self._submit(self._commit_move, decision)
        finally:
            self._lock.release()

    def _commit_move(self, decision: Decision) -> None:
        """On the worker: ``commit_move``'s transaction (rolled back if a write raises)."""
        work = _Work(self.sqlite, self._conn)
        work.begin(True)
        try:
            assert work.tx is not None
            work.tx.write(decision)
        except BaseException as err:
            work.abort(err)
            raise
        work.end(None)

    async def create_schema(self) -> None:
        """Create the tables if missing (idempotent) and record the schema version."""
        self._check_open()
        self._bind_loop()
        async with self._lock:
            await self._idle()

            def create() -> None:
                busy = int(self.sqlite.busy_timeout * 1000)
                self._conn.execute(f"PRAGMA busy_timeout = {busy}")
                try:
                    self.sqlite.create_schema()
                finally:
                    self._conn.execute("PRAGMA busy_timeout = 0")

            await self._call(create)

    async def close(self) -> None:
        """Close the store's connection and end its thread, once the transaction open
        (another task's) has ended and the calls queued have run; closing again does
        nothing, and any other use afterwards is a ``StoreError``."""
        if self._closed:
            return
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            raise StoreError(
                f"AsyncSQLiteStore({str(self.path)!r}).close() inside a transaction of the "
                "store: close it once the 'async with store.transaction()' block has ended"
            )
        # a transaction of another task ends first (its connection must not be closed
        # under it: a raw sqlite3 error, the transaction lost); new ones wait, then refuse
        self._bind_loop()
        async with self._lock:
            if self._closed:
                return
            await self._idle()
            try:
                await self._call(self.sqlite.close)
            finally:
                self._closed = True
                self._worker.stop()


#: every live store, for the fork hook below
_STORES: weakref.WeakSet[AsyncSQLiteStore] = weakref.WeakSet()
_PARENT = [os.getpid()]


def _before_fork() -> None:
    _PARENT[0] = os.getpid()


def _after_fork_in_child() -> None:
    """A child of ``os.fork()`` has a copy of each store but not its worker thread: a
    call handed to it would wait forever, so every use is refused instead (and the
    inherited connection, the parent's, is left alone)."""
    for store in list(_STORES):
        store._forked_from = _PARENT[0]
        store._closed = True


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _busy_cause(err: StoreError) -> bool:
    """Whether ``err`` is the sync store's "cannot begin" for SQLITE_BUSY."""
    cause = err.__cause__
    return isinstance(cause, sqlite3.OperationalError) and _busy(cause)


def _busy(err: sqlite3.OperationalError) -> bool:
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return bool(code & 0xFF == 5)  # SQLITE_BUSY (and its extended codes)
    return "locked" in str(err)


#: what ``_Transaction`` takes as its sync transaction: its methods, unbound, which
#: ``_Tx.call`` applies to the rows object where the call runs
_ROWS: Any = SQLiteTransaction


class _SQLiteTransaction(_Transaction):
    """An AsyncSQLiteStore's transaction: also ``load_event``, the journey's row and the
    event id's seq in ONE statement (as the sync store reads them; the service uses it
    where a transaction offers it), inline on the loop in a read transaction (``_ROWS``:
    the method unbound, applied to the rows object where the call runs)."""

    __slots__ = ()

    async def load_event(
        self, definition: str, key: str, event_id: str | None
    ) -> tuple[JourneyRow | None, int | None]:
        rows: Any = self._tx  # _ROWS: SQLiteTransaction, whose load_event it applies
        found: tuple[JourneyRow | None, int | None] = await self._call(
            rows.load_event, definition, key, event_id
        )
        return found
