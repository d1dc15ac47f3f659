"""MLflow tracking: where the store is, how a stage finds the run of the model it reads.

No run id is ever written to a DVC output (it would change on every run and break
`dvc.lock`). Train tags its run with the content hash of the weights it wrote; evaluate and
plot hash the weights they read and log into the newest run with that tag.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import logging
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mnist_pipeline.datasets import sha256
from mnist_pipeline.paths import project_root
from mnist_pipeline.stage import StageError

log = logging.getLogger(__name__)

URI_VARIABLE = "MLFLOW_TRACKING_URI"
STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
WEIGHTS_TAG = "weights_sha256"


class TrackingError(StageError):
    """The tracking store cannot be reached or used."""


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else SQLite at the project root by absolute path, so stages that
    DVC runs in a temporary copy (`dvc exp run --temp`, `--queue`) log to the same store."""
    return os.environ.get(URI_VARIABLE) or f"sqlite:///{project_root() / STORE_FILE}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any work, when the tracking server does not answer."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
                return
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise TrackingError(
                f"MLflow tracking server {uri} unreachable ({reason}); start it or unset "
                f"{URI_VARIABLE} to use the embedded store"
            ) from None
    elif scheme == "sqlite":
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingError(f"MLflow store {uri}: folder {folder} missing or not writable")


def connect(experiment: str):
    """Point MLflow at the store and experiment; returns the experiment id."""
    import mlflow

    uri = tracking_uri()
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    try:
        with _store_lock(uri):
            return _experiment_id(mlflow, uri, experiment)
    except Exception as error:  # MLflow raises many types; all mean the store is unusable
        raise TrackingError(f"MLflow tracking store {uri}: {error}") from error


@contextlib.contextmanager
def _store_lock(uri: str):
    """Serialize first use of an embedded store across processes: parallel experiments
    (`dvc queue start -j 2`) would otherwise race to create its tables."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with open(uri.removeprefix("sqlite:///") + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _experiment_id(mlflow, uri: str, experiment: str) -> str:
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    # Embedded store: artifacts beside the database, not in the working directory.
    location = (project_root() / ARTIFACTS_DIR).as_uri() if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(experiment, artifact_location=location)


def run_tags(dataset: str, dataset_sha256: str) -> dict[str, str]:
    """What makes a run traceable: code version, data identity, DVC experiment name."""
    tags = {"dataset": dataset, "dataset_sha256": dataset_sha256}
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["git_commit"] = commit
        tags["git_dirty"] = str(bool(_git("status", "--porcelain", "--untracked-files=no")))
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    return tags


def find_run(experiment_id: str, weights_sha256: str) -> str | None:
    """The newest run tagged with these weights, or None (e.g. the store was wiped)."""
    import mlflow

    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.{WEIGHTS_TAG} = '{weights_sha256}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0].info.run_id if runs else None


def resume_run(experiment_id: str, weights_sha256: str, tags: dict[str, str], params: dict):
    """Start (as a context manager) the run that produced these weights, or a new, equally
    tagged run when that one no longer exists."""
    import mlflow

    run_id = find_run(experiment_id, weights_sha256)
    if run_id is not None:
        return mlflow.start_run(run_id=run_id)
    log.warning("no MLflow run has weights %s: starting a new one", weights_sha256[:12])
    run = mlflow.start_run(experiment_id=experiment_id, tags={**tags, WEIGHTS_TAG: weights_sha256})
    mlflow.log_params(stringify(params))
    return run


def model_run(
    experiment_id: str, weights_path: str, dataset: str, dataset_sha256: str, params: dict
):
    """The run of the model whose weights are at `weights_path` (see `resume_run`)."""
    weights_sha256 = sha256(Path(weights_path).read_bytes())
    tags = run_tags(dataset, dataset_sha256)
    return resume_run(experiment_id, weights_sha256, tags, params)


def stringify(params: dict[str, Any]) -> dict[str, str]:
    return {key: "null" if value is None else str(value) for key, value in params.items()}


def _git(*arguments: str) -> str:
    try:
        result = subprocess.run(
            ["git", *arguments], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()


def epoch_metrics_callback():
    """MLflow's Keras callback (per-epoch loss, accuracy, val_* at step=epoch, the model
    summary, optimizer params) without its `on_test_end`, which would log each epoch's
    validation metrics again, all at step 0."""
    from mlflow.keras import MlflowCallback

    class EpochMetricsCallback(MlflowCallback):
        def on_test_end(self, logs=None):
            pass

    return EpochMetricsCallback()


def log_dataset(name: str, split: dict, digest: str, context: str) -> None:
    """Record a data split as a run input. MLflow's own numpy digest hashes only the first
    10,000 values, so the full-content digest is passed in."""
    import mlflow

    dataset = mlflow.data.from_numpy(split["x"], targets=split["y"], name=name, digest=digest[:32])
    mlflow.log_input(dataset, context=context)


def log_keras_model(model, input_dim: int, num_classes: int) -> None:
    """Log the model loadable by `mlflow.pyfunc.load_model`: float32 N x input_dim in,
    class probabilities out. Requirements are given, not inferred (inference re-imports
    the model in a subprocess and costs many seconds)."""
    import keras
    import mlflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, input_dim))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_classes))]),
    )
    backend_packages = {"tensorflow": ["tensorflow"], "jax": ["jax", "jaxlib"]}
    requirements = [f"keras=={keras.__version__}"] + [
        f"{package}=={importlib.metadata.version(package)}"
        for package in backend_packages.get(keras.backend.backend(), [])
    ]
    mlflow.keras.log_model(model, name="model", signature=signature, pip_requirements=requirements)
