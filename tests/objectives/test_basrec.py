"""The BASRec objective: weighting, determinism, equivalences, ablations, two-stage runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from basrec import config
from basrec.data.batches import TrainLoader
from basrec.data.io import read_sequences
from basrec.data.split import LeaveOneOut
from basrec.errors import ConfigError
from basrec.objectives.base import ObjectiveContext, StepRandom, build_objective
from basrec.objectives.basrec import adaptive_weights, weighted_loss
from basrec.registry import MODELS
from basrec.train import make_model, run

TINY = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_seq_length": 12,
        "batch_size": 16, "eval_batch_size": 64, "progress": False}


def setup(path: Path, model: str = "sasrec", **overrides: Any) -> tuple[Any, Any, Any, Any]:
    cfg = config.load([], {"dataset": str(path), "model": model, "objective": "basrec",
                           **TINY, **overrides})
    data = LeaveOneOut(read_sequences(path)[0])
    net = make_model(cfg, data.n_items, torch.device("cpu"))
    obj = build_objective("basrec", cfg.objective_options,
                          ObjectiveContext(cfg, data, torch.device("cpu")))
    construction = "all" if net.causal else "prefix"
    loader = TrainLoader(data, data.train_samples(construction), cfg.max_seq_length,
                         cfg.batch_size, cfg.seed)
    return cfg, net, obj, next(iter(loader.epoch(0)))


def test_adaptive_weights_minmax_and_no_nan() -> None:
    lam = torch.tensor([0.5, 0.25, 1.0])
    rate = torch.tensor([0.2, 0.4, 0.5])
    w = adaptive_weights(lam, rate)  # raw 1/(λ·rate) = [10, 10, 2]
    assert torch.allclose(w, torch.tensor([1.0, 1.0, 0.0]))
    one = adaptive_weights(torch.tensor([0.3]), torch.tensor([0.4]))
    assert torch.equal(one, torch.ones(1)), "a batch of one gives ω = 1, not NaN"
    same = adaptive_weights(torch.full((4,), 0.5), torch.full((4,), 0.3))
    assert torch.isfinite(same).all()


def test_batch_scalar_is_sum_of_weights_times_mean() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 6.0])
    rows = torch.tensor([0, 0, 1, 2])
    omega = torch.tensor([0.0, 0.5, 1.0])
    assert torch.isclose(weighted_loss(values, rows, omega, "batch_scalar"),
                         omega.sum() * values.mean())
    # per_sequence: each position weighted by its own sequence's ω (row 0 counts for nothing)
    expected = (0.0 * 1 + 0.0 * 2 + 0.5 * 3 + 1.0 * 6) / 4
    assert torch.isclose(weighted_loss(values, rows, omega, "per_sequence"),
                         torch.tensor(expected))
    assert torch.isclose(weighted_loss(values, rows, omega, "none"), values.mean())


def test_original_code_broadcast_equals_batch_scalar() -> None:
    """algorithm.md §3.4: the original's (B·N) × (B, 1) broadcast sums to Σω × the masked mean."""
    rng = np.random.default_rng(0)
    b, n = 5, 7
    loss = rng.random((b, n))
    mask = rng.random((b, n)) > 0.4
    omega = rng.random((b, 1))
    original = ((loss.reshape(-1) * mask.reshape(-1)) * omega).sum() / mask.sum()
    flat = torch.tensor(loss[mask])
    rows = torch.tensor(np.nonzero(mask)[0])
    ours = weighted_loss(flat, rows, torch.tensor(omega[:, 0]), "batch_scalar")
    assert np.isclose(float(ours), original)


def test_loss_finite_and_identical_under_same_seed(tiny_data: Path) -> None:
    parts = []
    for _ in range(2):
        _, net, obj, batch = setup(tiny_data, **{"basrec.n_pairs": 2, "basrec.n_whole_level": 2})
        torch.manual_seed(5)
        out = obj(net, batch, StepRandom.create(3, 0, "cpu"))
        parts.append({k: float(v.detach()) for k, v in out.items()})
    assert parts[0] == parts[1]
    assert all(np.isfinite(v) for v in parts[0].values())
    assert set(parts[0]) == {"loss", "rec", "ssa", "csa", "sim_single", "sim_cross", "sim_both"}
    assert all(-1.0 <= parts[0][k] <= 1.0 for k in ("sim_single", "sim_cross", "sim_both"))


