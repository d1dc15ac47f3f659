"""MLflow tracking: where the store is, which run a stage logs into, and what a run holds.

One MLflow run per pipeline execution. No run id is ever written to a DVC output (it would
change on every run and break `dvc.lock`): train tags its run with the content hash of the
weights it wrote and with the DVC experiment name; evaluate and plot hash the weights they
read and log into the newest run with that hash from the same DVC experiment (or from no
experiment, under plain `dvc repro`), so parallel experiments that happen to train identical
weights each keep their own run.

No stage reads a later stage's output. When DVC skips evaluate and plot because their outputs
already belong to the weights train just wrote (a fresh clone, `dvc repro -f train`), train's
run lacks what they log: `mnist-pipeline publish` (which `make run` calls after `dvc repro`)
completes it from those outputs (publishing.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mnist_pipeline import paths, stage
from mnist_pipeline.data.datasets import dataset_classes
from mnist_pipeline.errors import (
    RunError,
    TrackingError,
    TrialPrunedError,
    TrialStoppedError,
)
from mnist_pipeline.report.history import EPOCH_METRICS, read_history_csv

log = logging.getLogger(__name__)

URI_VARIABLE = "MLFLOW_TRACKING_URI"
STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
WEIGHTS_TAG = "weights_sha256"
DATASET_TAG, DATASET_SHA_TAG, COMMIT_TAG = "dataset", "dataset_sha256", "git_commit"
EXPERIMENT_TAG = "dvc_experiment"
DESCRIPTION_TAG = "mlflow.note.content"  # the run page's "Description"
# A tuning trial's run: its Optuna state (COMPLETE, PRUNED, FAIL) and a pruned one's epoch.
TRIAL_STATE_TAG, PRUNED_AT_TAG = "optuna.state", "optuna.pruned_at_epoch"
# The two models a run logs: the raw-image model (plot, serving.py: what to use and serve)
# and the Keras model as trained (train: for Keras users; it takes scaled N x 784 floats).
RAW_IMAGE_MODEL, KERAS_MODEL = "model", "keras_model"
# Which process owns a RUNNING run, so a later stage can tell a dead run from a live one.
# Removed when the run ends (they would be noise on the run page and in the compare view).
HOST_TAG = "mnist_pipeline.process.host"
PID_TAG = "mnist_pipeline.process.pid"
PROCESS_START_TAG = "mnist_pipeline.process.start"
OWNER_TAGS = (HOST_TAG, PID_TAG, PROCESS_START_TAG)
EXPERIMENT_DESCRIPTION = (
    "Runs of the mnist-pipeline DVC pipeline: one per execution that trains a model, named "
    "after its DVC experiment (or commit and changed params); per-epoch metrics at steps 1..N, "
    "test metrics, figures and the model. Compare: tick runs, then Compare."
)
# Experiment tags read only by the MLflow UI. The project owns them: connect sets any that
# differ. The kind marks a classic ML experiment (the UI's CUSTOM_MODEL_DEVELOPMENT; MLflow
# 3.17's UI chooses GenAI or classic views per browser instead: docs/compare-runs.md "With MLflow").
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
# The runs list `mnist-pipeline ui` opens: MLflow's shared-view state, a tag the UI loads for
# `?viewStateShareKey=<key>` (its only way to choose columns from a URL). Test metrics first,
# best first; no Dataset and Source columns, which pushed them off-screen.
RUNS_VIEW_KEY = "mnist-pipeline"
RUNS_VIEW = {
    "orderByKey": "metrics.`test_accuracy`",
    "orderByAsc": False,
    "selectedColumns": [
        "metrics.`test_accuracy`",
        "metrics.`test_macro_f1`",
        "metrics.`test_loss`",
        "attributes.`Models`",
    ],
}
UI_TAGS = {
    EXPERIMENT_KIND_TAG: "custom_model_development",
    f"mlflow.sharedViewState.{RUNS_VIEW_KEY}": json.dumps(RUNS_VIEW),
}


REFUSALS = ("UNAUTHENTICATED", "PERMISSION_DENIED")  # MLflow's error codes for 401 and 403


def refused(error: BaseException, uri: str | None = None) -> str | None:
    """A tracking server refusing the user (401: no or wrong credentials; 403: the user's
    role does not allow it), in one line naming the server, the user and what was refused."""
    from mlflow.exceptions import MlflowException

    if not isinstance(error, MlflowException) or error.error_code not in REFUSALS:
        return None
    endpoint = re.search(r"endpoint (\S+)", str(error))
    what = endpoint.group(1).split("/mlflow/")[-1] if endpoint else "the request"
    return refusal(uri or tracking_uri(), error.error_code, what)


def refusal(uri: str, error_code: str, what: str) -> str:
    from mlflow.utils.credentials import read_mlflow_creds

    user = read_mlflow_creds().username
    if error_code == "UNAUTHENTICATED":
        who = f"the password of user {user!r}" if user else "a request without credentials"
        how = "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (docs/team.md)"
        return f"MLflow tracking server {uri} refused {who} (401) on {what}: {how}"
    return (
        f"MLflow tracking server {uri} refused {what} to user {user!r} (403): their role "
        "does not allow it (viewers only read; publishers register and move the champion)"
    )


stage.OUTAGES.append(refused)


def lost_server(error: BaseException) -> str | None:
    """MLflow giving up on a tracking server that went away mid-stage (its client retries
    first; the message names the server): an outage to report in one line, not a bug."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException) and "API request to" in str(error):
        return f"MLflow tracking failed: {error}"
    return None


