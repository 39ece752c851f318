"""Temporary: where ``journeyfsm/stores/`` still imports the service's rows from.

Moved to ``journeyfsm.service._records`` (issue 16).  This module goes once the stores import
from there; being a core module that imports the service, tests/test_layers.py names it
until then.
"""

from .service._records import JourneyImport

__all__ = ["JourneyImport"]
