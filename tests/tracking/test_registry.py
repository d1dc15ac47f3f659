"""The registry gate, and promotion by hand, against a temporary MLflow store: models are
hand-made LoggedModels (the gate looks only at tags and accuracies)."""

import pytest

mlflow = pytest.importorskip("mlflow")

from mnist_pipeline import cli  # noqa: E402
from mnist_pipeline.params import RegistryParams  # noqa: E402
from mnist_pipeline.tracking import registry  # noqa: E402
from mnist_pipeline.tracking.studyrun import GROUP_TAG  # noqa: E402

NAMES = RegistryParams(model_name="{dataset}-classifier", champion_spread_multiple=3.0)
MNIST, FASHION = NAMES.registered_name("mnist"), NAMES.registered_name("fashion_mnist")
BASE = {"train.epochs": "3", "seed": "42"}  # every published run's params
# A replicate group of that configuration: its recorded seed spread, sd 0.0015
SEEDS = {1: 0.9675, 2: 0.9668, 3: 0.9685, 4: 0.9692, 5: 0.9646, 6: 0.9671, 7: 0.9680}


@pytest.fixture
def store(mlflow_experiment):
    return mlflow.MlflowClient(), mlflow_experiment


@pytest.fixture
def spread(store):
    """The seed spread of BASE's configuration on record: a replicate group of it."""
    _, experiment_id = store
    for seed, accuracy in SEEDS.items():
        tags = {"weights_sha256": f"seed-{seed}", GROUP_TAG: "reference"}
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"seed-{seed}", tags=tags):
            mlflow.log_params({**BASE, "seed": str(seed)})
            mlflow.log_metric("test_accuracy", accuracy)


def evaluated(
    store,
    accuracy: float,
    weights: str,
    dataset: str = "mnist",
    multiple: float = 3.0,
) -> registry.Decision:
    """A run as evaluate leaves it (tags, test accuracy, a raw-image model), published."""
    client, experiment_id = store
    tags = {
        "dataset": dataset,
        "dataset_sha256": f"{dataset}-data",
        "weights_sha256": weights,
        "git_commit": "c" * 40,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=weights, tags=tags) as run:
        mlflow.log_params(BASE)
        mlflow.log_metric("test_accuracy", accuracy)
        model = mlflow.create_external_model(name="model", tags={"weights_sha256": weights})
    name, uri = NAMES.registered_name(dataset), f"models:/{model.model_id}"
    return registry.publish(client, name, uri, client.get_run(run.info.run_id), multiple)


def champion_version(client, name: str) -> str | None:
    current = registry.champion(client, name)
    return str(current.version) if current else None


def test_the_first_version_becomes_champion_tagged_with_its_identity(store):
    client, _ = store
    decision = evaluated(store, 0.90, "w1")
    assert (decision.outcome, decision.version) == ("first", "1")
    assert champion_version(client, MNIST) == "1"
    tags = client.get_model_version(MNIST, "1").tags
    assert tags["dataset"] == "mnist" and tags["weights_sha256"] == "w1"
    assert tags["git_commit"] == "c" * 40 and float(tags["test_accuracy"]) == 0.90
    assert "champion: mnist-classifier version 1 (test accuracy 0.9000)" in decision.message


def test_a_better_version_takes_the_alias_and_the_message_has_both_numbers(store, spread):
    client, _ = store
    evaluated(store, 0.90, "w1")
    decision = evaluated(store, 0.93, "w2")
    assert decision.promoted and champion_version(client, MNIST) == "2"
    assert decision.message == (
        "champion: mnist-classifier version 2 (0.9300) replaces version 1 (0.9000)\n"
        "  +0.0300, 20.3 seed sds of 0.0015 (group reference), beyond 3: better"
    )
    assert all(len(line) <= 80 for line in decision.message.splitlines())
    tags = client.get_model_version(MNIST, "2").tags
    assert tags["previous_champion"] == "1" and tags["champion_decision"] == decision.message
    assert tags["champion_gate.compared_with"] == "1"
    assert float(tags["champion_gate.difference"]) == pytest.approx(0.03)
    assert float(tags["champion_gate.spread"]) == pytest.approx(0.0015, abs=5e-5)
    assert (tags["champion_gate.evidence"], tags["champion_gate.spread_multiple"]) == (
        "spread",
        "3.0",
    )


