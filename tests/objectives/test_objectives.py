"""Contract over every registered objective, and the augmentation baselines (CL4SRec, CMR,
CMRSI, Random, Random-seq, Slide windows; docs/algorithm.md §4.1–4.5, §5.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from basrec import config
from basrec.config import RunConfig
from basrec.data.batches import TrainBatch, TrainLoader
from basrec.data.io import Sequences, read_sequences
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.registry import MODELS, OBJECTIVES
from basrec.train import load_data, make_model, run, stages, training_loader

TINY = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_seq_length": 12,
        "batch_size": 16, "eval_batch_size": 64, "progress": False}


def setup(path: Path, objective: str, model: str = "sasrec",
          **overrides: Any) -> tuple[Any, Any, Any, TrainBatch]:
    cfg = config.load([], {"dataset": str(path), "model": model, "objective": objective,
                           **TINY, **overrides})
    short = {"asrep": {"reverse_epochs": 1}, "diffuasr": {"epochs": 1, "count": 3}}
    if objective in short:  # ASReP, DiffuASR: their own first stage (1 epoch), generation
        prepared = OBJECTIVES.get(objective).component.prepare_run(
            cfg.replace(objective_options=cfg.objective_options.__class__(**short[objective])),
            path.parent / f"prepared-{model}", True, stages())
        assert prepared is not None
        cfg, _ = prepared
    data = load_data(cfg)  # with the objective's own data transform, as the trainer does
    net = make_model(cfg, data.n_items, torch.device("cpu"))
    obj = build_objective(objective, cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    loader = training_loader(cfg, data, net, obj, "cpu")  # as the trainer builds it
    return cfg, net, obj, next(iter(loader.epoch(0)))


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_every_objective_trains_every_backbone(objective: str, model: str,
                                               tiny_data: Path) -> None:
    if objective == "sw" and not MODELS.get(model).component.causal:
        with pytest.raises(ConfigError, match="construction 'all'"):
            setup(tiny_data, objective, model)
        return
    _, net, obj, batch = setup(tiny_data, objective, model)
    out = obj(net, batch, StepRandom.create(0, 0, "cpu"))
    assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
    out["loss"].backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # the same seed gives the same loss
    torch.manual_seed(1)
    a = obj(net, batch, StepRandom.create(3, 1, "cpu"))["loss"]
    torch.manual_seed(1)
    b = obj(net, batch, StepRandom.create(3, 1, "cpu"))["loss"]
    assert torch.equal(a, b)


def plain_loss(tiny_data: Path, batch: TrainBatch, net: Any) -> torch.Tensor:
    _, _, plain, _ = setup(tiny_data, "none", dropout=0.0, attn_dropout=0.0)
    return plain(net, batch, StepRandom.create(0, 0, "cpu"))["loss"]


def test_cl4srec_without_contrastive_weight_is_the_plain_loss(tiny_data: Path) -> None:
    _, net, obj, batch = setup(tiny_data, "cl4srec", dropout=0.0, attn_dropout=0.0,
                               **{"cl4srec.cl_weight": 0.0})
    out = obj(net, batch, StepRandom.create(0, 0, "cpu"))
    assert torch.allclose(out["loss"], plain_loss(tiny_data, batch, net), atol=1e-6)
    assert out["cl"] > 0


def test_cl4srec_distinct_ops_gives_two_different_operators(tiny_data: Path) -> None:
    _, _, obj, batch = setup(tiny_data, "cl4srec", **{"cl4srec.distinct_ops": True})
    tags = [lambda x, g, t=t: torch.full_like(x, t) for t in (1, 2, 3)]
    obj.operators = tags
    v1, v2 = obj.views(batch.inputs, StepRandom.create(0, 0, "cpu"))
    assert (v1[:, 0] != v2[:, 0]).all()


def test_an_identity_view_with_the_same_negatives_doubles_the_batch(tiny_data: Path) -> None:
    """The view is an extra sequence: with an unchanged view and its negatives equal to the
    original's, the loss is the plain loss (the mean over twice the same positions)."""
    _, net, obj, batch = setup(tiny_data, "cmr", dropout=0.0, attn_dropout=0.0)
    obj.operators = [lambda x, g: x.clone()]
    same = TrainBatch(batch.inputs, batch.targets, batch.negatives, batch.users,
                      extra_negatives=batch.negatives)
    out = obj(net, same, StepRandom.create(0, 0, "cpu"))
    assert torch.allclose(out["loss"], plain_loss(tiny_data, batch, net), atol=1e-6)


