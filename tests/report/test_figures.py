import numpy as np
import pytest

from mnist_pipeline.data.datasets import get_spec
from mnist_pipeline.errors import DataError
from mnist_pipeline.report import figures

DIGITS = get_spec("mnist").class_names
FASHION = get_spec("fashion_mnist").class_names


@pytest.fixture
def images_and_labels():
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10), 8)
    return rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8), labels


def grid_contents(figure):
    """(montage pixels, cell titles, their colours, frame colours and widths) of a grid."""
    (axis,) = figure.axes
    frames = [(patch.get_edgecolor(), patch.get_linewidth()) for patch in axis.patches]
    return axis.images[0].get_array(), [t.get_text() for t in axis.texts], axis.texts, frames


def cell(montage, titles_band, row, column):
    """The 28 x 28 pixels of cell (row, column), given the grid's title band height."""
    top = row * (28 + figures.GAP + titles_band) + titles_band + figures.GAP // 2
    left = column * (28 + figures.GAP) + figures.GAP // 2
    return montage[top : top + 28, left : left + 28]


def band_height(montage, rows):
    return montage.shape[0] // rows - 28 - figures.GAP


def test_samples_grid_has_a_row_per_class_titled_with_labels(images_and_labels):
    images, labels = images_and_labels
    figure = figures.samples_grid(images, labels, FASHION, per_class=5, width=10)
    montage, titles, _, frames = grid_contents(figure)
    assert montage.shape[1] == 5 * (28 + figures.GAP) and len(titles) == len(frames) == 50
    assert titles[:5] == ["T-shirt/top"] * 5 and titles[-5:] == ["Ankle boot"] * 5
    band = band_height(montage, rows=10)
    # Row 2 holds class 2's images in order: the 1st and 4th labelled 2 are images 2 and 32.
    np.testing.assert_array_equal(cell(montage, band, 2, 0), images[2])
    np.testing.assert_array_equal(cell(montage, band, 2, 3), images[32])
    np.testing.assert_array_equal(cell(montage, band, 9, 4), images[49])


def test_samples_grid_needs_enough_images_per_class(images_and_labels):
    images, labels = images_and_labels
    with pytest.raises(DataError, match="class 0: 8 images, need 9"):
        figures.samples_grid(images, labels, DIGITS, per_class=9, width=10)


def test_predictions_grid_labels_and_marks_mistakes(images_and_labels):
    images, y_true = images_and_labels
    y_pred = y_true.copy()
    y_pred[[3, 17]] = (y_true[[3, 17]] + 1) % 10
    figure = figures.predictions_grid(images, y_true, y_pred, DIGITS, count=50, width=10)
    montage, titles, texts, frames = grid_contents(figure)
    assert montage.shape[1] == 10 * (28 + figures.GAP) and len(titles) == 50
    assert titles[3] == f"GT: {y_true[3]}\nP: {y_pred[3]}"
    red = [i for i, text in enumerate(texts) if text.get_color() == figures.WRONG]
    framed = [i for i, (_, width) in enumerate(frames) if width > 2]
    assert red == framed == [3, 17]
    assert "2 misclassified" in figure._suptitle.get_text()
    band = band_height(montage, rows=5)
    np.testing.assert_array_equal(cell(montage, band, 1, 7), images[17])


def test_predictions_grid_leaves_the_rest_of_the_last_row_blank(images_and_labels):
    images, y_true = images_and_labels
    figure = figures.predictions_grid(images, y_true, y_true, DIGITS, count=23, width=6)
    montage, titles, _, _ = grid_contents(figure)
    assert len(titles) == 23 and montage.shape[0] % 3 == 0
    band = band_height(montage, rows=3)
    np.testing.assert_array_equal(cell(montage, band, 2, 2), images[22])
    assert not cell(montage, band, 2, 3).any()  # no 24th image: blank (white)


@pytest.mark.parametrize("width", [10, 3])  # a one-line title; wrapped onto several lines
def test_grid_title_sits_just_above_the_images(images_and_labels, width):
    """No empty band between the figure's title and the grid, and no overlap either."""
    images, y_true = images_and_labels
    figure = figures.predictions_grid(images, y_true, y_true, DIGITS, count=50, width=width)
    figure.canvas.draw()
    title = figure._suptitle.get_window_extent()
    grid = figure.axes[0].get_window_extent()
    lines = figure._suptitle._get_wrapped_text().count("\n") + 1
    assert (lines > 1) == (width == 3)
    gap = (title.y0 - grid.y1) / figure.dpi  # inches
    assert 0 <= gap < 0.2, gap
    assert figure.bbox.y1 - title.y1 < 0.2 * figure.dpi  # and none above it


def test_curves_have_both_series_and_labels():
    history = {
        "epoch": np.arange(1, 4),
        "loss": np.array([0.9, 0.5, 0.3]),
        "val_loss": np.array([0.8, 0.6, 0.5]),
    }
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
