"""DVC stage `split`: stratified, seeded train/validation split of the development set.

The test set is not touched here: evaluate reads it straight from data/prepared/.
"""

from mnist_pipeline import atomic, paths
from mnist_pipeline.data.preprocessing import stratified_split
from mnist_pipeline.params import load_params
from mnist_pipeline.stage import read_npz, run


def main() -> None:
    params = load_params()
    dev = read_npz(paths.PREPARED_DEV)

    x_train, x_val, y_train, y_val = stratified_split(
        dev["x"], dev["y"], params.split.val_fraction, params.seed
    )

    atomic.write_npz(paths.SPLIT_TRAIN, x=x_train, y=y_train)
    atomic.write_npz(paths.SPLIT_VAL, x=x_val, y=y_val)


if __name__ == "__main__":
    run(main)
