"""Raw logs → sequence files: k-core, ordering, formats, columns, errors, outputs, statistics."""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from basrec.cli import main
from basrec.data.id_maps import read_id_map
from basrec.data.io import Sequences, read_sequences
from basrec.data.prepare import build_sequences, output_paths, prepare
from basrec.data.raw import read_interactions
from basrec.data.stats import dataset_stats
from basrec.errors import BasrecError, DataError

# (user, item, time) in file order. With k = 2 the core needs four rounds: u4 goes (1 item),
# then item d (now 1 user), then u3 (1 item left), then item c (only u1 left).
LOG = [
    ("u2", "a", 5),
    ("u1", "a", 1),
    ("u3", "c", 1),
    ("u1", "b", 2),
    ("u4", "d", 1),
    ("u2", "b", 4),
    ("u1", "c", 3),
    ("u3", "d", 2),
]
# users numbered by first appearance (u2, u1), items by first appearance along the sequences
EXPECTED_2CORE = "1 1 2\n2 2 1\n"  # u2: b a (time 4, 5); u1: a b
EXPECTED_USERS = {"u2": 1, "u1": 2}
EXPECTED_ITEMS = {"b": 1, "a": 2}


def _yelp_date(t: int) -> str:
    return f"2019-01-{t:02d} 12:00:00"


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _frame(rows: list[tuple[str, str, int]]):  # noqa: ANN202 (pandas is imported lazily)
    import pandas as pd

    return pd.DataFrame({"user": [r[0] for r in rows], "item": [r[1] for r in rows],
                         "time": np.array([r[2] for r in rows], dtype=np.int64)})


def _lists(seqs: Sequences) -> list[list[int]]:
    return [seqs.sequence(u).tolist() for u in range(seqs.n_users)]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


# --------------------------------------------------------------------------------------------
# k-core, ordering, dedup


def test_iterative_kcore_hand_computed() -> None:
    prepared = build_sequences(_frame(LOG), user_k=2, item_k=2)
    assert _lists(prepared.sequences) == [[1, 2], [2, 1]]
    assert prepared.sequences.users == ["1", "2"]
    assert prepared.user_ids == ["u2", "u1"]
    assert prepared.item_ids == ["b", "a"]
    assert prepared.info["kcore_rounds"] == 4
    assert prepared.info["rows_read"] == 8


def test_separate_user_and_item_k() -> None:
    # users need 3 interactions (only u1 has them), items need 1: one round
    prepared = build_sequences(_frame(LOG), user_k=3, item_k=1)
    assert prepared.user_ids == ["u1"]
    assert prepared.item_ids == ["a", "b", "c"]
    assert _lists(prepared.sequences) == [[1, 2, 3]]
    # items need 3 users: none has, so nothing is left
    with pytest.raises(DataError, match="no interactions are left"):
        build_sequences(_frame(LOG), user_k=1, item_k=3)


def test_default_is_five_core(tmp_path: Path) -> None:
    # a 5 x 5 block (every user rated every item) survives; an extra user with 4 items
    # and an extra item with 4 users do not
    rows = [(f"u{u}", f"i{i}", u * 10 + i) for u in range(5) for i in range(5)]
    rows += [("short", f"i{i}", i) for i in range(4)]
    rows += [(f"u{u}", "rare", 100) for u in range(4)]
    prepared = build_sequences(_frame(rows))
    assert prepared.user_ids == [f"u{u}" for u in range(5)]
    assert prepared.item_ids == [f"i{i}" for i in range(5)]
    assert _lists(prepared.sequences) == [[1, 2, 3, 4, 5]] * 5


def test_ties_keep_file_order() -> None:
    rows = [("u", "x", 5), ("u", "y", 3), ("u", "z", 5), ("u", "w", 3), ("u", "v", 4)]
    prepared = build_sequences(_frame(rows), user_k=1, item_k=1)
    assert [prepared.item_ids[i - 1] for i in prepared.sequences.sequence(0)] == \
        ["y", "w", "v", "x", "z"]


