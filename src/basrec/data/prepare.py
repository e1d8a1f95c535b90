"""Raw interactions → time-ordered user sequences in the standard format.

Steps: read the log (basrec.data.raw), order each user's interactions by time (ties keep file
order; ``info`` counts them: ``rows_tied``, ``users_test_tied``), optionally drop repeats,
filter to the iterative k-core, renumber users and items from 1, then write ``<out>`` (the
sequence file), ``<out>.user_map.csv``, ``<out>.item_map.csv`` and ``<out>.stats.json``, each
atomically, the sequence file last. See docs/data.md.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from basrec.data.id_maps import map_paths
from basrec.data.io import Sequences
from basrec.data.stats import DatasetStats, dataset_stats
from basrec.errors import BasrecError, DataError

if TYPE_CHECKING:
    import pandas as pd

#: none: keep every interaction; consecutive: drop an interaction whose item equals the user's
#: previous one (in time order); all: keep only each (user, item) pair's first interaction
DEDUP_MODES = ("none", "consecutive", "all")


@dataclass(frozen=True)
class Prepared:
    """Sequences with new ids; ``user_ids[u]`` / ``item_ids[i - 1]`` are the original ids."""

    sequences: Sequences
    user_ids: list[str]  # original id of new user u + 1
    item_ids: list[str]  # original id of new item i (index i - 1)
    info: dict[str, int]  # counts along the way


@dataclass(frozen=True)
class PrepareResult:
    prepared: Prepared
    stats: DatasetStats
    paths: dict[str, Path]  # sequences, user_map, item_map, stats
    time_column: str | None = None  # the log's time column; None: file order is the time


def output_paths(out: str | Path) -> dict[str, Path]:
    """The four files ``prepare`` writes for output ``out``."""
    p = Path(out)
    user_map, item_map = map_paths(p)
    return {"sequences": p, "user_map": user_map, "item_map": item_map,
            "stats": p.with_name(p.name + ".stats.json")}


def build_sequences(frame: pd.DataFrame, user_k: int = 5, item_k: int = 5,
                    dedup: str = "none", source: str | Path = "input") -> Prepared:
    """Order, deduplicate and k-core filter a (user, item, time) frame; renumber from 1.

    Users are numbered by first appearance in the file; items by first appearance when the
    users' sequences are read in that order.
    """
    import pandas as pd

    if dedup not in DEDUP_MODES:
        raise BasrecError(f"unknown dedup mode {dedup!r} (choose from {', '.join(DEDUP_MODES)})")
    if user_k < 1 or item_k < 1:
        raise BasrecError(f"k-core thresholds must be 1 or more (got users {user_k}, "
                          f"items {item_k})")
    u_codes, u_labels = pd.factorize(frame["user"], sort=False)
    i_codes, i_labels = pd.factorize(frame["item"], sort=False)
    n = len(frame)
    time = np.asarray(frame["time"].to_numpy())
    order = np.lexsort((np.arange(n), time, u_codes))  # by user, then time, then file order
    u = u_codes[order].astype(np.int64)
    i = i_codes[order].astype(np.int64)
    t = time[order]
    info: dict[str, int] = {"rows_read": n, "users_read": len(u_labels),
                            "items_read": len(i_labels), "rows_tied": _tied(u, t)}

    if dedup == "consecutive" and n:
        keep = np.ones(n, dtype=bool)
        keep[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
        u, i, t = u[keep], i[keep], t[keep]
    elif dedup == "all" and n:
        _, first = np.unique(u * len(i_labels) + i, return_index=True)
        keep = np.zeros(n, dtype=bool)
        keep[first] = True
        u, i, t = u[keep], i[keep], t[keep]
    info["rows_after_dedup"] = int(u.size)

    rounds = 0
    while u.size:
        u_count = np.bincount(u, minlength=len(u_labels))
        i_count = np.bincount(i, minlength=len(i_labels))
        keep = (u_count[u] >= user_k) & (i_count[i] >= item_k)
        if keep.all():
            break
        u, i, t = u[keep], i[keep], t[keep]
        rounds += 1
    info["kcore_rounds"] = rounds
    if not u.size:
        raise DataError(source, f"no interactions are left after the k-core filter (users with "
                                f"at least {user_k}, items with at least {item_k} interactions; "
                                f"{info['users_read']} users and {info['items_read']} items "
                                f"before)")

    starts = np.ones(u.size, dtype=bool)
    starts[1:] = u[1:] != u[:-1]  # u is sorted: each new user code starts a sequence
    kept_users = u[starts]
    new_i, item_order = pd.factorize(i, sort=False)
    offsets = np.zeros(kept_users.size + 1, dtype=np.int64)
    offsets[:-1] = np.flatnonzero(starts)
    offsets[-1] = u.size
    items = new_i.astype(np.int64) + 1
    last = offsets[1:] - 1  # each kept user's last item (the test item), of users with two+
    pair = last[last > offsets[:-1]]
    info["users_test_tied"] = int((t[pair] == t[pair - 1]).sum())
    seqs = Sequences([str(k) for k in range(1, kept_users.size + 1)], items, offsets,
                     len(item_order))
    return Prepared(
        sequences=seqs,
        user_ids=[str(x) for x in np.asarray(u_labels)[kept_users].tolist()],
        item_ids=[str(x) for x in np.asarray(i_labels)[np.asarray(item_order)].tolist()],
        info=info,
    )


def _tied(u: np.ndarray, t: np.ndarray) -> int:
    """Interactions (sorted by user, then time) that share their time with another of the same
    user: file order decides their order."""
    if u.size < 2:
        return 0
    same = (u[1:] == u[:-1]) & (t[1:] == t[:-1])
    tied = np.zeros(u.size, dtype=bool)
    tied[1:] |= same
    tied[:-1] |= same
    return int(tied.sum())


def tie_lines(info: dict[str, Any], timed: bool) -> list[str]:
    """What ``prepare`` says about equal timestamps (file order breaks those ties)."""
    if not timed:
        return ["time: file order (no time column)"]
    tied = int(info.get("rows_tied", 0))
    if not tied:
        return ["ties: no two interactions of a user share a timestamp"]
    share = tied / max(int(info["rows_read"]), 1)
    lines = [f"ties: {tied:,} interactions ({share:.1%}) share a timestamp with another of the "
             f"same user; file order breaks those ties"]
    users = int(info.get("users_test_tied", 0))
    if users:
        lines.append(f"      for {users:,} kept users the test item and the one before it are "
                     f"tied: file order decides which is the test item")
    return lines


def _map_csv(column: str, originals: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([column, "id"])
    w.writerows((orig, k) for k, orig in enumerate(originals, start=1))
    return buf.getvalue()


def prepare(input_path: str | Path, out: str | Path, *, fmt: str | None = None,
            user_col: str | None = None, item_col: str | None = None,
            time_col: str | None = None, user_k: int = 5, item_k: int = 5,
            dedup: str = "none", force: bool = False) -> PrepareResult:
    """Turn a raw log into a sequence file plus id maps and statistics (all written atomically).

    Refuses to replace an existing output unless ``force``, never writes over the input, and
    refuses an output that is a folder or lies under a file before writing anything.
    """
    from basrec.data.io import write_sequences
    from basrec.data.raw import read_interactions
    from basrec.runio import atomic_write_text, check_out_file, write_json

    src = Path(input_path)
    paths = output_paths(out)
    for p in paths.values():  # a folder (or a path under a file): refused before any write
        check_out_file(p)
    for p in paths.values():
        if src.exists() and p.exists() and p.resolve() == src.resolve():
            raise DataError(p, "is the input file; choose another --out")
    if not force:
        existing = [p for p in paths.values() if p.exists()]
        if existing:
            raise DataError(existing[0], "already exists; pass --force to replace it")
    log = read_interactions(src, fmt, user_col, item_col, time_col)
    prepared = build_sequences(log.frame, user_k, item_k, dedup, source=src)
    stats = dataset_stats(prepared.sequences)
    record: dict[str, Any] = {
        **stats.to_dict(),
        "source": str(src),
        "format": log.format,
        "columns": {"user": log.columns.user, "item": log.columns.item,
                    "time": log.columns.time},
        "user_k": user_k,
        "item_k": item_k,
        "dedup": dedup,
        **prepared.info,
    }
    atomic_write_text(paths["user_map"], _map_csv("original_user_id", prepared.user_ids))
    atomic_write_text(paths["item_map"], _map_csv("original_item_id", prepared.item_ids))
    write_json(paths["stats"], record)
    write_sequences(paths["sequences"], prepared.sequences)
    return PrepareResult(prepared, stats, paths, log.columns.time)
