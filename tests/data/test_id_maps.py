"""The id maps of ``basrec prepare`` read back (data/id_maps.py), and ``recommend`` speaking the
raw log's ids through them."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from basrec import config, train
from basrec.cli import main
from basrec.data.id_maps import load_id_maps, read_id_map
from basrec.data.prepare import output_paths, prepare
from basrec.errors import BasrecError, DataError
from basrec.inference import recommend_run


@pytest.fixture(scope="module")
def prepared_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A raw log with string ids, prepared by ``prepare`` and trained on: (sequence file, run)."""
    root = tmp_path_factory.mktemp("idmaps")
    rng = np.random.default_rng(4)
    lines = ["user_id,item_id,timestamp"]
    for u in range(40):
        for t in range(int(rng.integers(5, 9))):
            lines.append(f"user-{u:03d},sku{int(rng.integers(0, 15))}x,{t}")
    log = root / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    seq = root / "seq.txt"
    prepare(log, seq, user_k=1, item_k=1)
    cfg = config.load([], dict(dataset=str(seq), hidden_size=8, num_layers=1, num_heads=2,
                               max_seq_length=8, epochs=2, batch_size=16, threads=1,
                               progress=False))
    train.fit(cfg, root / "run", quiet=True)
    return seq, root / "run"


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_recommend_names_users_and_items_by_the_raw_log_ids(
        prepared_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    seq, run = prepared_run
    users = read_id_map(output_paths(seq)["user_map"])  # original → new number
    items = read_id_map(output_paths(seq)["item_map"])
    item_of = {new: orig for orig, new in items.items()}
    recommend_run(run, k=4, users=["user-007", "user-002"])
    original = rows_of(capsys.readouterr().out)
    internal_users = [str(users["user-007"]), str(users["user-002"])]
    recommend_run(run, k=4, users=internal_users, ids="internal")
    internal = rows_of(capsys.readouterr().out)
    assert [r["user"] for r in original] == ["user-007"] * 4 + ["user-002"] * 4
    assert [r["user"] for r in internal] == [internal_users[0]] * 4 + [internal_users[1]] * 4
    # the same recommendations, the items named through the item map
    assert [r["item"] for r in original] == [item_of[int(r["item"])] for r in internal]
    assert [r["score"] for r in original] == [r["score"] for r in internal]
    assert all(r["item"].startswith("sku") for r in original)
    # explicit ``original`` is the default's reading where the maps exist
    recommend_run(run, k=4, users=["user-007", "user-002"], ids="original")
    assert rows_of(capsys.readouterr().out) == original


def test_recommend_id_errors(prepared_run: tuple[Path, Path], tmp_path: Path) -> None:
    seq, run = prepared_run
    with pytest.raises(BasrecError, match=r"unknown user '1' in .*user_map\.csv"):
        recommend_run(run, k=2, users=["1"])  # a sequence-file label, not a raw id
    with pytest.raises(BasrecError, match="--ids"):
        recommend_run(run, k=2, ids="raw")
    # a sequence file without maps: auto falls back to its own ids, original refuses
    bare = tmp_path / "bare.txt"
    shutil.copy(seq, bare)
    cfg = config.load([], dict(dataset=str(bare), hidden_size=8, num_layers=1, num_heads=2,
                               max_seq_length=8, epochs=1, batch_size=16, threads=1,
                               progress=False))
    train.fit(cfg, tmp_path / "bare_run", quiet=True)
    with pytest.raises(BasrecError, match="no id maps beside it"):
        recommend_run(tmp_path / "bare_run", k=2, ids="original")
    recommend_run(tmp_path / "bare_run", k=2, users=["1"], output=str(tmp_path / "r.csv"))
    assert [r["user"] for r in rows_of((tmp_path / "r.csv").read_text())] == ["1", "1"]


def test_cli_recommend_with_ids(prepared_run: tuple[Path, Path],
                                capsys: pytest.CaptureFixture[str]) -> None:
    _, run = prepared_run
    assert main(["recommend", str(run), "--k", "2", "--users", "user-003"]) == 0
    rows = rows_of(capsys.readouterr().out)
    assert [r["user"] for r in rows] == ["user-003"] * 2
    assert main(["recommend", str(run), "--k", "2", "--users", "user-003", "--ids", "raw"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ids" in err[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("original_user_id,id\nu1,1\nu2,x\n", r":3: id 'x' is not an integer"),
    ("original_user_id,id\nu1,1\nu2\n", r":3: expected 2 fields, got 1"),
    ("original_user_id,id\nu1,1\nu1,2\n", r":3: original id 'u1' listed twice"),
    ("original_user_id,id\nu1,1\nu2,1\n", r":3: id 1 listed twice \(first on line 2\)"),
    ("original_user_id,id\nu1,0\n", r":2: id 0 must be 1 or more"),
    ("user,item,time\n", r":1: not an id map"),
    ("", r":1: not an id map"),
])
def test_a_malformed_map_names_its_file_and_line(tmp_path: Path, text: str, message: str
                                                 ) -> None:
    path = write(tmp_path / "m.csv", text)
    with pytest.raises(DataError, match=r"m\.csv" + message):
        read_id_map(path)


def test_read_id_map_round_trip_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", 'original_item_id,id\n"a,b",1\n\nc,2\n')
    assert read_id_map(path) == {"a,b": 1, "c": 2}


def test_load_id_maps_needs_both_or_neither(tmp_path: Path) -> None:
    seq = write(tmp_path / "s.txt", "1 1 2 3\n")
    assert load_id_maps(seq) is None
    write(tmp_path / "s.txt.user_map.csv", "original_user_id,id\nalice,1\n")
    with pytest.raises(DataError, match=r"s\.txt\.item_map\.csv: file not found"):
        load_id_maps(seq)
    write(tmp_path / "s.txt.item_map.csv", "original_item_id,id\nx,1\ny,2\nz,3\n")
    maps = load_id_maps(seq)
    assert maps is not None
    assert maps.label_of_user == {"alice": "1"} and maps.user_of_label == {"1": "alice"}
    assert maps.original_item == {1: "x", 2: "y", 3: "z"}
