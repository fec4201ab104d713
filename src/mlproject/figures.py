"""The evaluation drawn as PNG pictures, for `dvc plots show` (image plots render offline) and the MLflow run page.

Classification: the confusion matrix with its counts, and each class's precision-recall curve (on a
nearly perfect model every curve hugs the top, where ROC curves all sit on the axes). Regression:
predicted against actual values, and the residuals. Rendered with matplotlib's Agg backend and no
metadata, so the same evaluation gives the same bytes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402 - after the backend is chosen
from matplotlib import pyplot  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_curve  # noqa: E402

from mlproject.metrics import Predictions  # noqa: E402

SIZE, DPI = (6.0, 4.5), 100
PANELS_PER_ROW = 4


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def confusion_figure(truth: np.ndarray, predicted: np.ndarray, classes: list) -> bytes:
    counts = confusion_matrix(truth, predicted, labels=classes)
    figure, axes = pyplot.subplots(figsize=SIZE)
    axes.imshow(counts, cmap="Blues")
    names = [str(c) for c in classes]
    axes.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names)
    axes.set(xlabel="predicted", ylabel="actual", title="Confusion matrix (test split)")
    threshold = counts.max() / 2
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    figure.tight_layout()
    return png(figure)


def precision_recall_figure(truth: np.ndarray, scores: np.ndarray, classes: list) -> bytes:
    """One panel per class (one against the rest), its average precision in the title: curves that would
    lie on top of each other for a good model stay apart."""
    columns = min(len(classes), PANELS_PER_ROW)
    rows = -(-len(classes) // columns)
    figure, panels = pyplot.subplots(rows, columns, figsize=SIZE, sharex=True, sharey=True, squeeze=False)
    for index, axes in enumerate(panels.flat):
        if index >= len(classes):
            axes.set_visible(False)
            continue
        positive = truth == classes[index]
        precision, recall, _ = precision_recall_curve(positive, scores[:, index])
        axes.step(recall, precision, where="post")
        average = average_precision_score(positive, scores[:, index])
        axes.set_title(f"{classes[index]}: AP {average:.3f}", fontsize=10)
        axes.set(xlim=(0, 1.02), ylim=(0, 1.05))
    for axes in panels[-1]:
        axes.set_xlabel("recall")
    for axes in panels[:, 0]:
        axes.set_ylabel("precision")
    figure.suptitle("Precision-recall, each class against the rest (test split)")
    figure.tight_layout()
    return png(figure)


def regression_figures(truth: np.ndarray, predicted: np.ndarray) -> dict[str, bytes]:
    figure, axes = pyplot.subplots(figsize=SIZE)
    axes.scatter(truth, predicted, s=12)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    axes.set(xlabel="actual", ylabel="predicted", title="Predicted against actual (test split)")
    figure.tight_layout()
    scatter = png(figure)
    figure, axes = pyplot.subplots(figsize=SIZE)
    axes.scatter(predicted, truth - predicted, s=12)
    axes.axhline(0, color="grey", linewidth=1)
    axes.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals (test split)")
    figure.tight_layout()
    return {"predicted_vs_actual.png": scatter, "residuals.png": png(figure)}


def figures_of(answers: Predictions) -> dict[str, bytes]:
    """The pictures of the task: file name -> PNG bytes."""
    if not answers.classification:
        return regression_figures(answers.truth, answers.predicted)
    pictures = {"confusion.png": confusion_figure(answers.truth, answers.predicted, answers.classes)}
    if answers.ranking is not None:  # a classifier that gives no scores has no curves
        pictures["precision_recall.png"] = precision_recall_figure(answers.truth, answers.ranking, answers.classes)
    return pictures
