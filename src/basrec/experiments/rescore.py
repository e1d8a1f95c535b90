"""A finished run's test metrics and per-user ranks under another history mask.

``basrec report --history_mask=zero`` reports a grid as the original scores it (CoSeRec/BASRec
set the scores of a user's input items to 0, so an answer that repeats an input item is ranked
among them; docs/decisions.md, "history mask"). Each finished run's best checkpoint ranks the
test split again, once: the metrics and ranks are kept in ``RUN/rescored/history_mask-M/``
(``results.json``, ``per_user_test.npz``, with the checkpoint's sha256) and read from there by
later reports while the checkpoint is the same. A run trained under the same mask keeps its
own files.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from basrec import config as config_mod
from basrec.data.fingerprint import sha256_of
from basrec.errors import BasrecError
from basrec.runio import atomic_write_text

RESCORED = "rescored"


def rescored_dir(run_dir: Path, history_mask: str) -> Path:
    """Where ``run_dir``'s test ranking under ``history_mask`` is kept."""
    return run_dir / RESCORED / f"history_mask-{history_mask}"


def check_history_mask(history_mask: str) -> None:
    """Refuse a mask the evaluation does not know, in one line."""
    if history_mask not in config_mod.CHOICES["history_mask"]:
        raise BasrecError(f"history_mask {history_mask!r}: expected one of "
                          f"{', '.join(config_mod.CHOICES['history_mask'])}")


def run_history_mask(run_dir: Path) -> str:
    """The history mask the run was evaluated with (its resolved config's)."""
    return config_mod.resolve(config_mod.read_yaml(run_dir / "config.yaml")).history_mask


def _read_test(results: Path) -> dict[str, float]:
    data = json.loads(results.read_text(encoding="utf-8"))
    return {k: float(v) for k, v in data["test"].items()}


def _kept(target: Path, checkpoint: Path) -> dict[str, float] | None:
    """The kept test metrics where they are whole and from this very checkpoint."""
    results = target / "results.json"
    if not (results.is_file() and (target / "per_user_test.npz").is_file()
            and checkpoint.is_file()):
        return None
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
        if data.get("checkpoint_sha256") != sha256_of(checkpoint):
            return None  # the run was trained again since
        return {k: float(v) for k, v in data["test"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged copy is ranked again


def rescore_run(run_dir: Path, history_mask: str, overrides: dict[str, Any] | None = None,
                device: str | None = "auto") -> tuple[dict[str, float], Path]:
    """(test metrics, folder holding ``per_user_test.npz``) of ``run_dir`` under
    ``history_mask``: the run's own where it was scored that way, else the kept re-ranking,
    else a new one from ``checkpoint_best.pt`` on ``device`` (None: the run's own;
    ``overrides``: ``dataset``/``data_dir`` where the data moved)."""
    check_history_mask(history_mask)
    if run_history_mask(run_dir) == history_mask:
        return _read_test(run_dir / "results.json"), run_dir
    target = rescored_dir(run_dir, history_mask)
    checkpoint = run_dir / "checkpoint_best.pt"
    kept = _kept(target, checkpoint)
    if kept is not None:
        return kept, target
    from basrec.inference import evaluate_loaded, load_run
    from basrec.train import save_per_user

    try:
        sha256 = sha256_of(checkpoint) if checkpoint.is_file() else None
        cfg, data, model = load_run(run_dir, device, {"history_mask": history_mask,
                                                      **(overrides or {})})
        res = evaluate_loaded(cfg, data, model, "test")
    except BasrecError as e:
        message = str(e) if str(run_dir) in str(e) else f"{run_dir}: {e}"
        raise BasrecError(message) from None
    target.mkdir(parents=True, exist_ok=True)
    save_per_user(target / "per_user_test.npz", res, data)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    atomic_write_text(target / "results.json", json.dumps({  # last: it marks a whole copy
        "test": res.metrics, "history_mask": history_mask, "checkpoint": "checkpoint_best.pt",
        "checkpoint_sha256": sha256, "scored_at": stamp}, indent=2) + "\n")
    return dict(res.metrics), target
