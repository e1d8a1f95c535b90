"""Read and write the standard sequence format: one line per user, ``user item item ...``.

Items are positive integers (ids from 1), in time order. The reader validates every line and
raises a DataError naming the file and line for a bad token, an empty file or a duplicate user.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basrec.errors import DataError


@dataclass(frozen=True)
class Sequences:
    """All users' item sequences in CSR form: memory linear in the interactions.

    ``items[offsets[u]:offsets[u + 1]]`` is user u's time-ordered sequence (ids 1..n_items).
    """

    users: list[str]  # original user labels, row order
    items: np.ndarray  # (n_interactions,) int64
    offsets: np.ndarray  # (n_users + 1,) int64
    n_items: int

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, u: int) -> np.ndarray:
        return self.items[self.offsets[u] : self.offsets[u + 1]]

    @staticmethod
    def from_lists(seqs: list[list[int]], users: list[str] | None = None,
                   n_items: int | None = None) -> Sequences:
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = (np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
                if seqs else np.zeros(0, dtype=np.int64))
        labels = users if users is not None else [str(i + 1) for i in range(len(seqs))]
        top = int(flat.max()) if flat.size else 0
        return Sequences(labels, flat, offsets, n_items if n_items is not None else top)


def ragged_positions(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten the ranges [starts[i], starts[i] + counts[i]): (row i, position) per element."""
    rows = np.repeat(np.arange(starts.shape[0]), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.repeat(starts, counts) + np.arange(rows.shape[0]) - first


@dataclass(frozen=True)
class ReadReport:
    """What the reader dropped: users too short for the protocol."""

    skipped_short: list[str]
    min_length: int


def read_sequences(path: str | Path, min_length: int = 3) -> tuple[Sequences, ReadReport]:
    """Parse a sequence file; users with fewer than ``min_length`` items are skipped and reported.

    Leave-one-out needs at least 3 items (one to train on, one to validate, one to test).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "file not found")
    users: list[str] = []
    seen: dict[str, int] = {}
    chunks: list[np.ndarray] = []
    lengths: list[int] = []
    skipped: list[str] = []
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                parts = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").split()
            except UnicodeDecodeError:
                raise DataError(p, "not UTF-8 text", lineno) from None
            if not parts:
                continue
            user = parts[0]
            if user in seen:
                raise DataError(p, f"duplicate user {user!r} (first on line {seen[user]})",
                                lineno)
            seen[user] = lineno
            try:
                arr = np.array(parts[1:], dtype=np.int64)
            except (ValueError, OverflowError):
                bad = next(t for t in parts[1:] if not _is_int64(t))
                raise DataError(p, f"item {bad!r} is not an integer id", lineno) from None
            if arr.size and arr.min() < 1:
                bad_item = int(arr[arr < 1][0])
                raise DataError(p, f"item id {bad_item} must be 1 or more", lineno)
            if arr.size < min_length:
                skipped.append(user)
                continue
            users.append(user)
            chunks.append(arr)
            lengths.append(arr.size)
    if not seen:
        raise DataError(p, "empty file: no user lines")
    if not users:
        raise DataError(p, f"no user has the {min_length} items leave-one-out needs")
    offsets = np.zeros(len(users) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    flat = np.concatenate(chunks)
    _check_dense_ids(p, flat, chunks, [seen[u] for u in users])
    return Sequences(users, flat, offsets, int(flat.max())), ReadReport(skipped, min_length)


#: item ids may leave gaps (items dropped by a filter), but the item table has one row per id
#: up to the largest: ids above this many times the distinct items (plus a margin) are refused
SPARSE_ID_FACTOR = 10
SPARSE_ID_MARGIN = 1000


def _check_dense_ids(p: Path, flat: np.ndarray, chunks: list[np.ndarray],
                     lines: list[int]) -> None:
    """Refuse ids so sparse that the item table (one row per id up to the largest) would be
    mostly empty rows, e.g. raw ids from a log: ``basrec prepare`` numbers them 1..n."""
    top = int(flat.max())
    distinct = int(np.unique(flat).size)
    if top <= SPARSE_ID_FACTOR * distinct + SPARSE_ID_MARGIN:
        return
    line = next(n for arr, n in zip(chunks, lines, strict=True) if int(arr.max()) == top)
    raise DataError(p, f"item id {top} is far above the {distinct} distinct items (the item "
                       f"table has a row per id up to the largest); number the items 1..n, "
                       f"as `basrec prepare` does", line)


def _is_int64(token: str) -> bool:
    try:
        return -(2**63) <= int(token) < 2**63
    except ValueError:
        return False


def write_sequences(path: str | Path, seqs: Sequences) -> None:
    """Write the sequence format atomically."""
    from basrec.runio import atomic_write_text

    lines = []
    for u, label in enumerate(seqs.users):
        lines.append(" ".join([label, *map(str, seqs.sequence(u).tolist())]))
    atomic_write_text(path, "\n".join(lines) + "\n")
