"""DVC stage `prepare`: flatten to N x 784 float32 and scale with development-set statistics."""

from mnist_pipeline import atomic
from mnist_pipeline.params import load_params
from mnist_pipeline.preprocessing import apply_scaling, flatten, scaling_stats
from mnist_pipeline.stage import require, run


def main() -> None:
    params = load_params()
    raw = atomic.read_npz(require(f"data/raw/{params.data.dataset}.npz"))

    stats = scaling_stats(raw["x_train"], params.prepare.scaling)
    dev = apply_scaling(flatten(raw["x_train"]), stats)
    test = apply_scaling(flatten(raw["x_test"]), stats)

    atomic.write_npz("data/prepared/dev.npz", x=dev, y=raw["y_train"])
    atomic.write_npz("data/prepared/test.npz", x=test, y=raw["y_test"])
    # Saved so inference on new images applies exactly the same scaling.
    atomic.write_json("data/prepared/scaling.json", {"method": params.prepare.scaling, **stats})


if __name__ == "__main__":
    run(main)
