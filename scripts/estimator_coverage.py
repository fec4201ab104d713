"""Which scikit-learn estimators the template serves, measured on the active project's own data.

Every classifier and regressor of `sklearn.utils.all_estimators` (but the meta-estimators that need an
estimator given to them: they are nested steps, README: Your model) goes through the template's own path,
with the features as they are and standardised (`features.scale_numbers`):
params validation -> the raw table through its CSV -> prepare -> train -> evaluate (metrics, plots,
cross-validation) -> ONNX conversion and parity -> the manifest -> a request to the server, which must
answer what scikit-learn predicts. Each run ends `served`, or `refused` at params validation (one line: why,
and what to use instead). Anything else is a failure of the template.

The active task runs on the active data; the other task on data derived from it: a classification project
predicts its first numeric column (its class becoming a feature), a regression project the tertile of its
target. The quality gate is left open: this is about serving, not about how good a model is.

    python -m scripts.estimator_coverage            # print the outcomes and the figures
    python -m scripts.estimator_coverage --readme   # also write the table into README.md
    python -m scripts.estimator_coverage --estimators lightgbm.LGBMClassifier,MyRegressor   # yours instead
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.base import is_classifier
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlproject import config, conversion, dataset, export, files  # noqa: E402
from mlproject.figures import figures_of  # noqa: E402
from mlproject.inputs import model_input  # noqa: E402
from mlproject.metrics import metrics_of, predict, tables_of  # noqa: E402
from mlproject.prepare import prepared  # noqa: E402
from mlproject.schema import CategoricalColumn, DatasetSchema, NumericColumn  # noqa: E402
from mlproject.train import fit  # noqa: E402
from mlserve import manifest as contract  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
START, END = "<!-- estimator coverage: start -->", "<!-- estimator coverage: end -->"
KINDS = {"classification": "classifier", "regression": "regressor"}
# Meta-estimators that cannot be built without an estimator given to them; written as nested steps instead.
NEEDS_AN_ESTIMATOR = {"SelfTrainingClassifier"}  # its `estimator` defaults to None, which it refuses at fit


@dataclass(frozen=True)
class Outcome:
    task: str
    estimator: str
    scaled: bool
    outcome: str  # served, refused, failed
    stage: str  # where it ended: params, prepare, train, evaluate, convert, serve (or served)
    message: str = ""
    gives: str = ""  # for a served classifier: probabilities, decision_function or labels
    max_difference: float | None = None
    seconds: float = 0.0


def candidates(task: str) -> tuple[list[str], dict[str, str]]:
    """The estimators of the task, and those left out with the reason."""
    from sklearn.utils.discovery import all_estimators

    names, left_out = [], {}
    for name, cls in all_estimators(type_filter=KINDS[task]):
        required = [
            parameter
            for parameter, spec in inspect.signature(cls.__init__).parameters.items()
            if parameter != "self"
            and spec.default is inspect.Parameter.empty
            and spec.kind == spec.POSITIONAL_OR_KEYWORD
        ]
        if required or name in NEEDS_AN_ESTIMATOR:
            left_out[name] = f"needs {' and '.join(required) or 'an estimator'}: a nested step (README: Your model)"
        else:
            names.append(name)
    return names, left_out


def projects(raw: dict) -> dict[str, tuple[DatasetSchema, pd.DataFrame, dict]]:
    """Each task -> its schema, its raw table and its params: the active project's, and one derived from it."""
    schema, table = dataset.SCHEMA, dataset.load_raw()
    found = {schema.task: (schema, table, raw)}
    other = copy.deepcopy(raw)
    if schema.task == "classification" and schema.numeric:
        target = next(c for c in schema.features if isinstance(c, NumericColumn))
        label = CategoricalColumn(schema.label, tuple(map(str, schema.classes)), nullable=False)
        features = (*(c for c in schema.features if c.name != target.name), label)
        derived = DatasetSchema(features, replace(target, nullable=False), schema.min_rows, schema.ignored_columns)
        other.update(task="regression")
        other["data"] = {**other.get("data", {}), "missing_target": "drop"}
        tolerance = other.setdefault("export", {}).setdefault("tolerance", {})
        tolerance["relative"] = max(tolerance.get("relative", 0.0), 1e-6)  # float32 models, in the target's scale
        found["regression"] = (derived, table, other)
    elif schema.task == "regression":
        values = pd.to_numeric(table[schema.label], errors="coerce")
        classes = ("low", "middle", "high")
        derived = DatasetSchema(schema.features, CategoricalColumn(schema.label, classes), schema.min_rows,
                                schema.ignored_columns)  # fmt: skip
        frame = table.assign(**{schema.label: pd.qcut(values, 3, labels=list(classes)).astype(object)})
        other.update(task="classification")
        found["classification"] = (derived, frame, other)
    return found


