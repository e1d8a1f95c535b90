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
