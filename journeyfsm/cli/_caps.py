"""``--caps MODULE:ATTR``: the frequency caps of the host's outbox workers, named on the
command line (``db prune-deliveries``, ``worker``) as ``--machine`` names its machine.

Below the command modules that take caps (_outbox.py, _store.py): it imports only
_load.py.
"""

from __future__ import annotations

from ..service._caps import FrequencyCap
from ._load import UsageError, import_target

__all__ = ["load_caps"]

_CAPS_FIX = (
    "name the FrequencyCaps your outbox workers enforce: a FrequencyCap, a list of them or "
    'a function returning either, e.g. caps = [FrequencyCap("email", 2, timedelta(hours=24))]'
)


def load_caps(ref: str) -> list[FrequencyCap]:
    """The caps ``--caps MODULE:ATTR`` names: a ``FrequencyCap``, a non-empty list or
    tuple of them, or a function returning either; anything else is a usage error."""
    found = import_target(ref, "--caps", (object,), UsageError)
    if not isinstance(found, (FrequencyCap, list, tuple)) and callable(found):
        try:
            found = found()
        except Exception as err:
            raise UsageError(
                f"--caps {ref}: calling it failed ({type(err).__name__}: {err}); {_CAPS_FIX}"
            ) from None
    if not isinstance(found, (FrequencyCap, list, tuple)):
        raise UsageError(
            f"--caps {ref} is a {type(found).__name__}, not frequency caps; {_CAPS_FIX}"
        )
    caps = [found] if isinstance(found, FrequencyCap) else list(found)
    if not caps:
        raise UsageError(f"--caps {ref} is an empty list; {_CAPS_FIX}")
    bad = [c for c in caps if not isinstance(c, FrequencyCap)]
    if bad:
        raise UsageError(
            f"--caps {ref} holds a {type(bad[0]).__name__} ({bad[0]!r}), not a FrequencyCap; "
            f"{_CAPS_FIX}"
        )
    return caps
