"""Smoke tests of the lab's scripts without tests of their own (lab/scripts/collect_run.py,
lab/scripts/history_mask_effect.py) and of the benchmarks (lab/benchmarks/*.py import)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from script_loader import LAB, load_file, load_script

from basrec import config
from basrec.train import run


@pytest.fixture
def tiny_run(tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = config.load([], {"dataset": str(tiny_data), "hidden_size": 8, "num_layers": 1,
                           "num_heads": 1, "max_seq_length": 10, "epochs": 2,
                           "progress": False})
    run(cfg, tmp_path / "run", quiet=True)
    return tmp_path / "run"


def test_collect_run_writes_a_record(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "record.json"
    load_script("collect_run").main([str(tiny_run), "tiny", "--command", "basrec train ...",
                                     "--out", str(out)])
    record = json.loads(out.read_text())
    assert record["name"] == "tiny" and record["config"]["epochs"] == 2
    assert record["results"]["test"] and len(record["curve"]) == 2


def test_collect_run_records_an_unfinished_run_only_with_partial(tiny_run: Path,
                                                                  tmp_path: Path) -> None:
    collect = load_script("collect_run").main
    out = tmp_path / "partial.json"
    with pytest.raises(SystemExit, match="has finished: record it without --partial"):
        collect([str(tiny_run), "tiny", "--command", "c", "--out", str(out), "--partial"])
    (tiny_run / "results.json").unlink()  # as a run stopped after its second epoch leaves it
    with pytest.raises(SystemExit, match="has not finished"):
        collect([str(tiny_run), "tiny", "--command", "c", "--out", str(out)])
    with pytest.raises(SystemExit, match="not a run folder"):
        collect([str(tmp_path), "tiny", "--command", "c", "--out", str(out), "--partial"])
    collect([str(tiny_run), "tiny", "--command", "c", "--out", str(out), "--partial"])
    record = json.loads(out.read_text())
    assert record["partial"] is True and record["results"] is None
    assert record["last_epoch"] == 1 and [r["epoch"] for r in record["curve"]] == [0, 1]
    assert "finished_utc" not in record and record["updated_utc"].endswith("+00:00")
    with pytest.raises(SystemExit, match="no test metrics"):
        load_script("records_table").read_record(tmp_path, "partial.json")


def test_collect_run_keeps_a_reevaluation_that_a_manifest_reads(tiny_run: Path, tiny_data: Path,
                                                                tmp_path: Path) -> None:
    from basrec.inference import evaluate_run

    out = tmp_path / "tiny.json"
    load_script("collect_run").main([str(tiny_run), "tiny", "--command", "basrec train ...",
                                     "--out", str(out), "--reevaluate", "history_mask=zero",
                                     "--data-dir", str(tiny_data.parent)])
    again = evaluate_run(tiny_run, "test", "cpu", {"history_mask": "zero"})
    record = json.loads(out.read_text())
    assert record["reevaluated"]["history_mask=zero"]["test"] == pytest.approx(again)
    table = load_script("records_table")
    assert table.read_record(tmp_path, "tiny.json:history_mask=zero") == (
        record["config"]["seed"], pytest.approx(again))
    assert table.read_record(tmp_path, "tiny.json")[1] == pytest.approx(record["results"]["test"])
    with pytest.raises(SystemExit, match="no re-evaluation under history_mask=exclude"):
        table.read_record(tmp_path, "tiny.json:history_mask=exclude")
    # the key as configs spell it, whatever the spelling on the command line
    load_script("collect_run").main([str(tiny_run), "tiny", "--command", "c", "--out", str(out),
                                     "--reevaluate", "history-mask=zero",
                                     "--data-dir", str(tiny_data.parent)])
    assert list(json.loads(out.read_text())["reevaluated"]) == ["history_mask=zero"]
    for bad, message in (("history_mask", "give KEY=VALUE"), ("history_mask=maybe", "maybe")):
        with pytest.raises(SystemExit, match=message):
            load_script("collect_run").main([str(tiny_run), "tiny", "--command", "c", "--out",
                                             str(out), "--reevaluate", bad])


def test_history_mask_effect_compares_both_masks(tiny_run: Path, tiny_data: Path,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "effect.json"
    assert load_script("history_mask_effect").main(
        [str(tiny_run), "--data-dir", str(tiny_data.parent), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["split"] for r in rows] == ["valid", "test"]
    assert all(r["max_abs_diff"] >= 0 for r in rows)
    assert "largest difference" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted((LAB / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmark_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(path.parent))  # siblings import each other
    assert callable(load_file(path).main)


def test_history_mask_effect_finds_answers_that_repeat_an_input_item() -> None:
    from basrec.data.io import Sequences
    from basrec.data.split import LeaveOneOut

    data = LeaveOneOut(Sequences.from_lists([[1, 2, 3, 2], [4, 5, 6, 7], [8, 8, 9, 9]],
                                            n_items=9))
    script = load_script("history_mask_effect")
    # test answers 2, 7, 9 after inputs [1, 2, 3], [4, 5, 6], [8, 8, 9]
    assert script.repeated_answers(data, data.eval_samples("test")).tolist() == [True, False,
                                                                                 True]
    # validation answers 3, 6, 9 after [1, 2], [4, 5], [8, 8]
    assert not script.repeated_answers(data, data.eval_samples("valid")).any()


def test_lift_by_length_groups_users_by_history(tiny_run: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    import numpy as np

    from basrec.data.io import read_sequences

    script = load_script("lift_by_length")
    other = tmp_path / "other"
    shutil.copytree(tiny_run, other)
    seqs, _ = read_sequences(json.loads((tiny_run / "dataset.json").read_text())["path"])
    history = np.diff(seqs.offsets) - 1  # items before each user's test answer
    users = np.arange(history.size)
    # base: a hit at rank 0 for histories under 6, rank 20 (no hit) otherwise; other: all rank 0
    base_ranks = np.where(history < 6, 0, 20)
    for folder, ranks in ((tiny_run, base_ranks), (other, np.zeros_like(base_ranks))):
        np.savez_compressed(folder / "per_user_test.npz", users=users, ranks=ranks)
    out = tmp_path / "lift.json"
    script.main([str(tiny_run), str(other), "--edges", "6,10", "--metrics", "HR@10",
                 "--json", str(out), "--command", "c"])
    record = json.loads(out.read_text())
    rows = {r["history_length"]: r for r in record["groups"]}
    low, high = int(history.min()), int(history.max())
    assert list(rows) == [f"{low}-5", "6-9", f"10-{high}", "all"]
    assert rows["6-9"]["users"] == int(((history >= 6) & (history < 10)).sum())
    assert sum(rows[k]["users"] for k in list(rows)[:3]) == rows["all"]["users"] == users.size
    short = rows[f"{low}-5"]["HR@10"]
    assert (short["base"], short["other"], short["change_pct"], short["wilcoxon_p"]) == \
        (1.0, 1.0, 0.0, None)  # every pair equal: no test
    mid = rows["6-9"]["HR@10"]
    assert (mid["base"], mid["other"], mid["change_pct"]) == (0.0, 1.0, None)  # base 0: no %
    whole = rows["all"]["HR@10"]
    assert whole["base"] == pytest.approx(float((history < 6).mean()))
    assert whole["change_pct"] == pytest.approx(100 * (1 - whole["base"]) / whole["base"])
    assert 0 < whole["wilcoxon_p"] < 1
    assert "| 6-9 |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="cannot write"):
        script.main([str(tiny_run), str(other), "--json", str(out / "under_a_file.json")])
    for bad, message in ((["--edges", "a,b"], "--edges"), (["--metrics", "P@3"], "--metrics")):
        with pytest.raises(SystemExit, match=message):
            script.main([str(tiny_run), str(other), *bad])
    with pytest.raises(SystemExit, match="same users"):
        np.savez_compressed(other / "per_user_test.npz", users=users[1:], ranks=base_ranks[1:])
        script.main([str(tiny_run), str(other)])
    with pytest.raises(SystemExit, match="no dataset.json"):
        script.main([str(tiny_run), str(tmp_path / "missing")])
    (other / "per_user_test.npz").write_bytes(b"not an npz")
    with pytest.raises(SystemExit, match="not a per-user ranks file"):
        script.main([str(tiny_run), str(other)])
