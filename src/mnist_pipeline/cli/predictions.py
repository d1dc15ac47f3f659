"""`mnist-pipeline predict`: which model answers, and how its answers are printed.

The workspace's model (models/, prepare's scaling.json, the dataset in params.yaml) needs
neither MLflow nor TensorFlow; any MLflow model URI (`models:/<name>@champion`,
`models:/<name>/3`, `runs:/<run id>/model`, `models:/<model id>`, a local folder) is loaded
with `mlflow.pyfunc.load_model` from the project's tracking store or MLFLOW_TRACKING_URI.
Both give the same table (classifier.prediction_table).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from mnist_pipeline import paths
from mnist_pipeline.data.datasets import get_spec
from mnist_pipeline.errors import ModelError
from mnist_pipeline.model.classifier import LABEL, PROBABILITY, RawImageClassifier

INPUT = "input"  # the first column: which file (and which image in it)
FORMATS = ("table", "json", "csv")


def workspace_model(dataset: str) -> Callable[[np.ndarray], Any]:
    """The model `dvc repro` left in the workspace, on raw images."""
    return RawImageClassifier.from_files(
        paths.MODEL_SPEC, paths.WEIGHTS, paths.SCALING, get_spec(dataset).class_names
    ).predict


def mlflow_model(uri: str) -> Callable[[np.ndarray], Any]:
    """The raw-image MLflow model at `uri`; ModelError if there is none or it takes other
    input (the Keras model takes scaled N x 784 floats)."""
    from mnist_pipeline.tracking import tracker

    # A 0.5 MB model: MLflow's "Downloading artifacts" bars would only clutter the answer.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.exceptions import MlflowException

    store = tracker.tracking_uri()
    tracker.check_reachable(store)
    mlflow.set_tracking_uri(store)
    from mnist_pipeline.tracking.serving import input_schema

    try:
        # Its MLmodel first: a model of other input (the Keras one) is refused unloaded.
        takes = mlflow.models.get_model_info(uri).signature
        takes = takes.inputs if takes else None
        if takes != input_schema():
            raise ModelError(
                f"{uri}: takes {takes}, not raw images {input_schema()}: use the `model` of a "
                "run (runs:/<run id>/model) or models:/<name>@champion"
            )
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as error:
        raise ModelError(f"{uri}: no model to load there ({_first_line(error)})") from None

    def predict(images: np.ndarray):
        try:
            return model.predict(images)
        except MlflowException as error:
            raise ModelError(f"{uri}: {_first_line(error)}") from None

    return predict


def _first_line(error: BaseException) -> str:
    """MLflow's messages can run to the whole input array: keep the part that says why."""
    message = getattr(error, "message", None) or str(error)
    return message.rsplit("Error: ", 1)[-1].strip().splitlines()[0]


def records(names: list[str], table) -> list[dict[str, Any]]:
    """One dict per image: input, label, probability, probabilities by class name."""
    classes = [column for column in table.columns if column not in (LABEL, PROBABILITY)]
    return [
        {
            INPUT: name,
            LABEL: row[LABEL],
            PROBABILITY: round(float(row[PROBABILITY]), 6),
            "probabilities": {name: round(float(row[name]), 6) for name in classes},
        }
        for name, (_, row) in zip(names, table.iterrows(), strict=True)
    ]


def render(rows: list[dict[str, Any]], form: str) -> str:
    if form == "json":
        return json.dumps(rows, indent=2) + "\n"
    if form == "csv":
        buffer = io.StringIO()
        classes = list(rows[0]["probabilities"]) if rows else []
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([INPUT, LABEL, PROBABILITY, *classes])
        for row in rows:
            writer.writerow([row[INPUT], row[LABEL], row[PROBABILITY],
                             *row["probabilities"].values()])  # fmt: skip
        return buffer.getvalue()
    lines = [[INPUT, LABEL, PROBABILITY]]
    lines += [[row[INPUT], row[LABEL], f"{row[PROBABILITY]:.4f}"] for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(2)]
    return "".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}\n" for a, b, c in lines)
