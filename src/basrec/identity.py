"""A run's identity: the resolved config less what cannot change what the run computes.

A run's id (``experiments.plan.run_id``) hashes this dict, and a run folder resumes only
under a config with the same identity (``train``). Ids must keep naming the runs already
made, so the identity is stable across versions of the code:

- execution keys (where and how fast a run executes) are left out;
- options added after runs were made are left out while at their default
  (:data:`ADDED_AT_DEFAULT`): an earlier run did not have them and computed that default;
- options since retired are hashed at the one value earlier runs were made with
  (:data:`RETIRED_AT`), so their ids still resolve; config files that still name them load
  (``config.RETIRED_KEYS``).
"""

from __future__ import annotations

from typing import Any

from basrec.config import RunConfig

#: keys that change how a run executes, not what it computes
EXECUTION_KEYS = ("progress", "device", "threads", "eval_batch_size", "data_dir")

#: options added after runs were made: absent from the identity at these values
ADDED_AT_DEFAULT: dict[str, object] = {
    "allow_leak": False,
    "ce_sampler": "uniform",
    "ce_logq": True,
    "basrec.cross_padding": "encoder",
    "basrec.view_padding": "own",
    "basrec.loss_form": "auto",
    "basrec.feature_ce": "soft_labels",
    "basrec.ce_negatives": None,
    "basrec.stage1_valid_every": None,
    "gru4rec.pad_draws": 0,
    "fmlprec.filter": "circular",
    "sasrec.layout": "coserec",
    "sasrec.mask_padding_keys": True,
}

#: options retired since runs were made, hashed at the value every earlier run had:
#: ``length_groups`` unset (the device's default) hashes as the CPU default it replaced;
#: ``nextitnet.reg_weight`` named a term the trainer never added
RETIRED_AT: dict[str, object] = {
    "length_groups": 6,
    "nextitnet.reg_weight": 1e-5,
}


def _split(dotted: str) -> tuple[str | None, str]:
    section, _, key = dotted.rpartition(".")
    return (section or None), key


def result_keys(cfg: RunConfig) -> dict[str, Any]:
    """``cfg.to_dict()`` as the identity sees it (see the module docstring). With ``init_from``,
    an objective's ``STAGE1_KEYS`` (how to train a stage 1 the run is given) are left out too."""
    d = cfg.to_dict()
    for key in EXECUTION_KEYS:
        d.pop(key, None)
    stage1_keys = getattr(cfg.objective_options, "STAGE1_KEYS", ()) if cfg.init_from else ()
    if isinstance(d.get(cfg.objective), dict):
        d[cfg.objective] = {k: v for k, v in d[cfg.objective].items() if k not in stage1_keys}
    for dotted, default in ADDED_AT_DEFAULT.items():
        section, key = _split(dotted)
        where = d if section is None else d.get(section)
        if isinstance(where, dict) and key in where and where[key] == default:
            del where[key]
    for dotted, value in RETIRED_AT.items():
        section, key = _split(dotted)
        if section is None:
            if d.get(key) is None:
                d[key] = value
        elif isinstance(d.get(section), dict):
            d[section].setdefault(key, value)
    return d
