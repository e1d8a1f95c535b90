"""Optuna storages from a ``--storage`` string, and the study lock.

- ``sqlite:///PATH`` (the default, ``sqlite:///<runs root>/<study>.db``): one machine, any
  number of processes;
- ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (also ``postgres://``, and a socket folder as
  ``?host=/path``): many machines; needs ``pip install basrec[postgres]``;
- ``journal:PATH``: optuna's JournalStorage on a file, for machines that share a file system.

The study lock serialises the few storage operations that must not interleave between
workers (taking back the trials of dead workers, counting the budget, creating a trial): a
``flock`` on ``<file>.study-lock`` beside a SQLite or journal file, a PostgreSQL advisory lock for
a server, held for milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from basrec.errors import BasrecError

SQLITE_TIMEOUT_S = 60  # a writer waits this long for another one before "database is locked"


def normalise(url: str) -> str:
    """``postgres://`` → ``postgresql://``; a relative journal path made absolute."""
    url = url.strip()
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        if not path:
            raise BasrecError("--storage: journal: needs a file path (journal:PATH)")
        return "journal:" + str(Path(path).expanduser().resolve())
    return url


def kind(url: str) -> str:
    """``sqlite``, ``journal``, ``postgresql`` or ``rdb`` (another SQLAlchemy URL)."""
    if url.startswith("journal:"):
        return "journal"
    if url.startswith("sqlite:"):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    if "://" in url:
        return "rdb"
    raise BasrecError(f"--storage: {url!r} is not sqlite:///PATH, postgresql://... or "
                      f"journal:PATH")


def file_of(url: str) -> Path | None:
    """The file behind a SQLite or journal storage, else None."""
    if url.startswith("journal:"):
        return Path(url[len("journal:"):])
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def open_storage(url: str) -> Any:
    """An optuna storage for ``url`` (see the module doc); a one-line error if it cannot be
    opened."""
    import optuna

    what = kind(url)
    path = file_of(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if what == "journal":
        assert path is not None
        try:
            from optuna.storages.journal import JournalFileBackend

            backend: Any = JournalFileBackend(str(path))
        except ImportError:  # optuna < 4
            backend = optuna.storages.JournalFileStorage(str(path))
        return optuna.storages.JournalStorage(backend)
    if what == "postgresql":
        url = with_driver(url)
    engine_kwargs: dict[str, Any] = {}
    if what == "sqlite":
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as e:  # noqa: BLE001 - SQLAlchemy's many errors: one line for the user
        raise BasrecError(f"--storage: cannot open {redact(url)}: {_first_line(e)}") from None


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and files)."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    creds, at, host = rest.partition("@")
    user, colon, _ = creds.partition(":")
    return f"{head}://{user}{':***' if colon else ''}@{host}"


def with_driver(url: str) -> str:
    """``postgresql://`` with the installed driver named: psycopg2 (``basrec[postgres]``),
    else psycopg 3 (SQLAlchemy 2.1 would assume psycopg 3)."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if "+" in scheme:
        return url
    for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
        if importlib.util.find_spec(module) is not None:
            return f"{scheme}+{driver}{sep}{rest}"
    raise BasrecError("--storage: PostgreSQL needs its driver: pip install "
                      "'basrec[postgres]' (psycopg2-binary)")


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a study name."""
    digest = hashlib.sha256(b"basrec-tune\0" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class StudyLock:
    """A lock shared by every worker of one study, on any machine (see the module doc)."""

    def __init__(self, url: str, study: str) -> None:
        self.url = url
        self.study = study
        self._engine: Any = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        what = kind(self.url)
        path = file_of(self.url)
        if path is not None:
            import fcntl

            lock_path = path.with_name(path.name + ".study-lock")  # not optuna's .lock
            with open(lock_path, "a+") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        elif what == "postgresql":
            import sqlalchemy

            if self._engine is None:
                self._engine = sqlalchemy.create_engine(with_driver(self.url),
                                                        poolclass=sqlalchemy.pool.NullPool)
            key = _lock_key(self.study)
            with self._engine.connect() as conn:  # closing the connection also unlocks
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        else:
            yield
