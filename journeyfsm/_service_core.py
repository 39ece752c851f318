"""Temporary: where ``journeyfsm/stores/`` still imports the service's rows from.

Moved to ``journeyfsm.service._core`` (issue 16).  This module goes once the stores import
from there; being a core module that imports the service, tests/test_layers.py names it
until then.
"""

from .service._core import Decision, EventIdRow, JourneyRow, decide

__all__ = ["Decision", "EventIdRow", "JourneyRow", "decide"]
