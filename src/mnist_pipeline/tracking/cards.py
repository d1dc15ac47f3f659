"""Each registered version's model card (report/modelcard.py), kept with MLflow.

When a version is made (registry.register) its card is built from the run it comes from and
logged as an artifact of that run, `model_cards/<name>-v<version>.md`; the version's tag
`model_card` holds that artifact's URI and its description is the card's first lines, so
the registry UI shows them and `mnist-pipeline predict --card` reads the card back. A
version registered before cards existed gets one when its run is published again.

The seed spread is a replicate group's (search/replicates.py) whose runs share the run's
configuration (every param but the seed, as `diff` matches them: groupdiff.py): its parent
run's `test_<m>_mean/_std/_ci95_low/_ci95_high`, or, lacking a parent, the same statistics
computed from the group's seeds.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml

from mnist_pipeline import paths
from mnist_pipeline.errors import ModelError
from mnist_pipeline.report import modelcard, noise
from mnist_pipeline.tracking import groupdiff, rundiff, tracker
from mnist_pipeline.tracking.studyrun import GROUP_TAG

CARD_TAG = "model_card"  # on a version: the URI of its card
CARD_DIR = "model_cards"  # in the run's artifacts
LOCK_FILE = "dvc.lock"
STATISTICS = {"mean": "mean", "std": "std", "ci95_low": "low", "ci95_high": "high"}


def card_path(name: str, version: str) -> str:
    return f"{CARD_DIR}/{name}-v{version}.md"


def attach(client, version) -> str:
    """Build the card of `version` (a ModelVersion), log it into its run, tag and describe
    the version with it; returns the card's text."""
    name, number, run_id = version.name, str(version.version), version.run_id
    lock = workspace_lock(client.get_run(run_id).data.tags.get(tracker.WEIGHTS_TAG))
    facts = gather(client, name, number, run_id, lock)
    text = modelcard.render(facts)
    path = card_path(name, number)
    client.log_text(run_id, text, path)
    if lock is not None:
        client.log_text(run_id, lock, f"{CARD_DIR}/{name}-v{number}-{LOCK_FILE}")
    client.set_model_version_tag(name, number, CARD_TAG, f"runs:/{run_id}/{path}")
    description = modelcard.summary(facts).split("\n\n", 1)[-1]
    client.update_model_version(name, number, description=f"{description} Card: {path}.")
    return text


def gather(client, name: str, version: str, run_id: str, lock: str | None):
    """The card's facts, read off the run (and its experiment, for the seed spread)."""
    run = client.get_run(run_id)
    tags, params = run.data.tags, dict(run.data.params)
    spread, note = find_spread(client, run)
    commit = tags.get(tracker.COMMIT_TAG)
    return modelcard.CardFacts(
        model_name=name,
        version=version,
        run_id=run_id,
        dataset=tags.get(tracker.DATASET_TAG, "unknown"),
        dataset_sha256=tags.get(tracker.DATASET_SHA_TAG, "unknown"),
        weights_sha256=tags.get(tracker.WEIGHTS_TAG, "unknown"),
        params=params,
        metrics={key: value for key, value in run.data.metrics.items() if key.startswith("test_")},
        commit=commit,
        dirty={"True": True, "False": False}.get(tags.get("git_dirty", "")),
        changed=changed_from_commit(commit, params) if commit and params else None,
        lock_md5=hashlib.md5(lock.encode()).hexdigest() if lock is not None else None,
        experiment=tags.get(tracker.EXPERIMENT_TAG),
        spread=spread,
        spread_note=note,
    )


def changed_from_commit(commit: str, params: dict[str, str]) -> dict[str, str] | None:
    """The run's params that differ from the commit's params.yaml (the `-S` list of a
    `dvc exp run` that trains it again); None when git cannot show that file."""
    from mnist_pipeline.params import flatten

    committed = tracker.git("show", f"{commit}:params.yaml")
    if not committed:
        return None
    before = tracker.stringify(flatten(yaml.safe_load(committed) or {}))
    return {
        key: value
        for key, value in params.items()
        if key in before and not _same(before[key], value)
    }


def _same(written: str, logged: str) -> bool:
    """params.yaml's `3` and the run's `3.0` (a float param, logged as its dataclass holds
    it) are one value: compare numbers as numbers, anything else as text."""
    try:
        return float(written) == float(logged)
    except ValueError:
        return written == logged


def workspace_lock(weights_sha256: str | None) -> str | None:
    """The workspace's dvc.lock text when it records these weights (models/weights.npz has
    this sha256 and the md5 the lock gives it), else None: a run published by reference was
    trained elsewhere (an experiment, a trial) and this lock is not its own."""
    weights, lock = Path(paths.WEIGHTS), Path(LOCK_FILE)
    if not weights_sha256 or not weights.is_file() or not lock.is_file():
        return None
    data = weights.read_bytes()
    if hashlib.sha256(data).hexdigest() != weights_sha256:
        return None
    text = lock.read_text("utf-8")
    outs = (yaml.safe_load(text) or {}).get("stages", {}).get("train", {}).get("outs", [])
    recorded = {out.get("path"): out.get("md5") for out in outs}
    return text if recorded.get(paths.WEIGHTS) == hashlib.md5(data).hexdigest() else None


