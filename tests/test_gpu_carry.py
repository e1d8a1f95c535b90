"""scripts/gpu_carry.py: what goes to a lent GPU for grids to go on there."""

from __future__ import annotations

from pathlib import Path

from script_loader import load_script

from basrec.experiment import PlannedRun


def run_folder(root: Path, name: str, finished: bool) -> Path:
    d = root / "beauty" / "sasrec" / name
    d.mkdir(parents=True)
    for f in ("config.yaml", "metrics.jsonl", "checkpoint_last.pt", "checkpoint_best.pt",
              ".basrec.lock"):
        (d / f).write_text(f)
    if finished:
        (d / "results.json").write_text("{}")
    return d


def planned(rid: str, d: Path, stage1: str | None = None) -> PlannedRun:
    return PlannedRun(id=rid, label=rid, objective="basrec" if stage1 else "none",
                      dataset="beauty", model="sasrec", seed=1, cell=0, dir=d, stage1=stage1)


def test_resume_folders_whole_finished_ones_small_stage1_weights_kept(tmp_path: Path) -> None:
    runs = [
        planned("base1", run_folder(tmp_path, "base1", finished=True)),
        planned("bas1", run_folder(tmp_path, "bas1", finished=False), stage1="base1"),
        planned("base2", run_folder(tmp_path, "base2", finished=True)),
        planned("bas2", run_folder(tmp_path, "bas2", finished=True), stage1="base2"),
        planned("base3", tmp_path / "beauty" / "sasrec" / "base3"),  # not started
    ]
    carry = {d.name: sorted(p.name for p in files)
             for d, files in load_script("gpu_carry").files_to_carry(runs).items()}
    small = ["config.yaml", "metrics.jsonl", "results.json"]
    assert carry == {
        "base1": sorted([*small, "checkpoint_best.pt"]),  # bas1 starts from it
        "bas1": ["checkpoint_best.pt", "checkpoint_last.pt", "config.yaml", "metrics.jsonl"],
        "base2": small,
        "bas2": small,
    }
