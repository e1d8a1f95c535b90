"""Run folders and output paths: bad ``--out`` / ``--output`` paths are one-line errors that
write nothing; a run reads its recorded dataset from any working directory (and refuses a
changed one); the experiment runs root, ``--status``, a vanished run and a killed grid."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import synthetic_lines

from basrec import inference, train
from basrec.cli import main
from basrec.errors import BasrecError
from basrec.experiments.plan import parse_only, plan
from basrec.experiments.runner import acquire_lock, release_lock, run_experiment
from basrec.experiments.spec import (
    DEFAULT_RUNS_ROOT,
    RUNS_ROOT_ENV,
    load_spec,
    parse_spec,
    runs_root,
)
from basrec.runio import check_out_dir, check_out_file, read_json

TINY = ["--hidden_size=8", "--num_layers", "1", "--max_seq_length=10", "--epochs=1",
        "--batch_size=16", "--threads=1", "--seed=5", "--progress=false"]
GRID_BASE = {"hidden_size": 8, "num_layers": 1, "num_heads": 1, "max_seq_length": 10,
             "batch_size": 32, "eval_batch_size": 64, "epochs": 1, "threads": 1,
             "progress": False}


def one_line_error(rc: int, err: str) -> str:
    """The single ``basrec: error: ...`` line of a failed command (exit status 2)."""
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("basrec: error: ")
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
            for p in sorted(folder.rglob("*"))}


def write_data(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(synthetic_lines(seed=seed)) + "\n")
    return path


def train_cli(dataset: str | Path, out: str | Path,
              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--dataset", str(dataset), "--out", str(out), *TINY]) == 0
    capsys.readouterr()


def cli_out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """stdout of a successful ``basrec ARGV``."""
    rc = main(list(argv))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return captured.out


# ------------------------------------------------------------------------- output paths


def test_check_out_dir_refuses_a_file_and_paths_under_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("keep")
    for fine in ("new", "folder", "folder/new/deeper", "new/a/b"):
        check_out_dir(tmp_path / fine)
    file_ = re.escape(str(tmp_path / "file"))
    with pytest.raises(BasrecError, match=f"^{file_}: exists and is not a folder$"):
        check_out_dir(tmp_path / "file")
    for under in ("file/run", "file/run/deeper"):
        where = re.escape(str(tmp_path / under))
        with pytest.raises(BasrecError, match=f"^{where}: a parent, {file_}, is a file$"):
            check_out_dir(tmp_path / under)
    (tmp_path / "dangling").symlink_to(tmp_path / "absent")
    with pytest.raises(BasrecError, match="dangling: exists and is not a folder"):
        check_out_dir(tmp_path / "dangling")
    (tmp_path / "to_folder").symlink_to(tmp_path / "folder")
    check_out_dir(tmp_path / "to_folder")
    monkeypatch.chdir(tmp_path)  # relative paths, as typed on the command line
    check_out_dir("new")
    with pytest.raises(BasrecError, match="^file/run: a parent, file, is a file$"):
        check_out_dir("file/run")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dangling", "file", "folder", "to_folder"]  # nothing created
    assert (tmp_path / "file").read_text() == "keep"


def test_check_out_file_refuses_a_folder_and_paths_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("keep")
    for fine in ("new.csv", "file", "folder/new.csv", "new/dir/x.csv"):
        check_out_file(tmp_path / fine)
    with pytest.raises(BasrecError, match=f"^{re.escape(str(tmp_path / 'folder'))}: is a folder"):
        check_out_file(tmp_path / "folder")
    file_ = re.escape(str(tmp_path / "file"))
    with pytest.raises(BasrecError, match=f"a parent, {file_}, is a file$"):
        check_out_file(tmp_path / "file" / "x.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]


@pytest.fixture
def finished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A tiny run (one epoch) trained through the CLI in ``tmp_path / "run"``."""
    data = write_data(tmp_path / "tiny.txt")
    train_cli(data, tmp_path / "run", capsys)
    return tmp_path / "run"


