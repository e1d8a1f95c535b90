"""runio: the environment recorded beside every run; checkpoints read back with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from basrec import runio
from basrec.errors import BasrecError


def test_git_commit_can_be_given_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASREC_GIT_COMMIT", "abc123")
    assert runio.environment("cpu")["git_commit"] == "abc123"
    monkeypatch.delenv("BASREC_GIT_COMMIT")
    assert runio.environment("cpu")["git_commit"] != "abc123"


def test_load_checkpoint_names_the_file_of_every_damaged_checkpoint(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    runio.atomic_torch_save({"model": {"w": torch.ones(2)}, "state": "{}"}, good)
    assert torch.equal(runio.load_checkpoint(good, keys=("model", "state"))["model"]["w"],
                       torch.ones(2))
    whole = good.read_bytes()
    bad = tmp_path / "bad.pt"
    for content in (b"", whole[: len(whole) // 2], b"not a checkpoint at all", bytes(64)):
        bad.write_bytes(content)
        with pytest.raises(BasrecError, match=f"^{bad}: unreadable checkpoint"):
            runio.load_checkpoint(bad)
    torch.save([1, 2], bad)  # readable, but not ours
    with pytest.raises(BasrecError, match="not a basrec checkpoint: no model"):
        runio.load_checkpoint(bad)
    with pytest.raises(BasrecError, match="no optimizer"):
        runio.load_checkpoint(good, keys=("model", "state", "optimizer"))
    with pytest.raises(BasrecError, match="no such checkpoint"):
        runio.load_checkpoint(tmp_path / "absent.pt")


def test_load_weights_refuses_another_models_weights(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    x = tmp_path / "x.pt"

    def saved(weights: dict[str, torch.Tensor]) -> Path:
        runio.atomic_torch_save({"model": weights}, x)
        return x

    runio.load_weights(model, saved({"weight": torch.zeros(2, 3), "bias": torch.ones(2)}))
    assert torch.equal(model.bias, torch.ones(2))
    with pytest.raises(BasrecError, match=rf"^{x}: unreadable checkpoint .*weight"):
        runio.load_weights(model, saved({"weight": torch.zeros(4, 3), "bias": torch.ones(2)}))
    with pytest.raises(BasrecError, match=f"{x}: unreadable checkpoint"):
        runio.load_weights(model, saved({"other": torch.zeros(1)}))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
                         ids=["umask-022", "umask-077", "umask-002"])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """As ``open`` creates files: 0o666 less the umask, for a new file and a replaced one."""
    target = tmp_path / "sub" / "out.txt"
    old = os.umask(umask)
    try:
        runio.atomic_write_text(target, "one\n")
        assert target.stat().st_mode & 0o777 == mode
        target.chmod(0o600 if mode != 0o600 else 0o644)
        runio.write_json(target, {"two": 2})
        assert target.stat().st_mode & 0o777 == mode
        runio.atomic_torch_save({"model": {}}, tmp_path / "c.pt")
        assert (tmp_path / "c.pt").stat().st_mode & 0o777 == mode
    finally:
        os.umask(old)
    assert runio.read_json(target) == {"two": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]  # no temporaries


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    runio.atomic_write_text(target, "old\n")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(runio.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        runio.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
