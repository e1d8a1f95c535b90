"""The dataset a run was trained on, recorded in its folder (``dataset.json``).

A run folder names its data by absolute path, sha256, size, users and items, so ``evaluate``
and ``recommend`` read the same file from any working directory, and a file that has changed
since training is refused instead of giving other numbers. A dataset that has moved is given
again with ``--dataset`` / ``--data-dir`` and checked the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from basrec.errors import BasrecError

FILE_NAME = "dataset.json"


@dataclass(frozen=True)
class DatasetFingerprint:
    path: str  # absolute, resolved
    sha256: str
    size: int  # bytes
    n_users: int
    n_items: int


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(path: str | Path, n_users: int, n_items: int) -> DatasetFingerprint:
    p = Path(path).resolve()
    return DatasetFingerprint(str(p), sha256_of(p), p.stat().st_size, n_users, n_items)


def write_fingerprint(run_dir: str | Path, fp: DatasetFingerprint) -> None:
    from basrec.runio import write_json

    write_json(Path(run_dir) / FILE_NAME, asdict(fp))


def read_fingerprint(run_dir: str | Path) -> DatasetFingerprint | None:
    """The run's recorded dataset, or None for a run folder that has none (older runs)."""
    from basrec.runio import read_json

    path = Path(run_dir) / FILE_NAME
    if not path.is_file():
        return None
    try:
        raw = read_json(path)
        return DatasetFingerprint(str(raw["path"]), str(raw["sha256"]), int(raw["size"]),
                                  int(raw["n_users"]), int(raw["n_items"]))
    except (OSError, ValueError, KeyError, TypeError):
        raise BasrecError(f"{path}: unreadable dataset record") from None


def check_same(path: str | Path, recorded: DatasetFingerprint, run_dir: str | Path) -> None:
    """A file that is not the recorded one (by size, then sha256) is an error naming both."""
    p = Path(path)
    if p.stat().st_size != recorded.size or sha256_of(p) != recorded.sha256:
        raise BasrecError(f"{p}: not the dataset {run_dir} was trained on ({recorded.path}, "
                          f"sha256 {recorded.sha256[:12]}…); its contents differ")
