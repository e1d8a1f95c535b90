"""Read raw interaction logs (CSV/TSV, RecBole atomic ``.inter`` files, Parquet, JSON lines;
optionally gzip-compressed).

The result is a table of (user, item, time) rows in file order. Column names are detected from
the common conventions (``user_id/item_id/timestamp``, Amazon ``reviewerID/asin/unixReviewTime``,
Yelp ``user_id/business_id/date``, MovieLens ``userId/movieId/timestamp`` ...) or given
explicitly; a RecBole atomic file's typed header (``user_id:token``, ``timestamp:float``, tab
separated) names them without their types. Every problem is a DataError naming the file and,
where meaningful, the line. See docs/data.md for the exact rules.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np

from basrec.errors import BasrecError, DataError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "tsv", "inter", "parquet", "jsonl")

#: accepted names per role, in priority order; compared after lower-casing and removing
#: ``_``, ``-``, ``.`` and spaces (so ``user_id``, ``userId`` and ``UserID`` are the same)
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "userId", "reviewerID", "user", "uid", "customer_id", "visitorid",
             "session_id"),
    "item": ("item_id", "itemId", "movieId", "business_id", "parent_asin", "asin", "product_id",
             "item", "iid", "track_id", "book_id"),
    "time": ("timestamp", "unixReviewTime", "time", "date", "datetime", "ts", "created_at",
             "event_time", "review_time", "reviewTime"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_SNIFF_DELIMITERS = ("\t", ",", ";", "|")
#: a RecBole atomic file's typed header field: ``name:type``
_TYPED_FIELD = re.compile(r"^(.+):(token|token_seq|float|float_seq)$")


@dataclass(frozen=True)
class Columns:
    """The source columns used for each role; ``time`` is None when file order is the time."""

    user: str
    item: str
    time: str | None


@dataclass(frozen=True)
class RawLog:
    """Interactions in file order: ``frame`` has columns user (str), item (str), time (number).

    ``time`` is the file's numeric timestamp as is (int64 or float64), nanoseconds since the
    epoch (int64) for parsed date strings, or the row number when the log has no time column.
    """

    path: Path
    format: str
    columns: Columns
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)


def _norm(name: str) -> str:
    return re.sub(r"[\s_.\-]", "", str(name)).lower()


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _open_binary(path: Path, compressed: bool) -> IO[bytes]:
    if compressed:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")  # noqa: SIM115


def detect_format(path: Path, compressed: bool) -> str:
    """Format from the extension (ignoring ``.gz``), else from the first bytes."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    by_ext = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".inter": "inter",
              ".parquet": "parquet",
              ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
    if ext in by_ext:
        return by_ext[ext]
    try:
        with _open_binary(path, compressed) as fh:
            head = fh.read(4096)
    except (OSError, EOFError) as e:
        raise DataError(path, f"cannot read the file ({e})") from None
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.lstrip().startswith((b"{", b"[")):
        return "jsonl"
    return "csv"


def detect_columns(names: list[str], path: Path, user_col: str | None = None,
                   item_col: str | None = None, time_col: str | None = None,
                   line: int | None = None) -> Columns:
    """Pick the user, item and time columns among ``names`` (explicit names win).

    ``time_col="none"`` (or ``""``) means the log has no time column: file order is used.
    """
    shown = ", ".join(map(str, names)) or "none"
    chosen: dict[str, str | None] = {}
    for role, explicit in (("user", user_col), ("item", item_col), ("time", time_col)):
        if role == "time" and explicit is not None and explicit.lower() in ("", "none"):
            chosen[role] = None
            continue
        if explicit is not None:
            if explicit not in names:
                raise DataError(path, f"no column {explicit!r} for the {role} "
                                      f"(columns: {shown})", line)
            chosen[role] = explicit
            continue
        by_norm: dict[str, str] = {}
        for n in names:
            by_norm.setdefault(_norm(n), n)
        found = next((by_norm[_norm(c)] for c in CONVENTIONS[role] if _norm(c) in by_norm), None)
        if found is None:
            raise DataError(path, f"cannot tell which column holds the {role} (columns: "
                                  f"{shown}); name it with --{role}-col", line)
        chosen[role] = found
    user, item = chosen["user"], chosen["item"]
    assert user is not None and item is not None
    if len({user, item, chosen["time"]} - {None}) < 2 + (chosen["time"] is not None):
        raise DataError(path, f"the user, item and time columns must differ (got {user!r}, "
                              f"{item!r}, {chosen['time']!r})", line)
    return Columns(user, item, chosen["time"])


