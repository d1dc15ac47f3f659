"""The per-epoch history: its columns, and its CSV (reports/train/history.csv)."""

from __future__ import annotations

import numpy as np

from mnist_pipeline.errors import DataError

EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras's names, and MLflow's
HISTORY_COLUMNS = ("epoch", *EPOCH_METRICS)  # epochs 1..N, as Keras prints them


def history_csv(rows: list[dict]) -> str:
    """CSV with full float precision (repr), so equal histories give equal bytes."""
    lines = [",".join(HISTORY_COLUMNS)]
    lines += [",".join(repr(row[column]) for column in HISTORY_COLUMNS) for row in rows]
    return "\n".join(lines) + "\n"


def read_history_csv(text: str) -> dict[str, np.ndarray]:
    """{"epoch": [1, 2, ...], "loss": [...], ...} from `history_csv` output."""
    header, *rows = text.splitlines()
    columns = header.split(",")
    if tuple(columns) != HISTORY_COLUMNS:
        raise DataError(f"history CSV: columns {columns}, expected {list(HISTORY_COLUMNS)}")
    values = np.array([[float(value) for value in row.split(",")] for row in rows]).reshape(
        len(rows), len(columns)
    )
    history = {name: values[:, index] for index, name in enumerate(columns)}
    history["epoch"] = history["epoch"].astype(int)
    return history