@pytest.mark.parametrize("accuracy", [0.90, 0.85])
def test_an_equal_or_worse_version_is_registered_but_the_champion_stays(store, spread, accuracy):
    client, _ = store
    evaluated(store, 0.90, "w1")
    decision = evaluated(store, accuracy, "w2")
    assert (decision.outcome, decision.version) == ("kept", "2")
    assert champion_version(client, MNIST) == "1"
    first, second = decision.message.splitlines()
    assert (
        first
        == f"champion stays mnist-classifier version 1 (0.9000), not version 2 ({accuracy:.4f})"
    )
    assert second.endswith(
        "0.0 seed sds of 0.0015 (group reference), not beyond 3: within noise"
        if accuracy == 0.90
        else "33.8 seed sds of 0.0015 (group reference), beyond 3: worse"
    )


def test_a_gain_within_the_multiple_of_the_seed_spread_keeps_the_champion(store, spread):
    """0.0040 is 2.7 sds of 0.0015: within 3; 0.0050 (3.3 sds) is beyond it. A tighter
    multiple moves on less."""
    client, _ = store
    evaluated(store, 0.9000, "w1")
    kept = evaluated(store, 0.9040, "w2")
    assert not kept.promoted and "2.7 seed sds of 0.0015 (group reference), not beyond 3" in (
        kept.message
    )
    assert evaluated(store, 0.9040, "w3", multiple=2.0).promoted
    assert champion_version(client, MNIST) == "3"
    assert evaluated(store, 0.9090, "w4").promoted  # 3.3 sds above version 3
    assert champion_version(client, MNIST) == "4"


def test_with_no_spread_recorded_the_champion_stays_and_the_decision_says_why(store):
    client, _ = store
    evaluated(store, 0.90, "w1")
    decision = evaluated(store, 0.99, "w2")  # much better, but nothing says what the seed makes
    assert decision.outcome == "kept" and champion_version(client, MNIST) == "1"
    assert decision.message.splitlines()[1] == (
        "  +0.0900, no seed spread recorded for either configuration: no evidence, kept"
    )
    assert client.get_model_version(MNIST, "2").tags["champion_gate.evidence"] == "none"


def test_another_dataset_is_compared_with_its_own_champion(store, spread):
    """Fashion-MNIST models go to their own registered model: a lower accuracy than MNIST's
    champion still makes the first Fashion-MNIST champion, and leaves MNIST's alone."""
    client, _ = store
    evaluated(store, 0.97, "w1")
    fashion = evaluated(store, 0.85, "w2", dataset="fashion_mnist")
    assert (fashion.model_name, fashion.outcome) == ("fashion_mnist-classifier", "first")
    assert champion_version(client, MNIST) == "1" and champion_version(client, FASHION) == "1"
    assert not evaluated(store, 0.84, "w3", dataset="fashion_mnist").promoted
    assert evaluated(store, 0.96, "w4").outcome == "kept"  # MNIST: 0.96 < 0.97


def test_the_same_weights_again_add_no_version(store):
    client, _ = store
    evaluated(store, 0.90, "w1")
    again = evaluated(store, 0.90, "w1")
    assert (again.outcome, again.version) == ("registered", "1")
    assert len(client.search_model_versions(f"name = '{MNIST}'")) == 1


def test_promote_by_hand_then_demote_steps_back(store, capsys):
    client, _ = store
    evaluated(store, 0.90, "w1")
    evaluated(store, 0.80, "w2")  # kept: version 2 is not champion
    assert cli.main(["promote", "--experiment", "runs", "w2"]) == 0
    assert champion_version(client, MNIST) == "2"
    assert (
        "champion: mnist-classifier version 2 (test accuracy 0.8000), by hand, replacing "
        "version 1 (0.9000)" in capsys.readouterr().out
    )
    assert cli.main(["demote", "--experiment", "runs", "w2"]) == 0
    assert champion_version(client, MNIST) == "1"
    assert cli.main(["demote", "--experiment", "runs", "w1"]) == 0  # it replaced none
    assert champion_version(client, MNIST) is None
    assert cli.main(["demote", "--experiment", "runs", "w1"]) == 1
    assert "version 1 is not the champion (there is none)" in capsys.readouterr().err


