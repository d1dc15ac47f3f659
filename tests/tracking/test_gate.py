"""The champion gate on evidence: replicate groups by the paired test, single runs against the
recorded seed spread (tests/tracking/test_registry.py has those on their own), and two
publishers at once on the team server deciding one after the other."""

import json
import os
import select
import subprocess
import sys
import time
import uuid

import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow.entities import Metric, Param  # noqa: E402

from mnist_pipeline.errors import ModelError  # noqa: E402
from mnist_pipeline.tracking import gatelock, registry  # noqa: E402
from mnist_pipeline.tracking.studyrun import GROUP_TAG  # noqa: E402

BASE = {"train.epochs": "3", "train.learning_rate": "0.001"}
FAST = {**BASE, "train.learning_rate": "0.003"}
# test accuracy per seed: the reference's spread is ~0.0015 (docs/better-models.md: ~0.0018)
REFERENCE = {1: 0.9675, 2: 0.9668, 3: 0.9685, 4: 0.9692, 5: 0.9646, 6: 0.9671, 7: 0.9680}
SHUFFLED = dict(
    zip(REFERENCE, [0.9680, 0.9646, 0.9675, 0.9671, 0.9692, 0.9685, 0.9668], strict=True)
)
BETTER = {seed: value + 0.003 for seed, value in REFERENCE.items()}  # 2 sds, every seed
SERVER = os.environ.get("MNIST_PIPELINE_TEST_SERVER")
STORAGE = os.environ.get("MNIST_PIPELINE_TEST_STUDY_STORAGE")


def plant(client, experiment_id, params, seed, accuracy, group=None, name=None):
    """A trained, evaluated run with its raw-image model; returns (run, model URI)."""
    tags = {"dataset": "mnist", "dataset_sha256": "d", "weights_sha256": uuid.uuid4().hex}
    if group:
        tags[GROUP_TAG] = group
    run = client.create_run(experiment_id, run_name=name or f"{group}-{seed}", tags=tags)
    run_id = run.info.run_id
    client.log_batch(  # one call: the server test plants ten runs
        run_id,
        metrics=[Metric("test_accuracy", accuracy, 0, 0)],
        params=[Param(key, value) for key, value in {**params, "seed": str(seed)}.items()],
    )
    with mlflow.start_run(run_id=run_id):
        model = mlflow.create_external_model(name="model")
    return client.get_run(run_id), f"models:/{model.model_id}"


def plant_group(client, experiment_id, name, params, by_seed):
    """A replicate group; returns its seed 1's (run, model URI)."""
    planted = [
        plant(client, experiment_id, params, seed, value, group=name)
        for seed, value in by_seed.items()
    ]
    return planted[0]


def publish(client, name, planted, multiple=3.0):
    run, uri = planted
    return registry.publish(client, name, uri, client.get_run(run.info.run_id), multiple)


@pytest.fixture
def store(mlflow_experiment):
    return mlflow.MlflowClient(), mlflow_experiment


@pytest.mark.parametrize(
    "candidate, promoted, evidence",
    [
        (BETTER, True, "7 paired seeds [+0.0030, +0.0030], p 0.0156 < 0.05: better"),
        (SHUFFLED, False, ", p 1.0000 >= 0.05: within noise"),
    ],
)
def test_replicate_groups_are_weighed_by_the_paired_test(store, candidate, promoted, evidence):
    """A group 0.003 better on every seed (2 sds: a single pair would not show it) moves the
    champion; the same accuracies on other seeds do not."""
    client, experiment_id = store
    publish(client, "gate", plant_group(client, experiment_id, "base", BASE, REFERENCE))
    decision = publish(client, "gate", plant_group(client, experiment_id, "new", FAST, candidate))
    assert decision.promoted is promoted
    assert str(registry.champion(client, "gate").version) == ("2" if promoted else "1")
    assert evidence in decision.message.splitlines()[1]
    tags = client.get_model_version("gate", "2").tags
    assert tags["champion_gate.evidence"] == "paired"
    assert tags["champion_gate.seeds"] == "1,2,3,4,5,6,7"
    assert (float(tags["champion_gate.p_value"]) < 0.05) is promoted


def test_groups_without_two_common_seeds_fall_back_to_the_seed_spread(store):
    client, experiment_id = store
    publish(client, "gate", plant_group(client, experiment_id, "base", BASE, REFERENCE))
    late = plant_group(client, experiment_id, "late", FAST, {8: 0.975, 9: 0.976})
    decision = publish(client, "gate", late)
    assert decision.promoted  # +0.0075 over seed 1's 0.9675: beyond 3 pooled sds
    tags = client.get_model_version("gate", "2").tags
    assert (tags["champion_gate.evidence"], tags["champion_gate.spread_groups"]) == (
        "spread",
        "base,late",
    )
    assert ", 6.5 seed sds of 0.0012 (groups base, late), beyond 3: better" in decision.message


def test_a_single_run_is_weighed_against_its_configurations_spread(store):
    client, experiment_id = store
    plant_group(client, experiment_id, "base", BASE, REFERENCE)
    publish(client, "gate", plant(client, experiment_id, BASE, 42, 0.9660, name="base-42"))
    near = publish(client, "gate", plant(client, experiment_id, FAST, 42, 0.9690))
    assert not near.promoted and "2.0 seed sds" in near.message
    assert publish(client, "gate", plant(client, experiment_id, FAST, 43, 0.9720)).promoted


