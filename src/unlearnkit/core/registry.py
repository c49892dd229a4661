"""One generic registry. Register with a decorator next to the definition::

    METHODS = Registry("method")

    @METHODS.register("npo", paper="arXiv:2404.05868")
    class NPO: ...

Duplicate names are rejected; an unknown name fails with a "did you mean" suggestion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from unlearnkit.core.errors import RegistryError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its name and metadata (paper, description, ...)."""

    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """The given description, else the first line of the object's docstring."""
        if "description" in self.meta:
            return str(self.meta["description"])
        doc = getattr(self.obj, "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry(Generic[T]):
    """A name -> object table for one kind of component ("method", "metric", ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator registering the decorated object under ``name`` with metadata ``meta``."""
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"{self.kind} names must be non-empty strings, got {name!r}")

        def decorator(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        """Register ``obj`` under ``name`` (the non-decorator form)."""
        if name in self._entries:
            previous = self._entries[name].obj
            raise RegistryError(
                f"{self.kind} {name!r} is already registered (by {_qualname(previous)}); "
                f"cannot register {_qualname(obj)} under the same name. Pick another name."
            )
        self._entries[name] = Entry(name, obj, dict(meta))

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown names raise :class:`UnknownNameError`."""
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def _qualname(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{name}" if module else str(name)
