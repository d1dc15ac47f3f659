"""The MLflow model registry: each published model a version, the alias `champion` moved by a
gate (or by hand).

Only on request: `mnist-pipeline publish [RUN]` (which `make run` calls after `dvc repro`),
`promote RUN` and `tune --best --publish` register a version. No stage does, so neither an
experiment nor a search trial fills the registry or moves the champion, and editing this
code or the `registry` params reruns no stage.

One registered model per dataset (`registry.model_name` holds `{dataset}`): the versions of a
registered model are all scored on the same test set, so their test accuracies compare. A
version is tagged with what identifies it (dataset, dataset content sha256, weights sha256, git
commit) and its test accuracy, and carries a model card (cards.py). The same weights on the
same data are one version: a rerun (`dvc repro -f`, an experiment that happens to train
identical weights) adds none.

The gate (gate.py): `champion` moves to a new version only on evidence that it is better
than the seed alone makes: the paired test over common seeds when both runs belong to
replicate groups, else a gain beyond `registry.champion_spread_multiple` recorded seed
spreads of either configuration; with no spread recorded the champion stays. The first
version of a registered model becomes champion. The decision, with its numbers, is printed,
tagged on the run and on the version (`champion_decision`, `champion_gate.*`). Every move, by
the gate or by hand, tags the new champion with the version it replaced
(`previous_champion`): `mnist-pipeline demote` steps back to it.

Plain `MlflowClient` calls: the embedded store and a tracking server work alike. Deciding
and moving the alias hold a lock all publishers share (gatelock.py: the embedded store's
file lock, or an advisory lock on the team's PostgreSQL study database), so two publishers
at once decide one after the other, the second against the first's outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mnist_pipeline import quiet
from mnist_pipeline.errors import ModelError
from mnist_pipeline.report.evaluation import TEST_ACCURACY
from mnist_pipeline.tracking import cards, gate, gatelock
from mnist_pipeline.tracking.gate import Evidence
from mnist_pipeline.tracking.tracker import (
    COMMIT_TAG,
    DATASET_SHA_TAG,
    DATASET_TAG,
    WEIGHTS_TAG,
    logged_model,
    store_lock,
    tracking_uri,
)

log = logging.getLogger(__name__)

CHAMPION = "champion"
ACCURACY_TAG = TEST_ACCURACY  # the version tag holds the run's metric of that name
PREVIOUS_CHAMPION_TAG = "previous_champion"
# The run tags a version carries over (tracking.run_tags and tag_weights set them on the run).
IDENTITY_TAGS = (DATASET_TAG, DATASET_SHA_TAG, WEIGHTS_TAG, COMMIT_TAG)
# What a run records of the registry: its version (`name/version`) and the gate's decision.
VERSION_RUN_TAG, DECISION_RUN_TAG = "registered_version", "champion_decision"
# What a version records of the gate's decision on it: the same message, the champion it was
# weighed against, and the numbers (GATE_PREFIX + difference, p_value, spread, ...).
DECISION_TAG, GATE_PREFIX = DECISION_RUN_TAG, "champion_gate."
COMPARED_TAG = f"{GATE_PREFIX}compared_with"


@dataclass(frozen=True)
class Decision:
    """What the gate did with a version: both test accuracies and the evidence weighed."""

    model_name: str
    version: str
    accuracy: float
    champion: str | None  # the champion's version before the decision
    champion_accuracy: float | None
    evidence: Evidence | None  # None: nothing to weigh (a first champion, a repeat)
    outcome: str  # one of OUTCOMES

    @property
    def promoted(self) -> bool:
        return self.outcome in ("first", "promoted")

    @property
    def message(self) -> str:
        """One line, or two (the move, then the evidence), for an 80-column terminal."""
        name, new, old = self.model_name, f"version {self.version}", f"version {self.champion}"
        if self.outcome == "first":
            return (
                f"champion: {name} {new} (test accuracy {self.accuracy:.4f}), the first "
                f"champion of {name}"
            )
        if self.champion is not None:
            old += f" ({self.champion_accuracy:.4f})"
        if self.outcome == "registered":
            return (
                f"{name} {new} (test accuracy {self.accuracy:.4f}) already holds these weights: "
                f"no new version; champion {old if self.champion else 'none'}"
            )
        new += f" ({self.accuracy:.4f})"
        line = (
            f"champion: {name} {new} replaces {old}"
            if self.outcome == "promoted"
            else f"champion stays {name} {old}, not {new}"
        )
        return f"{line}\n  {self.difference:+.4f}, {self.evidence.text}"

    @property
    def difference(self) -> float:
        return self.accuracy - (self.champion_accuracy or 0.0)

    @property
    def tags(self) -> dict[str, str]:
        """The version's record of the decision: the message, the champion it was weighed
        against, the difference and the evidence's numbers (`champion_gate.*`)."""
        tags = {DECISION_TAG: self.message}
        if self.champion is not None:
            tags |= {COMPARED_TAG: self.champion, f"{GATE_PREFIX}difference": repr(self.difference)}
        numbers = self.evidence.numbers if self.evidence else {}
        return tags | {f"{GATE_PREFIX}{key}": value for key, value in numbers.items()}