def test_recommend_output_that_is_a_folder_or_under_a_file_is_refused_first(
        finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "note.txt").write_text("keep")
    before = snapshot(tmp_path)
    real_load_run = inference.load_run

    def no_work(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("the run was loaded before the output path was checked")

    monkeypatch.setattr(inference, "load_run", no_work)
    rc = main(["recommend", str(finished_run), "--output", str(tmp_path / "out")])
    assert f"{tmp_path / 'out'}: is a folder" in one_line_error(rc, capsys.readouterr().err)
    rc = main(["recommend", str(finished_run), "--output", str(tmp_path / "note.txt" / "r.csv")])
    assert "note.txt, is a file" in one_line_error(rc, capsys.readouterr().err)
    assert snapshot(tmp_path) == before
    # a good file name still works, and the file follows the umask, not 0600
    monkeypatch.setattr(inference, "load_run", real_load_run)
    old = os.umask(0o022)
    try:
        assert cli_out(capsys, "recommend", str(finished_run), "--k", "3", "--output",
                       str(tmp_path / "out" / "recs.csv")) == ""
    finally:
        os.umask(old)
    recs = tmp_path / "out" / "recs.csv"
    assert recs.read_text().startswith("user,rank,item,score\n")
    assert recs.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("force", [False, True])
def test_prepare_out_that_is_a_folder_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], force: bool) -> None:
    log = tmp_path / "log.csv"
    log.write_text("user,item,time\n" + "".join(
        f"u{u},i{(u + k) % 4},{k}\n" for u in range(4) for k in range(3)))
    (tmp_path / "seqs").mkdir()
    (tmp_path / "plain").write_text("a file\n")
    before = snapshot(tmp_path)
    flags = ["--force"] if force else []
    for out, message in ((tmp_path / "seqs", f"{tmp_path / 'seqs'}: is a folder"),
                         (tmp_path / "plain" / "seqs.txt", "plain, is a file")):
        rc = main(["prepare", str(log), "--out", str(out), "--k-core", "1", *flags])
        line = one_line_error(rc, capsys.readouterr().err)
        assert message in line and "--force" not in line
        assert snapshot(tmp_path) == before  # no id maps, no stats
    # the same log into a file name works
    cli_out(capsys, "prepare", str(log), "--out", str(tmp_path / "seqs.txt"), "--k-core", "1",
            *flags)
    assert (tmp_path / "seqs.txt").read_text().count("\n") == 4


# ---------------------------------------------------------------- the run's recorded data


@pytest.fixture
def relative_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """A run trained in ``tmp_path / "here"`` as ``--dataset tiny.txt --out run`` (relative
    paths); (its dataset, its folder), both absolute. The working directory is left there."""
    here = tmp_path / "here"
    write_data(here / "tiny.txt")
    monkeypatch.chdir(here)
    train_cli("tiny.txt", "run", capsys)
    return here / "tiny.txt", here / "run"