@pytest.mark.parametrize(("mode", "expected"), [
    ("none", ["a", "a", "b", "a"]),
    ("consecutive", ["a", "b", "a"]),
    ("all", ["a", "b"]),
])
def test_dedup_modes(mode: str, expected: list[str]) -> None:
    rows = [("u", "a", 1), ("u", "b", 3), ("u", "a", 2), ("u", "a", 4)]
    prepared = build_sequences(_frame(rows), user_k=1, item_k=1, dedup=mode)
    assert [prepared.item_ids[i - 1] for i in prepared.sequences.sequence(0)] == expected


def test_bad_settings() -> None:
    with pytest.raises(BasrecError, match="dedup"):
        build_sequences(_frame(LOG), dedup="some")
    with pytest.raises(BasrecError, match="1 or more"):
        build_sequences(_frame(LOG), user_k=0)


def _naive_kcore(rows: list[tuple[str, str, int]], uk: int, ik: int) -> set[tuple[str, str, int]]:
    kept = set(rows)
    while True:
        uc = Counter(r[0] for r in kept)
        ic = Counter(r[1] for r in kept)
        nxt = {r for r in kept if uc[r[0]] >= uk and ic[r[1]] >= ik}
        if nxt == kept:
            return kept
        kept = nxt


def test_id_maps_are_consistent_with_a_naive_kcore(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for n in range(1500):  # skewed popularity so the filter has work to do; unique times
        user = f"user{int(rng.zipf(1.6)) % 120}"
        item = f"item{int(rng.zipf(1.4)) % 200}"
        rows.append((user, item, int(n * 7 % 1501)))
    src = tmp_path / "log.csv"
    src.write_text("user_id,item_id,timestamp\n"
                   + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    out = tmp_path / "out" / "seq.txt"
    result = prepare(src, out, user_k=3, item_k=4)
    users = read_id_map(output_paths(out)["user_map"])
    items = read_id_map(output_paths(out)["item_map"])
    assert sorted(users.values()) == list(range(1, len(users) + 1))
    assert sorted(items.values()) == list(range(1, len(items) + 1))
    seqs, report = read_sequences(out, min_length=1)
    assert report.skipped_short == []
    inv_items = {v: k for k, v in items.items()}
    core = _naive_kcore(rows, 3, 4)
    assert seqs.items.size == len(core)
    assert {users[u] for u, _, _ in core} == set(range(1, seqs.n_users + 1))
    for new_user, label in enumerate(seqs.users):
        original = next(u for u, v in users.items() if v == int(label))
        expect = [i for _, i, _ in sorted((r for r in core if r[0] == original),
                                          key=lambda r: r[2])]
        assert [inv_items[i] for i in seqs.sequence(new_user).tolist()] == expect
    stats = json.loads(output_paths(out)["stats"].read_text())
    assert stats["users"] == seqs.n_users == result.stats.users
    assert stats["interactions"] == len(core)
    assert stats["user_k"] == 3 and stats["item_k"] == 4
    assert stats["columns"] == {"user": "user_id", "item": "item_id", "time": "timestamp"}


# --------------------------------------------------------------------------------------------
# formats and columns


def _amazon_csv(path: Path) -> Path:
    body = "".join(f"{u},{i},4.0,{t}\n" for u, i, t in LOG)
    return _write(path, "reviewerID,asin,overall,unixReviewTime\n" + body)


def _yelp_tsv(path: Path) -> Path:
    body = "".join(f"r{n}\t{u}\t{i}\t5\t{_yelp_date(t)}\n" for n, (u, i, t) in enumerate(LOG))
    return _write(path, "review_id\tuser_id\tbusiness_id\tstars\tdate\n" + body)


def _amazon_jsonl(path: Path) -> Path:
    body = "".join(json.dumps({"reviewerID": u, "asin": i, "overall": 5.0, "unixReviewTime": t,
                               "reviewText": "fine, thanks"}) + "\n" for u, i, t in LOG)
    return _write(path, body)


def _yelp_jsonl(path: Path) -> Path:
    body = "".join(json.dumps({"review_id": f"r{n}", "user_id": u, "business_id": i,
                               "stars": 5, "date": _yelp_date(t)}) + "\n"
                   for n, (u, i, t) in enumerate(LOG))
    return _write(path, body)


def _headerless_ratings(path: Path) -> Path:  # Amazon ratings-only CSV: user,item,rating,time
    return _write(path, "".join(f"{u},{i},5.0,{t}\n" for u, i, t in LOG))


def _movielens_dat(path: Path) -> Path:
    return _write(path, "".join(f"{u}::{i}::5::{t}\n" for u, i, t in LOG))


def _semicolon(path: Path) -> Path:
    return _write(path, "userId;itemId;rating;timestamp\n"
                  + "".join(f"{u};{i};3;{t}\n" for u, i, t in LOG))


def _parquet(path: Path) -> Path:
    pytest.importorskip("pyarrow")
    import pandas as pd

    frame = pd.DataFrame({"userId": [r[0] for r in LOG], "movieId": [r[1] for r in LOG],
                          "rating": 4.0, "timestamp": [r[2] for r in LOG]})
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize(("make", "name", "fmt", "columns"), [
    (_amazon_csv, "reviews.csv", "csv", ("reviewerID", "asin", "unixReviewTime")),
    (_amazon_csv, "reviews.csv.gz", "csv", ("reviewerID", "asin", "unixReviewTime")),
    (_yelp_tsv, "yelp.tsv", "tsv", ("user_id", "business_id", "date")),
    (_yelp_tsv, "yelp.txt.gz", "tsv", ("user_id", "business_id", "date")),
    (_amazon_jsonl, "reviews_Beauty_5.json", "jsonl", ("reviewerID", "asin", "unixReviewTime")),
    (_yelp_jsonl, "yelp_review.json.gz", "jsonl", ("user_id", "business_id", "date")),
    (_yelp_jsonl, "noextension", "jsonl", ("user_id", "business_id", "date")),
    (_headerless_ratings, "ratings_Beauty.csv", "csv", ("0", "1", "3")),
    (_movielens_dat, "ratings.dat", "text", ("0", "1", "3")),
    (_semicolon, "export.csv", "text", ("userId", "itemId", "timestamp")),
    (_parquet, "log.parquet", "parquet", ("userId", "movieId", "timestamp")),
])
def test_formats_with_detected_columns(tmp_path: Path, make, name: str, fmt: str,  # noqa: ANN001
                                       columns: tuple[str, str, str]) -> None:
    src = make(tmp_path / name)
    log = read_interactions(src)
    assert log.format == fmt
    assert (log.columns.user, log.columns.item, log.columns.time) == columns
    assert log.frame["user"].tolist() == [r[0] for r in LOG]
    assert log.frame["item"].tolist() == [r[1] for r in LOG]
    out = tmp_path / "seq.txt"
    prepare(src, out, user_k=2, item_k=2)
    assert out.read_text() == EXPECTED_2CORE
    assert read_id_map(output_paths(out)["user_map"]) == EXPECTED_USERS
    assert read_id_map(output_paths(out)["item_map"]) == EXPECTED_ITEMS


def _recbole_inter(path: Path) -> Path:
    """A RecBole atomic interaction file: tab-separated, typed header, extra columns."""
    body = "".join(f"{u}\t{i}\t4.0\t{t}\tgift wrap\n" for u, i, t in LOG)
    return _write(path, "user_id:token\titem_id:token\trating:float\ttimestamp:float\t"
                        "tags:token_seq\n" + body)


@pytest.mark.parametrize("name", ["ml.inter", "ml.inter.gz", "ml.txt"])
def test_recbole_inter_needs_no_column_options(tmp_path: Path, name: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The typed header names the columns: the same sequences and maps as the equivalent CSV,
    by the library and by ``basrec prepare`` with no column option; an explicit column may
    be given with its type or without."""
    src = _recbole_inter(tmp_path / name)
    log = read_interactions(src)
    assert log.format == "inter"
    assert (log.columns.user, log.columns.item, log.columns.time) == \
        ("user_id", "item_id", "timestamp")
    csv_src = _write(tmp_path / "same.csv", "user_id,item_id,rating,timestamp\n"
                     + "".join(f"{u},{i},4.0,{t}\n" for u, i, t in LOG))
    rc, _, err = run_cli(["prepare", str(csv_src), "--out", str(tmp_path / "csv.txt"),
                          "--k-core", "2"], capsys)
    assert (rc, err) == (0, "")
    rc, stdout, err = run_cli(["prepare", str(src), "--out", str(tmp_path / "inter.txt"),
                               "--k-core", "2"], capsys)
    assert (rc, err) == (0, "")
    assert (tmp_path / "inter.txt").read_text() == (tmp_path / "csv.txt").read_text() \
        == EXPECTED_2CORE
    for kind in ("user_map", "item_map"):
        assert read_id_map(output_paths(tmp_path / "inter.txt")[kind]) == \
            read_id_map(output_paths(tmp_path / "csv.txt")[kind])
    stats = json.loads(output_paths(tmp_path / "inter.txt")["stats"].read_text())
    assert stats["format"] == "inter"
    typed = read_interactions(src, user_col="user_id:token", time_col="rating:float")
    assert (typed.columns.user, typed.columns.time) == ("user_id", "rating")
    assert read_interactions(src, fmt="inter").format == "inter"


def test_tied_timestamps_are_counted_and_reported(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """u1: times 1 1 2 3 3 (four tied, the last two among them: file order picks the test
    item); u2: 5 5 6 (two tied); u3: 1 2 3 (none); u4 shares times with others only."""
    rows = [("u1", "a", 1), ("u1", "b", 1), ("u1", "c", 2), ("u1", "d", 3), ("u1", "e", 3),
            ("u2", "a", 5), ("u2", "b", 5), ("u2", "c", 6),
            ("u3", "a", 1), ("u3", "b", 2), ("u3", "c", 3), ("u4", "d", 3)]
    prepared = build_sequences(_frame(rows), user_k=1, item_k=1)
    assert prepared.info["rows_tied"] == 6
    assert prepared.info["users_test_tied"] == 1
    src = _write(tmp_path / "log.csv", "user_id,item_id,timestamp\n"
                 + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    rc, stdout, err = run_cli(["prepare", str(src), "--out", str(tmp_path / "seq.txt"),
                               "--k-core", "1"], capsys)
    assert (rc, err) == (0, "")
    assert "ties: 6 interactions (50.0%) share a timestamp with another of the same user; " \
        "file order breaks those ties" in stdout
    assert "for 1 kept users the test item and the one before it are tied" in stdout
    stats = json.loads(output_paths(tmp_path / "seq.txt")["stats"].read_text())
    assert stats["rows_tied"] == 6 and stats["users_test_tied"] == 1
    # no ties, and a log without a time column (file order is the time)
    rc, stdout, _ = run_cli(["prepare", str(src), "--out", str(tmp_path / "none.txt"),
                             "--k-core", "1", "--time-col", "none"], capsys)
    assert rc == 0 and "time: file order (no time column)" in stdout and "ties:" not in stdout
    untied = _write(tmp_path / "untied.csv", "user_id,item_id,timestamp\nu,a,1\nu,b,2\n")
    rc, stdout, _ = run_cli(["prepare", str(untied), "--out", str(tmp_path / "u.txt"),
                             "--k-core", "1"], capsys)
    assert rc == 0 and "ties: no two interactions of a user share a timestamp" in stdout


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    src = _yelp_tsv(tmp_path / "yelp.csv")  # tab-separated despite the name
    assert read_interactions(src).format == "tsv"  # sniffed: no comma in the header
    log = read_interactions(src, fmt="tsv")
    assert log.columns.item == "business_id"
    with pytest.raises(DataError, match="cannot tell which column holds the user"):
        read_interactions(src, fmt="csv")


def test_dates_are_ordered_as_times(tmp_path: Path) -> None:
    src = _write(tmp_path / "y.csv", "user_id,business_id,date\n"
                 "u,late,2020-02-01 00:00:00\nu,early,2019-12-31T23:59:59\nu,mid,2020-01-15\n")
    prepared = build_sequences(read_interactions(src).frame, user_k=1, item_k=1)
    assert prepared.item_ids == ["early", "mid", "late"]


def test_overriding_columns(tmp_path: Path) -> None:
    # detection would pick user_id/item_id/timestamp; the override orders by event_ts instead
    src = _write(tmp_path / "log.csv", "user_id,item_id,timestamp,buyer,event_ts\n"
                 "a,x,1,B,30\na,y,2,B,10\na,z,3,B,20\n")
    auto = build_sequences(read_interactions(src).frame, 1, 1)
    assert auto.item_ids == ["x", "y", "z"]
    log = read_interactions(src, time_col="event_ts", user_col="buyer")
    assert (log.columns.user, log.columns.item, log.columns.time) == \
        ("buyer", "item_id", "event_ts")
    over = build_sequences(log.frame, 1, 1)
    assert over.user_ids == ["B"]
    assert over.item_ids == ["y", "z", "x"]
    no_time = build_sequences(read_interactions(src, time_col="none", item_col="item_id")
                              .frame, 1, 1)
    assert no_time.item_ids == ["x", "y", "z"]
    headerless = _headerless_ratings(tmp_path / "r.csv")
    swapped = read_interactions(headerless, user_col="1", item_col="0")
    assert swapped.frame["user"].tolist()[:2] == ["a", "a"]


def test_cli_prepare_with_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "log.csv", "who,what,when\n"
                 + "".join(f"{u},{i},{t}\n" for u, i, t in LOG))
    out = tmp_path / "seq.txt"
    rc, stdout, err = run_cli(["prepare", str(src), "--out", str(out), "--user-col", "who",
                               "--item-col", "what", "--time-col", "when", "--k-core", "2"],
                              capsys)
    assert (rc, err) == (0, "")
    assert out.read_text() == EXPECTED_2CORE
    assert "users         2" in stdout and "interactions  4" in stdout
    assert "sparsity      0.00%" in stdout
    out3 = tmp_path / "seq3.txt"
    rc, _, _ = run_cli(["prepare", str(src), "--out", str(out3), "--user-col", "who",
                        "--item-col", "what", "--time-col", "when", "--user-k", "3",
                        "--item-k", "1"], capsys)
    assert rc == 0
    assert read_id_map(output_paths(out3)["user_map"]) == {"u1": 1}


# --------------------------------------------------------------------------------------------
# errors: one line, exit status 2


BAD_INPUTS = [
    ("empty.csv", "", "empty file", None),
    ("header.csv", "user_id,item_id,timestamp\n", "no interactions", None),
    ("cols.csv", "a,b,c\nx,y,1\n", "cannot tell which column holds the user", 1),
    ("time.csv", "user_id,item_id,timestamp\nu,i,1\nu,j,2\nu,k,soon\n",
     "timestamp 'soon' is not a number", 4),
    ("date.csv", "user_id,business_id,date\nu,i,2019-01-01\nu,j,someday\n",
     "cannot parse timestamp 'someday'", 3),
    ("missing.csv", "user_id,item_id,timestamp\nu,i,1\n,j,2\n", "missing user id", 3),
    ("ragged.csv", "user_id,item_id,timestamp\nu,i,1\nu,j,2,3\n", "expected 3 fields, found 4",
     3),
    ("bad.jsonl", '{"user_id": "u", "item_id": "i", "timestamp": 1}\n{"user_id": \n',
     "invalid JSON", 2),
    ("key.jsonl", '{"user_id": "u", "item_id": "i", "timestamp": 1}\n'
     '{"user_id": "u", "timestamp": 2}\n', "missing key 'item_id'", 2),
    ("notobj.jsonl", "[1, 2]\n", "expected a JSON array of objects", None),
    ("small.csv", "user_id,item_id,timestamp\nu,i,1\n", "no interactions are left", None),
    ("latin1.csv", b"user_id,item_id,timestamp\nu,\xe9,1\n", "not UTF-8", None),
]


@pytest.mark.parametrize(("name", "text", "fragment", "line"), BAD_INPUTS)
def test_bad_inputs_give_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                  text: str | bytes, fragment: str, line: int | None) -> None:
    src = tmp_path / name
    if isinstance(text, bytes):
        src.write_bytes(text)
    else:
        src.write_text(text)
    out = tmp_path / "seq.txt"
    rc, stdout, err = run_cli(["prepare", str(src), "--out", str(out)], capsys)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("basrec: error: ")
    where = f"{src}:{line}: " if line is not None else f"{src}"
    assert where in err
    assert fragment in err
    assert not any(p.exists() for p in output_paths(out).values())


def test_unknown_column_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _amazon_csv(tmp_path / "a.csv")
    rc, _, err = run_cli(["prepare", str(src), "--out", str(tmp_path / "o"), "--user-col",
                          "nobody"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert f"{src}:1: no column 'nobody' for the user" in err
    rc, _, err = run_cli(["prepare", str(tmp_path / "absent.csv"), "--out",
                          str(tmp_path / "o")], capsys)
    assert rc == 2 and "absent.csv: file not found" in err
    rc, _, err = run_cli(["prepare", str(src), "--out", str(tmp_path / "o"), "--k-core", "0"],
                         capsys)
    assert rc == 2 and err.count("\n") == 1 and "--k-core" in err
    rc, _, err = run_cli(["prepare", str(src), "--out", str(tmp_path / "o"), "--bogus"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--bogus" in err


def test_parquet_without_pyarrow(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "log.parquet"
    src.write_bytes(b"PAR1 not really")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    rc, _, err = run_cli(["prepare", str(src), "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "needs pyarrow" in err and "pip install" in err


def test_corrupt_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    src = tmp_path / "log.parquet"
    src.write_bytes(b"PAR1 not really a parquet file")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_interactions(src)


# --------------------------------------------------------------------------------------------
# outputs: never lose what exists


def test_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _amazon_csv(tmp_path / "a.csv")
    out = tmp_path / "seq.txt"
    out.write_text("precious\n")
    argv = ["prepare", str(src), "--out", str(out), "--k-core", "2"]
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2 and err.count("\n") == 1 and "--force" in err
    assert out.read_text() == "precious\n"
    assert not output_paths(out)["user_map"].exists()
    # an existing side file also blocks the run
    out2 = tmp_path / "seq2.txt"
    output_paths(out2)["stats"].write_text("{}")
    rc, _, err = run_cli(["prepare", str(src), "--out", str(out2)], capsys)
    assert rc == 2 and "seq2.txt.stats.json: already exists" in err
    assert not out2.exists()
    rc, _, _ = run_cli([*argv, "--force"], capsys)
    assert rc == 0 and out.read_text() == EXPECTED_2CORE
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.csv", "seq.txt", "seq.txt.item_map.csv", "seq.txt.stats.json",
        "seq.txt.user_map.csv", "seq2.txt.stats.json"]  # no temporary files left


def test_never_writes_over_the_input(tmp_path: Path) -> None:
    src = _amazon_csv(tmp_path / "a.csv")
    before = src.read_bytes()
    with pytest.raises(DataError, match="is the input file"):
        prepare(src, src, force=True)
    assert src.read_bytes() == before


def test_output_is_a_training_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _amazon_csv(tmp_path / "a.csv")
    out = tmp_path / "seq.txt"
    prepare(src, out, user_k=2, item_k=2)
    rc, stdout, _ = run_cli(["data", "stats", str(out), "--json"], capsys)
    assert rc == 0
    record = json.loads(stdout)
    assert (record["users"], record["items"], record["interactions"]) == (2, 2, 4)
    assert record["users_under_3_items"] == 2


# --------------------------------------------------------------------------------------------
# statistics


def test_stats_hand_computed() -> None:
    seqs = Sequences.from_lists([[1, 2, 3], [2, 3], [3, 4, 5, 1]], n_items=9)
    s = dataset_stats(seqs)
    assert (s.users, s.items, s.interactions) == (3, 5, 9)  # distinct items, not n_items
    assert s.avg_length == pytest.approx(3.0)
    assert s.sparsity == pytest.approx(1 - 9 / 15)
    assert (s.min_length, s.max_length) == (2, 4)
    assert s.lines()[4] == "sparsity      40.00%"


def test_beauty_table1(beauty_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(["data", "stats", str(beauty_path)], capsys)
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert "users         22,363" in lines
    assert "items         12,101" in lines
    assert "interactions  198,502" in lines
    assert "avg. length   8.9" in lines
    assert "sparsity      99.93%" in lines
    rc, out, _ = run_cli(["data", "stats", "beauty", "--data-dir", str(beauty_path.parent),
                          "--json"], capsys)
    record = json.loads(out)
    assert record["path"] == str(beauty_path)
    assert (record["users"], record["items"], record["interactions"]) == \
        (22363, 12101, 198502)
    assert round(record["avg_length"], 1) == 8.9
    assert round(100 * record["sparsity"], 2) == 99.93