def test_views_of_a_non_causal_backbone_train_the_last_position_only(tiny_data: Path,
                                                                     monkeypatch: Any) -> None:
    from basrec.objectives.baselines import augmented_sequences

    seen = {}

    def spy(kind: str, model: Any, h: torch.Tensor, t: Any, *args: Any, **kw: Any) -> torch.Tensor:
        seen["rows"] = t.rows.clone()
        seen["flat"] = t.flat.clone()
        return h.sum() * 0.0

    monkeypatch.setattr(augmented_sequences, "next_item_loss", spy)
    _, net, obj, batch = setup(tiny_data, "cmr", model="fmlprec")
    obj(net, batch, StepRandom.create(0, 0, "cpu"))
    n = batch.inputs.shape[1]
    assert (seen["flat"] % n == n - 1).all(), "only last positions carry a loss"
    assert seen["rows"].unique().numel() == seen["rows"].numel()


def test_extra_negatives_avoid_the_users_items_and_keep_the_main_stream(
        tiny_data: Path) -> None:
    data = LeaveOneOut(read_sequences(tiny_data)[0])
    samples = data.train_samples("all")
    plain = next(iter(TrainLoader(data, samples, 12, 16, 5).epoch(0)))
    extra = next(iter(TrainLoader(data, samples, 12, 16, 5, extra_negatives=True).epoch(0)))
    assert torch.equal(plain.negatives, extra.negatives)
    assert plain.extra_negatives is None
    assert extra.extra_negatives is not None and (extra.extra_negatives > 0).all()
    seqs = data.seqs
    for row, user in enumerate(extra.users.tolist()):
        own = set(seqs.items[seqs.offsets[user] : seqs.offsets[user + 1]].tolist())
        assert not own & set(extra.extra_negatives[row].tolist())


def test_cmrsi_short_sequences_use_the_short_operator_set(tiny_data: Path) -> None:
    _, _, obj, _ = setup(tiny_data, "cmrsi", **{"cmrsi.threshold": 3,
                                                "cmrsi.short_ops": "SI"})
    z = torch.tensor([[0, 0, 1, 2, 3], [1, 2, 3, 4, 5]])
    allowed = obj.allowed(z)
    assert allowed[0].tolist() == [False, False, False, True, True]  # C M R S I
    assert allowed[1].all()


@pytest.mark.parametrize("bad", [{"cl4srec.cl_repr": "mean"}, {"cl4srec.crop": 1.5},
                                 {"cl4srec.tau": 0.0}])
