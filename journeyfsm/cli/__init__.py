"""The ``journeyfsm`` command (also ``python -m journeyfsm``): demo, validate, show,
templates, diagram, replay, funnel, db, worker, serve, outbox.

``main`` takes the arguments (``sys.argv[1:]`` by default) and returns the exit code: 0
success, 1 problems found, 2 bad usage.

>>> from journeyfsm.cli import main
>>> main(["show", "aida", "--json"]) == 0  # doctest: +ELLIPSIS
{...}
True
"""

from ._main import main

__all__ = ["main"]
