"""Deterministic Keras training: seeds, thread counts, the fit loop, byte-stable outputs."""

from __future__ import annotations

import io
import logging

import numpy as np

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def configure_determinism(seed: int, threads: int) -> None:
    """Same seed and thread counts -> bit-identical training on this machine, whatever the
    number of cores available (matmul splitting follows the thread count, not the cores).

    Must run before TensorFlow creates its thread pools, i.e. before any op executes.
    """
    import keras

    keras.utils.set_random_seed(seed)  # Python, numpy and backend generators
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def one_hot(labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[labels]


def fit(model, train: dict, val: dict, epochs: int, batch_size: int, callbacks=()) -> list[dict]:
    """Fit on train with val as validation data; one dict per epoch (HISTORY_COLUMNS)."""
    history = model.fit(
        train["x"],
        one_hot(train["y"]),
        validation_data=(val["x"], one_hot(val["y"])),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,  # seeded by configure_determinism
        callbacks=list(callbacks),
        verbose=2,  # one line per epoch: readable in `dvc repro` logs
    )
    return [
        {
            "epoch": epoch,
            **{name: float(history.history[name][epoch]) for name in HISTORY_COLUMNS[1:]},
        }
        for epoch in range(epochs)
    ]


def history_csv(rows: list[dict]) -> str:
    """CSV with full float precision (repr), so equal histories give equal bytes."""
    lines = [",".join(HISTORY_COLUMNS)]
    lines += [",".join(repr(row[column]) for column in HISTORY_COLUMNS) for row in rows]
    return "\n".join(lines) + "\n"


def read_history_csv(text: str) -> dict[str, np.ndarray]:
    """{"epoch": [0, 1, ...], "loss": [...], ...} from `history_csv` output."""
    header, *rows = text.splitlines()
    columns = header.split(",")
    if tuple(columns) != HISTORY_COLUMNS:
        raise ValueError(f"history CSV: columns {columns}, expected {list(HISTORY_COLUMNS)}")
    values = np.array([[float(value) for value in row.split(",")] for row in rows]).reshape(
        len(rows), len(columns)
    )
    history = {name: values[:, index] for index, name in enumerate(columns)}
    history["epoch"] = history["epoch"].astype(int)
    return history


def weights_npz(weights: dict[str, np.ndarray]) -> bytes:
    """The weights as uncompressed npz bytes: byte-identical for identical weights (unlike
    a `.keras` file, which embeds a save date)."""
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()
