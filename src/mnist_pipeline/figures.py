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
from matplotlib.figure import Figure  # noqa: E402

WRONG = "#d62728"  # misclassified: red titles and frames
IMAGE_SIDE = 28


def _image_grid(rows: int, columns: int, width: float) -> tuple[Figure, np.ndarray]:
    """Cells sized as in a 10-column grid `width` inches wide, so all grids match in scale."""
    cell = width / 10
    width = cell * columns
    figure, axes = plt.subplots(
        rows, columns, figsize=(width, cell * rows * 1.25 + 0.6), squeeze=False
    )
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    return figure, axes


def _show(axis, image: np.ndarray) -> None:
    axis.imshow(image.reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r", interpolation="nearest")


def first_of_each_class(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Indices of the first `per_class` images of each class, class by class."""
    rows = []
    for label in range(num_classes):
        found = np.flatnonzero(labels == label)[:per_class]
        if len(found) < per_class:
            raise ValueError(f"class {label}: {len(found)} images, need {per_class} for the grid")
        rows.append(found)
    return np.concatenate(rows)


def samples_grid(
    images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], per_class: int,
    width: float,
) -> Figure:  # fmt: skip
    """One row per class, `per_class` development images in it, each titled with its label."""
    chosen = first_of_each_class(labels, per_class, len(class_names))
    figure, axes = _image_grid(len(class_names), per_class, width)
    for axis, index in zip(axes.flat, chosen, strict=True):
        _show(axis, images[index])
        axis.set_title(class_names[labels[index]], fontsize=9)
    figure.suptitle(f"Development set: {per_class} samples of each class")
    figure.tight_layout()
    return figure


def curve(history: dict[str, np.ndarray], metric: str, label: str, width: float) -> Figure:
    """Train vs validation `metric` per epoch (epochs numbered from 1, as Keras prints)."""
    figure, axis = plt.subplots(figsize=(width * 0.7, width * 0.42))
    epochs = history["epoch"] + 1
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
    images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
    count: int, width: float, columns: int = 10,
) -> Figure:  # fmt: skip
    """The first `count` test images, titled `GT: g / P: p`; mistakes in red with a red frame."""
    count = min(count, len(images))
    rows = -(-count // columns)
    figure, axes = _image_grid(rows, columns, width)
    wrong = 0
    for index, axis in enumerate(axes.flat):
        if index >= count:
            axis.set_axis_off()
            continue
        _show(axis, images[index])
        mistaken = y_true[index] != y_pred[index]
        wrong += int(mistaken)
        axis.set_title(
            f"GT: {class_names[y_true[index]]}\nP: {class_names[y_pred[index]]}",
            fontsize=8, color=WRONG if mistaken else "black",
        )  # fmt: skip
        if mistaken:
            for spine in axis.spines.values():
                spine.set_edgecolor(WRONG)
                spine.set_linewidth(3)
    figure.suptitle(
        f"First {count} test images: ground truth (GT) and prediction (P); "
        f"{wrong} misclassified, in red"
    )
    figure.tight_layout()
    return figure


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], width: float) -> Figure:
    """Counts in each cell, shaded by the share of the true class (row-normalized)."""
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    figure, axis = plt.subplots(figsize=(width * 0.8, width * 0.7))
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        dark = shares[row, column] > 0.5
        axis.text(column, row, str(count), ha="center", va="center", fontsize=8,
                  color="white" if dark else "black")  # fmt: skip
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45 if max(map(len, class_names)) > 2 else 0,
                    ha="right" if max(map(len, class_names)) > 2 else "center")  # fmt: skip
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
