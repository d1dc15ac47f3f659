import numpy as np
import pytest

from mnist_pipeline.errors import DataError
from mnist_pipeline.report.evaluation import (
    HEADLINE_METRICS,
    TEST_METRICS,
    classification_metrics,
    confusion_counts,
    headline,
    mlflow_test_metrics,
    per_class_csv,
    predictions_csv,
    read_predictions_csv,
)

CLASSES = ("cat", "dog", "bird")


def one_hot_probabilities(predicted: list[int], confidence: float = 0.8) -> np.ndarray:
    probabilities = np.full((len(predicted), 3), (1 - confidence) / 2)
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities.astype(np.float32)


# 6 cats, 3 dogs, 1 bird. Predictions: 5 cats right, 1 cat as dog; 2 dogs right, 1 dog as
# bird; the bird as cat. By hand:
#   cat:  precision 5/6 (1 bird predicted cat), recall 5/6
#   dog:  precision 2/3, recall 2/3
#   bird: precision 0/1, recall 0/1
Y_TRUE = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2])
Y_PRED = [0, 0, 0, 0, 0, 1, 1, 1, 2, 0]


def test_handcrafted_predictions_give_known_metrics():
    metrics = classification_metrics(Y_TRUE, one_hot_probabilities(Y_PRED), CLASSES)
    assert metrics["test"]["accuracy"] == pytest.approx(0.7)
    assert metrics["per_class"]["cat"] == pytest.approx(
        {"precision": 5 / 6, "recall": 5 / 6, "f1": 5 / 6, "support": 6}
    )
    assert metrics["per_class"]["dog"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert metrics["per_class"]["bird"] == {"precision": 0, "recall": 0, "f1": 0, "support": 1}
    assert metrics["test"]["macro_precision"] == pytest.approx((5 / 6 + 2 / 3) / 3)
    assert metrics["test"]["macro_recall"] == pytest.approx((5 / 6 + 2 / 3) / 3)
    # Cross-entropy: -mean(log p(true class)): 7 right at 0.8, 3 wrong at 0.1.
    assert metrics["test"]["loss"] == pytest.approx(-(7 * np.log(0.8) + 3 * np.log(0.1)) / 10)


def test_confusion_counts_rows_are_true_classes():
    counts = confusion_counts(Y_TRUE, np.array(Y_PRED), 3)
    np.testing.assert_array_equal(counts, [[5, 1, 0], [0, 2, 1], [1, 0, 0]])


def test_confusion_counts_agree_with_sklearn():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    y_pred[:3] = 9  # a class that is only predicted, never true, in part of the data
    np.testing.assert_array_equal(
        confusion_counts(y_true, y_pred, 10), confusion_matrix(y_true, y_pred, labels=range(10))
    )


def test_predictions_csv_round_trips_with_class_names():
    text = predictions_csv(Y_TRUE, np.array(Y_PRED), CLASSES)
    assert text.splitlines()[:3] == ["actual,predicted", "cat,cat", "cat,cat"]
    assert text.splitlines()[-1] == "bird,cat"
    y_true, y_pred = read_predictions_csv(text, CLASSES)
    np.testing.assert_array_equal(y_true, Y_TRUE)
    np.testing.assert_array_equal(y_pred, Y_PRED)
    with pytest.raises(DataError, match="unknown class 'fish'"):
        read_predictions_csv("actual,predicted\nfish,cat\n", CLASSES)


def test_probabilities_of_the_wrong_shape_are_rejected():
    with pytest.raises(ValueError, match=r"probabilities of shape \(10, 2\), expected \(10, 3\)"):
        classification_metrics(Y_TRUE, np.ones((10, 2)) / 2, CLASSES)


def test_headline_metrics_and_mlflow_names_come_from_one_result():
    metrics = classification_metrics(Y_TRUE, one_hot_probabilities(Y_PRED), CLASSES)
    assert list(headline(metrics)["test"]) == list(HEADLINE_METRICS)
    logged = mlflow_test_metrics(metrics)
    assert tuple(logged) == TEST_METRICS
    assert logged["test_accuracy"] == metrics["test"]["accuracy"]
    assert logged["test_macro_precision"] == pytest.approx((5 / 6 + 2 / 3) / 3)


def test_per_class_csv_keeps_every_class_and_full_precision():
    import csv

    metrics = classification_metrics(Y_TRUE, one_hot_probabilities(Y_PRED), ("a,b", "dog", "c"))
    rows = list(csv.DictReader(per_class_csv(metrics["per_class"]).splitlines()))
    assert [row["class"] for row in rows] == ["a,b", "dog", "c"]
    assert float(rows[0]["precision"]) == 5 / 6 and int(rows[0]["support"]) == 6
