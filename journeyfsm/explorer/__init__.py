"""The journey explorer: a small web app over a store, for the people who ask "where is
customer 42, and why did she get no email?".

Pages (server-rendered, no JavaScript): an overview per definition (journeys per stage,
the funnel, the diagram annotated with counts and conversion), a search for a journey
key, one journey's page (stage, data, its path with the time spent in each stage, its
events and their ids, its effects and their outbox state, what it may do next and why,
``explain`` for a chosen trigger), and the outbox (pending rows, dead letters with their
last error).  Read-only unless made with ``allow_writes=True`` and a token (then dead
letters can be requeued); fields named in ``mask`` are never shown.  It needs the extra
``journeyfsm[serve]`` (Starlette, Jinja2, uvicorn); ``journeyfsm serve --db URL`` runs
it.  Guide: docs/explorer.md.

>>> import os, tempfile
>>> from journeyfsm import templates
>>> from journeyfsm.explorer import create_app
>>> from journeyfsm.stores import SQLiteStore
>>> store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "j.db"), create_schema=True)
>>> app = create_app(store, definitions=[templates.aida()], mask=["email"])
>>> sorted(r.path for r in app.routes)[:3]
['/', '/healthz', '/journey']
>>> store.close()
"""

from typing import TYPE_CHECKING, Any

__all__ = ["create_app"]

if TYPE_CHECKING:
    from ._app import create_app


def __getattr__(name: str) -> Any:
    # imported on first use, so the extra is needed only to build the app: the reads of
    # _queries (the outbox list of ``journeyfsm outbox list``) run without Starlette
    if name != "create_app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
    except ImportError as err:  # pragma: no cover - the [serve] extra is in the dev install
        raise ImportError(
            f"journeyfsm.explorer needs Starlette and Jinja2 ({err.name} is missing): "
            "pip install 'journeyfsm[serve]'"
        ) from err
    from ._app import create_app

    return create_app
