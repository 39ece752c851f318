"""Masking: the fields named by ``--mask`` never reach a page.

A field is masked wherever its name appears as a key of a JSON object, at any depth:
journey data, history meta, an outbox row's call (its payload, meta and data copy).
Names match case-insensitively (``Email`` is masked by ``email``).  The values masked
in one record are also blanked where they appear inside that record's free text (an
effect's last error that quotes the address it failed to reach).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MASKED", "Masker", "check_mask_fields"]

#: What a page shows instead of a masked value.
MASKED = "•••"

_FIELD = re.compile(r"[^\s,]{1,200}\Z")


def check_mask_fields(fields: Iterable[object]) -> tuple[str, ...]:
    """The field names, checked: non-empty strs without spaces or commas.

    >>> check_mask_fields(["email", "phone"])
    ('email', 'phone')
    >>> check_mask_fields([""])
    Traceback (most recent call last):
    ...
    ValueError: --mask takes field names (e.g. --mask email phone), got ''
    """
    out: list[str] = []
    for field in fields:
        if not isinstance(field, str) or not _FIELD.match(field):
            raise ValueError(f"--mask takes field names (e.g. --mask email phone), got {field!r}")
        out.append(field)
    return tuple(dict.fromkeys(out))


class Masker:
    """Replaces the values of the named fields by :data:`MASKED`.

    >>> m = Masker(["email"])
    >>> m.value({"Email": "ann@example.com", "orders": [{"email": "x@y.z", "n": 2}]})
    {'Email': '•••', 'orders': [{'email': '•••', 'n': 2}]}
    >>> m.text("bounce from ann@example.com", {"email": "ann@example.com"})
    'bounce from •••'
    """

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = check_mask_fields(fields)
        self._names = frozenset(f.casefold() for f in self.fields)

    def __bool__(self) -> bool:
        return bool(self._names)

    def value(self, value: Any) -> Any:
        """A copy of a JSON-shaped ``value`` with the named fields masked."""
        if not self._names:
            return value
        if isinstance(value, dict):
            return {
                k: MASKED if isinstance(k, str) and k.casefold() in self._names else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    def secrets(self, value: Any) -> set[str]:
        """The text of every value a named field holds in ``value`` (at any depth)."""
        found: set[str] = set()
        if not self._names:
            return found
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(k, str) and k.casefold() in self._names:
                    found.update(_leaves(v))
                else:
                    found |= self.secrets(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                found |= self.secrets(v)
        return found

    def text(self, text: str | None, *records: Any) -> str | None:
        """``text`` with every masked value of ``records`` blanked out."""
        if text is None or not self._names:
            return text
        secrets: set[str] = set()
        for record in records:
            secrets |= self.secrets(record)
        # longest first, so a value that contains another is blanked whole
        for secret in sorted((s for s in secrets if s), key=len, reverse=True):
            text = text.replace(secret, MASKED)
        return text


def _leaves(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {leaf for v in value.values() for leaf in _leaves(v)}
    if isinstance(value, (list, tuple)):
        return {leaf for v in value for leaf in _leaves(v)}
    if value is None or isinstance(value, bool):
        return set()
    text = str(value)
    return {text} if len(text) >= 3 else set()  # "1" would blank every digit of a text
