"""How far an unfinished run has come, and how much is left, read from its folder.

``read_progress`` replays the early-stopping rule of ``stopping.advance_stopping`` over the
validations in ``metrics.jsonl``, with the limits the run was trained under (its own
``config.yaml``: ``epochs``, ``min_epochs``, ``patience``, ``valid_every``, ``metric``). From
there the run stops at the earliest if no later validation beats its best, and at the latest at
its epoch limit; the time left is those epochs at the median training seconds of its last
epochs, plus their validations at the median validation seconds. ``basrec experiment FILE
--status`` and ``basrec tune FILE --status`` print it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from basrec.config import RunConfig
from basrec.errors import BasrecError
from basrec.stopping import advance_stopping

#: the latest epochs whose median duration estimates the next ones
RECENT_EPOCHS = 5


@dataclass(frozen=True)
class StoppingRule:
    """The limits an epoch loop stops by (``RunConfig``'s fields of the same names)."""

    epochs: int
    min_epochs: int = RunConfig.min_epochs
    patience: int = RunConfig.patience
    valid_every: int = RunConfig.valid_every
    metric: str = RunConfig.metric

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
    fewest_seconds: float | None  # the time those epochs take, validations included
    most_seconds: float | None
    epoch_seconds: float | None  # median training seconds of the last epochs
    metric: str = RunConfig.metric  # the validation metric the run selects by

    def describe(self) -> str:
        """One line, e.g. ``epoch 29 of 100, last valid NDCG@20 0.0205, best 0.0221 (epoch 27);
        18–70 epochs left, about 10–41 min at 35 s an epoch``."""
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
        if self.fewest_seconds is not None and self.most_seconds is not None \
                and self.epoch_seconds is not None:
            low, high = _duration(self.fewest_seconds), _duration(self.most_seconds)
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
    """The rule in a run folder's ``config.yaml``, ``RunConfig``'s defaults for keys it leaves
    out (None where ``epochs`` is missing or a limit is not a number)."""
    try:
        return StoppingRule(
            epochs=int(config["epochs"]),
            min_epochs=int(config.get("min_epochs", RunConfig.min_epochs)),
            patience=int(config.get("patience", RunConfig.patience)),
            valid_every=max(1, int(config.get("valid_every", RunConfig.valid_every))),
            metric=str(config.get("metric", RunConfig.metric)))
    except (KeyError, TypeError, ValueError):
        return None


def numbered(history: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(epoch, record) for each record: its ``epoch``, else one after the previous one."""
    out: list[tuple[int, dict[str, Any]]] = []
    for record in history:
        epoch = record.get("epoch")
        out.append((int(epoch) if isinstance(epoch, int) else (out[-1][0] + 1 if out else 0),
                    record))
    return out


def scores(history: list[dict[str, Any]], metric: str) -> list[tuple[int, float]]:
    """(epoch, validation ``metric``) of each validated epoch with a number for it."""
    out = []
    for epoch, record in numbered(history):
        valid = record.get("valid")
        value = valid.get(metric) if isinstance(valid, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((epoch, float(value)))
    return out


def _replayed(scored: list[tuple[int, float]], rule: StoppingRule) -> dict[str, Any]:
    """The early-stopping state ``train.fit`` holds after the validations ``scored``."""
    state: dict[str, Any] = {"best_score": None, "best_epoch": None, "bad": 0, "stopped": False}
    for epoch, value in scored:
        advance_stopping(state, epoch, value, rule.min_epochs, rule.patience)
    return state


def _bounds(state: dict[str, Any], last: int, rule: StoppingRule) -> tuple[int, int]:
    """(fewest, most) epochs after epoch ``last`` from the replayed ``state`` (not changed)."""
    most = max(0, rule.epochs - 1 - last)
    if state["stopped"]:
        return 0, 0
    counted, bad = state["best_score"] is not None, state["bad"]
    for epoch in range(last + 1, rule.epochs):
        if rule.validates(epoch) and epoch >= rule.min_epochs:
            if not counted:  # its first counted validation is a best
                counted = True
                continue
            bad += 1
            if rule.patience and bad >= rule.patience:
                return epoch - last, most
    return most, most


def epochs_left(history: list[dict[str, Any]], rule: StoppingRule) -> tuple[int, int]:
    """(fewest, most) epochs the loop trains after ``history``: the fewest if no later
    validation is a new best (``stopping.advance_stopping`` replayed), the most to ``epochs``."""
    last = numbered(history)[-1][0] if history else -1
    return _bounds(_replayed(scores(history, rule.metric), rule), last, rule)


def _median_seconds(history: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in history[-RECENT_EPOCHS:]
              if isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


def read_progress(folder: str | Path, metric: str = RunConfig.metric) -> RunProgress | None:
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
    scored = scores(history, metric)
    last = numbered(history)[-1][0]
    fewest = most = None
    if rule is not None:
        state = _replayed(scored, rule)
        best = (state["best_epoch"], state["best_score"]) if state["best_epoch"] is not None \
            else None
        fewest, most = _bounds(state, last, rule)
    else:
        best = max(scored, key=lambda s: s[1], default=None)  # the first of equal bests
    fewest_s = most_s = None
    train_s = _median_seconds(history, "train_s")
    valid_s = _median_seconds([r for r in history if "valid" in r], "valid_s") or 0.0
    if rule is not None and fewest is not None and most is not None and train_s is not None:
        def seconds(n: int) -> float:
            validations = sum(rule.validates(e) for e in range(last + 1, last + 1 + n))
            return n * train_s + validations * valid_s

        fewest_s, most_s = seconds(fewest), seconds(most)
    return RunProgress(
        epoch=last, rule=rule, last_valid=scored[-1][1] if scored else None,
        best_valid=best[1] if best else None, best_epoch=best[0] if best else None,
        fewest_left=fewest, most_left=most, fewest_seconds=fewest_s, most_seconds=most_s,
        epoch_seconds=None if train_s is None else train_s + valid_s / (rule.valid_every
                                                                       if rule else 1),
        metric=metric)