OUTCOMES = ("first", "promoted", "kept", "registered")


def publish(client, name: str, model_uri: str, run, multiple: float) -> Decision:
    """Make the logged model `model_uri` of MLflow run `run` a version of `name` (unless these
    weights on this data already are one) and let the gate weigh it against the champion
    (gate.py; `multiple`: of the seed spread), one publisher at a time (gatelock.py)."""
    tags, accuracy = run.data.tags, run.data.metrics[TEST_ACCURACY]
    with gatelock.decision_lock(name):
        existing = find_version(client, name, tags.get(WEIGHTS_TAG), tags.get(DATASET_SHA_TAG))
        current = champion(client, name)
        before = (str(current.version), _accuracy(current)) if current else (None, None)
        if existing is not None:
            if cards.CARD_TAG not in existing.tags:  # registered before versions had cards
                cards.attach(client, existing)
            version, outcome = str(existing.version), "registered"
            return Decision(name, version, _accuracy(existing), *before, None, outcome)
        version = str(register(name, model_uri, tags, accuracy).version)
        if current is None:
            decision = Decision(name, version, accuracy, None, None, None, "first")
        else:
            evidence = _weigh(client, run, current, multiple)
            outcome = "promoted" if evidence.better else "kept"
            decision = Decision(name, version, accuracy, *before, evidence, outcome)
        if decision.promoted:
            set_champion(client, name, version, before[0])
        for key, value in decision.tags.items():
            client.set_model_version_tag(name, version, key, value)
        return decision


def _weigh(client, run, current, multiple: float) -> Evidence:
    """The evidence against the champion's run; none when that run is gone."""
    from mlflow.exceptions import MlflowException

    try:
        champion_run = client.get_run(current.run_id) if current.run_id else None
    except MlflowException:
        champion_run = None
    if champion_run is None or TEST_ACCURACY not in champion_run.data.metrics:
        text = f"version {current.version}'s run is not in this store: no evidence, kept"
        return Evidence(gate.NONE, False, text, {"evidence": gate.NONE})
    return gate.weigh(client, run, champion_run, multiple)


def register(name: str, model_uri: str, run_tags: dict[str, str], accuracy: float):
    """A new version of `name` (created if need be), tagged with the run's identity tags and
    the test accuracy."""
    import mlflow

    tags = {key: run_tags[key] for key in IDENTITY_TAGS if key in run_tags}
    with quiet.dropped_prints():  # its notes: publish logs what became of the version
        version = mlflow.register_model(
            model_uri, name, tags={**tags, ACCURACY_TAG: repr(accuracy)}
        )
    cards.attach(mlflow.MlflowClient(), version)
    return version


def register_run_model(client, name: str, run):
    """A version for the raw-image model `run` logged (for a manual promotion of a run that
    the registry does not hold), or None if it logged none."""
    model = logged_model(client, run)
    if model is None:
        return None
    with store_lock(tracking_uri()):
        return register(
            name, f"models:/{model.model_id}", run.data.tags, run.data.metrics[TEST_ACCURACY]
        )


def publish_run_id(run_id: str, registry_params) -> Decision:
    """Register the raw-image model the run logged (`publish RUN`, `tune --best --publish`),
    let the gate decide, and record the decision on the run (tags `registered_version`,
    `champion_decision`) when it made one."""
    import mlflow

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    tags = run.data.tags
    model = logged_model(client, run, tags.get(WEIGHTS_TAG))
    if model is None or TEST_ACCURACY not in run.data.metrics:
        raise ModelError(
            f"run {run_id[:8]} ({run.info.run_name}) has no raw-image model with test "
            "metrics: its evaluate stage did not run (`dvc repro`, then publish)"
        )
    name = registry_params.registered_name(tags[DATASET_TAG])
    multiple = registry_params.champion_spread_multiple
    decision = publish(client, name, f"models:/{model.model_id}", run, multiple)
    if decision.outcome != "registered":  # a repeat keeps the decision that was made
        client.set_tag(run_id, VERSION_RUN_TAG, f"{name}/{decision.version}")
        client.set_tag(run_id, DECISION_RUN_TAG, decision.message)
    return decision


