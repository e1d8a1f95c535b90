"""The command line (cli.py) for real: ``python -m basrec train`` in a subprocess, then
``evaluate``, ``recommend``, a repeated ``train`` and the one-line errors (exit status 2)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_lines

from basrec import config, train
from basrec.cli import main

TINY = ["--hidden_size=8", "--num_layers", "1", "--max_seq_length=10", "--epochs=3",
        "--batch_size=16", "--threads=1", "--seed=5"]


def basrec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "basrec", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A run trained by a real ``python -m basrec train`` process: (data file, run, stdout)."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "tiny.txt"
    data.write_text("\n".join(synthetic_lines()) + "\n")
    proc = basrec("train", "--dataset", str(data), "--out", str(root / "run"), *TINY, cwd=root)
    assert proc.returncode == 0, proc.stderr
    return data, root / "run", proc.stdout


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_train_writes_the_run_directory(trained: tuple[Path, Path, str], tmp_path: Path) -> None:
    data, run, stdout = trained
    assert {"config.yaml", "env.json", "metrics.jsonl", "results.json", "per_user_test.npz",
            "checkpoint_best.pt", "checkpoint_last.pt", "log.txt"} <= {
        p.name for p in run.iterdir()}
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    # config.yaml: fully resolved and reloadable, the same config as the command line's
    cfg = config.resolve(config.read_yaml(run / "config.yaml"))
    expected = config.load([], dict(dataset=str(data), hidden_size=8, num_layers=1,
                                    max_seq_length=10, epochs=3, batch_size=16, threads=1,
                                    seed=5))
    assert cfg == expected
    assert set(config.read_yaml(run / "config.yaml")) >= {"lr", "dropout", "topk", "sasrec",
                                                         "none", "history_mask"}
    env = json.loads((run / "env.json").read_text())
    assert env["torch_threads"] == 1 and env["device"] == "cpu"
    assert env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    assert env["python"] and env["basrec"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2]
    res = results(run)
    for split in ("valid", "test"):
        assert {"HR@10", "NDCG@10", "HR@20", "NDCG@20"} <= set(res[split])
        assert all(0.0 <= v <= 1.0 for v in res[split].values())
    with np.load(run / "per_user_test.npz") as z:
        assert len(z["users"]) == len(z["ranks"]) == len(z["labels"]) == 60
    # the printed table shows the test metrics
    table = [line for line in stdout.splitlines() if line.startswith("test")]
    assert table and f"{res['test']['HR@10']:8.4f}" in table[0]
    # results.json names the wall time for what it is; readers take old records' name too
    assert "last_process_wall_s" in res and "session_wall_s" not in res
    assert train.process_wall_s(res) == res["last_process_wall_s"]
    assert train.process_wall_s({"session_wall_s": 12.5}) == 12.5
    assert train.process_wall_s({}) is None
    # a separate process gave the same numbers as training here, in this process
    again = train.fit(expected, tmp_path / "same", quiet=True)
    assert again["test"] == res["test"]


def test_one_short_line_per_epoch(trained: tuple[Path, Path, str]) -> None:
    """stdout gets one short human line per epoch (epoch, loss, validation metric, best so
    far, seconds), not the JSON record, which stays in metrics.jsonl."""
    _, run, stdout = trained
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    lines = [line for line in stdout.splitlines() if line.startswith("epoch")]
    assert len(lines) == len(records) == 3
    for line, record in zip(lines, records):
        assert not line.lstrip().startswith("{") and len(line) < 100, line
        assert line.split()[:2] == ["epoch", str(record["epoch"])]
        assert f"loss {record['loss']:.4f}" in line
        assert f"valid NDCG@20 {record['valid']['NDCG@20']:.4f}" in line
        assert "best " in line and line.endswith(" s")
    best = results(run)["best_epoch"]
    assert f"(epoch {best})" in lines[-1]


def test_evaluate_saves_per_user_ranks(trained: tuple[Path, Path, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``evaluate --per-user FILE`` writes the ranks in train's per_user_test.npz format; an
    output that is a folder is a one-line error before any evaluation."""
    _, run, _ = trained
    out = tmp_path / "ranks.npz"
    assert main(["evaluate", str(run), "--per-user", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == results(run)["test"]
    with np.load(out) as mine, np.load(run / "per_user_test.npz") as train_file:
        assert set(mine.files) == set(train_file.files) == {"users", "ranks", "labels"}
        for key in mine.files:
            np.testing.assert_array_equal(mine[key], train_file[key])
    assert main(["evaluate", str(run), "--split", "valid", "--per-user",
                 str(tmp_path / "valid.npz")]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "valid.npz") as valid:
        assert len(valid["ranks"]) == 60
    rc = main(["evaluate", str(run), "--per-user", str(tmp_path)])
    assert str(tmp_path) in one_line_error(rc, capsys.readouterr().err)


def test_basrec_run_compares_its_stages(tiny_data: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The end of a two-stage run prints stage 2 against stage 1 on validation (also in
    log.txt); a warning where stage 2 did not improve on it."""
    rc = main(["train", "--dataset", str(tiny_data), "--out", str(tmp_path / "b"), *TINY,
               "--epochs=2", "--objective", "basrec", "--basrec.stage1_epochs=2",
               "--progress=false"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    res = results(tmp_path / "b")
    before, after = res["stage1"]["valid"]["NDCG@20"], res["valid"]["NDCG@20"]
    line = f"validation NDCG@20: stage 1 {before:.4f}, stage 2 {after:.4f}"
    assert line in out.out
    assert line in (tmp_path / "b" / "log.txt").read_text()
    assert ("warning: stage 2 did not improve" in out.err) == (after <= before)
    better = {"stage1": {"valid": {"NDCG@20": 0.04}}, "valid": {"NDCG@20": 0.05}}
    assert train.stage_comparison(better, "NDCG@20") == [
        "validation NDCG@20: stage 1 0.0400, stage 2 0.0500 (+0.0100, +25.0%)"]
    worse = {"stage1": {"valid": {"NDCG@20": 0.05}}, "valid": {"NDCG@20": 0.04}}
    lines = train.stage_comparison(worse, "NDCG@20")
    assert len(lines) == 2 and lines[1].startswith("warning: stage 2 did not improve on "
                                                   "stage 1 on validation NDCG@20")
    assert train.stage_comparison({"valid": {"NDCG@20": 0.05}}, "NDCG@20") == []


def test_evaluate_reproduces_results(trained: tuple[Path, Path, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, run, _ = trained
    assert main(["evaluate", str(run)]) == 0
    assert json.loads(capsys.readouterr().out) == results(run)["test"]
    assert main(["evaluate", str(run), "--split", "valid"]) == 0
    assert json.loads(capsys.readouterr().out) == results(run)["valid"]


def test_evaluate_with_a_changed_setting(trained: tuple[Path, Path, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``evaluate RUN --key=value`` re-evaluates under another setting: without the history
    mask the answer competes with more items, so no metric can rise; a setting that changes
    the weights' shapes or an unknown key is a one-line error."""
    _, run, _ = trained
    assert main(["evaluate", str(run), "--history_mask=none"]) == 0
    unmasked = json.loads(capsys.readouterr().out)
    masked = results(run)["test"]
    assert all(unmasked[k] <= masked[k] + 1e-12 for k in masked)
    assert unmasked != masked
    before = torch.get_num_threads()
    try:
        assert main(["evaluate", str(run), "--threads=1"]) == 0
        assert torch.get_num_threads() == 1
        capsys.readouterr()
    finally:
        torch.set_num_threads(before)
    rc = main(["evaluate", str(run), "--hidden_size=16"])
    assert "checkpoint" in one_line_error(rc, capsys.readouterr().err)
    rc = main(["evaluate", str(run), "--no_such_key=1"])
    assert "no_such_key" in one_line_error(rc, capsys.readouterr().err)


def test_recommend_prints_k_new_items_per_user(trained: tuple[Path, Path, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data, run, _ = trained
    assert main(["recommend", str(run), "--k", "5"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    history = {line.split()[0]: {int(x) for x in line.split()[1:]}
               for line in data.read_text().splitlines()}
    assert len(rows) == 5 * len(history)
    for user, items in history.items():
        recs = [int(r["item"]) for r in rows if r["user"] == user]
        assert len(recs) == 5 and len(set(recs)) == 5
        assert 0 not in recs and not set(recs) & items


def test_second_train_returns_the_finished_run(trained: tuple[Path, Path, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data, run, stdout = trained
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    rc = main(["train", "--dataset", str(data), "--out", str(run), *TINY])
    out = capsys.readouterr()
    assert rc == 0
    # only the results table (header and test row), the same as the first run's last lines
    assert out.out.splitlines() == stdout.splitlines()[-2:]
    assert "epoch" not in out.out  # no training record printed
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


# ---------------------------------------------------------------------------------- errors


def one_line_error(rc: int, err: str) -> str:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("basrec")
    return lines[0]


@pytest.mark.parametrize("extra, message", [
    (["--epochz=3"], "unknown config key 'epochz'"),
    (["--epochs=abc"], "epochs: expected an integer"),
    (["--dropout=1.5"], "dropout"),
    (["--loss=foo"], "loss: 'foo'"),
    (["--model=foo"], "unknown model 'foo'"),
    (["--model", "foo"], "unknown model 'foo'"),
    (["--objective=foo"], "unknown objective 'foo'"),
    (["--basrec.alphaa=1"], "basrec.alphaa"),
    (["--seed=-1"], "seed"),
    (["--weight_decay=-1"], "weight_decay"),
    (["--device=cuda:abc"], "device"),
    (["stray"], "unexpected argument 'stray'"),
])
def test_bad_options_exit_2_with_one_line(tiny_data: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          extra: list[str], message: str) -> None:
    rc = main(["train", "--dataset", str(tiny_data), "--out", str(tmp_path / "r"), *TINY,
               *extra])
    assert message in one_line_error(rc, capsys.readouterr().err)
    assert not (tmp_path / "r" / "results.json").exists()


def test_data_and_run_dir_errors(trained: tuple[Path, Path, str], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    data, run, _ = trained
    bad = tmp_path / "bad.txt"
    bad.write_text("u1 1 2 3 4\nu2 1 x 3\n")
    rc = main(["train", "--dataset", str(bad), "--out", str(tmp_path / "r1"), *TINY])
    line = one_line_error(rc, capsys.readouterr().err)
    assert f"{bad}:2" in line and "'x'" in line
    missing = tmp_path / "missing.txt"
    rc = main(["train", "--dataset", str(missing), "--out", str(tmp_path / "r2"), *TINY])
    assert "missing.txt" in one_line_error(rc, capsys.readouterr().err)
    # a run that cannot start leaves no empty folder behind, also for two stages ...
    rc = main(["train", "--dataset", str(bad), "--objective", "basrec", "--out",
               str(tmp_path / "r3" / "basrec"), *TINY])
    assert f"{bad}:2" in one_line_error(rc, capsys.readouterr().err)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r3" / "basrec").exists()
    # ... and never touches a folder that was there before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    rc = main(["train", "--dataset", str(bad), "--out", str(tmp_path / "mine"), *TINY])
    assert f"{bad}:2" in one_line_error(rc, capsys.readouterr().err)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    # a run dir that holds a different configuration
    rc = main(["train", "--dataset", str(data), "--out", str(run), *TINY, "--lr=0.01"])
    assert "different configuration" in one_line_error(rc, capsys.readouterr().err)
    rc = main(["train", "--dataset", str(data), *TINY])  # --out is required
    assert "--out" in one_line_error(rc, capsys.readouterr().err)
    rc = main(["evaluate", str(tmp_path)])
    assert "not a finished run" in one_line_error(rc, capsys.readouterr().err)
    rc = main(["recommend", str(run), "--k", "0"])
    assert "--k" in one_line_error(rc, capsys.readouterr().err)


@pytest.mark.parametrize("name, text", [
    ("log.csv", "user_id,item_id,timestamp\nu1,a,1\nu1,b,2\nu1,c,3\n"),
    ("log.inter", "user_id:token\titem_id:token\ttimestamp:float\nu1\ta\t1\nu1\tb\t2\n"),
    ("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"),
    ("log.tsv", "u1\ti1\t100\nu1\ti2\t200\n"),
    ("log.jsonl", '{"user_id": "u1", "item_id": "a", "timestamp": 1}\n'),
])
def test_train_on_a_raw_log_says_prepare_first(tmp_path: Path, name: str, text: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / name
    raw.write_text(text)
    rc = main(["train", "--dataset", str(raw), "--out", str(tmp_path / "r"), *TINY])
    line = one_line_error(rc, capsys.readouterr().err)
    assert "raw interaction log" in line and f"basrec prepare {raw}" in line
    assert not (tmp_path / "r").exists()


def test_a_sequence_file_with_a_bad_first_line_is_not_called_a_raw_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "seq.txt"
    bad.write_text("u1 1 x 3\nu2 1 2 3\n")
    rc = main(["train", "--dataset", str(bad), "--out", str(tmp_path / "r"), *TINY])
    line = one_line_error(rc, capsys.readouterr().err)
    assert f"{bad}:1" in line and "'x'" in line and "prepare" not in line
    from basrec.data.raw import raw_log_reason

    tabs = tmp_path / "tabs.txt"
    tabs.write_text("1\t2\t3\t4\n")
    assert raw_log_reason(tabs) is None  # a sequence file separated by tabs


def test_errors_in_a_real_process(tmp_path: Path) -> None:
    """No traceback and status 2 from the installed entry point, not only from main()."""
    bad = tmp_path / "bad.txt"
    bad.write_text("u1 1 2 3 4\nu2 1 2 3\nu3 4 5 -6\n")
    proc = basrec("train", "--dataset", str(bad), "--out", str(tmp_path / "r"), "--epochz=3",
                  cwd=tmp_path)
    assert "unknown config key 'epochz'" in one_line_error(proc.returncode, proc.stderr)
    proc = basrec("train", "--dataset", str(bad), "--out", str(tmp_path / "r"), *TINY,
                  cwd=tmp_path)
    line = one_line_error(proc.returncode, proc.stderr)
    assert f"{bad}:3" in line and "-6" in line


def test_a_damaged_checkpoint_is_one_line_and_left_as_it_was(
        trained: tuple[Path, Path, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data, run, _ = trained
    interrupted = tmp_path / "interrupted"
    shutil.copytree(run, interrupted)
    (interrupted / "results.json").unlink()  # as if killed before the end: train resumes
    last = interrupted / "checkpoint_last.pt"
    last.write_bytes(last.read_bytes()[:100])
    damaged = last.read_bytes()
    rc = main(["train", "--dataset", str(data), "--out", str(interrupted), *TINY])
    line = one_line_error(rc, capsys.readouterr().err)
    assert f"{last}: unreadable checkpoint" in line
    assert last.read_bytes() == damaged and not (interrupted / "results.json").exists()
    # --init-from a stage 1 whose best weights are damaged
    (interrupted / "results.json").write_text((run / "results.json").read_text())
    best = interrupted / "checkpoint_best.pt"
    best.write_bytes(b"")
    rc = main(["train", "--dataset", str(data), "--out", str(tmp_path / "stage2"), *TINY,
               "--objective", "basrec", "--init-from", str(interrupted)])
    assert f"{best}: unreadable checkpoint" in one_line_error(rc, capsys.readouterr().err)
