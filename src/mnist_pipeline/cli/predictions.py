"""`mnist-pipeline predict`: which model answers, and how its answers are printed.

The workspace's model (models/, prepare's scaling.json, the class names of params.yaml's data) needs
neither MLflow nor TensorFlow; any MLflow model URI (`models:/<name>@champion`,
`models:/<name>/3`, `runs:/<run id>/model`, `models:/<model id>`, a local folder) is loaded
by tracking.serving.load_model from the project's tracking store or MLFLOW_TRACKING_URI.
Both give the same table (classifier.prediction_table). `--card` prints, instead, the model
card of the registered version that URI names, or of the version holding the workspace's
weights (tracking/cards.py).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mnist_pipeline import paths
from mnist_pipeline.model.classifier import LABEL, PROBABILITY, RawImageClassifier

INPUT = "input"  # the first column: which file (and which image in it)
FORMATS = ("table", "json", "csv")


def workspace_model(class_names: Sequence[str]) -> Callable[[np.ndarray], Any]:
    """The model `dvc repro` left in the workspace, on raw images."""
    return RawImageClassifier.from_files(
        paths.MODEL_SPEC, paths.WEIGHTS, paths.SCALING, class_names
    ).predict


def model_card(uri: str | None) -> str:
    """The card of the version `predict --model uri` (or, without, the workspace) would use."""
    from mnist_pipeline.data.datasets import sha256
    from mnist_pipeline.params import load_params
    from mnist_pipeline.stage import read_bytes, read_json
    from mnist_pipeline.tracking import cards

    if uri:
        return cards.card_for(uri)
    params = load_params()
    dataset = params.data.dataset
    workspace = (
        params.registry.registered_name(dataset),
        sha256(read_bytes(paths.WEIGHTS)),
        read_json(paths.raw_record(dataset))["content_sha256"],
    )
    return cards.card_for(None, workspace)


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
            writer.writerow(
                [row[INPUT], row[LABEL], row[PROBABILITY], *row["probabilities"].values()]
            )
        return buffer.getvalue()
    lines = [[INPUT, LABEL, PROBABILITY]]
    lines += [[row[INPUT], row[LABEL], f"{row[PROBABILITY]:.4f}"] for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(2)]
    return "".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}\n" for a, b, c in lines)
