"""Repeated K-fold cross-validation on the training split: a mean and a spread for every metric.

A test split of a few dozen rows cannot tell two good models apart (many score 1.0); the mean over
folds x repeats can, and its standard deviation says how far to trust a difference. Classification
folds are stratified. The folds come from the seed, so the same model and data give the same figures,
and two models cross-validated here with the same settings are compared on the very same folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from mlproject import compute
from mlproject.config import METRICS, EvaluationParams
from mlproject.inputs import model_input, target
from mlproject.metrics import metrics_of, predict, rounded
from mlproject.schema import DatasetSchema
from mlproject.stage import chain_of


def folds_of(frame: pd.DataFrame, schema: DatasetSchema, settings: EvaluationParams, seed: int):
    splitter = RepeatedStratifiedKFold if schema.task == "classification" else RepeatedKFold
    return splitter(n_splits=settings.folds, n_repeats=settings.repeats, random_state=seed).split(
        frame, target(frame, schema)
    )


def cross_validate(model, frame: pd.DataFrame, schema: DatasetSchema, settings: EvaluationParams, seed: int) -> dict:
    """`{metric: {"mean": m, "std": s}}` over every fold of every repeat, for the task's headline metrics.

    Each fold refits an unfitted copy of `model` (its hyperparameters and random_state kept), in this
    process or on the Dask cluster (`mlproject.compute`); the figures do not depend on where. Not on local
    processes: for the default model, 2 of them took 4.0 s to start and cross-validate, this one 2.5 s.
    """
    folds = [(model, frame, schema, rows) for rows in folds_of(frame, schema, settings, seed)]
    return summarize(compute.run_all(fold_scores, folds, local_processes=False), schema.task)


def fold_scores(model, frame: pd.DataFrame, schema: DatasetSchema, rows: tuple[np.ndarray, np.ndarray]) -> dict:
    """The metrics of `model` refitted on one fold's training rows, on its held-out rows."""
    train_rows, test_rows = rows
    fold_train = frame.iloc[train_rows]
    fitted = clone(model).fit(model_input(fold_train, schema), target(fold_train, schema))
    return metrics_of(predict(fitted, frame.iloc[test_rows], schema))


def fold_scores_or_failure(model, frame: pd.DataFrame, schema: DatasetSchema, rows) -> dict | str:
    """One fold's scores, or why the model cannot be fitted there, in a line: a tuning trial that fails is
    a result of the search, not the end of it. (Sent to Dask workers: every import is at the top.)"""
    try:
        return fold_scores(model, frame, schema, rows)
    except Exception as error:  # noqa: BLE001 - any failure of one setting is that trial's result
        return chain_of(error)


def summarize(scores: list[dict], task: str) -> dict:
    """Each headline metric's mean and spread over the folds; one that some fold cannot give (ROC AUC when
    a fold lacks a class) is left out."""
    names = [name for name in METRICS[task] if all(name in fold for fold in scores)]
    return {
        name: {
            "mean": rounded(np.mean([fold[name] for fold in scores])),
            "std": rounded(np.std([fold[name] for fold in scores])),
        }
        for name in names
    }
