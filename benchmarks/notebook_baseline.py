"""The reference notebook's Part 2 as one plain script: the baseline the pipeline is timed
against. No DVC, no MLflow, no project code: read the IDX files, flatten, divide by 255,
80:20 split, the same Keras model with the default `fit`, evaluate, save the figures.

    python benchmarks/notebook_baseline.py MIRROR_DIR OUTPUT_DIR
"""

import gzip
import sys
import time
from pathlib import Path

start = time.perf_counter()

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


mirror, output = Path(sys.argv[1]), Path(sys.argv[2])
output.mkdir(parents=True, exist_ok=True)
x_train = read_idx(mirror / "train-images-idx3-ubyte.gz")
y_train = read_idx(mirror / "train-labels-idx1-ubyte.gz")
x_test = read_idx(mirror / "t10k-images-idx3-ubyte.gz")
y_test = read_idx(mirror / "t10k-labels-idx1-ubyte.gz")

# Samples of each class
figure, axes = plt.subplots(10, 5, figsize=(5, 12))
for digit in range(10):
    for column, index in enumerate(np.flatnonzero(y_train == digit)[:5]):
        axes[digit, column].imshow(x_train[index], cmap="gray_r")
        axes[digit, column].set_title(str(digit))
        axes[digit, column].axis("off")
figure.savefig(output / "samples.png")

x_dev = x_train.reshape(-1, 784).astype("float32") / 255
x_test_flat = x_test.reshape(-1, 784).astype("float32") / 255
y_dev = keras.utils.to_categorical(y_train, 10)
y_test_hot = keras.utils.to_categorical(y_test, 10)
x_fit, x_val, y_fit, y_val = train_test_split(x_dev, y_dev, test_size=0.2, random_state=42)

model = keras.Sequential(
    [
        keras.Input(shape=(784,)),
        keras.layers.Dense(128),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
fit_start = time.perf_counter()
history = model.fit(
    x_fit, y_fit, batch_size=128, epochs=10, validation_data=(x_val, y_val), verbose=2
)
fit_seconds = time.perf_counter() - fit_start
test_loss, test_accuracy = model.evaluate(x_test_flat, y_test_hot, verbose=0)

for metric in ("loss", "accuracy"):
    figure = plt.figure()
    plt.plot(history.history[metric], label="train")
    plt.plot(history.history[f"val_{metric}"], label="validation")
    plt.xlabel("epoch")
    plt.ylabel(metric)
    plt.legend()
    figure.savefig(output / f"{metric}.png")

predictions = model.predict(x_test_flat, verbose=0).argmax(axis=1)
figure, axes = plt.subplots(5, 10, figsize=(15, 8))
for index, axis in enumerate(axes.flat):
    axis.imshow(x_test[index], cmap="gray_r")
    axis.set_title(f"GT: {y_test[index]} / P: {predictions[index]}")
    axis.axis("off")
figure.savefig(output / "predictions.png")

figure = plt.figure()
plt.imshow(confusion_matrix(y_test, predictions), cmap="Blues")
plt.xlabel("predicted")
plt.ylabel("true")
figure.savefig(output / "confusion_matrix.png")

print(
    f"baseline: test accuracy {test_accuracy:.4f}, loss {test_loss:.4f}; "
    f"fit {fit_seconds:.2f} s ({fit_seconds / 10:.3f} s/epoch); "
    f"total {time.perf_counter() - start:.1f} s"
)