stage.OUTAGES.append(lost_server)


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else SQLite at the project root by absolute path, so stages that
    DVC runs in a temporary copy (`dvc exp run --temp`, `--queue`) log to the same store."""
    return os.environ.get(URI_VARIABLE) or f"sqlite:///{paths.project_root() / STORE_FILE}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any work, when the tracking server does not answer or refuses the
    user's credentials."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme in ("http", "https"):
        try:
            health = uri.rstrip("/") + "/health"
            with urllib.request.urlopen(health, timeout=timeout, context=tls_context()):
                pass
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise TrackingError(
                f"MLflow tracking server {uri} unreachable ({reason}); start it or unset "
                f"{URI_VARIABLE} to use the embedded store"
            ) from None
        check_credentials(uri)
    elif scheme == "sqlite":
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingError(f"MLflow store {uri}: folder {folder} missing or not writable")


def tls_context() -> ssl.SSLContext:
    """TLS as MLflow's client does it: a private CA's certificate from
    MLFLOW_TRACKING_SERVER_CERT_PATH, no check with MLFLOW_TRACKING_INSECURE_TLS=true."""
    context = ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def check_credentials(uri: str) -> None:
    """Fail fast, before any work, when the server refuses the user's credentials (the
    environment's MLFLOW_TRACKING_USERNAME/PASSWORD, else MLflow's credentials file)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.MlflowClient(uri).search_experiments(max_results=1)
    except MlflowException as error:
        said = refused(error, uri)
        if said is None:
            raise
        raise TrackingError(said) from None


def connect(experiment: str) -> str:
    """Point MLflow at the store and experiment, mark runs whose process died as KILLED;
    returns the experiment id."""
    import mlflow

    uri = tracking_uri()
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    try:
        with store_lock(uri):
            experiment_id = _experiment_id(mlflow, uri, experiment)
        end_dead_runs(mlflow.MlflowClient(), experiment_id)
    except TrackingError:
        raise
    except Exception as error:  # MLflow raises many types; all mean the store is unusable
        said = refused(error)
        if said is not None:
            raise TrackingError(said) from None
        raise TrackingError(f"MLflow tracking store {uri}: {error}") from error
    return experiment_id