def read_interactions(path: str | Path, fmt: str | None = None, user_col: str | None = None,
                      item_col: str | None = None, time_col: str | None = None) -> RawLog:
    """Read a raw log; ``fmt`` is one of csv, tsv, parquet, jsonl (default: detected)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "file not found")
    if fmt is not None and fmt not in FORMATS:
        raise BasrecError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    try:
        compressed = _is_gzip(p)
    except OSError as e:
        raise DataError(p, f"cannot read the file ({e})") from None
    kind = fmt or detect_format(p, compressed)
    try:
        if kind == "parquet":
            frame, cols = _read_parquet(p, compressed, user_col, item_col, time_col)
        elif kind == "jsonl":
            frame, cols = _read_jsonl(p, compressed, user_col, item_col, time_col)
        else:
            frame, cols, kind = _read_delimited(p, compressed, kind if fmt else None,
                                                user_col, item_col, time_col)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(p, f"corrupt gzip data ({e})") from None
    except UnicodeDecodeError:
        raise DataError(p, "not UTF-8 text") from None
    return RawLog(p, kind, cols, frame)


# ---------------------------------------------------------------------------------------------
# delimited text


def _first_line(path: Path, compressed: bool) -> str:
    with _open_binary(path, compressed) as fh:
        raw = fh.readline()
    return raw.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")


def _sniff(header: str, preferred: str | None) -> str:
    if "::" in header:
        return "::"
    if preferred is not None and preferred in header:
        return preferred
    counts = {d: header.count(d) for d in _SNIFF_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else r"\s+"


def _split(header: str, sep: str) -> list[str]:
    fields = header.split() if sep == r"\s+" else header.split(sep)
    return [f.strip().strip('"').strip("'") for f in fields]


def _read_delimited(path: Path, compressed: bool, explicit: str | None, user_col: str | None,
                    item_col: str | None, time_col: str | None,
                    ) -> tuple[pd.DataFrame, Columns, str]:
    import pandas as pd

    header = _first_line(path, compressed)
    if not header.strip():
        if not header:
            raise DataError(path, "empty file")
        raise DataError(path, "the first line is blank (expected a header or data)", 1)
    if explicit == "csv":
        sep = ","
    elif explicit in ("tsv", "inter"):
        sep = "\t"
    else:
        ext = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".inter": "\t"}
        suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
        sep = _sniff(header, ext.get(suffixes[-1] if suffixes else ""))
    fields = _split(header, sep)
    typed = recbole_names(fields)
    if typed is not None:  # RecBole's atomic format: the names without their types
        fields = typed
        user_col, item_col, time_col = (_untyped(c) for c in (user_col, item_col, time_col))
    known = {_norm(c) for names in CONVENTIONS.values() for c in names}
    headerless = (_NUMBER.match(fields[-1]) is not None and len(fields) >= 3
                  and not any(_norm(f) in known for f in fields))
    if headerless:
        names = [str(i) for i in range(len(fields))]
        cols = Columns(
            _position(user_col, "0", names, path), _position(item_col, "1", names, path),
            None if time_col is not None and time_col.lower() in ("", "none")
            else _position(time_col, names[-1], names, path))
        if len({cols.user, cols.item, cols.time} - {None}) < 2 + (cols.time is not None):
            raise DataError(path, "the user, item and time columns must differ", 1)
        first_line = 1
    else:
        names = fields
        cols = detect_columns(names, path, user_col, item_col, time_col, line=1)
        first_line = 2
    use = [c for c in (cols.user, cols.item, cols.time) if c is not None]
    kwargs: dict[str, Any] = {
        "sep": sep, "dtype": str, "na_filter": False, "skip_blank_lines": False,
        "encoding": "utf-8", "compression": "gzip" if compressed else None,
        "header": None if headerless else 0,
    }
    if sep == "::":
        kwargs["engine"] = "python"
    try:
        frame = pd.read_csv(path, **kwargs)
    except pd.errors.ParserError as e:
        text = " ".join(str(e).split())
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if m:
            raise DataError(path, f"expected {m.group(1)} fields, found {m.group(3)}",
                            int(m.group(2))) from None
        m = re.search(r"line (\d+)", text)
        raise DataError(path, f"malformed text ({text})", int(m.group(1)) if m else None) from None
    except pd.errors.EmptyDataError:
        raise DataError(path, "empty file") from None
    except UnicodeDecodeError:
        raise DataError(path, "not UTF-8 text") from None
    except ValueError as e:
        raise DataError(path, str(e), 1) from None
    if headerless:
        frame.columns = [str(c) for c in frame.columns]
    elif typed is not None:
        frame.columns = typed
    frame = frame[use]
    blank = np.ones(len(frame), dtype=bool)
    for c in use:
        blank &= (frame[c].to_numpy(dtype=object) == "")
    lines = np.arange(len(frame), dtype=np.int64) + first_line
    frame, lines = frame[~blank], lines[~blank]
    kind = "inter" if typed is not None else {",": "csv", "\t": "tsv"}.get(sep, "text")
    return _assemble(path, frame, cols, lines, "line"), cols, kind


def recbole_names(fields: list[str]) -> list[str] | None:
    """The column names of a RecBole atomic header (every field ``name:type``, type one of
    token, token_seq, float, float_seq), else None."""
    matches = [_TYPED_FIELD.match(f) for f in fields]
    if not fields or not all(matches):
        return None
    return [m.group(1) for m in matches if m is not None]


def _untyped(name: str | None) -> str | None:
    """An explicit column of a RecBole file may be given with its type (``user_id:token``)."""
    if name is None:
        return None
    m = _TYPED_FIELD.match(name)
    return m.group(1) if m else name


def _position(explicit: str | None, default: str, names: list[str], path: Path) -> str:
    if explicit is None:
        return default
    if explicit not in names:
        raise DataError(path, f"the file has no header line, so columns are given by position "
                              f"(0..{len(names) - 1}), not {explicit!r}", 1)
    return explicit


# ---------------------------------------------------------------------------------------------
# JSON lines


def _scalar(value: Any, key: str, path: Path, lineno: int | None, where: str = "") -> Any:
    """``value``, refused unless a string or a number (an id or a time, not an object, a list
    or null)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(path, f"{where}{key!r} must be a string or a number, got "
                              f"{json.dumps(value)[:40]}", lineno)
    return value


