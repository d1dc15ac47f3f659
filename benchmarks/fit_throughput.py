"""Seconds per epoch of the train stage's fit against Keras's default fit, side by side.

Same data (data/split/ from `dvc repro split`), model, seed and thread counts; only
`steps_per_execution` differs. Also checks that both give identical weights.

    python benchmarks/fit_throughput.py [--epochs 3]
"""

import argparse
import dataclasses
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mnist_pipeline import atomic, training  # noqa: E402
from mnist_pipeline import model as mlp  # noqa: E402
from mnist_pipeline.params import load_params  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)

    def on_train_begin(self, logs=None):
        self.seconds = []


def timed_fit(params, train, val, epochs: int, steps_per_execution: int):
    training.configure_determinism(params.seed, params.train.threads)
    spec = mlp.model_spec([dataclasses.asdict(layer) for layer in params.model.hidden_layers])
    model = mlp.build_model(spec)
    mlp.compile_model(
        model, params.train.optimizer, params.train.learning_rate, steps_per_execution
    )
    timer = EpochTimer()
    training.fit(model, train, val, epochs, params.train.batch_size, callbacks=[timer])
    return timer.seconds, mlp.get_weights(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    arguments = parser.parse_args()
    params = load_params()
    train = atomic.read_npz("data/split/train.npz")
    val = atomic.read_npz("data/split/val.npz")

    results = {}
    for label, steps in (("default fit", 1), ("train stage", params.train.steps_per_execution)):
        seconds, weights = timed_fit(params, train, val, arguments.epochs, steps)
        # The first epoch includes tracing; the median of the rest is the steady state.
        results[label] = (float(np.median(seconds[1:] or seconds)), weights)

    baseline = results["default fit"][0]
    print(f"\n{'fit':<28}{'s/epoch':>10}{'speed-up':>10}")
    for label, (seconds, _) in results.items():
        steps = 1 if label == "default fit" else params.train.steps_per_execution
        print(f"{label + f' (spe={steps})':<28}{seconds:>10.3f}{baseline / seconds:>9.2f}x")
    same = all(
        np.array_equal(results["default fit"][1][name], results["train stage"][1][name])
        for name in results["default fit"][1]
    )
    print(f"identical weights: {same}")


if __name__ == "__main__":
    main()
