"""Stage `tune`: search the hyperparameters params.yaml declares under `model.steps.<step>.search`, and write
the best values to models/tuned.yaml, which `train` reads in place of the hand-set ones.

Each setting is cross-validated on the very folds `evaluate` uses, and scored on `tuning.metric` (the
comparison metric by default); the hand-set params are scored beside the trials and stay if nothing beats
them. The search is one MLflow run with a child run per trial (its params, and each metric's mean and
spread over the folds), so the UI's chart and compare views show it. Trials run a batch at a time on
local processes or the Dask cluster (`mlproject.compute`): the same seed gives the same trials, scores and
best values on any of them. With no search declared the stage writes an empty file and fits nothing.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import yaml

from mlproject import config, files, stage

NOT_SEARCHED = "no search declared (model.steps.<step>.search): train uses params.yaml's values"


def write_tuned() -> str:
    params = config.load_params()  # every key checked, searched or not: bad params stop the pipeline here
    if not params.search:
        files.write_text(config.TUNED_FILE, config.tuned_yaml({}))
        return NOT_SEARCHED
    from mlproject.dataset import SCHEMA

    SCHEMA.require_task(params.task)
    outcome = tune(params, SCHEMA)
    files.write_text(config.TUNED_FILE, config.tuned_yaml(outcome.best))
    return outcome.summary(params.tuning_metric)


class Outcome:
    """The search's result: every trial's setting and scores, the hand-set params' score, and the best."""

    def __init__(self, hand_set: Any, trials: list[tuple[dict, dict | str]], direction: str, method: str):
        self.hand_set, self.trials, self.direction, self.method = hand_set, trials, direction, method
        self.best: dict = {}
        self.best_scores: dict = {}

    def summary(self, metric: str) -> str:
        scored = sum(isinstance(scores, dict) for _, scores in self.trials)
        hand_set_scores = self.hand_set[1] if isinstance(self.hand_set[1], dict) else {}  # else why it failed
        best, hand = self.best_scores.get(metric, {}), hand_set_scores.get(metric, {})
        found = ", ".join(
            f"{step}.{name}={value!r}" for step, values in self.best.items() for name, value in values.items()
        )
        return (
            f"{len(self.trials)} trials ({self.method}, {scored} scored): best cross-validated {metric} "
            f"{best.get('mean', float('nan')):.4f} ± {best.get('std', float('nan')):.4f} (hand-set "
            f"{hand.get('mean', float('nan')):.4f}) with {found}; wrote {config.TUNED_FILE}"
        )


def tune(params: config.Params, schema) -> Outcome:
    """Run the search, tracking it in MLflow; the best setting (hand-set values where nothing beat them)."""
    from mlproject import compute, search
    from mlproject.estimators import build_pipeline
    from mlproject.inputs import read_table
    from mlproject.validation import fold_scores_or_failure, folds_of, summarize

    train = read_table(config.TRAIN_DATA, schema)
    folds = list(folds_of(train, schema, params.evaluation, params.seed))
    metric = params.tuning_metric
    direction = config.METRICS[params.task][metric]
    proposer = search.Search(params.search, params.tuning, params.seed, direction)

    def scored(settings: list[dict]) -> list[dict | str]:
        """Every setting cross-validated, folds of all of them at once; a failure as its message."""
        models = [build_pipeline(with_setting(params, setting), schema) for setting in settings]
        results = compute.run_all(
            fold_scores_or_failure, [(model, train, schema, rows) for model in models for rows in folds]
        )
        per_setting = [results[index : index + len(folds)] for index in range(0, len(results), len(folds))]
        return [
            next((r for r in results if isinstance(r, str)), None) or summarize(results, schema.task)
            for results in per_setting
        ]

    with TuningRun(params) as tracked:
        hand_set = hand_set_setting(params)
        trials: list[tuple[dict, dict | str]] = []
        first = True
        while not proposer.finished:
            batch = proposer.ask()
            results = scored([{}, *batch] if first else batch)
            if first:
                hand_scores, results, first = results[0], results[1:], False
                tracked.trial("hand-set", hand_set, hand_scores)
            proposer.tell([score_of(result, metric) for result in results])
            for setting, result in zip(batch, results, strict=True):
                trials.append((setting, result))
                tracked.trial(f"trial-{len(trials)}", setting, result)
        outcome = Outcome((hand_set, hand_scores), trials, direction, params.tuning.method)
        outcome.best, outcome.best_scores = best_of(outcome, metric)
        tracked.finish(outcome)
    if not any(isinstance(result, dict) for _, result in trials) and not isinstance(hand_scores, dict):
        raise stage.StageError(f"every trial failed; the first: {trials[0][1]}")
    return outcome


