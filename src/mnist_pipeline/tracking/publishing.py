"""Publishing a model: complete its MLflow run, then register it (registry.py).

`mnist-pipeline publish` with no RUN publishes the workspace's model; `make run` calls it
after `dvc repro`. The run of the workspace's weights lacks what plot logs (evaluate's
outputs, the figures, the raw-image model) when DVC skipped it (a fresh clone, `dvc repro -f
train`: the committed outputs already belong to the weights train wrote). Those outputs are
read here, after the pipeline, so no stage reads a later stage's output and no stage depends
on the registry.
"""

from __future__ import annotations

from pathlib import Path

from mnist_pipeline import paths
from mnist_pipeline.data.datasets import dataset_classes, sha256
from mnist_pipeline.data.preprocessing import unscale
from mnist_pipeline.errors import ModelError
from mnist_pipeline.report.evaluation import TEST_ACCURACY, evaluated_weights
from mnist_pipeline.stage import read_bytes, read_json, read_npz
from mnist_pipeline.tracking import registry, serving, tracker


def publish_workspace(params, experiment: str) -> registry.Decision:
    """Complete the run of models/weights.npz from the outputs on disk, then register it."""
    return registry.publish_run_id(complete_workspace_run(params, experiment), params.registry)


def complete_workspace_run(params, experiment: str) -> str:
    """The run of the workspace's weights, with each part plot logs present
    (logged now from their outputs where it is missing, once); returns its id."""
    import mlflow

    experiment_id = tracker.connect(experiment)
    weights_sha256 = sha256(read_bytes(paths.WEIGHTS))
    if evaluated_weights() != weights_sha256:
        raise ModelError(
            f"{paths.EVALUATED} is not of the weights in {paths.WEIGHTS}: run `dvc repro` "
            "first, then publish"
        )
    record = read_json(paths.raw_record(params.data.dataset))
    with tracker.model_run(
        experiment_id, weights_sha256, params, record["content_sha256"]
    ) as run_id:
        client = mlflow.MlflowClient()
        if TEST_ACCURACY not in client.get_run(run_id).data.metrics:
            tracker.log_evaluation()
        drawn = all(Path(figure).is_file() for figure in paths.FIGURES)
        if drawn and not client.list_artifacts(run_id, "figures"):
            tracker.log_figures()
        example = read_npz(paths.PREPARED_TEST)["x"][: serving.EXAMPLE_IMAGES]
        serving.log_model_once(
            paths.MODEL_SPEC,
            paths.WEIGHTS,
            paths.SCALING,
            params.data.dataset,
            dataset_classes(params.data.dataset, params.data.class_names),
            unscale(example, read_json(paths.SCALING)),
            weights_sha256,
        )
    return run_id
