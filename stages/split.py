"""DVC stage `split`: stratified, seeded train/validation split of the development set.

The test set is not touched here: evaluate reads it straight from data/prepared/.
"""

from mnist_pipeline import atomic
from mnist_pipeline.params import load_params
from mnist_pipeline.preprocessing import stratified_split
from mnist_pipeline.stage import require, run


def main() -> None:
    params = load_params()
    dev = atomic.read_npz(require("data/prepared/dev.npz"))

    x_train, x_val, y_train, y_val = stratified_split(
        dev["x"], dev["y"], params.split.val_fraction, params.seed
    )

    atomic.write_npz("data/split/train.npz", x=x_train, y=y_train)
    atomic.write_npz("data/split/val.npz", x=x_val, y=y_val)


if __name__ == "__main__":
    run(main)
