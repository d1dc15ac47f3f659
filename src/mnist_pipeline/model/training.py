"""Deterministic Keras training: seeds, thread counts, the fit loop, byte-stable outputs."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import os
import sys
import time

import numpy as np

from mnist_pipeline.data.preprocessing import shift_images
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.report.history import EPOCH_METRICS

log = logging.getLogger(__name__)


def select_backend(backend: str, threads: int) -> None:
    """Make Keras run on `backend` ("tensorflow" or "jax") in this process.

    Keras reads KERAS_BACKEND once, on first import, so this must run before anything
    imports keras. params.yaml decides, not the caller's environment: the same params must
    give the same weights. For JAX, XLA's CPU thread count is fixed here as well (XLA reads
    XLA_FLAGS when JAX starts); TensorFlow's is set in `configure_determinism`.
    """
    if importlib.util.find_spec(backend) is None:
        install = {"jax": "the project's 'jax' extra: `uv sync --extra jax`"}
        raise ParamsError(
            f"train.backend: {backend!r} is not installed (expected "
            f"{install.get(backend, 'the locked environment: `make setup`')}, "
            "or choose another train.backend)"
        )
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != backend:
            raise RuntimeError(f"keras is already imported with backend {loaded!r}")
        return
    os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow" and "tensorflow" not in sys.modules:
        # TensorFlow imports jax for TFLite whenever it is installed, as it is with the 'jax'
        # extra: 0.6 s and 150 MB for nothing here. Load TensorFlow without it.
        with _hidden_module("jax"):
            import tensorflow  # noqa: F401
    if backend == "jax":
        flags = [
            os.environ.get("XLA_FLAGS", ""),
            f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}",
            f"intra_op_parallelism_threads={threads}",
        ]
        os.environ["XLA_FLAGS"] = " ".join(flags).strip()


def configure_determinism(seed: int, threads: int) -> None:
    """Same seed and thread counts -> bit-identical training on this machine, whatever the
    number of cores available (matmul splitting follows the thread count, not the cores).

    Must run before TensorFlow creates its thread pools, i.e. before any op executes.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)  # Python, numpy and Keras generators, and TensorFlow's
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    else:
        # set_random_seed also seeds TensorFlow whenever it is installed, importing it (2 s and
        # 400 MB) into a process that never runs it: hide it for that one call.
        with _hidden_module("tensorflow"):
            keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def _hidden_module(name: str):
    """`import name` raises ImportError inside the block (a None entry in sys.modules)."""
    if name in sys.modules:
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules[name]


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[labels]


