"""TPE with one seed per trial, so that workers sharing a study never draw the same values.

Every worker of a study runs the same command, hence the same sampler seed; one seeded
generator per process would make two workers that start together propose the same first
points. Here trial ``n`` samples from a TPE sampler seeded with ``(seed, n)``: a study run by
one worker is reproducible, and parallel workers draw different points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


def trial_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number, 7]).generate_state(1)[0])


class PerTrialTPE(BaseSampler):
    """TPE (``constant_liar``: running trials count as bad ones) reseeded for each trial."""

    def __init__(self, seed: int, n_startup_trials: int) -> None:
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self._inner: dict[int, TPESampler] = {}

    def _for(self, trial: FrozenTrial) -> TPESampler:
        sampler = self._inner.get(trial.number)
        if sampler is None:
            import warnings

            with warnings.catch_warnings():  # constant_liar is "experimental" in optuna 3
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = TPESampler(seed=trial_seed(self.seed, trial.number),
                                     n_startup_trials=self.n_startup_trials,
                                     constant_liar=True)
            self._inner = {trial.number: sampler}  # one trial at a time per process
        return sampler

    def infer_relative_search_space(self, study: Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name,
                                                    param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        self._inner.pop(trial.number, None)

    def reseed_rng(self) -> None:  # the seeds follow from (seed, trial number)
        pass
