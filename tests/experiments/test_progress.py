"""An unfinished run's progress for ``--status``: the early-stopping rule replayed, epochs and
time left, read from the run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from basrec.experiments.progress import (
    RunProgress,
    StoppingRule,
    epochs_left,
    read_progress,
    stopping_rule,
)
from basrec.stopping import advance_stopping


def history(scores: dict[int, float], last: int, seconds: float = 10.0) -> list[dict[str, Any]]:
    """Epochs 0..last, validated where ``scores`` has the epoch."""
    return [{"epoch": e, "train_s": seconds,
             **({"valid_s": 1.0, "valid": {"NDCG@20": scores[e]}} if e in scores else {})}
            for e in range(last + 1)]


def test_epochs_left_by_hand() -> None:
    rule = StoppingRule(epochs=10, min_epochs=3, patience=2)
    # epochs 0-2 do not count; 3 is the first best, 4 the first without one: one more stops it
    assert epochs_left(history({0: .1, 1: .2, 2: .3, 3: .25, 4: .2}, 4), rule) == (1, 5)
    # a new best at 4 resets the count: 5 and 6 without one
    assert epochs_left(history({3: .25, 4: .3}, 4), rule) == (2, 5)
    # already stopped (a kill between its last checkpoint and its test)
    assert epochs_left(history({3: .25, 4: .2, 5: .2}, 5), rule) == (0, 0)
    # every third epoch validated, and the last: 5 and 8 are the two without a best
    every3 = StoppingRule(epochs=10, patience=2, valid_every=3)
    assert epochs_left(history({2: .1}, 3), every3) == (5, 6)
    # no counted validation before min_epochs 51: 51 is the first best, 71 the 20th without
    late = StoppingRule(epochs=100, min_epochs=51, patience=20)
    assert epochs_left(history({e: .02 for e in range(31)}, 30), late) == (41, 69)
    # patience 0 never stops early; at the epoch limit nothing is left
    assert epochs_left(history({0: .1, 1: .05}, 1), StoppingRule(epochs=5, patience=0)) == (3, 3)
    assert epochs_left(history({4: .1}, 4), StoppingRule(epochs=5)) == (0, 0)


@settings(max_examples=200, deadline=None)
@given(epochs=st.integers(1, 30), min_epochs=st.integers(0, 12), patience=st.integers(0, 6),
       valid_every=st.integers(1, 4), trained=st.integers(0, 30),
       scores=st.lists(st.floats(0, 1), min_size=30, max_size=30))
def test_fewest_epochs_left_are_where_training_without_a_new_best_stops(
        epochs: int, min_epochs: int, patience: int, valid_every: int, trained: int,
        scores: list[float]) -> None:
    """Training on with validations that never beat the best stops (or reaches the limit)
    exactly ``fewest`` epochs later; ``most`` reaches the limit."""
    rule = StoppingRule(epochs, min_epochs, patience, valid_every)
    last = min(trained, epochs - 1)
    state: dict[str, Any] = {"best_score": None, "best_epoch": None, "bad": 0, "stopped": False}
    done = history({}, -1)
    for epoch in range(last + 1):
        valid = rule.validates(epoch)
        done += history({epoch: scores[epoch]} if valid else {}, epoch)[-1:]
        if valid:
            advance_stopping(state, epoch, scores[epoch], min_epochs, patience)
        if state["stopped"]:
            last = epoch
            break
    fewest, most = epochs_left(done, rule)
    assert 0 <= fewest <= most
    assert most == (0 if state["stopped"] else epochs - 1 - last)
    epoch = last
    while not state["stopped"] and epoch + 1 < epochs:  # every later score is below all
        epoch += 1
        if rule.validates(epoch):
            advance_stopping(state, epoch, -1.0, min_epochs, patience)
    assert epoch - last == fewest


def test_describe_by_hand() -> None:
    rule = StoppingRule(epochs=100, min_epochs=51, patience=20)
    progress = RunProgress(epoch=30, rule=rule, last_valid=0.02051, best_valid=None,
                           best_epoch=None, fewest_left=41, most_left=69,
                           fewest_seconds=41 * 36.0, most_seconds=69 * 36.0, epoch_seconds=36.0)
    assert progress.describe() == ("epoch 30 of 100, last valid NDCG@20 0.0205; 41–69 epochs "
                                   "left, about 25–41 min at 36 s an epoch")
    longer = RunProgress(epoch=12, rule=StoppingRule(epochs=200), last_valid=0.031,
                         best_valid=0.0325, best_epoch=9, fewest_left=10, most_left=187,
                         fewest_seconds=600.0, most_seconds=11220.0, epoch_seconds=60.0)
    assert longer.describe() == ("epoch 12 of 200, last valid NDCG@20 0.0310, best 0.0325 "
                                 "(epoch 9); 10–187 epochs left, about 10 min – 3.1 h at 60 s "
                                 "an epoch")
    one = RunProgress(epoch=3, rule=StoppingRule(epochs=5), last_valid=None, best_valid=None,
                      best_epoch=None, fewest_left=1, most_left=1, fewest_seconds=None,
                      most_seconds=None, epoch_seconds=None, metric="HR@10")
    assert one.describe() == "epoch 3 of 5, last valid not validated yet; 1 epoch left"
    ended = RunProgress(epoch=4, rule=StoppingRule(epochs=5), last_valid=0.1, best_valid=0.1,
                        best_epoch=4, fewest_left=0, most_left=0, fewest_seconds=0.0,
                        most_seconds=0.0, epoch_seconds=2.0, metric="HR@10")
    assert ended.describe() == "epoch 4 of 5, last valid HR@10 0.1000; no epoch left (testing)"


def write_run(folder: Path, records: list[dict[str, Any]], config: dict[str, Any] | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if config is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_read_progress_from_a_run_folder(tmp_path: Path) -> None:
    # epoch 0 scores highest but comes before min_epochs 1: training never selects it
    records = history({0: .40, 1: .30, 2: .30, 3: .20}, 3)
    for record, seconds in zip(records, (100.0, 5.0, 7.0, 6.0)):  # a slow first epoch
        record["train_s"] = seconds
    config = {"epochs": 8, "min_epochs": 1, "patience": 3, "valid_every": 1,
              "metric": "NDCG@20", "model": "sasrec"}
    progress = read_progress(write_run(tmp_path / "run", records, config))
    assert progress is not None
    # best: the first of the equal 0.30s (epoch 1); 2 and 3 without one: one more stops it;
    # seconds: median training 6.5 (of 100, 5, 7, 6) and validation 1.0, a validation an epoch
    assert (progress.epoch, progress.last_valid, progress.best_valid, progress.best_epoch,
            progress.fewest_left, progress.most_left, progress.fewest_seconds,
            progress.most_seconds, progress.epoch_seconds) == \
        (3, .20, .30, 1, 1, 4, 7.5, 30.0, 7.5)
    assert progress.rule == StoppingRule(epochs=8, min_epochs=1, patience=3)
    # without a readable config: the epochs and validations only, no bounds
    bare = read_progress(write_run(tmp_path / "bare", records, None))
    assert bare is not None and bare.rule is None and bare.fewest_left is None
    assert bare.describe() == "epoch 3, last valid NDCG@20 0.2000, best 0.4000 (epoch 0)"
    assert read_progress(tmp_path / "missing") is None
    assert read_progress(write_run(tmp_path / "empty", [], config)) is None
    assert stopping_rule({"epochs": "many"}) is None and stopping_rule({}) is None
    assert stopping_rule({"epochs": 9}) == StoppingRule(9, 0, 20, 1, "NDCG@20")  # the defaults


def test_validations_every_few_epochs_are_timed_apart(tmp_path: Path) -> None:
    """Training seconds count every epoch left, validation seconds only the validated ones."""
    records = history({4: .1}, 5)  # validated every fifth epoch; epoch 5 not validated
    for record in records:
        record["train_s"] = 10.0
    records[4]["valid_s"] = 30.0
    config = {"epochs": 20, "patience": 2, "valid_every": 5}
    progress = read_progress(write_run(tmp_path / "run", records, config))
    assert progress is not None
    # 9 and 14 without a best stop it at 14 (9 epochs, 2 validations); the limit: 14 epochs,
    # validated at 9, 14 and 19
    assert (progress.fewest_left, progress.most_left) == (9, 14)
    assert (progress.fewest_seconds, progress.most_seconds) == (9 * 10 + 2 * 30, 14 * 10 + 3 * 30)
    assert progress.epoch_seconds == 10.0 + 30.0 / 5


def test_epochs_without_numbers_and_null_scores(tmp_path: Path) -> None:
    """Records without an ``epoch`` count on from the previous one; a score that is not a
    number is no validation."""
    records: list[dict[str, Any]] = [{"train_s": 1.0, "valid": {"NDCG@20": .2}},
                                     {"epoch": 1, "train_s": 1.0, "valid": {"NDCG@20": None}},
                                     {"train_s": 1.0, "valid": {"NDCG@20": .1}}]
    progress = read_progress(write_run(tmp_path / "run", records, {"epochs": 10, "patience": 3}))
    assert progress is not None
    assert (progress.epoch, progress.best_epoch, progress.last_valid) == (2, 0, .1)
    assert (progress.fewest_left, progress.most_left) == (2, 7)  # 3 and 4 without a best
