"""DVC stage `evaluate`: test-set metrics of the trained model, logged into its MLflow run.

Inference is plain numpy (mnist_pipeline.inference): no TensorFlow import needed here.
"""

import json
from pathlib import Path

from mnist_pipeline import atomic, tracking
from mnist_pipeline.datasets import get_spec
from mnist_pipeline.evaluation import classification_metrics, predictions_csv
from mnist_pipeline.inference import predict_proba
from mnist_pipeline.params import flatten, load_params
from mnist_pipeline.stage import require, run


def main() -> None:
    params = load_params()
    class_names = get_spec(params.data.dataset).class_names
    experiment_id = tracking.connect(params.tracking.experiment)
    spec = json.loads(Path(require("models/model.json")).read_text())
    weights = atomic.read_npz(require("models/weights.npz"))
    test = atomic.read_npz(require("data/prepared/test.npz"))
    raw = json.loads(Path(require(f"data/raw/{params.data.dataset}.json")).read_text())

    probabilities = predict_proba(spec, weights, test["x"])
    metrics = classification_metrics(test["y"], probabilities, class_names)
    atomic.write_json("reports/evaluate/metrics.json", metrics)
    atomic.write_text(
        "reports/evaluate/predictions.csv",
        predictions_csv(test["y"], probabilities.argmax(axis=1), class_names),
    )

    import mlflow

    with tracking.model_run(
        experiment_id, "models/weights.npz", raw["dataset"], raw["content_sha256"], flatten(params)
    ):
        mlflow.log_metrics({f"test_{name}": value for name, value in metrics["test"].items()})
        mlflow.log_artifact("reports/evaluate/metrics.json")


if __name__ == "__main__":
    run(main)
