"""lab/scripts/paired_users.py: two runs compared user by user from per-user ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from script_loader import load_script


def save(path: Path, users: list[int], ranks: list[int]) -> Path:
    np.savez(path, users=np.array(users), ranks=np.array(ranks), labels=np.array(users))
    return path


def test_means_change_and_wilcoxon_by_hand(tmp_path: Path) -> None:
    # users listed in different orders: they are paired by id
    base = save(tmp_path / "a.npz", [0, 1, 2, 3], [0, 20, 1, 30])
    other = save(tmp_path / "b.npz", [3, 2, 1, 0], [0, 1, 20, 0])
    got = load_script("paired_users").compare(base, other, ["HR@10", "NDCG@10"])
    assert got["users"] == 4
    # HR@10: base hits users 0, 2 (0.5); other hits 0, 2, 3 (0.75)
    assert got["HR@10"]["base"] == 0.5 and got["HR@10"]["other"] == 0.75
    assert got["HR@10"]["change_pct"] == pytest.approx(50.0)
    assert got["HR@10"]["users_differing"] == 1  # only user 3 changes
    # NDCG@10: base (1 + 1/log2(3)) / 4, other adds user 3 at rank 0 → + 1/4
    base_ndcg = (1 + 1 / np.log2(3)) / 4
    assert got["NDCG@10"]["base"] == pytest.approx(base_ndcg)
    assert got["NDCG@10"]["other"] == pytest.approx(base_ndcg + 0.25)
    # one non-zero difference: exact two-sided Wilcoxon p = 1.0
    assert got["NDCG@10"]["wilcoxon_p"] == pytest.approx(1.0)


def test_files_with_other_users_are_refused(tmp_path: Path) -> None:
    base = save(tmp_path / "a.npz", [0, 1], [0, 1])
    other = save(tmp_path / "b.npz", [0, 2], [0, 1])
    with pytest.raises(SystemExit, match="do not hold the same users"):
        load_script("paired_users").compare(base, other, ["HR@10"])
    (tmp_path / "bad.npz").write_text("no")
    with pytest.raises(SystemExit, match="not a per-user ranks file"):
        load_script("paired_users").compare(tmp_path / "bad.npz", other, ["HR@10"])


def test_bad_files_and_metrics_are_one_line_errors(tmp_path: Path) -> None:
    script = load_script("paired_users")
    good = save(tmp_path / "good.npz", [0, 1], [0, 1])
    empty = save(tmp_path / "empty.npz", [], [])
    twice = save(tmp_path / "twice.npz", [0, 0], [0, 1])
    np.savez(tmp_path / "short.npz", users=np.array([0, 1]), ranks=np.array([0]))
    np.save(tmp_path / "array.npy", np.arange(3))
    for bad, message in ((empty, "one rank per user"), (twice, "a user appears twice"),
                         (tmp_path / "short.npz", "one rank per user"),
                         (tmp_path / "array.npy", "not a per-user ranks file")):
        with pytest.raises(SystemExit, match=message):
            script.compare(bad, good, ["HR@10"])
    with pytest.raises(SystemExit, match="--metrics"):
        script.compare(good, good, ["NDCG10"])
