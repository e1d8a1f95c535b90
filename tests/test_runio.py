"""runio: the environment recorded beside every run."""

from __future__ import annotations

import pytest

from basrec import runio


def test_git_commit_can_be_given_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASREC_GIT_COMMIT", "abc123")
    assert runio.environment("cpu")["git_commit"] == "abc123"
    monkeypatch.delenv("BASREC_GIT_COMMIT")
    assert runio.environment("cpu")["git_commit"] != "abc123"
