"""Test-set metrics from predicted probabilities, with scikit-learn's implementations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnist_pipeline import paths
from mnist_pipeline.errors import DataError

# DVC metrics (`dvc exp show` columns): few enough to read at 120 columns, and named so that
# the sorted JSON puts accuracy and loss first.
HEADLINE_METRICS = ("accuracy", "loss", "macro_f1")
# MLflow metrics: the headline and the macro averages of the per-class scores.
TEST_METRICS = tuple(
    f"test_{name}" for name in (*HEADLINE_METRICS, "macro_precision", "macro_recall")
)
TEST_ACCURACY = TEST_METRICS[0]  # test_accuracy: what the registry's gate compares
# evaluated.json's key for the sha256 of the weights evaluated (plot and publish check it).
WEIGHTS_KEY = "weights_sha256"
# Per class, in their own file (a DVC plot, an MLflow artifact).
PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> dict:
    """{"test": {accuracy, loss, macro precision/recall/F1}, "per_class": {name: precision,
    recall, f1, support}}.

    The loss is the categorical cross-entropy that Keras's `evaluate` reports.
    """
    # Imported here: the plot stage uses this module too and should not pay ~1.3 s for it.
    from sklearn.metrics import accuracy_score, log_loss, precision_recall_fscore_support

    labels = np.arange(len(class_names))
    if probabilities.shape != (len(y_true), len(labels)):
        raise ValueError(
            f"probabilities of shape {probabilities.shape}, "
            f"expected ({len(y_true)}, {len(labels)}) for {len(y_true)} labels"
        )
    y_pred = probabilities.argmax(axis=1)
    # float32 softmax rows sum to 1 only within rounding; log_loss warns unless renormalized.
    probabilities = probabilities.astype(np.float64)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    per_class = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    return {
        "test": {
            "loss": float(log_loss(y_true, probabilities, labels=labels)),
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_precision": float(precision),
            "macro_recall": float(recall),
            "macro_f1": float(f1),
        },
        "per_class": {
            name: {
                "precision": float(per_class[0][index]),
                "recall": float(per_class[1][index]),
                "f1": float(per_class[2][index]),
                "support": int(per_class[3][index]),
            }
            for index, name in enumerate(class_names)
        },
    }


def per_class_csv(per_class: dict[str, dict]) -> str:
    """One row per class (PER_CLASS_COLUMNS), floats in full precision: equal means equal."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PER_CLASS_COLUMNS)
    for name, values in per_class.items():
        writer.writerow([name, *(values[column] for column in PER_CLASS_COLUMNS[1:])])
    return buffer.getvalue()


def headline(metrics: dict) -> dict:
    """metrics.json: the headline test metrics only."""
    return {"test": {name: metrics["test"][name] for name in HEADLINE_METRICS}}


def mlflow_test_metrics(metrics: dict) -> dict[str, float]:
    return {name: metrics["test"][name.removeprefix("test_")] for name in TEST_METRICS}


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """num_classes x num_classes counts: rows are the true class, columns the predicted.

    Deliberately numpy, not sklearn's `confusion_matrix` (the test compares the two): this
    one line spares the plot stage the import of scikit-learn.
    """
    pairs = np.asarray(y_true) * num_classes + np.asarray(y_pred)
    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def predictions_csv(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> str:
    """One `actual,predicted` row per test image, in test-set order: the input of DVC's
    confusion template, and of the plot stage's prediction grid and confusion matrix."""
    rows = ["actual,predicted"]
    rows += [f"{class_names[a]},{class_names[p]}" for a, p in zip(y_true, y_pred, strict=True)]
    return "\n".join(rows) + "\n"


def read_predictions_csv(text: str, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) as class indices from `predictions_csv` output."""
    index = {name: position for position, name in enumerate(class_names)}
    lines = text.splitlines()
    if not lines or lines[0] != "actual,predicted":
        raise DataError("predictions CSV: expected the header 'actual,predicted'")
    try:
        pairs = [tuple(index[name] for name in line.split(",")) for line in lines[1:]]
    except KeyError as error:
        raise DataError(
            f"predictions CSV: unknown class {error} (expected {list(index)})"
        ) from None
    return np.array([a for a, _ in pairs]), np.array([p for _, p in pairs])


def evaluated_weights() -> str | None:
    """The weights hash evaluate's outputs on disk were computed from, if any: plot and
    `mnist-pipeline publish` log them only into the run of those weights."""
    try:
        return json.loads(Path(paths.EVALUATED).read_text()).get(WEIGHTS_KEY)
    except (OSError, ValueError):
        return None