def find_experiment(experiment: str) -> str | None:
    """The id of `experiment` in the project's store (checked reachable first), or None; for
    the commands that read runs (connect creates the experiment, these do not)."""
    import mlflow

    uri = tracking_uri()
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    return found.experiment_id if found else None


def ui_experiment(experiment: str) -> str | None:
    """find_experiment, with the UI tags set on one made before them (its runs view too)."""
    import mlflow

    experiment_id = find_experiment(experiment)
    if experiment_id is not None:
        client = mlflow.MlflowClient()
        set_ui_tags(client, client.get_experiment(experiment_id))
    return experiment_id


def open_experiment(experiment: str) -> tuple[Any, str]:
    """(MlflowClient, experiment id) of an existing experiment; RunError if there is none."""
    import mlflow

    experiment_id = find_experiment(experiment)
    if experiment_id is None:
        raise RunError(f"no experiment {experiment!r} in the tracking store {tracking_uri()}")
    return mlflow.MlflowClient(), experiment_id


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialize first use of an embedded store across processes: parallel experiments
    (`dvc queue start -j 2`) would otherwise race to create its tables (and to move the
    registry's champion alias: registry.py). A tracking server has no such lock."""
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
        set_ui_tags(mlflow.MlflowClient(), found)
        return found.experiment_id
    # Embedded store: artifacts beside the database, not in the working directory.
    location = (
        (paths.project_root() / ARTIFACTS_DIR).as_uri() if uri.startswith("sqlite:") else None
    )
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.create_experiment(
            experiment,
            artifact_location=location,
            tags={DESCRIPTION_TAG: EXPERIMENT_DESCRIPTION, **UI_TAGS},
        )
    except MlflowException as error:
        # Another process (a second tuning worker, a parallel experiment) created it on the
        # tracking server in between: that one is ours too.
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return mlflow.get_experiment_by_name(experiment).experiment_id


# Runs by id, for the search's parent run (no active run there: several workers share it).


def log_params_to(client, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(key, str(value)) for key, value in params.items()])


def set_tags_on(client, run_id: str, tags: dict[str, str]) -> None:
    from mlflow.entities import RunTag

    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])


def remove_tag(client, run_id: str, key: str) -> bool:
    """Delete a run's tag; False when MLflow refuses (the tag gone already, removed by another
    process, or the tracking server gone): the caller goes on either way."""
    from mlflow.exceptions import MlflowException

    try:
        client.delete_tag(run_id, key)
    except MlflowException:
        return False
    return True


def set_ui_tags(client, experiment) -> None:
    """UI_TAGS on an experiment that lacks them or holds other values (one made before them)."""
    for key, value in UI_TAGS.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)


# Run state: a run whose process died (SIGKILL, out of memory) stays RUNNING in MLflow.


def owner_tags() -> dict[str, str]:
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PROCESS_START_TAG: _process_start(os.getpid()) or "",
    }


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (None if it is gone): with the
    pid it identifies a process, also after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces


def process_alive(host: str, pid: str, start: str) -> bool | None:
    """Whether process `pid` of `host`, started at `start` (owner_tags), still runs; None
    for another host, which cannot be checked from here."""
    if host != socket.gethostname():
        return None
    return _process_start(int(pid)) == start


def end_dead_runs(client, experiment_id: str) -> list[str]:
    """Mark KILLED each RUNNING run owned by a process of this host that no longer exists.
    Runs of live processes, and of other hosts (which we cannot check), are left alone."""
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
    ended = []
    for run in running:
        tags = run.data.tags
        if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG):
            continue
        if _process_start(int(tags[PID_TAG])) == tags.get(PROCESS_START_TAG):
            continue  # still running
        client.set_terminated(run.info.run_id, status="KILLED")
        _remove_owner_tags(client, run.info.run_id)
        log.warning(
            "MLflow run %s (%s): its process %s is gone; marked KILLED",
            run.info.run_id[:8],
            run.info.run_name,
            tags[PID_TAG],
        )
        ended.append(run.info.run_id)
    return ended


