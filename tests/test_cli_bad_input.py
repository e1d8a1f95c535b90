"""Bad input on the command line: a one-line error (exit 2, no traceback) that names the
problem, and nothing already written lost: sparse item ids, a file where a folder goes, an
output that exists or is a run's own file, a folder that is not a run, options that apply to
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import synthetic_lines
from test_cli import TINY, one_line_error

from basrec.cli import main


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data file, a finished tiny run)."""
    root = tmp_path_factory.mktemp("bad_input")
    data = root / "tiny.txt"
    data.write_text("\n".join(synthetic_lines()) + "\n")
    assert main(["train", "--dataset", str(data), "--out", str(root / "run"), *TINY]) == 0
    return data, root / "run"


def test_item_ids_far_above_the_distinct_items_are_refused_before_any_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "raw_ids.txt"
    data.write_text("u1 1 2 3 4\nu2 2 1000000000000 3\nu3 1 2 3\n")
    rc = main(["train", "--dataset", str(data), "--out", str(tmp_path / "r"), *TINY])
    line = one_line_error(rc, capsys.readouterr().err)
    assert f"{data}:2" in line and "1000000000000" in line and "basrec prepare" in line
    assert not (tmp_path / "r").exists()


def test_gaps_in_item_ids_are_accepted(tmp_path: Path) -> None:
    from basrec.data.io import read_sequences

    data = tmp_path / "gaps.txt"
    data.write_text("u1 1 5 900\nu2 5 900 1000\n")  # 4 distinct ids up to 1000: a few gaps
    assert read_sequences(data)[0].n_items == 1000


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--status"]])
def test_a_runs_root_that_is_a_file_is_refused(tmp_path: Path, extra: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "g.yaml"
    grid.write_text("grid: {datasets: [beauty], models: [sasrec], objectives: [none], "
                    "seeds: [1]}\n")
    afile = tmp_path / "afile"
    afile.write_text("keep")
    rc = main(["experiment", str(grid), "--root", str(afile / "sub"), *extra])
    assert "is a file, not a folder" in one_line_error(rc, capsys.readouterr().err)
    assert afile.read_text() == "keep"


def test_report_refuses_an_unknown_metric_and_an_out_that_is_a_file(
        finished: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, run = finished
    rc = main(["report", str(run), "--metric", "FOO"])
    assert "expected HR@K, NDCG@K or MRR" in one_line_error(rc, capsys.readouterr().err)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    rc = main(["report", str(run), "--out", str(afile)])
    assert "not a folder" in one_line_error(rc, capsys.readouterr().err)
    assert afile.read_text() == "keep"


def test_evaluate_and_recommend_replace_a_file_only_with_force_and_never_a_runs_own(
        finished: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, run = finished
    kept = tmp_path / "kept.npz"
    kept.write_bytes(b"keep")
    rc = main(["evaluate", str(run), "--per-user", str(kept)])
    assert "--force" in one_line_error(rc, capsys.readouterr().err)
    assert kept.read_bytes() == b"keep"
    assert main(["evaluate", str(run), "--per-user", str(kept), "--force"]) == 0
    assert kept.read_bytes() != b"keep"
    capsys.readouterr()
    results = (run / "results.json").read_text()
    for own in ("results.json", "config.yaml"):
        for force in ([], ["--force"]):
            rc = main(["evaluate", str(run), "--per-user", str(run / own), *force])
            assert "a file of the run" in one_line_error(rc, capsys.readouterr().err)
            rc = main(["recommend", str(run), "--output", str(run / own), *force])
            assert "a file of the run" in one_line_error(rc, capsys.readouterr().err)
    assert (run / "results.json").read_text() == results
    top = tmp_path / "top.csv"
    top.write_text("keep")
    rc = main(["recommend", str(run), "--output", str(top), "--k", "2"])
    assert "--force" in one_line_error(rc, capsys.readouterr().err)
    assert top.read_text() == "keep"
    assert main(["recommend", str(run), "--output", str(top), "--k", "2", "--force"]) == 0
    assert top.read_text().startswith("user,rank,item,score")


def test_train_refuses_a_folder_with_run_files_but_no_run(
        finished: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = finished
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.jsonl").write_text("my metrics\n")
    rc = main(["train", "--dataset", str(data), "--out", str(mine), *TINY])
    assert "no config.yaml" in one_line_error(rc, capsys.readouterr().err)
    assert (mine / "metrics.jsonl").read_text() == "my metrics\n"
    assert sorted(p.name for p in mine.iterdir()) == ["metrics.jsonl"]


def test_init_from_with_a_one_stage_objective_is_refused(
        finished: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data, run = finished
    rc = main(["train", "--dataset", str(data), "--out", str(tmp_path / "r"), *TINY,
               "--init-from", str(run)])
    assert "trains in one stage" in one_line_error(rc, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("record, where", [
    ('{"user": 1, "item": {"a": 1}, "ts": 1}\n', ":1"),
    ('{"user": 1, "item": 2, "ts": 1}\n{"user": [1], "item": 2, "ts": 2}\n', ":2"),
    ('[{"user": 1, "item": 2, "ts": 1}, {"user": 1, "item": null, "ts": 2}]\n', "record 2"),
])
def test_prepare_refuses_ids_that_are_not_strings_or_numbers(
        tmp_path: Path, record: str, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(record)
    rc = main(["prepare", str(log), "--out", str(tmp_path / "o.txt"), "--k-core", "1"])
    line = one_line_error(rc, capsys.readouterr().err)
    assert where in line and "must be a string or a number" in line
    assert not (tmp_path / "o.txt").exists()


def test_an_os_error_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from basrec import cli

    def fail(args: object, extra: object) -> int:
        raise PermissionError(13, "Permission denied", "/some/where")

    monkeypatch.setattr(cli, "cmd_config", fail)
    rc = main(["config", "--list"])
    assert one_line_error(rc, capsys.readouterr().err) == \
        "basrec: error: /some/where: Permission denied"