def test_bad_cl4srec_options_are_refused(tiny_data: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        config.load([], {"dataset": str(tiny_data), "objective": "cl4srec", **bad})


def test_cmrsi_short_ops_letters_are_checked(tiny_data: Path) -> None:
    with pytest.raises(ConfigError, match="short_ops"):
        config.load([], {"dataset": str(tiny_data), "objective": "cmrsi",
                         "cmrsi.short_ops": "SIX"})


@pytest.mark.parametrize("objective", ["cl4srec", "cmrsi", "ran", "ran_s", "sw"])
def test_baselines_run_end_to_end_and_learn(objective: str, tiny_data: Path,
                                            tmp_path: Path) -> None:
    cfg = config.load([], {"dataset": str(tiny_data), "objective": objective, **TINY,
                           "epochs": 3, "lr": 0.01})
    results = run(cfg, tmp_path / objective, quiet=True)
    assert np.isfinite(results["test"]["NDCG@10"])
    assert results["test"]["HR@20"] > 20 / 40, "beats random ranking of 40 items"


def test_pseudo_items_are_prepended_once_and_never_targets(tiny_data: Path) -> None:
    from basrec.objectives.baselines.pseudo_items import prepend

    plain = LeaveOneOut(read_sequences(tiny_data)[0])
    for kind in ("ran", "ran_s"):
        cfg = config.load([], {"dataset": str(tiny_data), "objective": kind, "seed": 3,
                               f"{kind}.count": 4})
        data = load_data(cfg)
        assert torch.equal(torch.from_numpy(data.seqs.lengths),
                           torch.from_numpy(plain.seqs.lengths + 4))
        for u in range(plain.seqs.n_users):
            seq, orig = data.seqs.sequence(u), plain.seqs.sequence(u)
            assert (seq[4:] == orig).all(), "the real sequence follows, valid and test last"
            pseudo = set(seq[:4].tolist())
            assert all(1 <= v <= plain.n_items for v in pseudo)
            if kind == "ran_s":  # the default pool: the training part, never the valid item
                assert pseudo <= set(orig[:-2].tolist()), "drawn from the training part only"
        again = load_data(cfg)
        assert (again.seqs.items == data.seqs.items).all(), "the same seed, the same items"
    # context-only positions: no target is a pseudo-item or the first real item
    data = prepend(plain, np.full((plain.seqs.n_users, 3), 999), mask_targets=True)
    samples = data.train_samples("all")
    batch = next(iter(TrainLoader(data, samples, 30, 64, 0).epoch(0)))
    ref = next(iter(TrainLoader(plain, plain.train_samples("all"), 30, 64, 0).epoch(0)))
    assert not (batch.targets == 999).any()
    assert (batch.inputs == 999).sum() == 3 * batch.inputs.shape[0], "pseudo-items are inputs"
    # exactly the plain targets: the step from the last pseudo-item to the first real item
    # is masked, and the real items keep their positions at the right of the window
    assert torch.equal(batch.targets, ref.targets)
    unmasked = prepend(plain, np.full((plain.seqs.n_users, 3), 999), mask_targets=False)
    b2 = next(iter(TrainLoader(unmasked, unmasked.train_samples("all"), 30, 64, 0).epoch(0)))
    assert (b2.targets == 999).any(), "ASReP-style: pseudo-items may be targets"


def test_random_seq_pools_and_the_validation_leak_they_decide(tiny_data: Path) -> None:
    """``ran_s.pool=train`` never puts a user's valid answer among the pseudo-items unless it
    also occurs in the training part; ``train_valid`` (docs/algorithm.md §4.2's pool) does, for
    some user."""
    plain = LeaveOneOut(read_sequences(tiny_data)[0])
    leaked = {}
    for pool in ("train", "train_valid"):
        cfg = config.load([], {"dataset": str(tiny_data), "objective": "ran_s", "seed": 3,
                               "ran_s.count": 10, "ran_s.pool": pool})
        data = load_data(cfg)
        leaked[pool] = 0
        for u in range(plain.seqs.n_users):
            orig = plain.seqs.sequence(u)
            pseudo = set(data.seqs.sequence(u)[:10].tolist())
            own = set(orig[:-2].tolist() if pool == "train" else orig[:-1].tolist())
            assert pseudo <= own
            if orig[-2] in pseudo and orig[-2] not in set(orig[:-2].tolist()):
                leaked[pool] += 1
    assert leaked["train"] == 0 and leaked["train_valid"] > 0
    with pytest.raises(ConfigError, match="pool"):
        config.load([], {"dataset": str(tiny_data), "objective": "ran_s", "ran_s.pool": "all"})


def test_slide_windows_add_every_window_of_the_training_part(tiny_data: Path) -> None:
    from basrec.objectives.baselines.slide_windows import window_samples

    data = LeaveOneOut(read_sequences(tiny_data)[0])
    w = 5
    extra = window_samples(data, w)
    z_len = data.seqs.lengths - 2
    assert len(extra) == int(np.maximum(z_len - w + 1, 0).sum())
    loader = TrainLoader(data, extra, 12, len(extra), 0)
    batch = loader.batch(np.arange(len(extra)), np.random.default_rng(0))
    items = data.seqs.items
    for i in range(len(extra)):
        b, e = int(extra.begins[i]), int(extra.ends[i])
        assert e - b == w - 1 and b >= data.starts[extra.users[i]]
        assert e + 1 <= data.starts[extra.users[i]] + z_len[extra.users[i]], "inside s[:-2]"
        row_in = batch.inputs[i][batch.inputs[i] > 0].numpy()
        row_t = batch.targets[i][batch.targets[i] > 0].numpy()
        assert (row_in == items[b:e]).all() and (row_t == items[b + 1 : e + 1]).all()
    _, _, obj, _ = setup(tiny_data, "sw", **{"sw.width": w})
    both = obj.train_samples(data, "all")
    assert len(both) == len(data.train_samples("all")) + len(extra)


def test_reversed_training_parts_hold_no_valid_or_test_item(tiny_data: Path) -> None:
    from basrec.objectives.baselines.asrep import reversed_training_parts

    data = LeaveOneOut(read_sequences(tiny_data)[0])
    rev = reversed_training_parts(data)
    for u in range(data.seqs.n_users):
        assert (rev.seqs.sequence(u) == data.seqs.sequence(u)[:-2][::-1]).all()


def test_asrep_generates_new_items_and_fine_tunes_from_the_reverse_stage(
        tiny_data: Path, tmp_path: Path) -> None:
    from basrec.inference import evaluate_run
    from basrec.objectives.baselines.asrep import generate, pseudo_counts

    cfg = config.load([], {"dataset": str(tiny_data), "objective": "asrep", **TINY,
                           "epochs": 2, "asrep.reverse_epochs": 2, "asrep.max_length": 10,
                           "asrep.max_items": 4})
    results = run(cfg, tmp_path / "asrep", quiet=True)
    assert np.isfinite(results["test"]["NDCG@10"])
    reverse = tmp_path / "asrep" / "reverse"
    assert (reverse / "results.json").exists()
    saved = np.load(reverse / "pseudo_items_M10_K4.npz")
    plain = LeaveOneOut(read_sequences(tiny_data)[0])
    counts = pseudo_counts(plain, cfg.objective_options)
    assert (saved["counts"] == counts).all() and counts.max() == 4
    for u in range(plain.seqs.n_users):
        got = saved["items"][u, : counts[u]].tolist()
        assert (saved["items"][u, counts[u] :] == 0).all()
        assert len(set(got)) == len(got), "no item generated twice"
        assert not set(got) & set(plain.seqs.sequence(u)[:-2].tolist()), "none from z"
    # the fine-tuning data: pseudo-items (oldest first) in front of every sequence
    tuned = load_data(config.resolve(config.read_yaml(tmp_path / "asrep" / "config.yaml")))
    for u in range(plain.seqs.n_users):
        seq = tuned.seqs.sequence(u)
        assert (seq[counts[u] :] == plain.seqs.sequence(u)).all()
        assert seq[: counts[u]].tolist() == saved["items"][u, : counts[u]][::-1].tolist()
    assert tuned.context is None, "ASReP trains on pseudo-items like on real ones"
    assert evaluate_run(tmp_path / "asrep") == results["test"]
    # generation is deterministic for fixed weights
    net = make_model(cfg, plain.n_items, torch.device("cpu"))
    assert (generate(net, plain, counts) == generate(net, plain, counts)).all()


def test_sunet_keeps_the_block_shape() -> None:
    from basrec.objectives.baselines.diffusion_unet import SUNet

    for d, m in ((64, 10), (16, 3)):
        side = int(d**0.5)
        net = SUNet(m, d)
        x = torch.randn(5, m, side, side)
        out = net(x, torch.tensor([0, 10, 500, 998, 999]), torch.randn(5, d))
        assert out.shape == x.shape and torch.isfinite(out).all()


def test_diffuasr_generation_does_not_read_the_valid_or_test_item(tiny_data: Path) -> None:
    """The pseudo-items sit in the context at validation: the generator must not see the
    validation (or test) answer. Changing only those two items changes nothing."""
    from basrec.objectives.baselines.diffuasr import DiffuASROptions, Diffusion, generate

    plain = LeaveOneOut(read_sequences(tiny_data)[0])
    items = plain.seqs.items.copy()
    last_two = np.concatenate([plain.seqs.offsets[1:] - 2, plain.seqs.offsets[1:] - 1])
    items[last_two] = (items[last_two] % plain.n_items) + 1  # other valid and test items
    changed = LeaveOneOut(Sequences(plain.seqs.users, items, plain.seqs.offsets,
                                    plain.seqs.n_items))
    torch.manual_seed(0)
    model = Diffusion(plain.n_items, 16, 3).eval()
    opts = DiffuASROptions(count=3, sample_steps=2, steps=20)
    a = generate(model, plain, opts, 10, seed=1)
    b = generate(model, changed, opts, 10, seed=1)
    assert (a == b).all()


def test_diffuasr_generates_items_and_trains_on_them(tiny_data: Path, tmp_path: Path) -> None:
    from basrec.inference import evaluate_run
    from basrec.objectives.baselines.diffuasr import training_pairs

    plain = LeaveOneOut(read_sequences(tiny_data)[0])
    first, cond = training_pairs(plain, 3, 12)
    z_len = plain.seqs.lengths - 2
    assert first.shape[0] == int((z_len > 5).sum())
    u0 = int(np.nonzero(z_len > 5)[0][0])
    z = plain.seqs.sequence(u0)[:-2]
    assert first[0].tolist() == z[:3].tolist()
    assert cond[0][cond[0] > 0].tolist() == z[3:].tolist()[-12:], "the rest of z, in order"
    cfg = config.load([], {"dataset": str(tiny_data), "objective": "diffuasr", **TINY,
                           "epochs": 2, "diffuasr.epochs": 2, "diffuasr.count": 3})
    results = run(cfg, tmp_path / "d", quiet=True)
    assert np.isfinite(results["test"]["NDCG@10"])
    lines = (tmp_path / "d" / "diffusion" / "log.txt").read_text().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["diffusion epoch 0", "diffusion epoch 1",
                                                   "diffusion stage"]
    saved = np.load(tmp_path / "d" / "diffusion" / "pseudo_items_M3.npz")
    assert saved["items"].shape == (plain.seqs.n_users, 3)
    assert ((saved["items"] >= 1) & (saved["items"] <= plain.n_items)).all()
    tuned = load_data(config.resolve(config.read_yaml(tmp_path / "d" / "config.yaml")))
    assert (tuned.context == 3).all(), "pseudo-items are context only"
    for u in range(plain.seqs.n_users):
        seq = tuned.seqs.sequence(u)
        assert (seq[:3] == saved["items"][u]).all() and (seq[3:] == plain.seqs.sequence(u)).all()
    assert evaluate_run(tmp_path / "d") == results["test"]


def test_diffuasr_generation_noise_is_not_the_item_tables_initialisation(tiny_data: Path) -> None:
    """With one seed for everything, x_T repeated the table's initial rows and user u's j-th
    pseudo-item was item u·M + j: generation must draw its own noise."""
    from basrec.objectives.baselines.diffuasr import DiffuASROptions, generate, train_diffusion

    plain = LeaveOneOut(read_sequences(tiny_data)[0])
    opts = DiffuASROptions(count=3, sample_steps=2, steps=20, epochs=1)
    model = train_diffusion(plain, opts, 16, 10, torch.device("cpu"), 4)
    items = generate(model, plain, opts, 10, seed=4)  # (U, M)
    row_order = np.arange(items.size).reshape(items.shape)  # u·M + j
    reachable = row_order < plain.n_items
    assert (items == row_order)[reachable].mean() < 0.2


@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_objectives_group_lengths_by_their_device(objective: str, tiny_data: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every objective takes its length groups from ``RunConfig.length_groups_on`` with its
    own device (unset: 1 on CUDA, tests/test_config.py), not from
    ``length_groups`` directly."""
    if getattr(OBJECTIVES.get(objective).component, "prepare_run", None) is not None:
        pytest.skip("ASReP / DiffuASR train a first stage before they are built")
    cfg = config.load([], {"dataset": str(tiny_data), "objective": objective, **TINY,
                           "length_groups": 5})
    data = load_data(cfg)
    asked: list[Any] = []

    def spy(self: RunConfig, device: Any) -> int:
        asked.append(device)
        return 7

    monkeypatch.setattr(RunConfig, "length_groups_on", spy)
    obj = build_objective(objective, cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    assert obj.groups == 7
    assert asked == [torch.device("cpu")]