def _read_jsonl(path: Path, compressed: bool, user_col: str | None, item_col: str | None,
                time_col: str | None) -> tuple[pd.DataFrame, Columns]:
    import pandas as pd

    cols: Columns | None = None
    users: list[Any] = []
    items: list[Any] = []
    times: list[Any] = []
    lines: list[int] = []
    with _open_binary(path, compressed) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8")
        for lineno, line in enumerate(text, start=1):
            if not line.strip():
                continue
            if cols is None and line.lstrip().startswith("["):
                return _read_json_array(path, line + text.read(), lineno - 1,
                                        user_col, item_col, time_col)
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, f"invalid JSON ({e.msg})", lineno) from None
            if not isinstance(obj, dict):
                raise DataError(path, "expected one JSON object per line", lineno)
            if cols is None:
                cols = detect_columns(list(obj), path, user_col, item_col, time_col, lineno)
            try:
                users.append(_scalar(obj[cols.user], cols.user, path, lineno))
                items.append(_scalar(obj[cols.item], cols.item, path, lineno))
                if cols.time is not None:
                    times.append(_scalar(obj[cols.time], cols.time, path, lineno))
            except KeyError as e:
                raise DataError(path, f"missing key {e.args[0]!r}", lineno) from None
            lines.append(lineno)
    if cols is None:
        raise DataError(path, "empty file")
    data = {cols.user: users, cols.item: items}
    if cols.time is not None:
        data[cols.time] = times
    frame = pd.DataFrame(data)
    return _assemble(path, frame, cols, np.asarray(lines, dtype=np.int64), "line"), cols


