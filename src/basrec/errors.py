"""User-facing errors: the CLI prints them as one line and exits with status 2."""

from __future__ import annotations


class BasrecError(Exception):
    """An error caused by the user's input (data, options, files): printed without a traceback."""


class DataError(BasrecError):
    """A problem in a data file, located by file and (where known) line number."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class ConfigError(BasrecError):
    """An unknown or invalid configuration key or value."""


class UsageError(BasrecError):
    """A command line that cannot be run: an unknown option, a missing value."""
