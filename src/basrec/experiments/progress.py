"""How far an unfinished run has come, and how much is left, read from its folder.

``read_progress`` replays the early-stopping rule of ``stopping.advance_stopping`` over the
validations in ``metrics.jsonl``, with the limits the run was trained under (its own
``config.yaml``: ``epochs``, ``min_epochs``, ``patience``, ``valid_every``, ``metric``). From
there the run stops at the earliest if no later validation beats its best, and at the latest at
its epoch limit; the time left is those epoch counts times the median seconds of its last
epochs (training plus validation). ``basrec experiment FILE --status`` prints it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from basrec.errors import BasrecError
from basrec.stopping import advance_stopping

#: the latest epochs whose median duration estimates the next ones
RECENT_EPOCHS = 5


@dataclass(frozen=True)
class StoppingRule:
    """The limits an epoch loop stops by (``RunConfig``'s fields of the same names)."""

    epochs: int
    min_epochs: int = 0
    patience: int = 20
    valid_every: int = 1
    metric: str = "NDCG@20"

    def validates(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) ends with a validation (as ``train.fit``)."""
        return (epoch + 1) % self.valid_every == 0 or epoch + 1 == self.epochs


@dataclass(frozen=True)
class RunProgress:
    """An unfinished run's last epoch, its validations and its bounds on what is left."""

    epoch: int  # the last epoch trained (0-based)
    rule: StoppingRule | None
    last_valid: float | None
    best_valid: float | None
    best_epoch: int | None
    fewest_left: int | None  # epochs left if no later validation is a new best
    most_left: int | None  # epochs left to the epoch limit
    epoch_seconds: float | None  # median training + validation seconds of the last epochs
    metric: str = "NDCG@20"  # the validation metric the run selects by

    def describe(self) -> str:
        """One line, e.g. ``epoch 29 of 100, last valid NDCG@20 0.0205, best 0.0221 (epoch 27);
        41–70 epochs left, about 23–39 min at 33 s an epoch``."""
        limit = f" of {self.rule.epochs}" if self.rule is not None else ""
        text = f"epoch {self.epoch}{limit}, last valid "
        text += f"{self.metric} {self.last_valid:.4f}" if self.last_valid is not None \
            else "not validated yet"
        if self.best_valid is not None and self.best_valid != self.last_valid:
            text += f", best {self.best_valid:.4f} (epoch {self.best_epoch})"
        if self.fewest_left is None or self.most_left is None:
            return text
        if self.most_left == 0:
            return text + "; no epoch left (testing)"
        span = (str(self.most_left) if self.fewest_left == self.most_left
                else f"{self.fewest_left}–{self.most_left}")
        text += f"; {span} epoch{'s' if self.most_left > 1 else ''} left"
        if self.epoch_seconds is not None:
            low, high = (_duration(n * self.epoch_seconds)
                         for n in (self.fewest_left, self.most_left))
            text += (f", about {high if low == high else _span(low, high)} "
                     f"at {self.epoch_seconds:.0f} s an epoch")
        return text


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{max(1, round(minutes))} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _span(low: str, high: str) -> str:
    """``23 min``, ``39 min`` → ``23–39 min``; units that differ stay written twice."""
    (a, unit_a), (b, unit_b) = low.split(" "), high.split(" ")
    return f"{a}–{b} {unit_a}" if unit_a == unit_b else f"{low} – {high}"


def stopping_rule(config: dict[str, Any]) -> StoppingRule | None:
    """The rule in a run folder's ``config.yaml`` (None where a limit is missing or not a
    number)."""
    try:
        return StoppingRule(epochs=int(config["epochs"]),
                            min_epochs=int(config.get("min_epochs") or 0),
                            patience=int(config.get("patience") or 0),
                            valid_every=max(1, int(config.get("valid_every") or 1)),
                            metric=str(config.get("metric", "NDCG@20")))
    except (KeyError, TypeError, ValueError):
        return None


def epochs_left(history: list[dict[str, Any]], rule: StoppingRule) -> tuple[int, int]:
    """(fewest, most) epochs the loop trains after ``history``: the fewest if no later
    validation is a new best (``stopping.advance_stopping`` replayed), the most to ``epochs``."""
    state: dict[str, Any] = {"best_score": None, "best_epoch": None, "bad": 0, "stopped": False}
    last = -1
    for record in history:
        last = int(record.get("epoch", last + 1))
        valid = record.get("valid")
        if isinstance(valid, dict) and rule.metric in valid:
            advance_stopping(state, last, float(valid[rule.metric]), rule.min_epochs,
                             rule.patience)
    most = max(0, rule.epochs - 1 - last)
    if state["stopped"]:
        return 0, 0
    for epoch in range(last + 1, rule.epochs):
        if rule.validates(epoch) and epoch >= rule.min_epochs:
            if state["best_score"] is None:
                state["best_score"] = float("-inf")  # its first counted validation is a best
                continue
            state["bad"] += 1
            if rule.patience and state["bad"] >= rule.patience:
                return epoch - last, most
    return most, most


def read_progress(folder: str | Path, metric: str = "NDCG@20") -> RunProgress | None:
    """An unfinished run's progress from ``folder`` (None where it has trained no epoch);
    the bounds are left out where its ``config.yaml`` cannot be read."""
    from basrec.config import read_yaml
    from basrec.runio import read_metrics

    folder = Path(folder)
    try:
        history = read_metrics(folder)
    except BasrecError:
        return None
    if not history:
        return None
    try:
        config = read_yaml(folder / "config.yaml")
    except BasrecError:
        config = None
    rule = stopping_rule(config) if isinstance(config, dict) else None
    metric = rule.metric if rule is not None else metric
    scored = [(int(r.get("epoch", k)), float(r["valid"][metric]))
              for k, r in enumerate(history)
              if isinstance(r.get("valid"), dict) and metric in r["valid"]]
    counted = [s for s in scored if rule is None or s[0] >= rule.min_epochs]
    best = max(counted, key=lambda s: s[1], default=None)  # the first of equal bests
    seconds = [float(r.get("train_s", 0.0)) + float(r.get("valid_s", 0.0))
               for r in history[-RECENT_EPOCHS:] if "train_s" in r]
    fewest, most = epochs_left(history, rule) if rule is not None else (None, None)
    return RunProgress(
        epoch=int(history[-1].get("epoch", len(history) - 1)), rule=rule,
        last_valid=scored[-1][1] if scored else None,
        best_valid=best[1] if best else None, best_epoch=best[0] if best else None,
        fewest_left=fewest, most_left=most,
        epoch_seconds=statistics.median(seconds) if seconds else None, metric=metric)
