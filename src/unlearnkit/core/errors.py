"""Typed exceptions for user-facing errors. Each message says what was wrong and how to fix it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class UnlearnkitError(Exception):
    """Base class of every error unlearnkit raises on purpose."""


class ConfigError(UnlearnkitError, ValueError):
    """A configuration value is invalid. Names the field, the bad value and what is allowed."""

    def __init__(self, owner: str, field: str, value: object, allowed: str) -> None:
        self.owner, self.field, self.value, self.allowed = owner, field, value, allowed
        super().__init__(f"{owner}.{field} = {value!r} is invalid: {allowed}")


class DataValidationError(UnlearnkitError, ValueError):
    """A data file or record does not match its schema. Names file, record and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.record, self.field = file, record, field
        where = []
        if file is not None:
            where.append(f"file {file}")
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class RegistryError(UnlearnkitError):
    """A registration is invalid (for example the same name registered twice)."""


class UnknownNameError(UnlearnkitError, KeyError):
    """A name was looked up that no registry (or preset table) holds."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}.{hint} Known: {listing}.")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix for error messages ('' when nothing is close)."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def short_repr(value: object, limit: int = 70) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(text: str) -> bool:
    """Whether ``text`` has the form of a Hugging Face hub id (``owner/name``)."""
    return bool(_HUB_ID.match(text))
