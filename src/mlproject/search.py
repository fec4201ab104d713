"""Which settings the `tune` stage tries, from the search spaces params.yaml declares (`model.steps.*.search`).

A setting is `{step: {hyperparameter: value}}`. Settings are proposed a batch at a time (`tuning.batch`)
and their scores told back in the order they were proposed, never in the order they finish: with the
same seed the same settings come out, whether they run in one process, in several, or on a cluster.

- grid: every combination of the choices and of evenly spaced points of each range (on a log scale if
  asked), as many points per range as `tuning.trials` allows; a larger grid is sampled from the seed.
- random: independent draws (Optuna's RandomSampler).
- tpe: Optuna's Tree-structured Parzen Estimator: random draws first, then draws where the scores were
  good; the settings of a batch still waiting for scores are counted as bad ones ("constant liar"), so
  one batch spreads out instead of proposing the same point several times.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import numpy as np

from mlproject.config import Choice, FloatRange, IntRange, Space, TuningParams

Setting = dict[str, dict[str, Any]]
Direction = Literal["higher", "lower"]


def range_points(space: IntRange | FloatRange, count: int) -> list:
    """`count` evenly spaced points of a range, both bounds included (integers: the distinct ones)."""
    low, high = space.bounds
    points = np.geomspace(low, high, count) if space.log else np.linspace(low, high, count)
    if isinstance(space, IntRange):
        return sorted({int(round(point)) for point in points})
    return [float(point) for point in points]


def grid(search: dict[str, dict[str, Space]], trials: int, seed: int) -> list[Setting]:
    """The grid's settings: at most `trials`, in the grid's order."""
    keys = [(step, name) for step, spaces in search.items() for name in spaces]
    spaces = [search[step][name] for step, name in keys]
    choices = math.prod(len(space.choice) for space in spaces if isinstance(space, Choice))
    ranges = sum(not isinstance(space, Choice) for space in spaces)
    per_range = max(2, int((trials / choices) ** (1 / ranges) + 1e-9)) if ranges else 0
    axes = [space.choice if isinstance(space, Choice) else range_points(space, per_range) for space in spaces]
    combinations = list(itertools.product(*axes))
    if len(combinations) > trials:
        picked = np.random.default_rng(seed).choice(len(combinations), size=trials, replace=False)
        combinations = [combinations[index] for index in sorted(picked)]
    return [as_setting(dict(zip(keys, values, strict=True))) for values in combinations]


def as_setting(values: dict[tuple[str, str], Any]) -> Setting:
    setting: Setting = {}
    for (step, name), value in values.items():
        setting.setdefault(step, {})[name] = value
    return setting


class Search:
    """Proposes settings a batch at a time and learns from their scores (`ask`, then `tell`)."""

    def __init__(self, search: dict[str, dict[str, Space]], tuning: TuningParams, seed: int, direction: Direction):
        self.batch, self.trials = tuning.batch, tuning.trials
        self.proposed = 0
        self._grid = grid(search, tuning.trials, seed) if tuning.method == "grid" else None
        if self._grid is not None:
            self.trials = len(self._grid)
            return
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = (
            optuna.samplers.RandomSampler(seed=seed)
            if tuning.method == "random"
            else optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        )
        self._study = optuna.create_study(
            direction="maximize" if direction == "higher" else "minimize", sampler=sampler
        )
        self._keys = {f"{step}.{name}": (step, name) for step, spaces in search.items() for name in spaces}
        self._distributions = {key: distribution(search[step][name]) for key, (step, name) in self._keys.items()}
        self._waiting: list = []

    @property
    def finished(self) -> bool:
        return self.proposed >= self.trials

    def ask(self) -> list[Setting]:
        """The next batch: `tuning.batch` settings, or fewer at the end."""
        size = min(self.batch, self.trials - self.proposed)
        if self._grid is not None:
            batch = self._grid[self.proposed : self.proposed + size]
        else:
            self._waiting = [self._study.ask(self._distributions) for _ in range(size)]
            batch = [as_setting({self._keys[key]: v for key, v in t.params.items()}) for t in self._waiting]
        self.proposed += size
        return batch

    def tell(self, scores: list[float | None]) -> None:
        """The scores of the last batch, in the order it was proposed (None: the setting failed)."""
        if self._grid is not None:
            return
        import optuna

        for trial, score in zip(self._waiting, scores, strict=True):
            if score is None or not math.isfinite(score):
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                self._study.tell(trial, score)
        self._waiting = []


def distribution(space: Space):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(space, Choice):
        return CategoricalDistribution(space.choice)
    if isinstance(space, IntRange):
        return IntDistribution(space.bounds[0], space.bounds[1], log=space.log)
    return FloatDistribution(space.bounds[0], space.bounds[1], log=space.log)