def find_spread(client, run) -> tuple[modelcard.Spread | None, str]:
    """The seed spread of the run's configuration and, when there is none, why."""
    runs = rundiff.trained_runs(client, run.info.experiment_id)
    target = groupdiff.configuration(dict(run.data.params))
    groups = [groupdiff.group_of(runs, name) for name in sorted(groupdiff.group_names(runs))]
    same = [group for group in groups if group.uniform and group.params == target]
    if not same:
        return None, "no replicate group of this configuration in its MLflow experiment"
    group = max(same, key=lambda found: len(found.seeds))
    if len(group.seeds) < 2:
        return None, f"replicate group {group.name} of this configuration has one seed"
    metrics = _parent_spread(client, run.info.experiment_id, group.name) or {
        metric: {key: noise.summarize(values.values())[name] for key, name in STATISTICS.items()}
        for metric, values in group.by_seed.items()
        if len(values) >= 2
    }
    return modelcard.Spread(group.name, len(group.seeds), metrics), ""


def _parent_spread(client, experiment_id: str, group: str) -> dict | None:
    """The group's parent run's spread metrics (replicates.group_metrics), if it has them."""
    parents = client.search_runs(
        [experiment_id], filter_string=f"tags.{GROUP_TAG} = '{group}'", max_results=100
    )
    for parent in parents:
        metrics = parent.data.metrics
        found = {
            metric: {key: metrics[f"{metric}_{key}"] for key in STATISTICS}
            for metric in modelcard.METRICS
            if all(f"{metric}_{key}" in metrics for key in STATISTICS)
        }
        if found and tracker.WEIGHTS_TAG not in parent.data.tags:
            return found
    return None


def read(client, version) -> str:
    """The card of `version` (a ModelVersion), from the artifact its tag names; ModelError
    for a version that has none."""
    import mlflow

    uri = version.tags.get(CARD_TAG)
    if not uri:
        raise ModelError(
            f"{version.name} version {version.version} has no model card (registered before "
            "versions had one): `mnist-pipeline publish <its run>` writes it"
        )
    return mlflow.artifacts.load_text(uri)


def card_for(uri: str | None, workspace: tuple[str, str, str] | None = None) -> str:
    """The card of the version `predict` would use: the one `uri` names (models:/<name>@<alias>,
    models:/<name>/<version>, runs:/<run id>/..., models:/<model id>), or, with no URI, the
    version holding the workspace's weights (`workspace`: registered name, weights sha256,
    dataset sha256). ModelError when there is no such version or it has no card."""
    import mlflow
    from mlflow.exceptions import MlflowException

    # One small file: MLflow's "Downloading artifacts" bars would only clutter stderr.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    store = tracker.tracking_uri()
    tracker.check_reachable(store)
    mlflow.set_tracking_uri(store)
    client = mlflow.MlflowClient()
    try:
        version = _version_of(client, uri) if uri else _workspace_version(client, *workspace)
        return read(client, version)
    except MlflowException as error:
        what = uri or "the workspace's model"
        raise ModelError(f"{what}: no model card there ({error.message.splitlines()[0]})") from None


def _version_of(client, uri: str):
    """The registered version a model URI points at."""
    if uri.startswith("models:/"):
        rest = uri.removeprefix("models:/").strip("/")
        if "@" in rest:
            return client.get_model_version_by_alias(*rest.split("@", 1))
        if "/" in rest:
            return client.get_model_version(*rest.split("/", 1))
        run_id = client.get_logged_model(rest).source_run_id  # a LoggedModel id
    elif uri.startswith("runs:/"):
        run_id = uri.removeprefix("runs:/").split("/", 1)[0]
    else:
        raise ModelError(f"{uri}: not a registered model; a card belongs to a registry version")
    found = client.search_model_versions(f"run_id = '{run_id}'")
    if len(found) != 1:
        names = ", ".join(f"models:/{v.name}/{v.version}" for v in found)
        raise ModelError(
            f"{uri}: its run is {'a version of ' + names if found else 'no registered version'}"
            + (": name one" if found else " (`mnist-pipeline publish` registers it)")
        )
    return found[0]


def _workspace_version(client, name: str, weights_sha256: str, dataset_sha256: str):
    from mnist_pipeline.tracking import registry

    version = registry.find_version(client, name, weights_sha256, dataset_sha256)
    if version is None:
        raise ModelError(
            f"the workspace's model (weights {weights_sha256[:12]}) is no version of {name}: "
            "`mnist-pipeline publish` registers it, or give --model"
        )
    return version