@contextlib.contextmanager
def active_run(**start_run_arguments: Any) -> Iterator[str]:
    """`mlflow.start_run`, yielding the run id (never MLflow's run object: no code outside
    tracking/ sees MLflow's types); ended FINISHED, FAILED on an error, KILLED on Ctrl-C,
    SIGTERM or a tuning trial ended early; a pruned trial's FINISHED, tagged PRUNED (MLflow's
    own context manager would say FAILED for each)."""
    import mlflow

    tags = {**start_run_arguments.pop("tags", {}), **owner_tags()}
    run = mlflow.start_run(tags=tags, **start_run_arguments)
    try:
        yield run.info.run_id
    except BaseException as error:
        if isinstance(error, TrialPrunedError):
            mlflow.set_tags({TRIAL_STATE_TAG: "PRUNED", PRUNED_AT_TAG: str(error.epoch)})
        if isinstance(error, TrialStoppedError):
            _end_run(error.run_status)
        else:
            _end_run("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    _end_run("FINISHED")


def _end_run(status: str) -> None:
    import mlflow

    _remove_owner_tags(mlflow.MlflowClient(), mlflow.active_run().info.run_id)
    mlflow.end_run(status)


def _remove_owner_tags(client, run_id: str) -> None:
    present = client.get_run(run_id).data.tags
    for tag in OWNER_TAGS:
        if tag in present:
            client.delete_tag(run_id, tag)


# What a run is called and tagged with.


def experiment_name() -> str | None:
    """The DVC experiment being run (`dvc exp run`, also --temp and --queue), else None."""
    return os.environ.get("DVC_EXP_NAME") or None


def run_tags(dataset: str, dataset_sha256: str) -> dict[str, str]:
    """What makes a run traceable: code version, data identity, DVC experiment name."""
    tags = {DATASET_TAG: dataset, DATASET_SHA_TAG: dataset_sha256}
    commit = git("rev-parse", "HEAD")
    if commit:
        tags[COMMIT_TAG] = commit
        tags["git_dirty"] = str(bool(git("status", "--porcelain", "--untracked-files=no")))
    if experiment_name():
        tags[EXPERIMENT_TAG] = experiment_name()
    return tags


def changed_params(params: dict[str, Any]) -> dict[str, Any]:
    """Flattened params that differ from the committed params.yaml (the experiment's
    baseline under `dvc exp run`); empty outside git."""
    import yaml

    from mnist_pipeline.params import flatten

    baseline = os.environ.get("DVC_EXP_BASELINE_REV") or "HEAD"
    committed = git("show", f"{baseline}:params.yaml")
    if not committed:
        return {}
    before = flatten(yaml.safe_load(committed))
    return {key: value for key, value in params.items() if before.get(key) != value}


def run_name(client, experiment_id: str, changes: dict[str, Any]) -> str:
    """The DVC experiment's name, else `<commit> <changed params> #<n>`: people tell runs
    apart by what they changed. Never drawn from Python's `random`, which the pipeline seeds
    (MLflow's random names were then the same for every run)."""
    if experiment_name():
        return experiment_name()
    commit = git("rev-parse", "--short=7", "HEAD") or "no-git"
    shown = [f"{key}={value}" for key, value in changes.items()][:3]
    base = " ".join([commit, *shown]) + (" ..." if len(changes) > 3 else "")
    pattern = base.replace("'", "\\'") + " #%"
    same = client.search_runs(
        [experiment_id], filter_string=f"attributes.run_name LIKE '{pattern}'", max_results=1000
    )
    return f"{base} #{len(same) + 1}"


def describe(params, dataset_sha256: str, changes: dict[str, Any]) -> str:
    """The run page's description: data, model, training, and what differs from the commit."""
    layers = "".join(
        f" → {layer.units} {layer.activation}"
        + (f" (dropout {layer.dropout})" if layer.dropout else "")
        for layer in params.model.values()
    )
    train = params.train
    classes = dataset_classes(params.data.dataset, params.data.class_names)
    schedule = "" if train.lr_schedule == "constant" else f" ({train.lr_schedule} decay)"
    shifts = f", images shifted up to {train.augment_shift} px" if train.augment_shift else ""
    lines = [
        f"**Data**: {params.data.dataset} (content sha256 {dataset_sha256[:12]}), "
        f"{params.prepare.scaling} scaling, seed {params.seed}",
        f"**Model**: 784{layers} → {len(classes)} softmax",
        f"**Training**: {train.optimizer}, learning rate {train.learning_rate}{schedule}, "
        f"{train.epochs} epochs, batch {train.batch_size}{shifts}, {train.backend} backend",
        "**Params changed from the commit**: "
        + (", ".join(f"`{key}={value}`" for key, value in changes.items()) or "nothing"),
    ]
    return "  \n".join(lines)


def stringify(params: dict[str, Any]) -> dict[str, str]:
    return {key: "null" if value is None else str(value) for key, value in params.items()}


def git(*arguments: str) -> str:
    """`git ARGUMENTS`' output, stripped; "" when git fails or is missing (no repository)."""
    try:
        result = subprocess.run(
            ["git", *arguments], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip()


# Finding the run of the model a stage reads.


def find_run(experiment_id: str, weights_sha256: str) -> str | None:
    """The newest run with these weights from this DVC experiment (or, outside `dvc exp
    run`, from no experiment); None if there is none (e.g. the store was wiped)."""
    import mlflow

    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.{WEIGHTS_TAG} = '{weights_sha256}'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    mine = [run for run in runs if run.data.tags.get(EXPERIMENT_TAG) == experiment_name()]
    return mine[0].info.run_id if mine else None


@contextlib.contextmanager
def new_run(experiment_id: str, params, dataset_sha256: str, **tags: str) -> Iterator[str]:
    """A new run for this pipeline execution: named, tagged, described, every param logged
    (params.yaml's values, flattened: `train.learning_rate`, `model.hidden_1.units`)."""
    import mlflow

    from mnist_pipeline.params import flatten

    flat = flatten(params)
    changes = changed_params(flat)
    tags = {
        **run_tags(params.data.dataset, dataset_sha256),
        **tags,
        DESCRIPTION_TAG: describe(params, dataset_sha256, changes),
    }
    name = run_name(mlflow.MlflowClient(), experiment_id, changes)
    with active_run(experiment_id=experiment_id, run_name=name, tags=tags) as run_id:
        mlflow.log_params(stringify(flat))
        yield run_id


@contextlib.contextmanager
def model_run(
    experiment_id: str, weights_sha256: str, params, dataset_sha256: str
) -> Iterator[str]:
    """The run that produced these weights, resumed; or a new, equally tagged run when there
    is none for this experiment (store wiped, or the weights came from elsewhere)."""
    found = find_run(experiment_id, weights_sha256)
    if found is not None:
        with active_run(run_id=found) as run_id:
            yield run_id
        return
    log.warning("no MLflow run has weights %s: starting a new one", weights_sha256[:12])
    with new_run(experiment_id, params, dataset_sha256, **{WEIGHTS_TAG: weights_sha256}) as run_id:
        # Train did not run in this execution (its outputs were up to date): give the run
        # train's part of what the outputs on disk hold for these weights.
        log_history()
        log_training_outputs()
        yield run_id


# What a run holds.


class EpochMetrics:
    """A fit listener (model.training.keras_callback) logging the per-epoch metrics at step =
    the epoch as Keras prints it ("Epoch 3/10" is step 3). Not `mlflow.keras.MlflowCallback`:
    it numbers epochs from 0 and logs 16 `optimizer_*` params that duplicate params.yaml's."""

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        import mlflow

        metrics = {name: float(logs[name]) for name in EPOCH_METRICS if name in logs}
        mlflow.log_metrics(metrics, step=epoch + 1)


def log_dataset(name: str, split: dict, digest: str, context: str) -> None:
    """Record a data split as a run input. MLflow's own numpy digest hashes only the first
    10,000 values, so the full-content digest is passed in."""
    import mlflow

    dataset = mlflow.data.from_numpy(split["x"], targets=split["y"], name=name, digest=digest[:32])
    mlflow.log_input(dataset, context=context)


def log_keras_model(
    model, input_dim: int, num_classes: int, epochs: int, requirements: list[str]
) -> None:
    """Log the Keras `model` (through mlflow.keras: this module never imports keras) loadable
    by `mlflow.pyfunc.load_model`: float32 N x input_dim in, class probabilities out, with the
    final epoch's metrics (step `epochs`). `requirements`: given, not inferred (inference
    re-imports the model in a subprocess, seconds)."""
    import mlflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, input_dim))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_classes))]),
    )
    skip_environment_scan()
    mlflow.keras.log_model(
        model, name=KERAS_MODEL, signature=signature, pip_requirements=requirements, step=epochs
    )


