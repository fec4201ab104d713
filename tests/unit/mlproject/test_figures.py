import io

import numpy as np
import pytest
from matplotlib import image

from mlproject.figures import figures_of
from mlproject.metrics import Predictions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRUTH = np.array(["a", "a", "b", "c", "c", "b"])
PROBABILITIES = np.array(
    [[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.3, 0.2, 0.5], [0.4, 0.5, 0.1]]
)
CLASSIFIED = Predictions(TRUTH, np.array(["a", "b", "b", "c", "c", "b"]), PROBABILITIES, ["a", "b", "c"])
REGRESSED = Predictions(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.1, 1.9, 3.4, 3.8]))


@pytest.mark.parametrize(
    ("answers", "names"),
    [
        (CLASSIFIED, {"confusion.png", "precision_recall.png"}),
        (REGRESSED, {"predicted_vs_actual.png", "residuals.png"}),
    ],
)
def test_each_task_gets_its_pictures_as_pngs_with_the_same_bytes_every_time(answers, names):
    first, again = figures_of(answers), figures_of(answers)
    assert set(first) == names
    assert first == again
    for data in first.values():
        assert data.startswith(PNG_SIGNATURE)
        assert image.imread(io.BytesIO(data)).shape[:2] == (450, 600)


def test_other_answers_draw_other_pictures():
    worse = Predictions(TRUTH, np.array(["b", "b", "b", "b", "b", "b"]), PROBABILITIES, ["a", "b", "c"])
    assert figures_of(worse)["confusion.png"] != figures_of(CLASSIFIED)["confusion.png"]


def test_the_project_draws_the_pictures_of_its_task(synthetic_model, synthetic_splits, schema):
    from mlproject.metrics import predict

    pictures = figures_of(predict(synthetic_model, synthetic_splits[1], schema))
    assert len(pictures) == 2 and all(data.startswith(PNG_SIGNATURE) for data in pictures.values())
