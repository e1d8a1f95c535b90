"""Hyper-parameter search with Optuna (``basrec tune``; docs/tuning.md).

One study, many processes or machines: the storage (SQLite, PostgreSQL or a journal file)
shares the trials, each trial is an ordinary run folder, and the TPE sampler proposes values.
``spec`` reads study files, ``study`` runs trials, ``report`` shows and retrains them.
"""

from __future__ import annotations

from basrec.tune.spec import Param, TuneSpec, load_spec, parse_spec

__all__ = ["Param", "TuneSpec", "load_spec", "parse_spec"]
