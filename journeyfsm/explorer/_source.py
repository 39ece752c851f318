"""Where the explorer's pages get their store, and the error a page answers with.

A store handed to ``create_app`` is used as it is; a function is called on first use,
and again on the next request while it raises ``StoreError`` (a store of an older
schema: its message says what to run), so the explorer starts before the store is ready
and serves pages that say why until it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._errors import StoreError
from ._queries import Tables, tables_of

__all__ = ["PageError", "StoreSource"]


class PageError(Exception):
    """A request the explorer answers with an error page (status, title, what to do)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class StoreSource:
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

    @property
    def ready(self) -> bool:
        """Whether the store is open (a request needs no thread to open it)."""
        return self._store is not None

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
