"""DVC stage `scratch`: the numpy network's loss, gradients and gradient check as metrics."""

from mnist_pipeline import atomic, paths
from mnist_pipeline.model.scratch import gradient_report
from mnist_pipeline.params import load_params
from mnist_pipeline.stage import run


def main() -> None:
    params = load_params()
    atomic.write_json(paths.GRADIENTS, gradient_report(params.scratch.seed))


if __name__ == "__main__":
    run(main)