def test_a_run_evaluates_and_recommends_the_same_from_another_folder(
        relative_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data, run = relative_run
    assert read_json(run / "dataset.json")["path"] == str(data.resolve())
    test = read_json(run / "results.json")["test"]
    assert json.loads(cli_out(capsys, "evaluate", "run")) == test
    recs = cli_out(capsys, "recommend", "run", "--k", "5")
    # elsewhere, a different tiny.txt in the working directory must not be read instead
    elsewhere = tmp_path / "elsewhere"
    write_data(elsewhere / "tiny.txt", seed=7)
    monkeypatch.chdir(elsewhere)
    assert json.loads(cli_out(capsys, "evaluate", str(run))) == test
    assert cli_out(capsys, "recommend", str(run), "--k", "5") == recs
    assert json.loads(cli_out(capsys, "evaluate", os.path.relpath(run))) == test


def test_a_changed_dataset_is_refused(relative_run: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    data, run = relative_run
    lines = data.read_text().splitlines()
    first = lines[0].split()
    first[-1] = str(int(first[-1]) % 40 + 1)  # one item of one user edited, same size
    data.write_text("\n".join([" ".join(first), *lines[1:]]) + "\n")
    for argv in (["evaluate", str(run)],
                 ["recommend", str(run), "--output", str(tmp_path / "recs.csv")]):
        line = one_line_error(main(argv), capsys.readouterr().err)
        assert f"{data}: not the dataset {run} was trained on" in line
    assert not (tmp_path / "recs.csv").exists()


def test_a_moved_dataset_is_found_with_dataset_and_checked(
        relative_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data, run = relative_run
    test = read_json(run / "results.json")["test"]
    recs = cli_out(capsys, "recommend", str(run), "--k", "5")
    moved = tmp_path / "moved" / "renamed.txt"
    moved.parent.mkdir()
    shutil.move(data, moved)
    monkeypatch.chdir(tmp_path)
    line = one_line_error(main(["evaluate", str(run)]), capsys.readouterr().err)
    assert "is gone" in line and "--dataset" in line
    assert json.loads(cli_out(capsys, "evaluate", str(run), "--dataset", str(moved))) == test
    assert cli_out(capsys, "recommend", str(run), "--k", "5", "--dataset",
                   "moved/renamed.txt") == recs
    # moved under its own name: --data-dir finds it
    shutil.move(moved, moved.parent / "tiny.txt")
    assert json.loads(cli_out(capsys, "evaluate", str(run), "--data-dir", "moved")) == test
    # another file is refused, however it is named
    other = write_data(tmp_path / "other" / "tiny.txt", seed=3)
    for extra in (["--dataset", str(other)], ["--data-dir", str(other.parent)]):
        line = one_line_error(main(["evaluate", str(run), *extra]), capsys.readouterr().err)
        assert f"not the dataset {run} was trained on" in line


# ------------------------------------------------------------------------ experiment grids


def write_grid(path: Path, dataset: Path, root: Path | None, seeds: list[int],
               **base: Any) -> Path:
    raw: dict[str, Any] = {"name": path.stem, "base": {**GRID_BASE, **base},
                           "grid": {"datasets": [str(dataset)], "models": ["sasrec"],
                                    "objectives": ["none"], "seeds": seeds}}
    if root is not None:
        raw["root"] = str(root)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_runs_root_precedence(tiny_data: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """--root, then $BASREC_RUNS, then the file's root, then ~/basrec-runs."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(RUNS_ROOT_ENV, raising=False)
    with_root = write_grid(tmp_path / "with_root.yaml", tiny_data, tmp_path / "file_root", [1])
    no_root = write_grid(tmp_path / "no_root.yaml", tiny_data, None, [1])

    assert runs_root(None) == DEFAULT_RUNS_ROOT == "~/basrec-runs"
    assert load_spec(no_root).root == home / "basrec-runs"
    assert load_spec(with_root).root == tmp_path / "file_root"
    assert load_spec(with_root, tmp_path / "given").root == tmp_path / "given"
    monkeypatch.setenv(RUNS_ROOT_ENV, str(tmp_path / "env_root"))
    assert load_spec(no_root).root == tmp_path / "env_root"
    assert load_spec(with_root).root == tmp_path / "env_root"
    assert load_spec(with_root, tmp_path / "given").root == tmp_path / "given"
    assert runs_root("~/given", "file") == "~/given"
    assert load_spec(no_root, "~/given").root == home / "given"
    monkeypatch.setenv(RUNS_ROOT_ENV, "  ")  # blank counts as unset
    assert load_spec(with_root).root == tmp_path / "file_root"
    assert runs_root("", None) == DEFAULT_RUNS_ROOT
    # the run folders follow the root, and nothing is written by planning
    assert all(r.dir.is_relative_to(home / "basrec-runs")
               for r in plan(load_spec(no_root)).runs)
    assert not home.exists()


def test_status_shows_done_partial_running_and_not_started(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_grid(tmp_path / "status.yaml", tiny_data, tmp_path / "runs", [1, 2, 3])
    spec = load_spec(path)
    out = run_experiment(spec, only=parse_only(["seed=1,2"]))
    assert [o.status for o in out.outcomes] == ["trained", "trained"]
    done, partial, fresh = plan(spec).runs
    (partial.dir / "results.json").unlink()  # as if killed after its last epoch
    last = [json.loads(x) for x in (partial.dir / "metrics.jsonl").read_text().splitlines()][-1]
    test = read_json(done.dir / "results.json")["test"]
    before = snapshot(tmp_path / "runs")

    lines = cli_out(capsys, "experiment", str(path), "--status").splitlines()
    assert lines == [
        f"[1/3] {tiny_data} sasrec Base seed 1: done — test NDCG@10 {test['NDCG@10']:.4f}, "
        f"test HR@10 {test['HR@10']:.4f}  ({done.dir})",
        f"[2/3] {tiny_data} sasrec Base seed 2: partial — epoch 0 of 1, last valid "
        f"NDCG@20 {last['valid']['NDCG@20']:.4f}; no epoch left (testing)  ({partial.dir})",
        f"[3/3] {tiny_data} sasrec Base seed 3: not started  ({fresh.dir})",
        "status: 3 runs: done 1, partial 1, not started 1"]
    # a live process holding the partial run's lock makes it "running"
    assert acquire_lock(partial.dir)
    try:
        lines = cli_out(capsys, "experiment", str(path), "--status").splitlines()
    finally:
        release_lock(partial.dir)
    assert f"seed 2: running — epoch {last['epoch']} of 1" in lines[1]
    assert f"(pid {os.getpid()})" in lines[1]
    assert lines[-1] == "status: 3 runs: done 1, running 1, not started 1"
    lines = cli_out(capsys, "experiment", str(path), "--status", "--only",
                    "seed=3").splitlines()
    assert len(lines) == 2 and lines[-1] == "status: 1 run: not started 1"
    assert snapshot(tmp_path / "runs") == before  # --status writes nothing
    assert not fresh.dir.exists()


def test_a_finished_run_whose_folder_is_gone_is_started_again(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_grid(tmp_path / "gone.yaml", tiny_data, tmp_path / "runs", [1])
    first = cli_out(capsys, "experiment", str(path))
    assert "is gone" not in first and ": trained" in first
    (run,) = plan(load_spec(path)).runs
    test = read_json(run.dir / "results.json")["test"]
    shutil.rmtree(run.dir)
    again = cli_out(capsys, "experiment", str(path))
    assert f"[1/1] {tiny_data} sasrec Base seed 1: its folder {run.dir} is gone; starting it " \
           "again" in again.splitlines()
    assert read_json(run.dir / "results.json")["test"] == test
    assert "is gone" not in cli_out(capsys, "experiment", str(path))


def test_a_killed_grid_resumes_to_the_metrics_of_an_uninterrupted_run(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_grid(tmp_path / "killed.yaml", tiny_data, tmp_path / "runs", [1], epochs=2)
    (run,) = plan(load_spec(path)).runs
    real_evaluate = train.evaluate
    calls = {"n": 0}

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C in epoch 1's validation, after epoch 0's checkpoint
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate", interrupted)
    assert main(["experiment", str(path)]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["basrec: interrupted"]
    assert (run.dir / "checkpoint_last.pt").is_file()
    assert not (run.dir / "results.json").exists()
    assert not (run.dir / ".basrec.lock").exists()
    assert "seed 1: partial — epoch 0" in cli_out(capsys, "experiment", str(path), "--status")

    monkeypatch.setattr(train, "evaluate", real_evaluate)
    assert "seed 1: resumed" in cli_out(capsys, "experiment", str(path))
    assert "resuming from epoch 1" in (run.dir / "log.txt").read_text()
    assert run.cfg is not None
    straight = train.run(run.cfg, tmp_path / "straight", quiet=True)
    resumed = read_json(run.dir / "results.json")
    assert resumed["test"] == straight["test"] and resumed["valid"] == straight["valid"]
    epochs = [json.loads(x)["epoch"] for x in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1]


def test_parse_spec_follows_the_same_root_rules(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUNS_ROOT_ENV, str(tmp_path / "env_root"))
    raw = {"name": "m", "root": str(tmp_path / "file_root"),
           "grid": {"datasets": [str(tiny_data)], "models": ["sasrec"], "seeds": [1]}}
    assert parse_spec(raw).root == tmp_path / "env_root"
    assert parse_spec(raw, root=tmp_path / "given").root == tmp_path / "given"
