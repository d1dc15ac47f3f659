"""DVC stage `train`: fit the MLP on the train split, deterministically, tracked in MLflow.

Outputs: models/weights.npz + models/model.json (byte-stable; rebuild with model.py),
reports/train/history.csv (per-epoch curves) and reports/train/model_summary.txt.
"""

import dataclasses
import json
import os
from pathlib import Path

from mnist_pipeline import atomic, quiet, tracking, training
from mnist_pipeline.datasets import content_digest, sha256
from mnist_pipeline.params import flatten, load_params
from mnist_pipeline.stage import require, run


def main() -> None:
    quiet.install()  # before TensorFlow loads: its known, harmless stderr noise filtered out
    params = load_params()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ warnings and errors, not info
    training.select_backend(params.train.backend, params.train.threads)  # before keras loads
    # Before the slow part: an unreachable tracking server fails here, outputs untouched.
    experiment_id = tracking.connect(params.tracking.experiment)
    raw = json.loads(Path(require(f"data/raw/{params.data.dataset}.json")).read_text())
    train = atomic.read_npz(require("data/split/train.npz"))
    val = atomic.read_npz(require("data/split/val.npz"))

    import mlflow

    from mnist_pipeline import model as mlp

    training.configure_determinism(params.seed, params.train.threads)
    spec = mlp.model_spec([dataclasses.asdict(layer) for layer in params.model.hidden_layers])
    model = mlp.build_model(spec)
    mlp.compile_model(
        model, params.train.optimizer, params.train.learning_rate, params.train.steps_per_execution
    )
    summary = mlp.summary_text(model)  # before fit: the optimizer's slots are not params

    tags = tracking.run_tags(params.data.dataset, raw["content_sha256"])
    with mlflow.start_run(experiment_id=experiment_id, tags=tags):
        mlflow.log_params(tracking.stringify(flatten(params)))
        tracking.log_dataset(
            f"{params.data.dataset}-train", train, content_digest(train), "training"
        )
        tracking.log_dataset(f"{params.data.dataset}-val", val, content_digest(val), "validation")
        history = training.fit(
            model, train, val, params.train.epochs, params.train.batch_size,
            callbacks=[tracking.epoch_metrics_callback()],
        )  # fmt: skip

        weights = training.weights_npz(mlp.get_weights(model))
        atomic.write_bytes("models/weights.npz", weights)
        atomic.write_json("models/model.json", spec)
        atomic.write_text("reports/train/history.csv", training.history_csv(history))
        atomic.write_text("reports/train/model_summary.txt", summary)

        mlflow.set_tag(tracking.WEIGHTS_TAG, sha256(weights))
        mlflow.log_artifact("reports/train/history.csv")
        tracking.log_keras_model(model, spec["input_dim"], spec["num_classes"])


if __name__ == "__main__":
    run(main)