def total_steps(examples: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps in a fit: batches per epoch (the last one partial) times epochs."""
    return math.ceil(examples / batch_size) * epochs


def compiled_model(spec: dict, train, examples: int):
    """The spec's Keras MLP, compiled as `train` (params.train) says for a fit on `examples`
    images: its optimizer, learning rate (and schedule over the fit's steps) and batches per
    call. `train` is taken as given, not imported: model/ sits below params."""
    from mnist_pipeline.model import keras_model

    model = keras_model.build_model(spec)
    keras_model.compile_model(
        model,
        train.optimizer,
        train.learning_rate,
        train.steps_per_execution,
        lr_schedule=train.lr_schedule,
        total_steps=total_steps(examples, train.batch_size, train.epochs),
    )
    return model


def keras_callback(listener):
    """`listener` as a Keras callback: its on_train_begin() and on_batch_end() (each if any;
    a batch is one backend call of steps_per_execution steps) and on_epoch_end(epoch, logs)
    (epoch from 0, as Keras counts) called during fit. Tracking, the search and the stage
    runner hook into fit this way without importing keras, which only model/ does
    (pyproject.toml's contracts)."""
    import keras

    if isinstance(listener, keras.callbacks.Callback):
        return listener

    class Forward(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            getattr(listener, "on_train_begin", lambda: None)()

        def on_train_batch_end(self, batch, logs=None):
            getattr(listener, "on_batch_end", lambda: None)()

        def on_epoch_end(self, epoch, logs=None):
            listener.on_epoch_end(epoch, logs or {})

    return Forward()


def epoch_line(epochs: int):
    """A Keras callback logging one line per epoch, numbered as Keras does ("Epoch 3/10"):
    its metrics and how long it took, validation included."""
    import keras

    class EpochLine(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            values = " - ".join(
                f"{name} {logs[name]:.4f}" for name in EPOCH_METRICS if name in (logs or {})
            )
            seconds = time.perf_counter() - self.start
            log.info("Epoch %d/%d: %s (%.1f s)", epoch + 1, epochs, values, seconds)

    return EpochLine()


def fit(
    model,
    train: dict,
    val: dict,
    epochs: int,
    batch_size: int,
    callbacks=(),
    max_shift: int = 0,
    seed: int = 0,
) -> list[dict]:
    """Fit on train with val as validation data; one dict per epoch (history.HISTORY_COLUMNS),
    epochs numbered 1..N as Keras prints them. `callbacks`: Keras callbacks or listeners
    (`keras_callback`). `max_shift` > 0: each epoch sees every training image shifted at
    random by up to that many pixels (`shifted_batches`). Logs the fit's wall time (not an
    output: it varies from run to run)."""
    num_classes = model.output_shape[-1]  # the dataset's, as the model was built for it
    labels = one_hot(train["y"], num_classes)
    if max_shift > 0:
        data = {"x": shifted_batches(train["x"], labels, batch_size, max_shift, seed)}
    else:
        data = {
            "x": train["x"],
            "y": labels,
            "batch_size": batch_size,
            "shuffle": True,
        }  # seeded by configure_determinism
    start = time.perf_counter()
    history = model.fit(
        **data,
        validation_data=(val["x"], one_hot(val["y"], num_classes)),
        epochs=epochs,
        callbacks=[epoch_line(epochs), *(keras_callback(c) for c in callbacks)],  # first: an
        # epoch a trial stops at shows
        verbose=0,  # Keras's verbose=2 prints two lines per epoch; epoch_line writes one
    )
    seconds = time.perf_counter() - start
    log.info(
        "fit: %d epochs in %.1f s (%.2f s per epoch, validation included)",
        epochs,
        seconds,
        seconds / epochs,
    )
    return [
        {
            "epoch": epoch + 1,
            **{name: float(history.history[name][epoch]) for name in EPOCH_METRICS},
        }
        for epoch in range(epochs)
    ]


def shifted_batches(x: np.ndarray, labels: np.ndarray, batch_size: int, max_shift: int, seed: int):
    """The training set as a Keras PyDataset whose epoch e is a fresh shuffle of every image,
    each shifted by a random (down, right) offset in [-max_shift, max_shift] pixels.

    Drawn in numpy, outside the model: Keras's RandomTranslation layer made the fit ~11x
    slower on the JAX backend (an interpolating gather per image), and would have put a
    layer that only trains into the model. A batch is a pure function of (seed, epoch,
    index), so prefetching or the order Keras asks for batches cannot change the weights.
    """
    import keras

    class ShiftedImages(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self._draw()

        def _draw(self) -> None:
            rng = np.random.default_rng([seed, self.epoch])
            self.order = rng.permutation(len(x))
            self.offsets = rng.integers(-max_shift, max_shift + 1, size=(len(x), 2))

        def __len__(self) -> int:
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, index: int):
            batch = self.order[index * batch_size : (index + 1) * batch_size]
            return shift_images(x[batch], self.offsets[batch]), labels[batch]

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._draw()

    return ShiftedImages()


def weights_npz(weights: dict[str, np.ndarray]) -> bytes:
    """The weights as uncompressed npz bytes: byte-identical for identical weights (unlike
    a `.keras` file, which embeds a save date)."""
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    return buffer.getvalue()
