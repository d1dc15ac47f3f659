import numpy as np
import pytest

from mnist_pipeline import figures
from mnist_pipeline.datasets import get_spec

DIGITS = get_spec("mnist").class_names
FASHION = get_spec("fashion_mnist").class_names


@pytest.fixture
def images_and_labels():
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10), 8)
    return rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8), labels


def image_axes(figure):
    return [axis for axis in figure.axes if axis.images]


def test_samples_grid_has_a_row_per_class_titled_with_labels(images_and_labels):
    images, labels = images_and_labels
    figure = figures.samples_grid(images, labels, FASHION, per_class=5, width=10)
    axes = image_axes(figure)
    assert len(axes) == 50
    assert axes[0].get_subplotspec().get_gridspec().get_geometry() == (10, 5)
    titles = [axis.get_title() for axis in axes]
    assert titles[:5] == ["T-shirt/top"] * 5 and titles[-5:] == ["Ankle boot"] * 5


def test_samples_grid_needs_enough_images_per_class(images_and_labels):
    images, labels = images_and_labels
    with pytest.raises(ValueError, match="class 0: 8 images, need 9"):
        figures.samples_grid(images, labels, DIGITS, per_class=9, width=10)


def test_predictions_grid_labels_and_marks_mistakes(images_and_labels):
    images, y_true = images_and_labels
    y_pred = y_true.copy()
    y_pred[[3, 17]] = (y_true[[3, 17]] + 1) % 10
    figure = figures.predictions_grid(images, y_true, y_pred, DIGITS, count=50, width=10)
    axes = image_axes(figure)
    assert len(axes) == 50
    assert axes[0].get_subplotspec().get_gridspec().get_geometry() == (5, 10)
    assert axes[3].get_title() == f"GT: {y_true[3]}\nP: {y_pred[3]}"
    red = [i for i, axis in enumerate(axes) if axis.title.get_color() == figures.WRONG]
    framed = [i for i, axis in enumerate(axes) if axis.spines["top"].get_linewidth() == 3]
    assert red == framed == [3, 17]
    assert "2 misclassified" in figure._suptitle.get_text()


def test_curves_have_both_series_and_labels():
    history = {"epoch": np.arange(3), "loss": np.array([0.9, 0.5, 0.3]),
               "val_loss": np.array([0.8, 0.6, 0.5])}  # fmt: skip
    axis = figures.curve(history, "loss", "Cross-entropy loss", width=10).axes[0]
    assert [line.get_label() for line in axis.get_lines()] == ["train loss", "validation loss"]
    assert axis.get_xlabel() == "Epoch" and axis.get_ylabel() == "Cross-entropy loss"
    np.testing.assert_array_equal(axis.get_lines()[1].get_xdata(), [1, 2, 3])
    assert axis.get_legend() is not None


def test_confusion_figure_shows_counts_and_class_names():
    counts = np.array([[5, 1], [2, 7]])
    figure = figures.confusion_figure(counts, ("Sandal", "Bag"), width=10)
    axis = figure.axes[0]
    assert sorted(text.get_text() for text in axis.texts) == ["1", "2", "5", "7"]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["Sandal", "Bag"]
    assert axis.get_xlabel() == "Predicted class" and axis.get_ylabel() == "True class"
    assert "12/15 correct" in axis.get_title()
    np.testing.assert_allclose(axis.images[0].get_array(), [[5 / 6, 1 / 6], [2 / 9, 7 / 9]])


def test_png_rendering_is_byte_identical(images_and_labels):
    images, labels = images_and_labels
    renders = [
        figures.png_bytes(figures.samples_grid(images, labels, DIGITS, 2, 6), dpi=50)
        for _ in range(2)
    ]
    assert renders[0] == renders[1]
    assert renders[0][:8] == b"\x89PNG\r\n\x1a\n"
    assert b"Software" not in renders[0] and b"matplotlib" not in renders[0]
