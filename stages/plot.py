"""DVC stage `plot`: the figures under reports/figures/, also logged to the model's MLflow run."""

import json
from pathlib import Path

from mnist_pipeline import atomic, figures, tracking
from mnist_pipeline.datasets import get_spec
from mnist_pipeline.evaluation import confusion_counts, read_predictions_csv
from mnist_pipeline.params import flatten, load_params
from mnist_pipeline.stage import require, run
from mnist_pipeline.training import read_history_csv


def main() -> None:
    params = load_params()
    plot = params.plot
    class_names = get_spec(params.data.dataset).class_names
    experiment_id = tracking.connect(params.tracking.experiment)
    raw = atomic.read_npz(require(f"data/raw/{params.data.dataset}.npz"))  # unscaled images
    record = json.loads(Path(require(f"data/raw/{params.data.dataset}.json")).read_text())
    history = read_history_csv(Path(require("reports/train/history.csv")).read_text())
    y_true, y_pred = read_predictions_csv(
        Path(require("reports/evaluate/predictions.csv")).read_text(), class_names
    )

    drawn = {
        "samples.png": figures.samples_grid(
            raw["x_train"], raw["y_train"], class_names, plot.samples_per_class, plot.figure_width
        ),
        "loss.png": figures.curve(history, "loss", "Cross-entropy loss", plot.figure_width),
        "accuracy.png": figures.curve(history, "accuracy", "Accuracy", plot.figure_width),
        "predictions.png": figures.predictions_grid(
            raw["x_test"], y_true, y_pred, class_names, plot.num_predictions, plot.figure_width
        ),
        "confusion_matrix.png": figures.confusion_figure(
            confusion_counts(y_true, y_pred, len(class_names)), class_names, plot.figure_width
        ),
    }
    for name, figure in drawn.items():
        atomic.write_bytes(f"reports/figures/{name}", figures.png_bytes(figure, plot.dpi))

    import mlflow

    with tracking.model_run(
        experiment_id, require("models/weights.npz"), record["dataset"], record["content_sha256"],
        flatten(params),
    ):  # fmt: skip
        mlflow.log_artifacts("reports/figures", artifact_path="figures")


if __name__ == "__main__":
    run(main)
