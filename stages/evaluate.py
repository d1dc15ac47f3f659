"""DVC stage `evaluate`: test-set metrics of the trained model, logged into its MLflow run;
the raw-image model logged there too (registering it is `mnist-pipeline publish`'s, not a stage's).

Inference is plain numpy (mnist_pipeline.model.inference): no TensorFlow import needed here.
"""

from mnist_pipeline import atomic, paths, quiet
from mnist_pipeline.data.datasets import dataset_classes, sha256
from mnist_pipeline.data.preprocessing import unscale
from mnist_pipeline.model.inference import predict_proba
from mnist_pipeline.params import load_params
from mnist_pipeline.report.evaluation import (
    classification_metrics,
    headline,
    mlflow_test_metrics,
    per_class_csv,
    predictions_csv,
)
from mnist_pipeline.stage import read_bytes, read_json, read_npz, run
from mnist_pipeline.tracking import serving, tracker


def main() -> None:
    quiet.filter_logs()  # MLflow's known, harmless notes when it logs the raw-image model
    params = load_params()
    class_names = dataset_classes(params.data.dataset, params.data.class_names)
    experiment_id = tracker.connect(params.tracking.experiment)
    spec = read_json(paths.MODEL_SPEC)
    weights = read_npz(paths.WEIGHTS)
    weights_sha256 = sha256(read_bytes(paths.WEIGHTS))
    test = read_npz(paths.PREPARED_TEST)
    scaling = read_json(paths.SCALING)  # the raw-image model applies it
    raw = read_json(paths.raw_record(params.data.dataset))

    probabilities = predict_proba(spec, weights, test["x"])
    metrics = classification_metrics(test["y"], probabilities, class_names)
    atomic.write_json(paths.METRICS, headline(metrics))
    atomic.write_text(paths.PER_CLASS, per_class_csv(metrics["per_class"]))
    atomic.write_text(
        paths.PREDICTIONS, predictions_csv(test["y"], probabilities.argmax(axis=1), class_names)
    )
    # Which weights these outputs belong to, and what to log: lets `mnist-pipeline publish`
    # complete the run from them when DVC skips this stage (no run id: the same on reruns).
    atomic.write_json(
        paths.EVALUATED,
        {tracker.WEIGHTS_TAG: weights_sha256, "test_metrics": mlflow_test_metrics(metrics)},
    )

    with tracker.model_run(experiment_id, weights_sha256, params, raw["content_sha256"]):
        tracker.log_evaluation()
        serving.log_model_once(
            paths.MODEL_SPEC,
            paths.WEIGHTS,
            paths.SCALING,
            params.data.dataset,
            class_names,
            unscale(test["x"][: serving.EXAMPLE_IMAGES], scaling),
            weights_sha256,
        )


if __name__ == "__main__":
    run(main)