def _read_json_array(path: Path, text: str, skipped_lines: int, user_col: str | None,
                     item_col: str | None, time_col: str | None) -> tuple[pd.DataFrame, Columns]:
    import pandas as pd

    try:
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, f"invalid JSON ({e.msg})", e.lineno + skipped_lines) from None
    if not isinstance(records, list) or not records:
        raise DataError(path, "empty JSON array")
    if not all(isinstance(r, dict) for r in records):
        raise DataError(path, "expected a JSON array of objects")
    cols = detect_columns(list(records[0]), path, user_col, item_col, time_col)
    use = [c for c in (cols.user, cols.item, cols.time) if c is not None]
    for n, r in enumerate(records, start=1):
        missing = [c for c in use if c not in r]
        if missing:
            raise DataError(path, f"record {n} has no key {missing[0]!r}")
        for c in use:
            _scalar(r[c], c, path, None, f"record {n}: ")
    frame = pd.DataFrame({c: [r[c] for r in records] for c in use})
    return _assemble(path, frame, cols, np.arange(1, len(frame) + 1), "record"), cols


# ---------------------------------------------------------------------------------------------
# Parquet


def _read_parquet(path: Path, compressed: bool, user_col: str | None, item_col: str | None,
                  time_col: str | None) -> tuple[pd.DataFrame, Columns]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BasrecError("reading Parquet needs pyarrow: pip install 'basrec[parquet]' "
                          "(or pip install pyarrow)") from None
    import pyarrow as pa

    source: Any = path
    if compressed:
        with gzip.open(path, "rb") as fh:
            source = io.BytesIO(fh.read())
    try:
        pf = pq.ParquetFile(source)
        names = list(pf.schema_arrow.names)
        cols = detect_columns(names, path, user_col, item_col, time_col)
        use = [c for c in (cols.user, cols.item, cols.time) if c is not None]
        table = pf.read(columns=use)
    except (pa.ArrowException, OSError) as e:
        raise DataError(path, f"not a readable Parquet file ({e})") from None
    if table.num_rows == 0:
        raise DataError(path, "empty file: no rows")
    frame = table.to_pandas()
    return _assemble(path, frame, cols, np.arange(1, len(frame) + 1), "row"), cols


# ---------------------------------------------------------------------------------------------
# shared conversion


def _where(path: Path, unit: str, number: int, message: str) -> DataError:
    """A DataError at a text line, or at a row/record number written in the message."""
    if unit == "line":
        return DataError(path, message, int(number))
    return DataError(path, f"{unit} {int(number)}: {message}")


def _ids(path: Path, series: pd.Series, role: str, col: str, lines: np.ndarray,
         unit: str) -> np.ndarray:
    """Id column → array of non-empty strings (1.0-style floats become 1)."""
    import pandas as pd

    values = series
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype=np.float64)
        bad = np.isnan(arr)
        if bad.any():
            i = int(np.argmax(bad))
            raise _where(path, unit, lines[i], f"missing {role} id (column {col!r})")
        if np.all(arr == np.round(arr)):
            values = pd.Series(arr.astype(np.int64))
    out = values.astype(str).str.strip().to_numpy(dtype=object)
    mask = values.isna().to_numpy() | (out == "")
    if mask.any():
        i = int(np.argmax(mask))
        raise _where(path, unit, lines[i], f"missing {role} id (column {col!r})")
    return out


