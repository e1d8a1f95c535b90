"""Download a catalog dataset, verify its sha256, and store it atomically in the cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from basrec.errors import DataError


@dataclass(frozen=True)
class CatalogEntry:
    """A dataset file that can be downloaded: its name, file name, checksum and address."""

    name: str
    filename: str
    sha256: str
    url: str


def fetch(entry: CatalogEntry, dest_dir: Path, timeout: float = 30.0) -> Path:
    """Download ``entry`` into ``dest_dir``; a checksum mismatch leaves nothing behind."""
    import http.client
    import urllib.error
    import urllib.request

    from basrec.runio import atomic_write_bytes

    target = dest_dir / entry.filename
    try:
        with urllib.request.urlopen(entry.url, timeout=timeout) as resp:  # noqa: S310
            data = resp.read()
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(entry.filename, f"dataset {entry.name!r} is not available locally and "
                        f"could not be downloaded from {entry.url} ({reason}); put "
                        f"{entry.filename} in --data-dir, $BASREC_DATA_DIR or {dest_dir}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise DataError(entry.url, f"checksum mismatch (sha256 {digest}, expected "
                        f"{entry.sha256}); the download was discarded")
    atomic_write_bytes(target, data)
    return target