@pytest.mark.skipif(not STORAGE, reason="no MNIST_PIPELINE_TEST_STUDY_STORAGE (PostgreSQL)")
def test_the_advisory_lock_excludes_a_second_holder_until_released(monkeypatch):
    """A second decision on the same model waits; past the wait it fails in one line. Another
    model's decision does not wait."""
    monkeypatch.setattr(gatelock, "WAIT_SECONDS", 1)
    key = f"gate-test-{uuid.uuid4().hex}"
    with gatelock.advisory_lock(STORAGE, key):
        refused = pytest.raises(ModelError, match="cannot lock the champion decision on postgres")
        with refused, gatelock.advisory_lock(STORAGE, key):
            pass
        with gatelock.advisory_lock(STORAGE, key + "-other"):
            pass
    with gatelock.advisory_lock(STORAGE, key):  # released
        pass


def test_on_a_server_without_a_study_database_the_decision_warns_it_is_unguarded(
    monkeypatch, caplog
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.delenv(gatelock.STORAGE_VARIABLE, raising=False)
    with caplog.at_level("WARNING", logger=gatelock.__name__), gatelock.decision_lock("m"):
        pass
    assert caplog.messages == [gatelock.UNGUARDED]


def test_an_unreachable_study_database_fails_the_decision_in_one_line():
    url = "postgresql+psycopg2://nobody:secret@127.0.0.1:9/none"
    with pytest.raises(ModelError) as error, gatelock.advisory_lock(url, "key"):
        pass
    message = str(error.value)
    assert message.startswith("cannot lock the champion decision on postgresql+psycopg2://")
    assert "secret" not in message and len(message.splitlines()) == 1


PUBLISHER = """
import json, sys
import mlflow, scipy.stats  # imported before the barrier: both start deciding together
from mnist_pipeline.tracking import registry

client = mlflow.MlflowClient()
run = client.get_run(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
decision = registry.publish(client, sys.argv[2], sys.argv[3], run, 3.0)
print(json.dumps({"version": decision.version, "champion": decision.champion,
                  "outcome": decision.outcome, "message": decision.message}), flush=True)
"""


def await_line(process: subprocess.Popen, deadline: float) -> str:
    """The process's next stdout line, or a failure naming its stderr past the deadline."""
    ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        pytest.fail(f"publisher gave no line in time: {process.communicate()[1][-2000:]}")
    return line.strip()


def decided(process: subprocess.Popen, deadline: float) -> dict:
    """The publisher's decision: its last stdout line, once it has ended well."""
    out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    assert process.returncode == 0, err[-2000:]
    return json.loads(out.splitlines()[-1])


@pytest.mark.skipif(
    not (SERVER and STORAGE),
    reason="no tracking server and study database: .ci/run sets MNIST_PIPELINE_TEST_SERVER "
    "and MNIST_PIPELINE_TEST_STUDY_STORAGE",
)
def test_two_publishers_at_once_on_the_server_decide_one_after_the_other(monkeypatch, as_team_user):
    """Both candidates beat the champion, one beats the other: whichever decides first, the
    better ends champion, and the second decision names the champion the first made. As a
    publisher (the role that may move the champion) when the server has users."""
    as_team_user("publisher")  # in this process's environment, which the publishers inherit
    monkeypatch.setenv("MLFLOW_TRACKING_URI", SERVER)
    monkeypatch.setenv(gatelock.STORAGE_VARIABLE, STORAGE)
    mlflow.set_tracking_uri(SERVER)
    client, unique = mlflow.MlflowClient(), f"gate-race-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(unique)
    plant_group(client, experiment_id, "base", BASE, REFERENCE)  # a spread on record
    publish(client, unique, plant(client, experiment_id, BASE, 42, 0.9660, name="old"))
    good = plant(client, experiment_id, BASE, 43, 0.9760, name="good")
    best = plant(client, experiment_id, BASE, 44, 0.9860, name="best")
    env = {**os.environ, "MLFLOW_TRACKING_URI": SERVER, gatelock.STORAGE_VARIABLE: STORAGE}
    publishers = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, run.info.run_id, unique, uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for run, uri in (good, best)
    ]
    deadline = time.monotonic() + 120
    assert [await_line(p, deadline) for p in publishers] == ["ready", "ready"]
    for process in publishers:  # the barrier: both wait on stdin until now
        process.stdin.write("go\n")
        process.stdin.flush()
    good_decision, best_decision = (decided(p, deadline) for p in publishers)
    first, second = sorted((good_decision, best_decision), key=lambda d: d["champion"] != "1")
    assert first["champion"] == "1" and first["outcome"] == "promoted"
    assert second["champion"] == first["version"]  # weighed against the first's outcome
    assert f"version {first['version']} (" in second["message"]
    assert str(registry.champion(client, unique).version) == best_decision["version"]
    tags = client.get_model_version(unique, second["version"]).tags
    assert tags["champion_gate.compared_with"] == first["version"]
