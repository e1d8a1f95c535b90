"""lab/scripts/gpu_carry.py: what goes to a lent GPU for grids to go on there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from script_loader import load_script

from basrec.experiments.plan import PlannedRun, plan
from basrec.experiments.spec import load_spec


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


def write_grid(folder: Path, data: Path, objectives: list[str]) -> Path:
    """A SASRec grid on ``data``, seeds 1 and 2, its runs under ``runs/`` (relative)."""
    spec = {"name": "tiny", "root": "runs", "base": {"epochs": 1},
            "grid": {"datasets": [str(data)], "models": ["sasrec"],
                     "objectives": objectives, "seeds": [1, 2]}}
    grid = folder / "grid.yaml"
    grid.write_text(yaml.safe_dump(spec))
    return grid


def test_only_carries_the_selected_runs_and_their_data(tiny_data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    grid = write_grid(tmp_path, tiny_data, ["none"])
    by_seed = {r.seed: r for r in plan(load_spec(grid)).runs}
    for run in by_seed.values():  # both started, neither finished: both would travel
        run.dir.mkdir(parents=True)
        (run.dir / "checkpoint_last.pt").write_text("weights")
    gpu_carry = load_script("gpu_carry")
    assert gpu_carry.main([str(grid), "--only", "seed=2", "--out", "carry"]) == 0
    carried = sorted(p.parent for p in (tmp_path / "carry").rglob("checkpoint_last.pt"))
    assert carried == [tmp_path / "carry" / by_seed[2].dir.resolve().relative_to(tmp_path)]
    assert (tmp_path / "carry" / "data" / tiny_data.name).is_file()
    assert gpu_carry.main([str(grid), "--only", "seed=9", "--out", "carry"]) == 2
    assert "selects no run" in capsys.readouterr().err


def test_only_carries_the_finished_stage1_of_a_selected_basrec_run(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``select_runs`` leaves finished stage-1 runs out; the carry must not, or the GPU would
    train them again and send back new weights over the finished ones."""
    monkeypatch.chdir(tmp_path)
    grid = write_grid(tmp_path, tiny_data, ["none", "basrec"])
    runs = plan(load_spec(grid)).runs
    stage1 = {r.seed: r for r in runs if r.objective == "none"}
    for run in stage1.values():  # both stage-1 runs finished; no BASRec run started yet
        run.dir.mkdir(parents=True)
        for name in ("config.yaml", "results.json", "checkpoint_best.pt", "checkpoint_last.pt"):
            (run.dir / name).write_text(name)
    gpu_carry = load_script("gpu_carry")
    assert gpu_carry.main([str(grid), "--only", "seed=2", "--only", "objective=basrec",
                           "--out", "carry"]) == 0
    carried = {p.relative_to(tmp_path / "carry") for p in (tmp_path / "carry").rglob("*")
               if p.is_file() and p.parent.name != "data"}
    folder = stage1[2].dir.resolve().relative_to(tmp_path)
    assert carried == {folder / "config.yaml", folder / "results.json",
                       folder / "checkpoint_best.pt"}  # the weights BASRec starts from
