"""The sequence text format: round trip, located errors, short users, the CLI's one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from basrec.cli import main
from basrec.data.io import Sequences, read_sequences, write_sequences
from basrec.errors import DataError


def test_round_trip(tmp_path: Path) -> None:
    seqs = Sequences.from_lists([[3, 1, 2], [2, 2, 5, 4], [1, 5, 3, 2, 4]],
                                users=["u7", "10", "abc"])
    path = tmp_path / "data" / "s.txt"
    write_sequences(path, seqs)
    assert path.read_text() == "u7 3 1 2\n10 2 2 5 4\nabc 1 5 3 2 4\n"
    back, report = read_sequences(path)
    assert back.users == ["u7", "10", "abc"]
    assert back.n_items == 5
    np.testing.assert_array_equal(back.items, seqs.items)
    np.testing.assert_array_equal(back.offsets, [0, 3, 7, 12])
    assert report.skipped_short == []
    assert not list(tmp_path.glob("data/.*.tmp"))  # the atomic write left no temporary file


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("1 1 2 3\n2 4 x 5\n", 2, "'x' is not an integer id"),
        ("1 1 2 3\n2 4 5 2.5\n", 2, "'2.5' is not an integer id"),
        ("1 1 2 3\n\n2 4 5 99999999999999999999999\n", 3, "is not an integer id"),
        ("1 1 2 3\n2 4 5 6\n1 7 8 9\n", 3, "duplicate user '1' (first on line 1)"),
        ("1 1 2 3\n2 4 0 6\n", 2, "item id 0 must be 1 or more"),
        ("1 1 2 3\n2 4 -3 6\n", 2, "item id -3 must be 1 or more"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, text: str, line: int,
                                      fragment: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_sequences(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bin.txt"
    path.write_bytes(b"1 1 2 3\n2 \xff\xfe 3 4\n")
    with pytest.raises(DataError, match=r"bin\.txt:2: not UTF-8"):
        read_sequences(path)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"^{path}: empty file"):
        read_sequences(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_sequences(tmp_path / "nope.txt")


def test_short_users_are_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("a 1 2 3\nb 4 5\nc 6\nd 1 2 3 4\ne\n")
    seqs, report = read_sequences(path)
    assert seqs.users == ["a", "d"]
    assert report.skipped_short == ["b", "c", "e"]
    assert report.min_length == 3
    assert [seqs.sequence(u).tolist() for u in range(2)] == [[1, 2, 3], [1, 2, 3, 4]]
    only_short = tmp_path / "short.txt"
    only_short.write_text("a 1 2\nb 3\n")
    with pytest.raises(DataError, match="no user has the 3 items"):
        read_sequences(only_short)


def test_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff1 1 2 3\n".encode())
    seqs, _ = read_sequences(path)
    assert seqs.users == ["1"]


@pytest.mark.parametrize("text", ["1 1 2 3\n2 4 x 5\n", "1 1 2 3\n1 4 5 6\n", "1 1 0 3\n", ""])
def test_cli_reports_malformed_file_in_one_line(tmp_path: Path, text: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    assert main(["data", "stats", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("basrec: error: ") and str(path) in err
    assert "Traceback" not in err
