"""A search and a replicate group as one plain, untracked script: what `make bench` times a
tracked trial and a tracked seed against (Optuna + Keras, no DVC, no MLflow, no project code).

The same training as the pipeline's with params.yaml's defaults: the reference MLP, 10
epochs of Adam, MNIST divided by 255, an 80:20 split; each trial draws the learning rate from
BENCH_SEARCH's range (search mode) or takes the next seed (replicate mode), and returns the
last epoch's validation loss, as `mnist-pipeline tune` does.

    python benchmarks/search_baseline.py MIRROR_DIR search|replicate TRIALS
"""

import gzip
import sys
import time
from pathlib import Path

start = time.perf_counter()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

# The searched range of the bench's search file (bench.py writes the same one for `tune`).
LEARNING_RATE = (0.0008, 0.0012)
EPOCHS, BATCH_SIZE = 10, 128


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


mirror, mode, trials = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
x = read_idx(mirror / "train-images-idx3-ubyte.gz").reshape(-1, 784).astype("float32") / 255
y = keras.utils.to_categorical(read_idx(mirror / "train-labels-idx1-ubyte.gz"), 10)


def objective(trial: optuna.Trial) -> float:
    if mode == "search":
        seed, learning_rate = 42, trial.suggest_float("learning_rate", *LEARNING_RATE, log=True)
    else:
        seed, learning_rate = trial.suggest_int("seed", 1, trials), 0.001
    keras.utils.set_random_seed(seed)
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y.argmax(axis=1)
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(128),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x_fit,
        y_fit,
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        validation_data=(x_val, y_val),
        verbose=0,
    )
    return history.history["val_loss"][-1]


optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=42))
if mode == "replicate":
    for seed in range(1, trials + 1):
        study.enqueue_trial({"seed": seed})
study.optimize(objective, n_trials=trials)
print(
    f"{mode} baseline: {trials} trials, best val_loss {study.best_value:.4f}; "
    f"total {time.perf_counter() - start:.1f} s"
)