def params_for(raw: dict, task: str, estimator: str, scaled: bool) -> dict:
    """The project's params with this estimator as the whole model, scaling as asked and the gate open."""
    params = copy.deepcopy(raw)
    params["task"] = task
    params.setdefault("features", {})["scale_numbers"] = scaled
    params["model"] = {"steps": {"model": {"estimator": estimator}}}
    gate = {"metric": "accuracy", "min": 0.0} if task == "classification" else {"metric": "mae", "max": 1e300}
    params["registry"] = {**params.get("registry", {}), "gate": gate, "comparison": {"metric": None}}
    return params


def served_answers(bundle: Path, test: pd.DataFrame, schema: DatasetSchema) -> dict:
    """What the server answers for the test rows, as a client posts them (a missing value as null)."""
    from mlserve.app import create_app

    rows = model_input(test, schema).astype(object)
    records = [
        {name: (None if (value == "" or (isinstance(value, float) and np.isnan(value))) else value)
         for name, value in row.items()}
        for row in rows.to_dict(orient="records")
    ]  # fmt: skip
    client = create_app({"MODEL_DIR": str(bundle), "LOAD_IN_BACKGROUND": False}).test_client()
    response = client.post("/predict", data=json.dumps(records), content_type="application/json")
    if response.status_code != 200:
        raise RuntimeError(f"the server answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return response.json


def run_one(job: tuple[str, str, bool, DatasetSchema, pd.DataFrame, dict]) -> Outcome:
    """One estimator through the template's path; the outcome says where it ended."""
    task, name, scaled, schema, table, raw = job
    warnings.filterwarnings("ignore")
    threadpool_limits(1)  # two workers on two cores: OpenMP's threads (HistGradientBoosting's) would fight
    started, stage = time.perf_counter(), "params"

    def ended(outcome: str, message: str = "", **more) -> Outcome:
        return Outcome(task, name, scaled, outcome, stage, message, seconds=time.perf_counter() - started, **more)

    try:
        params = config.parse_params(params_for(raw, task, name, scaled), schema=schema)
    except config.ParamsError as error:
        return ended("refused", str(error).splitlines()[-1].strip())
    try:
        with tempfile.TemporaryDirectory(prefix="coverage-") as scratch:
            stage = "prepare"
            files.write_csv(Path(scratch, "raw.csv"), table)  # the CSV round trip load_data and prepare make
            train, test, _ = prepared(files.read_text_csv(Path(scratch, "raw.csv")), schema, params)
            stage = "train"
            model = fit(train, params, schema)
            stage = "evaluate"
            answers = predict(model, test, schema)
            metrics, _, _ = metrics_of(answers), tables_of(answers), figures_of(answers)
            from mlproject.validation import cross_validate

            cv = cross_validate(model, train, schema, params.evaluation, params.seed)
            for needed in (params.registry.gate.metric,):
                if needed not in metrics:
                    raise RuntimeError(f"the gate's {needed} is not among the test metrics")
            if params.comparison_metric not in cv:
                raise RuntimeError(f"the comparison's {params.comparison_metric} was not cross-validated")
            stage = "convert"
            tolerance = params.export.tolerance
            converted = conversion.convert(model, schema, task, conversion.served_decimals(tolerance))
            checked = conversion.parity(model, converted, test, schema, tolerance)
            stage = "serve"
            manifest = export.build_manifest("coverage", 1, model, converted, checked, schema, tolerance, "none")
            bundle = Path(scratch, "bundle")
            files.write_bytes(bundle / export.MODEL_FILENAME, converted.model)
            files.write_json(bundle / contract.MANIFEST_FILE, contract.encode(manifest))
            body = served_answers(bundle, test, schema)
            expected = model.predict(model_input(test, schema))
            if task == "classification":
                if [str(v) for v in body["predictions"]] != [str(v) for v in expected]:
                    raise RuntimeError("the server's labels are not scikit-learn's")
            else:
                served = np.array([np.nan if v is None else v for v in body["predictions"]], dtype=float)
                if not np.allclose(served, expected, rtol=tolerance.relative, atol=tolerance.absolute):
                    raise RuntimeError("the server's predictions are not scikit-learn's within the tolerance")
    except Exception as error:  # noqa: BLE001 - any failure is the outcome being measured
        return ended("failed", f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
    gives = {"probabilities": "probabilities", "decision_function": "decision scores"}.get(
        converted.class_scores or "", "labels only" if task == "classification" else ""
    )
    stage = "served"
    return ended("served", gives=gives, max_difference=checked.max_difference)


def tasks_of(names: list[str]) -> dict[str, list[str]]:
    """Your estimators (named as params.yaml names them) by the task they do."""
    from mlproject.estimators import resolve

    found: dict[str, list[str]] = {task: [] for task in KINDS}
    for name in names:
        cls = resolve(name, "--estimators")
        found["classification" if is_classifier(cls()) else "regression"].append(name)  # as params_for builds it
    return found


def measure(workers: int = 2, estimators: list[str] | None = None) -> tuple[list[Outcome], dict[str, dict[str, str]]]:
    """Every outcome, and what was left out; `estimators`: these (by name) instead of scikit-learn's."""
    raw = yaml.safe_load(config.PARAMS_FILE.read_text(encoding="utf-8"))
    jobs, left_out = [], {}
    chosen = None if estimators is None else tasks_of(estimators)
    for task, (schema, table, params) in projects(raw).items():
        names, left_out[task] = candidates(task) if chosen is None else (chosen[task], {})
        jobs += [(task, name, scaled, schema, table, params) for name in names for scaled in (False, True)]
    # A fresh worker every few estimators keeps one library's threads or memory from reaching the next.
    # (multiprocessing's Pool: ProcessPoolExecutor's max_tasks_per_child hangs on Python 3.11.)
    with multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=8) as pool:
        outcomes = pool.map(run_one, jobs, chunksize=1)
    return outcomes, left_out


def counts(outcomes: list[Outcome]) -> dict[str, dict[bool, tuple[int, int]]]:
    """Task -> scaled -> (served, of how many)."""
    found: dict[str, dict[bool, tuple[int, int]]] = {}
    for task in sorted({o.task for o in outcomes}):
        for scaled in (False, True):
            mine = [o for o in outcomes if o.task == task and o.scaled == scaled]
            found.setdefault(task, {})[scaled] = (sum(o.outcome == "served" for o in mine), len(mine))
    return found


def reason(outcome: Outcome) -> str:
    """A refusal's reason without the key and the estimator's name it starts with."""
    text = re.sub(r"^[\w.]+: ", "", outcome.message)
    return re.sub(rf"^{outcome.estimator} (cannot be served: )?", "", text)


def readme_table(outcomes: list[Outcome], left_out: dict[str, dict[str, str]]) -> str:
    """The README's table: one row per estimator, its outcome with the numbers as they are and standardised."""
    lines = []
    tally = counts(outcomes)
    for task in sorted(tally):
        plain, scaled = tally[task][False], tally[task][True]
        lines += [
            f"**{task.capitalize()}** ({KINDS[task]}s served: {plain[0]} of {plain[1]} with the numbers as they are, "
            f"{scaled[0]} of {scaled[1]} standardised)",
            "",
            "| estimator | numbers as they are | standardised | what it answers, or why it is refused |",
            "|---|---|---|---|",
        ]
        by_name: dict[str, dict[bool, Outcome]] = {}
        for outcome in outcomes:
            if outcome.task == task:
                by_name.setdefault(outcome.estimator, {})[outcome.scaled] = outcome
        for name in sorted(by_name):
            both = by_name[name]
            notes: list[str] = []
            differ = both[False].outcome != both[True].outcome
            for scaled_numbers in (False, True):
                outcome = both[scaled_numbers]
                note = outcome.gives if outcome.outcome == "served" else reason(outcome)
                if note and differ:
                    note = f"{'standardised' if scaled_numbers else 'as they are'}: {note}"
                if note and note not in notes:
                    notes.append(note)
            cells = [both[False].outcome, both[True].outcome]
            lines.append(f"| `{name}` | {cells[0]} | {cells[1]} | {'; '.join(notes)} |")
        lines.append("")
        if left_out.get(task):
            names = ", ".join(f"`{name}`" for name in sorted(left_out[task]))
            lines += [f"Left out, as they need an estimator given to them (nested steps): {names}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_readme(table: str) -> bool:
    """Put the table between the README's markers; True if it changed."""
    text = README.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    updated = f"{text[:start]}\n{table}{text[end:]}"
    if updated != text:
        README.write_text(updated, encoding="utf-8")
    return updated != text


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)].lstrip("\n")


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--readme", action="store_true", help="write the table into README.md")
    arguments.add_argument("--json", type=Path, help="also write every outcome to this file")
    arguments.add_argument(
        "--estimators", type=lambda text: text.split(","), help="yours instead of scikit-learn's: A,B"
    )
    options = arguments.parse_args()
    if options.readme and options.estimators:
        arguments.error("--readme writes scikit-learn's table: leave out --estimators")
    os.chdir(REPO)
    outcomes, left_out = measure(estimators=options.estimators)
    for outcome in sorted(outcomes, key=lambda o: (o.task, o.estimator, o.scaled)):
        difference = f"{outcome.max_difference:.1e}" if outcome.max_difference is not None else ""
        setting = "scaled" if outcome.scaled else "plain"
        print(f"{outcome.task:14} {outcome.estimator:32} {setting:6} {outcome.outcome:8} {outcome.stage:8} "
              f"{difference:8} {outcome.seconds:5.1f}s {outcome.message[:150]}")  # fmt: skip
    for task, settings in counts(outcomes).items():
        (plain, of), (standardised, _) = settings[False], settings[True]
        print(f"{task}: served {plain}/{of} with the numbers as they are, {standardised}/{of} standardised")
    if options.json:
        options.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    if options.readme and write_readme(readme_table(outcomes, left_out)):
        print(f"wrote the table into {README.name}")
    return 1 if any(o.outcome == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
