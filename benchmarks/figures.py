"""Every figure of ``make bench``, registered in table order by importing its module.

A figure is one small function: it takes the :class:`~benchmarks.harness.Settings` and
returns a timer ``timer(loops) -> seconds`` (decorated ``@timed``), or measures itself and
returns its values (``@measured``).  Ratios between figures are declared with ``ratio``.
A new group of figures (stores, replay, ...) is a new module imported here.
"""

from __future__ import annotations

# The import order is the order of the table.
# isort: off
from . import figures_speed, figures_cycle, figures_data, figures_memory, figures_growth
from . import figures_service, figures_async, ratios

# isort: on

__all__ = [
    "figures_async",
    "figures_cycle",
    "figures_data",
    "figures_growth",
    "figures_memory",
    "figures_service",
    "figures_speed",
    "ratios",
]
