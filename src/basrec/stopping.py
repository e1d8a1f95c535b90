"""Early stopping: the rule every epoch loop of ``train.fit`` selects its best epoch by."""

from __future__ import annotations

from typing import Any


def advance_stopping(state: dict[str, Any], epoch: int, score: float, min_epochs: int,
                     patience: int) -> bool:
    """Early stopping after one validated epoch (algorithm.md §1.4): only epochs >= ``min_epochs``
    count, a strictly greater score is a new best, ``patience`` epochs without one stop the run
    (0: never). Updates ``state`` (best_score, best_epoch, bad, stopped); True on a new best."""
    if epoch < min_epochs:
        return False
    if state["best_score"] is None or score > state["best_score"]:
        state.update(best_score=score, best_epoch=epoch, bad=0)
        return True
    state["bad"] += 1
    if patience and state["bad"] >= patience:
        state["stopped"] = True
    return False
