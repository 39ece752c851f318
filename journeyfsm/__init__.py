"""journeyfsm: customer journeys as explicit finite-state machines.

Define stages and guarded transitions (in code or as a dict), then let a
``JourneyMachine`` move any number of journeys with idempotent events, hooks that roll
back on failure, effects after the move, and an explanation of every decision.

>>> from journeyfsm import JourneyMachine, templates
>>> machine = JourneyMachine(templates.eight_phases())
>>> journey = machine.start("customer-42")
>>> machine.fire(journey, "research").dest
'consideration'
"""

from . import templates
from ._async_machine import AsyncJourneyMachine
from ._clock import Clock, ManualClock, SystemClock
from ._columns import col
from ._definition import (
    Edge,
    Exit,
    Goal,
    JourneyBuilder,
    JourneyDefinition,
    Policy,
    Stage,
    Timeout,
    Transition,
)
from ._errors import (
    ConcurrencyConflict,
    DataError,
    DefinitionError,
    GuardError,
    HookError,
    InvalidTransition,
    JourneyError,
    Problem,
    SnapshotError,
    SnapshotVersionError,
    StoreError,
    UnknownTrigger,
)
from ._goals import GoalMiss
from ._guards import Guard, GuardResult, guard
from ._hooks import Effect
from ._outcome import CandidateResult, EffectCall, EffectReport, Explanation, Outcome, Status
from ._records import Context, GoalClock, HistoryEntry, Journey
from ._runtime import JourneyMachine
from ._timeouts import DueTimeout
from ._versions import Migration, version_key
from .service import (
    AsyncJourneyService,
    AsyncOutboxWorker,
    AsyncTimeoutWorker,
    Event,
    FrequencyCap,
    JourneyService,
    MigrationReport,
    OutboxWorker,
    QuietHours,
    TickReport,
    TimeoutWorker,
)

#: The installed version of journeyfsm, as a string (also ``journeyfsm --version``).
__version__ = "0.1.0"

__all__ = [
    "AsyncJourneyMachine",
    "AsyncJourneyService",
    "AsyncOutboxWorker",
    "AsyncTimeoutWorker",
    "CandidateResult",
    "Clock",
    "ConcurrencyConflict",
    "Context",
    "DataError",
    "DefinitionError",
    "DueTimeout",
    "Edge",
    "Effect",
    "EffectCall",
    "EffectReport",
    "Event",
    "Exit",
    "Explanation",
    "FrequencyCap",
    "Goal",
    "GoalClock",
    "GoalMiss",
    "Guard",
    "GuardError",
    "GuardResult",
    "HistoryEntry",
    "HookError",
    "InvalidTransition",
    "Journey",
    "JourneyBuilder",
    "JourneyDefinition",
    "JourneyError",
    "JourneyMachine",
    "JourneyService",
    "ManualClock",
    "Migration",
    "MigrationReport",
    "OutboxWorker",
    "Outcome",
    "Policy",
    "Problem",
    "QuietHours",
    "SnapshotError",
    "SnapshotVersionError",
    "Stage",
    "Status",
    "StoreError",
    "SystemClock",
    "TickReport",
    "Timeout",
    "TimeoutWorker",
    "Transition",
    "UnknownTrigger",
    "__version__",
    "col",
    "guard",
    "templates",
    "version_key",
]
