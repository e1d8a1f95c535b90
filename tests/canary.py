"""The leakage canary's training loop: a small model trained on unpredictable sequences, then
tested (tests/objectives/test_softmax_ce.py, tests/models/test_fmlprec_causal.py). A model that
cannot see its targets tests near chance; one trained on its test items memorises them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from basrec import config
from basrec.data.batches import TrainLoader
from basrec.data.io import Sequences
from basrec.data.split import LeaveOneOut
from basrec.evaluate import evaluate
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.train import construction_for, make_model


def train_and_test(train_lists: list[list[int]], test_lists: list[list[int]], n_items: int,
                   settings: dict[str, Any], epochs: int) -> tuple[float, float]:
    """Train on ``train_lists``' training part (batch 32, Adam lr 0.01, the run's sample
    construction); (the last epoch's mean loss, test HR@10 on ``test_lists``)."""
    cfg = config.load([], {"dataset": "unused", "progress": False, **settings})
    data = LeaveOneOut(Sequences.from_lists(train_lists, n_items=n_items))
    test = LeaveOneOut(Sequences.from_lists(test_lists, n_items=n_items))
    net = make_model(cfg, n_items, torch.device("cpu")).train()
    obj = build_objective(cfg.objective, cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    loader = TrainLoader(data, data.train_samples(construction_for(cfg, net)),
                         cfg.max_seq_length, 32, 0)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    torch.manual_seed(0)
    losses: list[float] = []
    for epoch in range(epochs):
        rng = StepRandom.create(0, epoch, "cpu")
        losses = []
        for batch in loader.epoch(epoch):
            optimizer.zero_grad()
            loss = obj(net, batch, rng)["loss"]
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    hr10 = float(evaluate(net, test, test.eval_samples("test")).metrics["HR@10"])
    return float(np.mean(losses)), hr10
