"""DVC stage `evaluate`: test-set metrics of the trained model.

Inference is plain numpy (mnist_pipeline.model.inference), and nothing here opens MLflow: the
plot stage, the last, logs these outputs and the raw-image model into the model's run, so one
process after train pays MLflow's start-up, not two (BENCHMARKS.md).
"""

from mnist_pipeline import atomic, paths
from mnist_pipeline.data.datasets import dataset_classes, sha256
from mnist_pipeline.model.inference import predict_proba
from mnist_pipeline.params import load_params
from mnist_pipeline.report.evaluation import (
    WEIGHTS_KEY,
    classification_metrics,
    headline,
    mlflow_test_metrics,
    per_class_csv,
    predictions_csv,
)
from mnist_pipeline.stage import read_bytes, read_json, read_npz, run


def main() -> None:
    params = load_params()
    class_names = dataset_classes(params.data.dataset, params.data.class_names)
    spec = read_json(paths.MODEL_SPEC)
    weights = read_npz(paths.WEIGHTS)
    weights_sha256 = sha256(read_bytes(paths.WEIGHTS))
    test = read_npz(paths.PREPARED_TEST)

    probabilities = predict_proba(spec, weights, test["x"])
    metrics = classification_metrics(test["y"], probabilities, class_names)
    atomic.write_json(paths.METRICS, headline(metrics))
    atomic.write_text(paths.PER_CLASS, per_class_csv(metrics["per_class"]))
    atomic.write_text(
        paths.PREDICTIONS, predictions_csv(test["y"], probabilities.argmax(axis=1), class_names)
    )
    # Which weights these outputs belong to, and what to log: plot logs them into the run of
    # these weights, and `mnist-pipeline publish` completes a run from them when DVC skipped
    # both (no run id here: the same on reruns).
    atomic.write_json(
        paths.EVALUATED,
        {WEIGHTS_KEY: weights_sha256, "test_metrics": mlflow_test_metrics(metrics)},
    )


if __name__ == "__main__":
    run(main)
