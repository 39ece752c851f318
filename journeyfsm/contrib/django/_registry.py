"""The project's machines: ``settings.JOURNEYFSM["MACHINES"]``, imported once, by name.

The management command (``python manage.py journeyfsm worker``), ``service(name)`` and
the admin find the machines here, so the project declares them in one place.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from ..._errors import close_matches
from ..._runtime import JourneyMachine
from ...cli._load import import_target
from ._settings import config

__all__ = ["get_machine", "machines", "reference", "reset"]

_lock = threading.Lock()
_loaded: dict[tuple[str, ...], dict[str, JourneyMachine]] = {}
_refs: dict[str, str] = {}  # definition name -> the 'module:attribute' that declared it


def _import(ref: str) -> JourneyMachine:
    machine: JourneyMachine = import_target(
        ref, "settings.JOURNEYFSM['MACHINES'] entry", (JourneyMachine,), ImproperlyConfigured
    )
    return machine


def machines() -> dict[str, JourneyMachine]:
    """The project's machines by definition name (imported on first use, then kept).

    Usage::

        from journeyfsm.contrib.django import machines
        machines()["shop"].definition.stage_names
    """
    refs = config().machines
    with _lock:
        found = _loaded.get(refs)
        if found is None:
            found = {}
            for ref in refs:
                machine = _import(ref)
                name = machine.definition.name
                if name in found and found[name] is not machine:
                    raise ImproperlyConfigured(
                        f"settings.JOURNEYFSM['MACHINES'] holds two machines of definition "
                        f"{name!r}; a definition's journeys are moved by one machine"
                    )
                found[name] = machine
                _refs[name] = ref
            _loaded[refs] = found
    return dict(found)


def get_machine(name: str | None = None) -> JourneyMachine:
    """The project's machine of definition ``name`` (``None``: the only one declared).

    Usage::

        from journeyfsm.contrib.django import get_machine
        machine = get_machine("shop")
    """
    found = machines()
    if name is None:
        if len(found) == 1:
            return next(iter(found.values()))
        if not found:
            raise ImproperlyConfigured(
                "no journeyfsm machine is declared: add "
                "JOURNEYFSM = {'MACHINES': ['yourapp.journey:machine']} to settings"
            )
        raise ImproperlyConfigured(
            f"several journeyfsm machines are declared ({', '.join(found)}): name one"
        )
    if name not in found:
        close = close_matches(name, found, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ImproperlyConfigured(
            f"no journeyfsm machine of definition {name!r} is declared; {hint}"
            f"declared: {', '.join(found) or 'none'} (settings.JOURNEYFSM['MACHINES'])"
        )
    return found[name]


def reference(name: str | None = None) -> str:
    """The ``module:attribute`` that declares the machine of ``name`` (as ``get_machine``)."""
    return _refs[get_machine(name).definition.name]


def reset() -> None:
    """Forget the imported machines (the setting changed)."""
    with _lock:
        _loaded.clear()
        _refs.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "JOURNEYFSM":
        reset()


setting_changed.connect(_on_setting_changed)