def test_unit_mixing_weights_reduce_every_augmented_loss_to_the_plain_loss(
        tiny_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With dropout off and λ = Λ = 1, each view and each mixup sees the original sample."""
    n_pairs, n_whole = 2, 3
    _, net, obj, batch = setup(tiny_data, dropout=0.0, attn_dropout=0.0,
                               **{"basrec.n_pairs": n_pairs, "basrec.n_whole_level": n_whole,
                                  "basrec.ssa_weighting": "none"})
    monkeypatch.setattr(obj, "beta", lambda rng, shape: torch.ones(shape))
    out = obj(net, batch, StepRandom.create(0, 0, "cpu"))
    rec = out["rec"]
    assert torch.isclose(out["ssa"], 2 * n_pairs * rec, rtol=1e-5)
    assert torch.isclose(out["csa"], 2 * n_whole * rec, rtol=1e-5)
    assert torch.isclose(out["loss"], (1 + 2 * n_pairs + 2 * n_whole) * rec, rtol=1e-5)
    for key in ("sim_single", "sim_cross", "sim_both"):  # every sample is its original
        assert torch.isclose(out[key], torch.tensor(1.0), atol=1e-5), key


def test_logged_similarity_pools_both_branches(tiny_data: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """sim_both is the mean over all augmented samples of the step: 2·n_pairs views and
    2·n_whole_level mixups of each row's final position, so a count-weighted mean of the two."""
    n_pairs, n_whole = 1, 2
    _, net, obj, batch = setup(tiny_data, **{"basrec.n_pairs": n_pairs,
                                             "basrec.n_whole_level": n_whole})
    torch.manual_seed(0)
    out = obj(net, batch, StepRandom.create(0, 0, "cpu"))
    single, cross = float(out["sim_single"]), float(out["sim_cross"])
    assert single != cross
    expected = (2 * n_pairs * single + 2 * n_whole * cross) / (2 * n_pairs + 2 * n_whole)
    assert float(out["sim_both"]) == pytest.approx(expected, rel=1e-5)
    _, net, obj, batch = setup(tiny_data, **{"basrec.single": False})
    out = obj(net, batch, StepRandom.create(0, 0, "cpu"))
    assert "sim_single" not in out and float(out["sim_both"]) == float(out["sim_cross"])


def test_zero_mixing_weights_use_the_views(tiny_data: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """λ = 0 means the views replace the input: the ssa loss then differs from the plain one."""
    _, net, obj, batch = setup(tiny_data, dropout=0.0, attn_dropout=0.0,
                               **{"basrec.ssa_weighting": "none", "basrec.cross": False,
                                  "basrec.rate_min": 0.9, "basrec.rate_max": 1.0,
                                  "basrec.operator_choice": "substitute"})
    monkeypatch.setattr(obj, "beta", lambda rng, shape: torch.zeros(shape))
    out = obj(net, batch, StepRandom.create(0, 0, "cpu"))
    assert not torch.isclose(out["ssa"], 2 * out["rec"])


def test_no_parameters_added(tiny_data: Path) -> None:
    cfg, net, obj, batch = setup(tiny_data)
    before = sum(p.numel() for p in net.parameters())
    plain = make_model(cfg.replace(objective="none"), net.spec.n_items, torch.device("cpu"))
    assert before == sum(p.numel() for p in plain.parameters())
    obj(net, batch, StepRandom.create(0, 0, "cpu"))["loss"].backward()
    assert sum(p.numel() for p in net.parameters()) == before
    assert not isinstance(obj, torch.nn.Module)


@pytest.mark.parametrize("model", MODELS.names())
def test_basrec_trains_on_every_backbone(model: str, tiny_data: Path) -> None:
    _, net, obj, batch = setup(tiny_data, model=model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for step in range(3):
        out = obj(net, batch, StepRandom.create(0, step, "cpu"))
        assert torch.isfinite(out["loss"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("options,absent", [
    ({"basrec.single": False}, "ssa"),
    ({"basrec.cross": False}, "csa"),
    ({"basrec.n_pairs": 0}, "ssa"),
])
def test_ablations_remove_their_branch(tiny_data: Path, options: dict[str, Any],
                                       absent: str) -> None:
    _, net, obj, batch = setup(tiny_data, **options)
    out = obj(net, batch, StepRandom.create(0, 0, "cpu"))
    assert absent not in out and torch.isfinite(out["loss"])


@pytest.mark.parametrize("options", [
    {"basrec.mixup": "linear"},
    {"basrec.ssa_weighting": "per_sequence"},
    {"basrec.operator_choice": "both"},
    {"basrec.substitute_source": "embedding"},
])
def test_variants_run(tiny_data: Path, options: dict[str, Any]) -> None:
    _, net, obj, batch = setup(tiny_data, **options)
    assert torch.isfinite(obj(net, batch, StepRandom.create(0, 0, "cpu"))["loss"])


def test_operator_choice_both_alternates(tiny_data: Path) -> None:
    _, net, obj, batch = setup(tiny_data, **{"basrec.operator_choice": "both",
                                             "basrec.n_pairs": 2, "basrec.rate_min": 0.5,
                                             "basrec.rate_max": 0.9})
    views, rates = obj.make_views(net, batch.inputs, StepRandom.create(0, 0, "cpu"))
    assert views.shape == (4, *batch.inputs.shape)
    assert ((rates >= 0.5) & (rates < 0.9)).all()
    x = batch.inputs
    for k in range(4):
        same_multiset = all(sorted(a.tolist()) == sorted(b.tolist())
                            for a, b in zip(views[k], x))
        assert same_multiset == (k % 2 == 0), "even views reorder, odd views substitute"


@pytest.mark.parametrize("bad", [
    {"basrec.rate_min": 0.8, "basrec.rate_max": 0.5},
    {"basrec.alpha": 0.0},
    {"basrec.ssa_weighting": "paper"},
    {"basrec.n_pairs": -1},
    {"basrec.stage1_patience": -1},
    {"basrec.stage1_min_epochs": -1},
    {"basrec.stage1_valid_every": 0},
    {"basrec.loss_form": "softmax"},
    {"basrec.feature_ce": "mean"},
])
def test_impossible_settings_are_refused(tiny_data: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        setup(tiny_data, **bad)


def tiny_run_cfg(path: Path, **extra: Any) -> Any:
    return config.load([], {"dataset": str(path), "objective": "basrec", "epochs": 2,
                            "basrec.stage1_epochs": 2, **TINY, **extra})


def test_two_stage_run_reports_stage1_and_reuses_it(tiny_data: Path, tmp_path: Path) -> None:
    first = run(tiny_run_cfg(tiny_data), tmp_path / "a", quiet=True)
    assert (tmp_path / "a" / "stage1" / "results.json").exists()
    stage1 = json.loads((tmp_path / "a" / "stage1" / "results.json").read_text())
    assert first["stage1"]["test"] == stage1["test"]
    assert first["test"] != stage1["test"]
    # a second BASRec variant reuses the finished stage 1 instead of training it again
    second = run(tiny_run_cfg(tiny_data, init_from=str(tmp_path / "a" / "stage1"),
                              **{"basrec.n_pairs": 2}), tmp_path / "b", quiet=True)
    assert not (tmp_path / "b" / "stage1").exists()
    assert second["stage1"]["test"] == stage1["test"]
    log = (tmp_path / "b" / "log.txt").read_text()
    assert "initialised from" in log


def test_stage1_trains_by_its_own_stopping_rules(tiny_data: Path, tmp_path: Path) -> None:
    run(tiny_run_cfg(tiny_data, patience=5, **{"basrec.stage1_epochs": 3,
                                              "basrec.stage1_min_epochs": 2,
                                              "basrec.stage1_patience": 1}),
        tmp_path / "a", quiet=True)
    stage1_cfg = config.resolve(config.read_yaml(tmp_path / "a" / "stage1" / "config.yaml"))
    assert (stage1_cfg.epochs, stage1_cfg.patience, stage1_cfg.min_epochs) == (3, 1, 2)
    stage1 = json.loads((tmp_path / "a" / "stage1" / "results.json").read_text())
    assert stage1["best_epoch"] == 2  # nothing is selected before min_epochs
    stage2_cfg = config.resolve(config.read_yaml(tmp_path / "a" / "config.yaml"))
    assert (stage2_cfg.patience, stage2_cfg.min_epochs) == (5, 0)
    # unset: stage 2's patience, selection from epoch 0
    run(tiny_run_cfg(tiny_data, patience=5), tmp_path / "b", quiet=True)
    default = config.resolve(config.read_yaml(tmp_path / "b" / "stage1" / "config.yaml"))
    assert (default.epochs, default.patience, default.min_epochs) == (2, 5, 0)


def test_a_run_given_its_stage1_ignores_the_stage1_rules(tiny_data: Path,
                                                        tmp_path: Path) -> None:
    run(tiny_run_cfg(tiny_data), tmp_path / "a", quiet=True)
    given = {"init_from": str(tmp_path / "a" / "stage1")}
    first = run(tiny_run_cfg(tiny_data, **given), tmp_path / "b", quiet=True)
    # the same run with other (unread) stage-1 rules is the finished run, not a conflict
    again = run(tiny_run_cfg(tiny_data, **given, **{"basrec.stage1_epochs": 9,
                                                    "basrec.stage1_patience": 3}),
                tmp_path / "b", quiet=True)
    assert again == first
    with pytest.raises(ConfigError, match="different configuration"):
        run(tiny_run_cfg(tiny_data, **given, **{"basrec.alpha": 0.5}), tmp_path / "b",
            quiet=True)


def test_init_from_must_match_the_backbone(tiny_data: Path, tmp_path: Path) -> None:
    run(tiny_run_cfg(tiny_data), tmp_path / "a", quiet=True)
    with pytest.raises(ConfigError, match="hidden_size"):
        run(tiny_run_cfg(tiny_data, init_from=str(tmp_path / "a" / "stage1"), hidden_size=8),
            tmp_path / "b", quiet=True)


def test_joint_training_has_no_stage1(tiny_data: Path, tmp_path: Path) -> None:
    res = run(tiny_run_cfg(tiny_data, **{"basrec.training": "joint"}), tmp_path / "j",
              quiet=True)
    assert "stage1" not in res and not (tmp_path / "j" / "stage1").exists()


def test_min_epochs_delays_model_selection(tiny_data: Path, tmp_path: Path) -> None:
    res = run(tiny_run_cfg(tiny_data, epochs=3, min_epochs=2), tmp_path / "m", quiet=True)
    assert res["best_epoch"] >= 2


@pytest.mark.parametrize("preset", sorted((Path(__file__).parents[2] / "configs" / "basrec")
                                          .glob("*.yaml")), ids=lambda p: p.stem)
def test_basrec_presets_load_with_their_backbone_preset(preset: Path) -> None:
    model, dataset = preset.stem.split("_")
    backbone = preset.parents[1] / "backbones" / f"{model}_{dataset}.yaml"
    cfg = config.load([str(backbone), str(preset)], {"objective": "basrec"})
    assert (cfg.model, cfg.dataset, cfg.objective) == (model, dataset, "basrec")
    assert cfg.min_epochs < cfg.epochs
    # docs/algorithm.md §3.5-3.6: the original validates only when epoch > start_valid
    # (epochs // 2), so the first epoch it may select (0-based) is start_valid + 1
    assert cfg.min_epochs == cfg.epochs // 2 + 1


@pytest.mark.parametrize("model", ["sasrec", "nextitnet", "gru4rec-skip"])
@pytest.mark.parametrize("branch", [{"basrec.cross": False},
                                    {"basrec.cross_padding": "encoder"},
                                    {"basrec.cross_padding": "zero"}])
def test_length_groups_give_the_whole_window_step(model: str, branch: dict[str, Any],
                                                  tiny_data: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The grouped step (views looked up and mixed per length group) equals the step that
    mixes and encodes the whole window at once: loss and gradients, dropout off; with the
    cross-sequence branch too, under either ``cross_padding`` (``encoder``: the originals at
    full width, so a partner's padding columns are what the whole window gives; GRU4Rec
    ``skip``: every row trimmed, its known output at padding filled in)."""
    import basrec.objectives.basrec_encode as basrec_module
    from basrec.models import base

    planned: list[int] = []

    def no_overhead(ids: torch.Tensor, n_groups: int) -> list[tuple[int, int, int]]:
        groups = base.plan_groups(base.spans(ids).cpu().numpy(), n_groups,
                                  overhead=0)  # tiny batches: split anyway
        planned.append(len(groups))
        return groups

    monkeypatch.setattr(basrec_module, "length_groups", no_overhead)
    results = []
    for groups in (1, 4):
        extra = {"gru4rec.pad_steps": "skip"} if model == "gru4rec-skip" else {}
        _, net, obj, batch = setup(tiny_data, model.split("-")[0], dropout=0.0,
                                   attn_dropout=0.0, length_groups=groups,
                                   **{"basrec.n_pairs": 2, **branch, **extra})
        out = obj(net, batch, StepRandom.create(7, 0, "cpu"))
        out["loss"].backward()
        grads = [p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                 for p in net.parameters()]
        results.append((float(out["loss"].detach()), grads))
    (loss1, g1), (loss4, g4) = results
    assert planned and min(planned) > 1
    assert loss4 == pytest.approx(loss1, rel=1e-5)
    for a, b in zip(g1, g4, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_cross_padding_changes_the_cross_loss_only_where_partners_are_padding(
        tiny_data: Path) -> None:
    """``zero`` drops a partner's output at its padding columns, ``encoder`` keeps it (the
    original's): the main and single-sequence losses are the same, the cross loss is not
    (the tiny batch has rows of different lengths, so some partners are padding)."""
    outs = {}
    for mode in ("encoder", "zero"):
        _, net, obj, batch = setup(tiny_data, dropout=0.0, attn_dropout=0.0,
                                   **{"basrec.cross_padding": mode})
        assert len(set((batch.inputs > 0).sum(1).tolist())) > 1
        outs[mode] = obj(net, batch, StepRandom.create(7, 0, "cpu"))
    assert float(outs["encoder"]["rec"]) == float(outs["zero"]["rec"])
    assert float(outs["encoder"]["ssa"]) == pytest.approx(float(outs["zero"]["ssa"]), rel=1e-6)
    assert float(outs["encoder"]["csa"]) != pytest.approx(float(outs["zero"]["csa"]), rel=1e-4)


def test_cross_padding_keeps_earlier_run_ids_at_its_default(tiny_data: Path) -> None:
    """The option came after runs were made: at its default it stays out of a run's identity
    (their ids still name them); ``zero`` is part of it."""
    from basrec.experiments.plan import identity

    base = config.load([], {"dataset": str(tiny_data), "objective": "basrec"})
    assert "cross_padding" not in identity(base)["basrec"]
    zero = config.load([], {"dataset": str(tiny_data), "objective": "basrec",
                            "basrec.cross_padding": "zero"})
    assert identity(zero)["basrec"] == identity(base)["basrec"] | {"cross_padding": "zero"}


@pytest.mark.parametrize("groups", [1, 4])
def test_views_read_at_targets_equal_the_whole_views(groups: int, tiny_data: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``encode_views_at`` (each length group read at its targets, never padded back to the
    window) gives the views' outputs at the target positions of ``encode_with_views``, and
    the same gradients (dropout off), with and without length groups."""
    import basrec.objectives.basrec_encode as basrec_module
    from basrec.models import base
    from basrec.objectives.losses import Targets
    from basrec.objectives.plain import sorted_batch

    monkeypatch.setattr(basrec_module, "length_groups", lambda ids, n: base.plan_groups(
        base.spans(ids).cpu().numpy(), n, overhead=0))  # tiny batches: split anyway
    _, net, obj, batch = setup(tiny_data, "sasrec", dropout=0.0, attn_dropout=0.0,
                               length_groups=groups, **{"basrec.n_pairs": 2})
    x, y, q = sorted_batch(batch)
    t = Targets.of(y, q)
    views, _ = obj.make_views(net, x, StepRandom.create(3, 0, "cpu"))  # (V, B, N)
    lam = torch.rand(views.shape[0], x.shape[0], generator=torch.Generator().manual_seed(1))
    outs = []
    for at_targets in (True, False):
        net.zero_grad()
        if at_targets:
            h = obj.encode_views_at(net, x, views, lam, t)  # (M, V, D)
        else:
            whole = obj.encode_with_views(net, x, views, lam, False, with_original=False)
            h = torch.stack([t.select(v) for v in whole.view(
                x.shape[0], views.shape[0], x.shape[1], -1).unbind(1)], 1)  # (M, V, D)
        (h * torch.linspace(-1, 1, h.shape[-1])).sum().backward()
        outs.append([h.detach()] + [p.grad.clone() for p in net.parameters()
                                    if p.grad is not None])
    assert outs[0][0].shape == (t.flat.numel(), views.shape[0], net.item_emb.embedding_dim)
    for fast, whole in zip(*outs, strict=True):
        torch.testing.assert_close(fast, whole, rtol=1e-5, atol=1e-6)


def assert_deterministic(path: Path, model: str, overrides: dict[str, Any]) -> None:
    """The step's loss with real dropout (0.3) is finite and the same in two fresh builds
    under the same seeds."""
    losses = []
    for _ in range(2):
        _, net, obj, batch = setup(path, model, dropout=0.3, **overrides)
        torch.manual_seed(5)
        losses.append(float(obj(net, batch, StepRandom.create(7, 0, "cpu"))["loss"].detach()))
    assert np.isfinite(losses[0]) and losses[0] == losses[1]


@pytest.mark.parametrize("branch", [{"basrec.cross": False}, {}])
def test_shared_view_padding_equals_own_with_shared_draws(
        branch: dict[str, Any], tiny_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GRU4Rec ``feed`` with dropout in training: ``view_padding=shared`` (the views run on
    their length groups' windows from their original's state) gives the step of ``own``
    (every view at full width) when the dropout draws at a column are the same in every row
    (``ColumnDropout``): loss and gradients. With real dropout the views then differ only in
    sharing their original's draws at the padding columns."""
    from column_dropout import ColumnDropout

    import basrec.objectives.basrec_encode as basrec_module
    from basrec.models import base

    monkeypatch.setattr(basrec_module, "length_groups", lambda ids, n: base.plan_groups(
        base.spans(ids).cpu().numpy(), n, overhead=0))  # tiny batches: split anyway
    carried: list[int] = []
    results = []
    for mode in ("own", "shared"):
        cfg, net, obj, batch = setup(tiny_data, "gru4rec", dropout=0.3, length_groups=4,
                                     **{"basrec.n_pairs": 2, "basrec.view_padding": mode,
                                        **branch})
        net.drop = ColumnDropout(0.3, cfg.max_seq_length, cfg.hidden_size)
        net.train()
        assert not net.trim_exact and net.prefix_exact
        widths = []
        real_continuing = net.encode_continuing

        def spy(emb: torch.Tensor, *args: Any, _f: Any = real_continuing,
                _w: list[int] = widths) -> torch.Tensor:
            _w.append(emb.shape[1])
            return _f(emb, *args)

        monkeypatch.setattr(net, "encode_continuing", spy)
        out = obj(net, batch, StepRandom.create(7, 0, "cpu"))
        out["loss"].backward()
        carried.append(sum(w < cfg.max_seq_length for w in widths))
        results.append((float(out["loss"].detach()),
                        [p.grad.clone() for p in net.parameters() if p.grad is not None]))
    (loss_own, g_own), (loss_shared, g_shared) = results
    assert carried[0] == 0 and carried[1] > 1  # own: no window carried; shared: groups
    assert loss_shared == pytest.approx(loss_own, rel=1e-5)
    for a, b in zip(g_own, g_shared, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("branch", [{"basrec.cross": False}, {}])
def test_pad_draws_step_equals_own_with_column_draws(
        branch: dict[str, Any], tiny_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GRU4Rec ``feed`` with ``pad_draws`` (the PAD steps from shared draws, length groups
    inside the backbone): the BASRec step (loss, gradients) is that of the default when a
    column's dropout draws are the same in every row (``ColumnDropout``), partners' padding
    columns included, alone or with ``view_padding=shared``; with real dropout it is finite
    and identical under the same seed."""
    from column_dropout import ColumnDropout

    import basrec.models.gru4rec as gru4rec_module
    from basrec.models import base

    monkeypatch.setattr(gru4rec_module, "plan_groups", lambda lengths, n: base.plan_groups(
        lengths, n, overhead=0))  # tiny batches: split anyway
    results = []
    for pad_draws, views in ((0, "own"), (2, "own"), (2, "shared")):
        cfg, net, obj, batch = setup(tiny_data, "gru4rec", dropout=0.3,
                                     **{"basrec.n_pairs": 2, "gru4rec.pad_draws": pad_draws,
                                        "basrec.view_padding": views, **branch})
        net.drop = ColumnDropout(0.3, cfg.max_seq_length, cfg.hidden_size)
        net.train()
        assert net.pooled == (pad_draws > 0)
        out = obj(net, batch, StepRandom.create(7, 0, "cpu"))
        out["loss"].backward()
        results.append((float(out["loss"].detach()),
                        [p.grad.clone() for p in net.parameters() if p.grad is not None]))
    (loss_own, g_own), *pooled = results
    for loss_pooled, g_pooled in pooled:  # alone, and with the views continuing (shared)
        assert loss_pooled == pytest.approx(loss_own, rel=1e-5)
        for a, b in zip(g_own, g_pooled, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert_deterministic(tiny_data, "gru4rec", {"gru4rec.pad_draws": 2, **branch})


def test_pad_draws_stays_out_of_run_ids_at_its_default(tiny_data: Path) -> None:
    """A backbone option added later (``gru4rec.pad_draws``) is left out of a run's
    identity at its default, so the ids of earlier GRU4Rec runs still name them."""
    from basrec.experiments.plan import identity, run_id

    base_cfg = config.load([], {"dataset": str(tiny_data), "model": "gru4rec"})
    assert "pad_draws" not in identity(base_cfg)["gru4rec"]
    assert identity(base_cfg)["gru4rec"] == {"gru_hidden": 128, "gru_layers": 1,
                                            "pad_steps": "feed"}
    pooled = config.load([], {"dataset": str(tiny_data), "model": "gru4rec",
                              "gru4rec.pad_draws": 16})
    assert identity(pooled)["gru4rec"] == identity(base_cfg)["gru4rec"] | {"pad_draws": 16}
    assert run_id(pooled) != run_id(base_cfg)


def test_shared_view_padding_is_deterministic_and_keeps_run_ids(tiny_data: Path) -> None:
    """With real dropout the shared step is finite and identical under the same seed; the
    option stays out of a run's identity at its default (``own``)."""
    from basrec.experiments.plan import identity

    assert_deterministic(tiny_data, "gru4rec", {"basrec.view_padding": "shared"})
    base = config.load([], {"dataset": str(tiny_data), "objective": "basrec"})
    assert "view_padding" not in identity(base)["basrec"]
    shared = config.load([], {"dataset": str(tiny_data), "objective": "basrec",
                              "basrec.view_padding": "shared"})
    assert identity(shared)["basrec"] == identity(base)["basrec"] | {"view_padding": "shared"}
