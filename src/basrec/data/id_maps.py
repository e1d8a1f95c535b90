"""The id maps ``basrec prepare`` writes beside a sequence file, read back for inference.

``FILE.user_map.csv`` (``original_user_id,id``) and ``FILE.item_map.csv``
(``original_item_id,id``) map a raw log's ids to the sequence file's user labels and item ids
(docs/data.md). ``basrec recommend`` reads them so that users are named, and items returned, by
the ids of the user's own log.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from basrec.errors import DataError


def map_paths(sequence_file: str | Path) -> tuple[Path, Path]:
    """``(FILE.user_map.csv, FILE.item_map.csv)`` beside ``sequence_file``."""
    p = Path(sequence_file)
    return p.with_name(p.name + ".user_map.csv"), p.with_name(p.name + ".item_map.csv")


def read_id_map(path: str | Path) -> dict[str, int]:
    """One map file: original id → new id (an integer ≥ 1). A malformed file (a row without
    two fields, a new id that is not a positive integer, an id listed twice) is a one-line
    error naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "file not found")
    out: dict[str, int] = {}
    first_line: dict[int, int] = {}
    try:
        with open(p, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or len(header) != 2 or header[1] != "id":
                raise DataError(p, "not an id map (header must be 'original_…_id,id')", 1)
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != 2:
                    raise DataError(p, f"expected 2 fields, got {len(row)}", line)
                orig, new_text = row
                try:
                    new = int(new_text)
                except ValueError:
                    raise DataError(p, f"id {new_text!r} is not an integer", line) from None
                if new < 1:
                    raise DataError(p, f"id {new} must be 1 or more", line)
                if orig in out:
                    raise DataError(p, f"original id {orig!r} listed twice", line)
                if new in first_line:
                    raise DataError(p, f"id {new} listed twice (first on line "
                                    f"{first_line[new]})", line)
                out[orig] = new
                first_line[new] = line
    except UnicodeDecodeError:
        raise DataError(p, "not UTF-8 text") from None
    except csv.Error as exc:
        raise DataError(p, f"not CSV ({exc})") from None
    return out


@dataclass(frozen=True)
class IdMaps:
    """Both maps of one sequence file, in the directions inference needs."""

    label_of_user: dict[str, str]  # original user id → the sequence file's user label
    user_of_label: dict[str, str]  # sequence file's user label → original user id
    original_item: dict[int, str]  # sequence file's item id → original item id
    user_map: Path
    item_map: Path


def load_id_maps(sequence_file: str | Path) -> IdMaps | None:
    """The maps beside ``sequence_file``; None where there are none (a file not written by
    ``basrec prepare``, a catalog dataset); an error where only one of the two exists."""
    user_path, item_path = map_paths(sequence_file)
    have_user, have_item = user_path.is_file(), item_path.is_file()
    if not have_user and not have_item:
        return None
    if not (have_user and have_item):
        missing = item_path if have_user else user_path
        raise DataError(missing, "file not found (the other id map is there)")
    users = read_id_map(user_path)
    items = read_id_map(item_path)
    return IdMaps(label_of_user={orig: str(new) for orig, new in users.items()},
                  user_of_label={str(new): orig for orig, new in users.items()},
                  original_item={new: orig for orig, new in items.items()},
                  user_map=user_path, item_map=item_path)
