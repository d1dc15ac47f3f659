"""Where things live: every file the stages read or write, declared once.

`dvc.yaml` names the same files as each stage's deps and outs; tests/test_contract.py
checks that each stage script uses exactly the files its stage declares.
"""

from __future__ import annotations

import os
from pathlib import Path

# download


def raw_data(dataset: str) -> str:
    return f"data/raw/{dataset}.npz"


def raw_record(dataset: str) -> str:
    """The verified content digest and sizes of the raw data (JSON)."""
    return f"data/raw/{dataset}.json"


# prepare, split
PREPARED_DEV = "data/prepared/dev.npz"
PREPARED_TEST = "data/prepared/test.npz"
SCALING = "data/prepared/scaling.json"
SPLIT_TRAIN = "data/split/train.npz"
SPLIT_VAL = "data/split/val.npz"

# train
WEIGHTS = "models/weights.npz"
MODEL_SPEC = "models/model.json"
HISTORY = "reports/train/history.csv"
MODEL_SUMMARY = "reports/train/model_summary.txt"

# evaluate
METRICS = "reports/evaluate/metrics.json"
PER_CLASS = "reports/evaluate/per_class.csv"
PREDICTIONS = "reports/evaluate/predictions.csv"
EVALUATED = "reports/evaluate/evaluated.json"  # which weights the evaluation outputs are of

# plot
FIGURES_DIR = "reports/figures"
SAMPLES_FIGURE = f"{FIGURES_DIR}/samples.png"
LOSS_FIGURE = f"{FIGURES_DIR}/loss.png"
ACCURACY_FIGURE = f"{FIGURES_DIR}/accuracy.png"
PREDICTIONS_FIGURE = f"{FIGURES_DIR}/predictions.png"
CONFUSION_FIGURE = f"{FIGURES_DIR}/confusion_matrix.png"
FIGURES = (SAMPLES_FIGURE, LOSS_FIGURE, ACCURACY_FIGURE, PREDICTIONS_FIGURE, CONFUSION_FIGURE)

# scratch
GRADIENTS = "reports/scratch/gradients.json"

# `dvc exp run --temp` and `--queue` run stages in <project>/.dvc/tmp/exps/<tmpdir>/.
_EXPERIMENT_WORKSPACE = (".dvc", "tmp", "exps")


def project_root(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The project's root: the working directory, or the project that owns a DVC temp copy.

    Stages run from the project root; this makes shared state (the MLflow store, a relative
    mirror path) land in the real project even when DVC runs the stage elsewhere.
    """
    path = Path(cwd or Path.cwd()).resolve()
    parts = path.parts
    for index in range(len(parts) - len(_EXPERIMENT_WORKSPACE) + 1):
        if parts[index : index + len(_EXPERIMENT_WORKSPACE)] == _EXPERIMENT_WORKSPACE:
            return Path(*parts[:index])
    return path
