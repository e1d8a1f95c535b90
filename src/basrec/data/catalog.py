"""Known datasets (the BASRec paper's four) and where to find them.

A dataset name is looked up in ``--data-dir``, then ``$BASREC_DATA_DIR``, then the user cache
directory (``$XDG_CACHE_HOME/basrec`` or ``~/.cache/basrec``); a catalog dataset found nowhere
is downloaded into the cache and checked against its sha256. A path to a file works wherever a
name does (a relative path that does not exist is also looked up in those folders).
"""

from __future__ import annotations

import os
from pathlib import Path

from basrec.data.fetch import CatalogEntry as CatalogEntry
from basrec.errors import DataError

_BASE = "https://raw.githubusercontent.com/KingGugu/BASRec/main/SASRec/data/"

CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry("beauty", "Beauty.txt",
                     "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
                     _BASE + "Beauty.txt"),
        CatalogEntry("sports", "Sports_and_Outdoors.txt",
                     "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
                     _BASE + "Sports_and_Outdoors.txt"),
        CatalogEntry("yelp", "Yelp.txt",
                     "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
                     _BASE + "Yelp.txt"),
        CatalogEntry("home", "Home.txt",
                     "4e472251e8bcd204fc3421c51ab7d10611a69da8e7cf313c327e0cd003a5f0dd",
                     _BASE + "Home.txt"),
    )
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "basrec"


def search_dirs(data_dir: str | None) -> list[Path]:
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir))
    if os.environ.get("BASREC_DATA_DIR"):
        dirs.append(Path(os.environ["BASREC_DATA_DIR"]))
    dirs.append(cache_dir())
    return dirs


def resolve_dataset(name_or_path: str, data_dir: str | None = None,
                    download: bool = True) -> Path:
    """The file behind a dataset name or path; a catalog file missing everywhere is fetched."""
    key = name_or_path.lower()
    if key not in CATALOG:
        p = Path(name_or_path).expanduser()
        if p.is_file():
            return p
        if not p.is_absolute():  # a bare file name: look in the same folders as for a name
            for d in search_dirs(data_dir):
                if (d / p).is_file():
                    return d / p
        known = ", ".join(sorted(CATALOG))
        what = "a folder, not a file" if p.is_dir() else "no such file"
        raise DataError(p, f"{what}, and not a known dataset name ({known})")
    entry = CATALOG[key]
    for d in search_dirs(data_dir):
        candidate = d / entry.filename
        if candidate.is_file():
            return candidate
    if download:
        from basrec.data.fetch import fetch

        return fetch(entry, cache_dir())
    places = ", ".join(str(d) for d in search_dirs(data_dir))
    raise DataError(entry.filename, f"dataset {key!r} not found; put {entry.filename} in one of: "
                                    f"{places}")
