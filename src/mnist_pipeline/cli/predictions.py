"""`mnist-pipeline predict`: which model answers, and how its answers are printed.

The workspace's model (models/, prepare's scaling.json, the class names of params.yaml's data) needs
neither MLflow nor TensorFlow; any MLflow model URI (`models:/<name>@champion`,
`models:/<name>/3`, `runs:/<run id>/model`, `models:/<model id>`, a local folder) is loaded
by tracking.serving.load_model from the project's tracking store or MLFLOW_TRACKING_URI.
Both give the same table (classifier.prediction_table).
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
