"""The registry gate, and promotion by hand, against a temporary MLflow store: models are
hand-made LoggedModels (the gate looks only at tags and accuracies)."""

import pytest

mlflow = pytest.importorskip("mlflow")

from mnist_pipeline import cli  # noqa: E402
from mnist_pipeline.params import RegistryParams  # noqa: E402
from mnist_pipeline.tracking import registry  # noqa: E402

NAMES = RegistryParams(model_name="{dataset}-classifier", champion_margin=0.0)
MNIST, FASHION = NAMES.registered_name("mnist"), NAMES.registered_name("fashion_mnist")


@pytest.fixture
def store(mlflow_experiment):
    return mlflow.MlflowClient(), mlflow_experiment


def evaluated(
    store,
    accuracy: float,
    weights: str,
    dataset: str = "mnist",
    margin: float = 0.0,
) -> registry.Decision:
    """A run as evaluate leaves it (tags, test accuracy, a raw-image model), published."""
    client, experiment_id = store
    tags = {
        "dataset": dataset,
        "dataset_sha256": f"{dataset}-data",
        "weights_sha256": weights,
        "git_commit": "c" * 40,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=weights, tags=tags):
        mlflow.log_metric("test_accuracy", accuracy)
        model = mlflow.create_external_model(name="model", tags={"weights_sha256": weights})
    return registry.publish(
        client, NAMES.registered_name(dataset), f"models:/{model.model_id}", tags, accuracy, margin
    )


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


def test_a_better_version_takes_the_alias_and_the_message_has_both_numbers(store):
    client, _ = store
    evaluated(store, 0.90, "w1")
    decision = evaluated(store, 0.93, "w2")
    assert decision.promoted and champion_version(client, MNIST) == "2"
    assert decision.message == (
        "champion: mnist-classifier version 2 (test accuracy 0.9300) replaces version 1 "
        "(0.9000): better by 0.0300, more than the margin 0"
    )
    assert client.get_model_version(MNIST, "2").tags["previous_champion"] == "1"


@pytest.mark.parametrize("accuracy", [0.90, 0.85])
def test_an_equal_or_worse_version_is_registered_but_the_champion_stays(store, accuracy):
    client, _ = store
    evaluated(store, 0.90, "w1")
    decision = evaluated(store, accuracy, "w2")
    assert (decision.outcome, decision.version) == ("kept", "2")
    assert champion_version(client, MNIST) == "1"
    assert decision.message.startswith("champion stays mnist-classifier version 1 (0.9000): ")
    assert f"version 2 (test accuracy {accuracy:.4f}) is not better" in decision.message


def test_the_margin_must_be_exceeded(store):
    client, _ = store
    evaluated(store, 0.90, "w1", margin=0.01)
    assert not evaluated(store, 0.905, "w2", margin=0.01).promoted
    assert evaluated(store, 0.92, "w3", margin=0.01).promoted
    assert champion_version(client, MNIST) == "3"


def test_another_dataset_is_compared_with_its_own_champion(store):
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
