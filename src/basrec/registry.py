"""Tiny named registries (backbones, objectives) with helpful errors for unknown names."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from basrec.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered component and the frozen dataclass holding its own options."""

    name: str
    component: T
    options: type


class Registry(Generic[T]):
    """A mapping from names to components; unknown names raise ConfigError with suggestions."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._builtins: Callable[[], None] | None = None

    def set_builtins(self, load: Callable[[], None]) -> None:
        """``load()`` registers the built-in components; it runs at the first lookup (lazily:
        torch is heavy)."""
        self._builtins = load

    def register(self, name: str, options: type) -> Callable[[T], T]:
        def decorator(component: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, component, options)
            return component

        return decorator

    def get(self, name: str) -> Entry[T]:
        self._load_builtins()
        if name not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(sorted(self._entries))
            raise ConfigError(f"unknown {self.kind} {name!r}{hint}; known: {known}")
        return self._entries[name]

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load_builtins(self) -> None:
        load = self._builtins
        if load is not None:
            load()
            self._builtins = None


MODELS: Registry[Any] = Registry("model")
OBJECTIVES: Registry[Any] = Registry("objective")