def _times(path: Path, series: pd.Series, col: str, lines: np.ndarray, unit: str) -> np.ndarray:
    """Time column → int64/float64 numbers (dates: int64 nanoseconds since the epoch)."""
    import pandas as pd

    def fail(mask: np.ndarray, template: str) -> DataError:
        i = int(np.argmax(mask))
        what = template.format(value=repr(series.iloc[i]))
        return _where(path, unit, lines[i], f"{what} (column {col!r})")

    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        mask = series.isna().to_numpy()
        if mask.any():
            raise fail(mask, "missing timestamp")
        return series.dt.as_unit("ns").astype("int64").to_numpy()
    if pd.api.types.is_bool_dtype(series.dtype):
        raise _where(path, unit, lines[0],
                     f"column {col!r} holds true/false values, not timestamps")
    if pd.api.types.is_numeric_dtype(series.dtype):
        arr = series.to_numpy(dtype=np.float64)
        mask = np.isnan(arr)
        if mask.any():
            raise fail(mask, "missing timestamp")
        return _as_number(series.to_numpy())
    text = series.astype(str).str.strip()
    missing = (series.isna() | (text == "")).to_numpy()
    if missing.any():
        raise fail(missing, "missing timestamp")
    numbers = pd.to_numeric(text, errors="coerce")
    not_number = numbers.isna().to_numpy()
    if not not_number.any():
        return _as_number(numbers.to_numpy())
    if not not_number[0]:  # a numeric column with a stray value
        raise fail(not_number, "timestamp {value} is not a number")
    dates = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    if dates.isna().any():
        dates = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        raise fail(bad, "cannot parse timestamp {value} as a number or a date")
    return dates.dt.as_unit("ns").astype("int64").to_numpy()


def _as_number(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 2**62):
        return arr.astype(np.int64)
    return arr


def _assemble(path: Path, frame: pd.DataFrame, cols: Columns, lines: np.ndarray,
              unit: str) -> pd.DataFrame:
    import pandas as pd

    if len(frame) == 0:
        raise DataError(path, "no interactions (the file has a header but no data)"
                        if unit == "line" else "empty file: no interactions")
    lines = np.asarray(lines)
    frame = frame.reset_index(drop=True)
    out = {
        "user": _ids(path, frame[cols.user], "user", cols.user, lines, unit),
        "item": _ids(path, frame[cols.item], "item", cols.item, lines, unit),
        "time": (_times(path, frame[cols.time], cols.time, lines, unit) if cols.time is not None
                 else np.arange(len(frame), dtype=np.int64)),
    }
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# a raw log where a sequence file belongs


def raw_log_reason(path: str | Path) -> str | None:
    """Why ``path`` is clearly a raw interaction log rather than a sequence file (``user item
    item ...``), or None. Only strong evidence counts: compressed, Parquet or JSON content, or a
    first line that is not a sequence line and is a header (known or RecBole-typed column
    names) or separated by commas, tabs, semicolons, bars or ``::``. A sequence file with a bad
    token is left to the sequence reader, which names the line."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    if head.startswith(_GZIP_MAGIC):
        return "gzip-compressed"
    if head.startswith(_PARQUET_MAGIC):
        return "Parquet"
    first = next((line for line in head.split(b"\n") if line.strip()), b"")
    try:
        text = first.decode("utf-8").lstrip("\ufeff").strip()
    except UnicodeDecodeError:
        return None
    if text.startswith(("{", "[")):
        return "JSON"
    tokens = text.split()
    if len(tokens) > 1 and all(_is_integer(t) for t in tokens[1:]):
        return None  # a valid sequence line
    fields = _split(text, _sniff(text, None))
    if recbole_names(fields) is not None:
        return "a RecBole atomic file: its first line is a typed header"
    known = {_norm(c) for names in CONVENTIONS.values() for c in names}
    header = [f for f in fields if _norm(f) in known]
    if header:
        return f"its first line is a header naming {', '.join(header)}"
    for sep, name in (("::", "'::'"), (",", "commas"), ("\t", "tabs"), (";", "semicolons"),
                      ("|", "bars")):
        if sep in text:
            return f"its first line is separated by {name}"
    return None


def _is_integer(token: str) -> bool:
    return token.lstrip("+-").isdigit()
