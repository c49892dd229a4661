"""Typed exceptions for user-facing errors. Each message says what was wrong and how to fix it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class UnlearnkitError(Exception):
    """Base class of every error unlearnkit raises on purpose."""

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries (worker pools pickle them back to the parent). The
        # default pickling calls ``cls(*self.args)``, which fails for every subclass whose
        # __init__ takes other arguments (ConfigError's owner, field, value, allowed) and
        # would replace the error by a TypeError; rebuild from args and attributes instead.
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(
    cls: type[UnlearnkitError], args: tuple[object, ...], state: dict[str, object]
) -> UnlearnkitError:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ConfigError(UnlearnkitError, ValueError):
    """A configuration value is invalid. Names the field, the bad value and what is allowed."""

    def __init__(self, owner: str, field: str, value: object, allowed: str) -> None:
        self.owner, self.field, self.value, self.allowed = owner, field, value, allowed
        super().__init__(f"{owner}.{field} = {value!r} is invalid: {allowed}")


class ConfigFileError(ConfigError):
    """A configuration file cannot be read: missing, not UTF-8, or not valid YAML. Names the
    file, the line and the fix."""

    def __init__(self, owner: str, file: str, problem: str) -> None:
        self.owner, self.field, self.value, self.allowed = owner, "<file>", file, problem
        self.file = file
        UnlearnkitError.__init__(self, f"{owner} file {file}: {problem}")


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


class RunFailedError(UnlearnkitError):
    """A run directory holds no results because its last run failed (or never finished)."""


class DataWarning(UserWarning):
    """Data that loads but is probably not what was meant (repeated records in a split)."""


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


def utf8_problem(exc: UnicodeDecodeError, data: bytes | None = None) -> str:
    """Where and why bytes are not UTF-8, for messages: the byte offset and, when ``data``
    (the bytes decoded) is given, the line and column, and the fix."""
    offset = exc.start
    bad = exc.object[exc.start : exc.end] if isinstance(exc.object, bytes) else b""
    shown = " ".join(f"0x{b:02x}" for b in bad[:4]) or "a byte"
    where = f"byte offset {offset}"
    if data is not None:
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        where += f" (line {line}, column {column}, counting from 1)"
    return (
        f"not UTF-8 text: {shown} at {where} is not valid UTF-8 ({exc.reason}); save the file "
        "as UTF-8 (for example: iconv -f latin1 -t utf-8 FILE > FILE.utf8)"
    )


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(text: str) -> bool:
    """Whether ``text`` has the form of a Hugging Face hub id (``owner/name``)."""
    return bool(_HUB_ID.match(text))