def score_of(result: dict | str, metric: str) -> float | None:
    return result[metric]["mean"] if isinstance(result, dict) and metric in result else None


def best_of(outcome: Outcome, metric: str) -> tuple[dict, dict]:
    """The best setting and its scores; the earliest among equals, the hand-set params first of all."""
    candidates = [outcome.hand_set, *outcome.trials]
    scored = [(setting, result) for setting, result in candidates if score_of(result, metric) is not None]
    if not scored:
        return {}, {}
    sign = -1 if outcome.direction == "higher" else 1
    return min(scored, key=lambda pair: sign * score_of(pair[1], metric))  # type: ignore[operator]


def with_setting(params: config.Params, setting: dict) -> config.Params:
    """The params with a trial's values in place of the hand-set ones."""
    document = params.model_dump(by_alias=True)
    for step, values in setting.items():
        document["model"]["steps"][step]["params"].update(values)
    return config.Params.model_validate(document)


def hand_set_setting(params: config.Params) -> dict:
    """The searched hyperparameters as params.yaml sets them, or as the estimator has them by default."""
    from mlproject.estimators import build_steps

    built = dict(build_steps(params))
    setting: dict = {}
    for step, spaces in params.search.items():
        defaults = built[step].get_params(deep=False)
        for name in spaces:
            value = params.model.steps[step].params.get(name, defaults.get(name))
            if isinstance(value, config.Scalar):
                setting.setdefault(step, {})[name] = value
    return setting


class TuningRun:
    """The search in MLflow: a parent run, one child run per trial; FAILED if the search does not finish."""

    def __init__(self, params: config.Params):
        self.params = params

    def __enter__(self) -> TuningRun:
        from mlproject import tracking

        with tracking.store_lock(), tracking.mlflow_errors("starting the search's run"):
            self.client = tracking.client()
            experiment = tracking.ensure_experiment(self.client, self.params.registry.experiment_name)
            self.experiment_id = experiment
            tags = {"dvc_experiment": tracking.run_name(), "stage": "tune", "seed": str(self.params.seed),
                    "tuning.method": self.params.tuning.method}  # fmt: skip
            self.run_id = self.client.create_run(
                experiment, run_name=f"{tracking.run_name()}-tune", tags=tags
            ).info.run_id
            searched = {"tuning": self.params.tuning.model_dump(), "search": {
                step: {name: space.model_dump(by_alias=True) for name, space in spaces.items()}
                for step, spaces in self.params.search.items()}}  # fmt: skip
            self._log(self.run_id, {key: str(value) for key, value in config.flatten(searched).items()}, {})
        return self

    def trial(self, name: str, setting: dict, result: dict | str) -> None:
        from mlproject import tracking

        values = {f"model.steps.{step}.params.{key}": str(v) for step, vs in setting.items() for key, v in vs.items()}
        metrics = config.flatten({"cv": result}) if isinstance(result, dict) else {}
        with tracking.store_lock(), tracking.mlflow_errors("logging a trial"):
            tags = {"mlflow.parentRunId": self.run_id, "dvc_experiment": tracking.run_name()}
            if isinstance(result, str):
                tags["failure"] = result[:5000]
            child = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
            self._log(child, values, metrics)
            self.client.set_terminated(child, "FINISHED" if isinstance(result, dict) else "FAILED")

    def finish(self, outcome: Outcome) -> None:
        from mlproject import tracking

        best = {f"best.cv.{key}": value for key, value in config.flatten(outcome.best_scores).items()}
        hand = outcome.hand_set[1]
        if isinstance(hand, dict):
            best.update({f"hand_set.cv.{key}": value for key, value in config.flatten(hand).items()})
        with tracking.store_lock(), tracking.mlflow_errors("ending the search's run"):
            self._log(self.run_id, {}, best)
            self.client.set_tag(self.run_id, "best", yaml.safe_dump(outcome.best, sort_keys=True, width=10_000))
            self.client.set_terminated(self.run_id, "FINISHED")
        self.finished = True

    def __exit__(self, kind, error, trace) -> None:
        if not getattr(self, "finished", False):
            from mlproject import tracking

            with tracking.store_lock(), tracking.mlflow_errors("marking the search's run as failed"):
                self.client.set_terminated(self.run_id, "FAILED")

    def _log(self, run_id: str, params: dict[str, str], metrics: dict) -> None:
        import time

        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()],
            params=[Param(key, value[:6000]) for key, value in params.items()],
        )


def main() -> int:
    # DVC stops a stage with SIGTERM or SIGINT: both unwind, so the search's MLflow run ends as FAILED
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    return stage.run("tune", write_tuned)


if __name__ == "__main__":
    sys.exit(main())
