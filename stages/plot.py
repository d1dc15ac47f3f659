"""DVC stage `plot`: the figures under reports/figures/; then, as the last stage, it logs into
the model's MLflow run what evaluate and plot made: the test metrics, the figures and the
raw-image model (registering it is `mnist-pipeline publish`'s, not a stage's).

Evaluate opens no MLflow: this one process pays MLflow's start-up for both (BENCHMARKS.md).
"""

from mnist_pipeline import atomic, paths, quiet
from mnist_pipeline.data.datasets import dataset_classes, sha256
from mnist_pipeline.errors import ModelError
from mnist_pipeline.params import load_params
from mnist_pipeline.report import figures
from mnist_pipeline.report.evaluation import (
    confusion_counts,
    evaluated_weights,
    read_predictions_csv,
)
from mnist_pipeline.report.history import read_history_csv
from mnist_pipeline.stage import read_bytes, read_json, read_npz, read_text, run
from mnist_pipeline.tracking import serving, tracker


def main() -> None:
    quiet.filter_logs()  # MLflow's known, harmless notes when it logs the raw-image model
    params = load_params()
    plot = params.plot
    class_names = dataset_classes(params.data.dataset, params.data.class_names)
    experiment_id = tracker.connect(params.tracking.experiment)
    raw = read_npz(paths.raw_data(params.data.dataset))  # unscaled images
    record = read_json(paths.raw_record(params.data.dataset))
    history = read_history_csv(read_text(paths.HISTORY))
    y_true, y_pred = read_predictions_csv(read_text(paths.PREDICTIONS), class_names)
    weights_sha256 = sha256(read_bytes(paths.WEIGHTS))
    evaluated = evaluated_weights()
    if evaluated != weights_sha256:  # the script run by hand after a new train, say
        problem = (
            "missing or unreadable"
            if evaluated is None
            else f"of other weights than {paths.WEIGHTS}"
        )
        raise ModelError(f"{paths.EVALUATED} is {problem}: run `dvc repro`")

    drawn = {
        paths.SAMPLES_FIGURE: figures.samples_grid(
            raw["x_train"], raw["y_train"], class_names, plot.samples_per_class, plot.figure_width
        ),
        paths.LOSS_FIGURE: figures.curve(history, "loss", "Cross-entropy loss", plot.figure_width),
        paths.ACCURACY_FIGURE: figures.curve(history, "accuracy", "Accuracy", plot.figure_width),
        paths.PREDICTIONS_FIGURE: figures.predictions_grid(
            raw["x_test"], y_true, y_pred, class_names, plot.num_predictions, plot.figure_width
        ),
        paths.CONFUSION_FIGURE: figures.confusion_figure(
            confusion_counts(y_true, y_pred, len(class_names)), class_names, plot.figure_width
        ),
    }
    for path, figure in drawn.items():
        atomic.write_bytes(path, figures.png_bytes(figure, plot.dpi))

    with tracker.model_run(experiment_id, weights_sha256, params, record["content_sha256"]):
        tracker.log_evaluation()
        tracker.log_figures()
        serving.log_model_once(
            paths.MODEL_SPEC,
            paths.WEIGHTS,
            paths.SCALING,
            params.data.dataset,
            class_names,
            raw["x_test"][: serving.EXAMPLE_IMAGES],  # raw images: what the model takes
            weights_sha256,
        )


if __name__ == "__main__":
    run(main)
