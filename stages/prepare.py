"""DVC stage `prepare`: flatten to N x 784 float32 and scale with development-set statistics."""

from mnist_pipeline import atomic, paths
from mnist_pipeline.data.preprocessing import apply_scaling, flatten, scaling_stats
from mnist_pipeline.params import load_params
from mnist_pipeline.stage import read_npz, run


def main() -> None:
    params = load_params()
    raw = read_npz(paths.raw_data(params.data.dataset))

    stats = scaling_stats(raw["x_train"], params.prepare.scaling)
    dev = apply_scaling(flatten(raw["x_train"]), stats)
    test = apply_scaling(flatten(raw["x_test"]), stats)

    atomic.write_npz(paths.PREPARED_DEV, x=dev, y=raw["y_train"])
    atomic.write_npz(paths.PREPARED_TEST, x=test, y=raw["y_test"])
    # Saved so inference on new images applies exactly the same scaling.
    atomic.write_json(paths.SCALING, {"method": params.prepare.scaling, **stats})


if __name__ == "__main__":
    run(main)