def skip_environment_scan() -> None:
    """Spare MLflow's scan of every installed distribution (1-3 s per model logged here).

    Logging a model, MLflow checks its pip requirements against this environment; to do so it
    first maps each installed distribution's files to modules
    (`importlib_metadata.packages_distributions`, slow beside TensorFlow), then looks each
    requirement up by its package name anyway. Ours are pinned from
    `importlib.metadata.version` in this process, so they cannot mismatch, and the map is only
    a fallback for names that are not distributions. Deliberately set through MLflow's private
    `requirements_utils._MODULES_TO_PACKAGES` (3.17, locked in uv.lock):
    tests/tracking/test_environment_scan.py fails if an upgrade moves it."""
    from mlflow.utils import requirements_utils

    if requirements_utils._MODULES_TO_PACKAGES is None:
        requirements_utils._MODULES_TO_PACKAGES = {}


def tag_weights(weights_sha256: str) -> None:
    import mlflow

    mlflow.set_tag(WEIGHTS_TAG, weights_sha256)


def log_history() -> None:
    """The per-epoch metrics from history.csv, as the epoch callback logs them during fit."""
    import mlflow

    history = read_history_csv(Path(paths.HISTORY).read_text())
    for index, epoch in enumerate(history["epoch"]):
        mlflow.log_metrics(
            {name: float(history[name][index]) for name in EPOCH_METRICS}, step=int(epoch)
        )


def log_training_outputs() -> None:
    import mlflow

    mlflow.log_artifact(paths.HISTORY)
    mlflow.log_artifact(paths.MODEL_SUMMARY)


def log_evaluation() -> None:
    """Log evaluate's outputs into the active run: its test metrics, metrics.json and the
    per-class table."""
    import mlflow

    # At step 0 and linked to no model: the raw-image model logged next in this run takes
    # them as its own (MLflow attaches a run's step-0 metrics to a model logged at step 0).
    mlflow.log_metrics(json.loads(Path(paths.EVALUATED).read_text())["test_metrics"])
    mlflow.log_artifact(paths.METRICS)
    mlflow.log_artifact(paths.PER_CLASS)


def log_figures() -> None:
    import mlflow

    mlflow.log_artifacts(paths.FIGURES_DIR, artifact_path="figures")


def logged_model(client, run, weights_sha256: str | None = None):
    """The newest raw-image LoggedModel of `run` (of these weights, if given), or None."""
    found = client.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}' AND name = '{RAW_IMAGE_MODEL}'",
        order_by=[{"field_name": "creation_time", "ascending": False}],
    )
    for model in found:
        if weights_sha256 is None or model.tags.get(WEIGHTS_TAG) == weights_sha256:
            return model
    return None
