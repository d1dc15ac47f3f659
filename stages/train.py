"""DVC stage `train`: fit the MLP on the train split, deterministically, tracked in MLflow.

Outputs: models/weights.npz + models/model.json (byte-stable; rebuild with model/keras_model.py),
reports/train/history.csv (per-epoch curves) and reports/train/model_summary.txt.
"""

import dataclasses
import os

from mnist_pipeline import atomic, paths, quiet
from mnist_pipeline.data.datasets import content_digest, dataset_classes, sha256
from mnist_pipeline.model import training
from mnist_pipeline.params import load_params
from mnist_pipeline.report import history
from mnist_pipeline.search import trial
from mnist_pipeline.stage import (
    InterruptCheckpoints,
    checkpoint,
    interrupts_at_checkpoints,
    read_json,
    read_npz,
    run,
)
from mnist_pipeline.tracking import tracker


def main() -> None:
    quiet.install()  # before TensorFlow loads: its known, harmless stderr noise filtered out
    params = load_params()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ warnings and errors, not info
    training.select_backend(params.train.backend, params.train.threads)  # before keras loads
    # Before the slow part: an unreachable tracking server fails here, outputs untouched.
    experiment_id = tracker.connect(params.tracking.experiment)
    raw = read_json(paths.raw_record(params.data.dataset))
    train = read_npz(paths.SPLIT_TRAIN)
    val = read_npz(paths.SPLIT_VAL)

    from mnist_pipeline.model import keras_model as mlp
    from mnist_pipeline.model.architecture import model_spec

    training.configure_determinism(params.seed, params.train.threads)
    classes = dataset_classes(params.data.dataset, params.data.class_names)
    spec = model_spec([dataclasses.asdict(layer) for layer in params.model.values()], len(classes))
    model = training.compiled_model(spec, params.train, len(train["y"]))
    summary = mlp.summary_text(model)  # before fit: the optimizer's slots are not params

    link = trial.from_environment()  # set when `mnist-pipeline tune` runs this as a trial
    with (
        tracker.new_run(
            experiment_id, params, raw["content_sha256"], **trial.run_tags(link)
        ) as run_id,
        interrupts_at_checkpoints(),  # a first Ctrl-C between batches, not inside TF or MLflow
    ):
        tracker.log_dataset(
            f"{params.data.dataset}-train", train, content_digest(train), "training"
        )
        tracker.log_dataset(f"{params.data.dataset}-val", val, content_digest(val), "validation")
        epochs = training.fit(
            model,
            train,
            val,
            params.train.epochs,
            params.train.batch_size,
            callbacks=listeners(link, run_id),
            max_shift=params.train.augment_shift,
            seed=params.seed,
        )
        checkpoint()  # interrupted after the last batch: no outputs
        weights = training.weights_npz(mlp.get_weights(model))
        save_outputs(weights, spec, epochs, summary)
        tracker.tag_weights(sha256(weights))
        tracker.log_training_outputs()
        shape = spec["input_dim"], spec["num_classes"]
        tracker.log_keras_model(model, *shape, len(epochs), mlp.requirements())


def listeners(link: trial.TrialLink | None, run_id: str) -> list:
    """What the fit reports each epoch to: the MLflow run, the study if this is a trial; last,
    the checkpoints where an interrupt takes effect."""
    study = [trial.epoch_callback(link, run_id)] if link else []
    return [tracker.EpochMetrics(), *study, InterruptCheckpoints()]


def save_outputs(weights: bytes, spec: dict, epochs: list[dict], summary: str) -> None:
    """The stage's outputs, each written atomically."""
    atomic.write_bytes(paths.WEIGHTS, weights)
    atomic.write_json(paths.MODEL_SPEC, spec)
    atomic.write_text(paths.HISTORY, history.history_csv(epochs))
    atomic.write_text(paths.MODEL_SUMMARY, summary)


if __name__ == "__main__":
    run(main)