def find_version(client, name: str, weights_sha256: str | None, dataset_sha256: str | None):
    """The version of `name` holding these weights evaluated on this data, or None."""
    if not weights_sha256:
        return None
    found = client.search_model_versions(
        f"name = '{name}' AND tags.{WEIGHTS_TAG} = '{weights_sha256}'"
    )
    same_data = [v for v in found if v.tags.get(DATASET_SHA_TAG) == dataset_sha256]
    return min(same_data, key=lambda v: int(v.version), default=None)


def registered_model(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def champion(client, name: str):
    """The champion's ModelVersion, or None (no such registered model, or no champion)."""
    model = registered_model(client, name)
    version = model.aliases.get(CHAMPION) if model else None
    return client.get_model_version(name, version) if version else None


def set_champion(client, name: str, version: str, previous: str | None) -> None:
    """Move the alias; the new champion's tag names the version it replaced, if any (a tag
    says only what is true: no empty tag on a first champion)."""
    if previous:
        client.set_model_version_tag(name, version, PREVIOUS_CHAMPION_TAG, previous)
    else:
        _drop_previous(client, name, version)
    client.set_registered_model_alias(name, CHAMPION, version)


def _drop_previous(client, name: str, version: str) -> None:
    if PREVIOUS_CHAMPION_TAG in client.get_model_version(name, version).tags:
        client.delete_model_version_tag(name, version, PREVIOUS_CHAMPION_TAG)


def _same(a, b) -> bool:
    """Version numbers: MLflow gives them as int or str, depending on the call."""
    return str(a.version) == str(b.version)


def _accuracy(version) -> float:
    return float(version.tags.get(ACCURACY_TAG, "nan"))


# By hand: `mnist-pipeline promote RUN` and `mnist-pipeline demote RUN`.


def move_champion(run_id: str, params, promote_it: bool) -> str:
    """`promote` (making a version of the run's raw-image model if the registry has none) or
    `demote` the run's version; the move is recorded on the run. Returns what was done."""
    import mlflow

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    tags = run.data.tags
    name = params.registry.registered_name(tags.get(DATASET_TAG, params.data.dataset))
    version = find_version(client, name, tags.get(WEIGHTS_TAG), tags.get(DATASET_SHA_TAG))
    if version is None and promote_it:
        version = register_run_model(client, name, run)
    if version is None:
        raise ModelError(
            f"run {run_id[:8]} ({run.info.run_name}) has no raw-image model to make a version "
            f"of {name}: its plot stage logs it (`dvc repro` with its params)"
        )
    message = (promote if promote_it else demote)(client, name, version)
    client.set_tag(run_id, DECISION_RUN_TAG, message)
    return message


def promote(client, name: str, version) -> str:
    """Make `version` (a ModelVersion) champion whatever the gate would say."""
    with gatelock.decision_lock(name):
        current = champion(client, name)
        if current is not None and _same(current, version):
            return f"{name} version {version.version} is already champion"
        set_champion(client, name, str(version.version), str(current.version) if current else None)
    replaced = (
        f", replacing version {current.version} ({_accuracy(current):.4f})" if current else ""
    )
    return (
        f"champion: {name} version {version.version} (test accuracy "
        f"{_accuracy(version):.4f}), by hand{replaced}"
    )


def demote(client, name: str, version) -> str:
    """Undo the move that made `version` champion: back to the version it replaced, or no
    champion if it replaced none."""
    with gatelock.decision_lock(name):
        current = champion(client, name)
        if current is None or not _same(current, version):
            now = f"version {current.version} is" if current else "there is none"
            raise ModelError(f"{name} version {version.version} is not the champion ({now})")
        previous = current.tags.get(PREVIOUS_CHAMPION_TAG)
        _drop_previous(client, name, str(version.version))  # no longer champion: untrue
        if not previous:
            client.delete_registered_model_alias(name, CHAMPION)
            return f"{name} has no champion now (version {version.version} replaced none)"
        client.set_registered_model_alias(name, CHAMPION, previous)
    back = client.get_model_version(name, previous)
    return (
        f"champion: {name} version {previous} (test accuracy {_accuracy(back):.4f}) "
        f"again, in place of version {version.version}"
    )
