"""The pipeline's figures as matplotlib Figures: pure functions of arrays, no file I/O.

`save_png` writes them byte-stably (no software or date metadata), so `dvc.lock` does not
change when the same data is drawn again.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from mnist_pipeline.errors import DataError  # noqa: E402

WRONG = "#d62728"  # misclassified: red titles and frames
IMAGE_SIDE = 28


GAP = 4  # blank pixels between images in a grid


def _image_grid(
    images: np.ndarray,
    titles: Sequence[str],
    colors: Sequence[str],
    columns: int,
    width: float,
    fontsize: float,
    title: str,
) -> tuple[Figure, Axes]:
    """A grid of 28 x 28 images, each titled, drawn as one montage in a single axes, under
    the figure's `title`.

    Deliberately not one subplot per image: 50 subplots took ~0.55 s per figure to create,
    lay out and render, the montage ~0.1 s, and the plot stage draws two such grids on every
    run. Cells are sized as in a 10-column grid `width` inches wide, so all grids match in
    scale; the title band above each image is sized to fit its lines of text.
    """
    inches_per_pixel = width / 10 / (IMAGE_SIDE + GAP)
    lines = max(text.count("\n") + 1 for text in titles)
    band = int(np.ceil(lines * fontsize * 1.25 / 72 / inches_per_pixel)) + 2
    canvas, corners = _montage(images, columns, band)

    height = canvas.shape[0] * inches_per_pixel
    figure = plt.figure(figsize=(canvas.shape[1] * inches_per_pixel, height))
    axis = figure.add_axes((0, 0, 1, 1))
    _title_above(figure, axis, title, height)
    axis.imshow(canvas, cmap="gray_r", interpolation="nearest", vmin=0, vmax=255)
    axis.set_axis_off()
    for corner, text, color in zip(corners, titles, colors, strict=True):
        _label_cell(axis, corner, text, color, fontsize)
    return figure, axis


def _montage(
    images: np.ndarray, columns: int, band: int
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The images laid out row by row on one canvas, `columns` to a row, each under a blank
    band `band` pixels tall for its title; and each image's (left, top) pixel on it."""
    rows = -(-len(images) // columns)
    cell_width, cell_height = IMAGE_SIDE + GAP, IMAGE_SIDE + GAP + band
    canvas = np.zeros((rows * cell_height, columns * cell_width), dtype=np.float32)  # white
    corners = [
        (column * cell_width + GAP // 2, row * cell_height + band + GAP // 2)
        for row, column in (divmod(index, columns) for index in range(len(images)))
    ]
    for (left, top), image in zip(corners, images, strict=True):
        canvas[top : top + IMAGE_SIDE, left : left + IMAGE_SIDE] = image.reshape(IMAGE_SIDE, -1)
    return canvas, corners


def _label_cell(
    axis: Axes, corner: tuple[int, int], title: str, color: str, fontsize: float
) -> None:
    """The title above the image at `corner` and a frame around it, both in `color`."""
    left, top = corner
    axis.text(
        left + IMAGE_SIDE / 2,
        top - 1.5,
        title,
        ha="center",
        va="bottom",
        fontsize=fontsize,
        color=color,
    )
    frame = 2.5 if color == WRONG else 0.8  # mistakes get a thick red frame
    axis.add_patch(
        Rectangle(
            (left - 1, top - 1),
            IMAGE_SIDE + 1,
            IMAGE_SIDE + 1,
            fill=False,
            edgecolor=color,
            linewidth=frame,
        )
    )


def _title_above(figure: Figure, axis: Axes, title: str, height: float, pad: float = 0.08):
    """Grow the figure by exactly the height of `title` as wrapped to its width, plus `pad`
    inches above and below, and put the title there over `axis` (`height` inches tall): a
    fixed header left an empty band under a one-line title."""
    text = figure.suptitle(title, wrap=True, va="top")
    lines = text.get_window_extent(figure.canvas.get_renderer()).height / figure.dpi
    total = height + lines + 2 * pad
    figure.set_size_inches(figure.get_figwidth(), total)
    text.set_y(1 - pad / total)
    axis.set_position((0, 0, 1, height / total))


def first_of_each_class(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Indices of the first `per_class` images of each class, class by class."""
    rows = []
    for label in range(num_classes):
        found = np.flatnonzero(labels == label)[:per_class]
        if len(found) < per_class:
            raise DataError(
                f"class {label}: {len(found)} images, need {per_class} for the grid "
                "(lower plot.samples_per_class)"
            )
        rows.append(found)
    return np.concatenate(rows)


def samples_grid(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    per_class: int,
    width: float,
) -> Figure:
    """One row per class, `per_class` development images in it, each titled with its label."""
    chosen = first_of_each_class(labels, per_class, len(class_names))
    titles = [class_names[labels[index]] for index in chosen]
    title = f"Development set: {per_class} samples of each class"
    colors = ["black"] * len(chosen)
    figure, _ = _image_grid(images[chosen], titles, colors, per_class, width, 9, title)
    return figure


def curve(history: dict[str, np.ndarray], metric: str, label: str, width: float) -> Figure:
    """Train vs validation `metric` per epoch (epochs numbered from 1, as Keras prints)."""
    figure, axis = plt.subplots(figsize=(width * 0.7, width * 0.42))
    epochs = history["epoch"]
    axis.plot(epochs, history[metric], marker="o", label=f"train {metric}")
    axis.plot(epochs, history[f"val_{metric}"], marker="s", label=f"validation {metric}")
    axis.set_title(f"{label} per epoch: train vs validation")
    axis.set_xlabel("Epoch")
    axis.set_ylabel(label)
    axis.set_xticks(epochs)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


def predictions_grid(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    count: int,
    width: float,
    columns: int = 10,
) -> Figure:
    """The first `count` test images, titled `GT: g / P: p`; mistakes in red with a red frame."""
    count = min(count, len(images))
    mistaken = y_true[:count] != y_pred[:count]
    titles = [
        f"GT: {class_names[true]}\nP: {class_names[predicted]}"
        for true, predicted in zip(y_true[:count], y_pred[:count], strict=True)
    ]
    colors = [WRONG if wrong else "black" for wrong in mistaken]
    title = (
        f"First {count} test images: ground truth (GT) and prediction (P); "
        f"{int(mistaken.sum())} misclassified, in red"
    )
    figure, _ = _image_grid(images[:count], titles, colors, columns, width, 8, title)
    return figure


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], width: float) -> Figure:
    """Counts in each cell, shaded by the share of the true class (row-normalized)."""
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    figure, axis = plt.subplots(figsize=(width * 0.8, width * 0.7))
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        dark = shares[row, column] > 0.5
        axis.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if dark else "black",
        )
    ticks = np.arange(len(class_names))
    axis.set_xticks(
        ticks,
        class_names,
        rotation=45 if max(map(len, class_names)) > 2 else 0,
        ha="right" if max(map(len, class_names)) > 2 else "center",
    )
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("Predicted class")
    axis.set_ylabel("True class")
    total, correct = counts.sum(), np.trace(counts)
    axis.set_title(f"Confusion matrix on the test set ({correct}/{total} correct)")
    figure.colorbar(image, ax=axis, label="Share of the true class")
    figure.tight_layout()
    return figure


def png_bytes(figure: Figure, dpi: int) -> bytes:
    """Render to PNG without metadata (no software version, no date): byte-stable."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()