def test_promote_registers_a_run_the_registry_does_not_hold(store, capsys):
    client, experiment_id = store
    evaluated(store, 0.90, "w1")
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name="by-hand",
        tags={"dataset": "mnist", "weights_sha256": "w9"},
    ):
        mlflow.log_metric("test_accuracy", 0.5)
        mlflow.create_external_model(name="model")
    assert cli.main(["promote", "--experiment", "runs", "by-hand"]) == 0
    assert champion_version(client, MNIST) == "2"


def test_a_run_without_a_raw_image_model_cannot_be_promoted(store, capsys):
    _, experiment_id = store
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name="keras-only",
        tags={"dataset": "mnist", "weights_sha256": "w5"},
    ):
        mlflow.create_external_model(name="keras_model")
    assert cli.main(["promote", "--experiment", "runs", "keras-only"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnist-pipeline promote: run ")
    assert "has no raw-image model to make a version of mnist-classifier" in err
    assert len(err.splitlines()) == 1


def test_registry_tags_say_only_what_is_true(store):
    """A first champion replaced nothing: no previous_champion tag. A demoted version is no
    longer champion: its previous_champion tag goes."""
    client, _ = store
    evaluated(store, 0.90, "w1")
    assert "previous_champion" not in client.get_model_version(MNIST, "1").tags
    evaluated(store, 0.80, "w2")
    assert cli.main(["promote", "--experiment", "runs", "w2"]) == 0
    assert client.get_model_version(MNIST, "2").tags["previous_champion"] == "1"
    assert cli.main(["demote", "--experiment", "runs", "w2"]) == 0
    assert "previous_champion" not in client.get_model_version(MNIST, "2").tags
    assert champion_version(client, MNIST) == "1"


def hand_made_run(experiment_id: str, name: str, accuracy: float | None, model: str | None):
    """A run as evaluate leaves it, not yet published: tags, test accuracy, the raw-image
    model (each left out when None)."""
    tags = {"dataset": "mnist", "dataset_sha256": "mnist-data", "weights_sha256": name}
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        if accuracy is not None:
            mlflow.log_metric("test_accuracy", accuracy)
        if model is not None:
            mlflow.create_external_model(name=model, tags={"weights_sha256": name})
    return run.info.run_id


def test_publish_registers_a_runs_model_and_records_the_gates_decision(store, capsys):
    client, experiment_id = store
    run_id = hand_made_run(experiment_id, "w7", 0.91, "model")
    assert registry.champion(client, MNIST) is None
    assert cli.main(["publish", "--experiment", "runs", "w7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("champion: mnist-classifier version 1 (test accuracy 0.9100)")
    tags = client.get_run(run_id).data.tags
    assert tags["registered_version"] == "mnist-classifier/1"
    assert tags["champion_decision"] == out.strip()
    assert cli.main(["publish", "--experiment", "runs", "w7"]) == 0  # the same weights again
    assert len(client.search_model_versions(f"name = '{MNIST}'")) == 1
    assert client.get_run(run_id).data.tags["champion_decision"] == out.strip()  # kept


@pytest.mark.parametrize("accuracy, model", [(None, "model"), (0.9, "keras_model")])
def test_publish_refuses_a_run_that_was_not_evaluated(store, capsys, accuracy, model):
    client, experiment_id = store
    hand_made_run(experiment_id, "w8", accuracy, model)
    assert cli.main(["publish", "--experiment", "runs", "w8"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnist-pipeline publish: run ") and len(err.splitlines()) == 1
    assert "has no raw-image model with test metrics: its evaluate stage did not run" in err
    assert client.search_registered_models() == []
