"""lab/scripts/stage2_curves.py: stage-2 validation curves of records beside the authors' log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from script_loader import load_script


def write_record(path: Path, curve: dict[int, float], best_epoch: int) -> None:
    path.write_text(json.dumps({
        "curve": [{"epoch": e, "valid_NDCG@10": v} for e, v in curve.items()],
        "results": {"stage1": {"valid": {"NDCG@10": 0.04}}, "best_epoch": best_epoch,
                    "test": {"NDCG@10": 0.0421, "HR@10": 0.0755}}}))


def test_row_reads_the_curve_and_its_best(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    write_record(tmp_path / "run.json", {0: 0.041, 9: 0.045, 101: 0.052, 102: 0.053, 103: 0.050},
                 best_epoch=102)
    assert load_script("stage2_curves").main([str(tmp_path / "run.json"),
                                              "--epochs", "0,9,50,101"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| record | stage 1 | epoch 0 | epoch 9 | epoch 50 | epoch 101 |")
    assert "| authors' log | 0.0402 | 0.0420 | 0.0443 | — | 0.0525 |" in lines[2]
    assert lines[3] == ("| run | 0.0400 | 0.0410 | 0.0450 | — | 0.0520 | 0.0530 (102) | 102 "
                        "| 0.0421 / 0.0755 |")


def test_a_record_without_a_curve_is_one_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"results": {}}))
    assert load_script("stage2_curves").main([str(tmp_path / "bad.json")]) == 1
    assert capsys.readouterr().err.strip() == "stage2_curves: bad: no stage-2 validation curve"


def test_png_draws_the_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_record(tmp_path / "run.json", {0: 0.041, 1: 0.043, 2: 0.044}, best_epoch=2)
    png = tmp_path / "curves.png"
    assert load_script("stage2_curves").main([str(tmp_path / "run.json"), "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
