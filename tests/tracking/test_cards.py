"""Model cards in the registry, against a temporary MLflow store: hand-made evaluated runs
(params, test metrics, a LoggedModel) published as versions; the card is logged with each
version, read back, and printed by `mnist-pipeline predict --card`."""

import pytest

mlflow = pytest.importorskip("mlflow")

from mnist_pipeline import cli  # noqa: E402
from mnist_pipeline.report import modelcard  # noqa: E402
from mnist_pipeline.tracking import cards, registry, tracker  # noqa: E402

NAME = "mnist-classifier"
PARAMS = {"seed": "42", "train.learning_rate": "0.5", "train.epochs": "10"}
METRICS = {"test_accuracy": 0.93, "test_loss": 0.25, "test_macro_f1": 0.925}


def head() -> str:
    return tracker.git("rev-parse", "HEAD")


def evaluated_run(experiment_id: str, weights: str, params=PARAMS, metrics=METRICS, **tags):
    """A run as evaluate leaves it: tags, params, test metrics, a raw-image model."""
    tags = {
        "dataset": "mnist",
        "dataset_sha256": "d" * 64,
        "weights_sha256": weights,
        "git_commit": head(),
        "git_dirty": "False",
        **tags,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=weights, tags=tags) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        model = mlflow.create_external_model(name="model", tags={"weights_sha256": weights})
    return run.info.run_id, model.model_id, tags


def publish(experiment_id: str, weights: str, **options) -> registry.Decision:
    run_id, model_id, _ = evaluated_run(experiment_id, weights, **options)
    client = mlflow.MlflowClient()
    return registry.publish(client, NAME, f"models:/{model_id}", client.get_run(run_id), 3.0)


def test_a_new_version_carries_its_card_and_predict_card_prints_it(mlflow_experiment, capsys):
    decision = publish(mlflow_experiment, "w1")
    client = mlflow.MlflowClient()
    version = client.get_model_version(NAME, decision.version)
    run_id = version.run_id
    assert version.tags[cards.CARD_TAG] == f"runs:/{run_id}/model_cards/{NAME}-v1.md"
    assert version.description.startswith("An MLP image classifier trained by mnist-pipeline")
    text = cards.read(client, version)
    header, body = modelcard.parse(text)
    (result,) = header["model-index"][0]["results"]
    assert header["model-index"][0]["name"] == f"{NAME} version 1"
    assert result["dataset"]["revision"] == "d" * 64
    assert {m["type"]: m["value"] for m in result["metrics"]} == {
        "accuracy": 0.93,
        "loss": 0.25,
        "f1": 0.925,
    }
    # The run's params against HEAD's params.yaml: learning rate 0.5 is the change to make.
    assert f"git checkout {head()}\ndvc exp run -S 'train.learning_rate=0.5'\n" in body
    assert "No seed spread: no replicate group of this configuration" in body
    for uri in (f"models:/{NAME}@champion", f"models:/{NAME}/1", f"runs:/{run_id}/model"):
        capsys.readouterr()
        assert cli.main(["predict", "--card", "--model", uri]) == 0, uri
        assert capsys.readouterr().out == text


@pytest.mark.parametrize(
    ("with_parent", "row"),
    [
        (True, "| Test accuracy | 0.9300 | 0.9550 ± 0.0071 | 0.8900 to 1.0200 |"),
        # No parent run: the same statistics from the seeds (t interval, 1 degree of freedom).
        (False, "| Test accuracy | 0.9300 | 0.9550 ± 0.0071 | 0.8915 to 1.0185 |"),
    ],
)
def test_the_spread_comes_from_the_replicate_group_of_the_same_configuration(
    mlflow_experiment, with_parent, row
):
    """Two seeds of the configuration, with or without their parent run's statistics; a
    group of another configuration is not used."""
    group = "base-0000000"
    for seed, accuracy in ((1, 0.95), (2, 0.96)):
        evaluated_run(
            mlflow_experiment,
            f"seed{seed}",
            params={**PARAMS, "seed": str(seed)},
            metrics={**METRICS, "test_accuracy": accuracy},
            replicate_group=group,
        )
    evaluated_run(
        mlflow_experiment,
        "other",
        params={**PARAMS, "train.epochs": "3"},
        replicate_group="other-0000000",
    )
    parent = {"test_accuracy_mean": 0.955, "test_accuracy_std": 0.00707}
    parent |= {"test_accuracy_ci95_low": 0.89, "test_accuracy_ci95_high": 1.02}
    if with_parent:
        with mlflow.start_run(experiment_id=mlflow_experiment, tags={"replicate_group": group}):
            mlflow.log_metrics({**parent, "n_seeds": 2})
    decision = publish(mlflow_experiment, "w1")
    client = mlflow.MlflowClient()
    text = cards.read(client, client.get_model_version(NAME, decision.version))
    header, body = modelcard.parse(text)
    (result,) = header["model-index"][0]["results"]
    accuracy = next(m for m in result["metrics"] if m["type"] == "accuracy")
    assert accuracy["value"] == 0.93
    assert accuracy["args"]["seed_std"] == pytest.approx(0.00707, abs=1e-5)
    assert accuracy["args"]["seeds"] == 2 and accuracy["args"]["replicate_group"] == group
    assert row in body


def test_a_version_without_a_card_is_one_line_and_exit_1_until_published_again(
    mlflow_experiment, capsys
):
    decision = publish(mlflow_experiment, "w1")
    client = mlflow.MlflowClient()
    client.delete_model_version_tag(NAME, decision.version, cards.CARD_TAG)  # an old version
    assert cli.main(["predict", "--card", "--model", f"models:/{NAME}/1"]) == 1
    error = capsys.readouterr().err
    assert error == (
        "mnist-pipeline predict: mnist-classifier version 1 has no model card (registered "
        "before versions had one): `mnist-pipeline publish <its run>` writes it\n"
    )
    again = publish(mlflow_experiment, "w1")  # the same weights: no new version, a card
    assert (again.outcome, again.version) == ("registered", "1")
    assert cards.CARD_TAG in client.get_model_version(NAME, "1").tags


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/no-such-model@champion", "models:/no-such-model@champion: no model card there"),
        ("/some/folder", "/some/folder: not a registered model"),
    ],
)
def test_a_uri_without_a_version_is_one_line_and_exit_1(mlflow_experiment, capsys, uri, message):
    assert cli.main(["predict", "--card", "--model", uri]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"mnist-pipeline predict: {message}") and error.count("\n") == 1


def test_predict_without_files_or_card_is_one_line_and_exit_1(capsys):
    assert cli.main(["predict"]) == 1
    assert capsys.readouterr().err == (
        "mnist-pipeline predict: no image files to predict (or --card: the model's card)\n"
    )


def test_the_workspace_lock_counts_only_when_it_recorded_these_weights(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    data = b"weights"
    (tmp_path / "models/weights.npz").write_bytes(data)
    lock = "stages:\n  train:\n    outs:\n    - path: models/weights.npz\n      md5: {}\n"
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "dvc.lock").write_text(lock.format(hashlib.md5(data).hexdigest()))
    assert cards.workspace_lock(sha) == lock.format(hashlib.md5(data).hexdigest())
    assert cards.workspace_lock("another-run's-weights") is None
    (tmp_path / "dvc.lock").write_text(lock.format("0" * 32))  # the lock of other weights
    assert cards.workspace_lock(sha) is None


def test_the_reproduce_settings_are_the_params_that_differ_as_values(tmp_path, monkeypatch):
    """A float param logged as `3.0` where params.yaml says `3` is no change (the published
    card said `dvc exp run -S 'registry.champion_spread_multiple=3.0'`); a real one is."""
    import subprocess

    from mnist_pipeline.tracking import cards

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("registry:\n  multiple: 3\ntrain:\n  lr: 0.001\n")
    for command in (["init", "-q"], ["add", "params.yaml"]):
        subprocess.run(["git", *command], check=True)
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "p"], check=True
    )
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    logged = {"registry.multiple": "3.0", "train.lr": "0.003", "seed": "1"}
    assert cards.changed_from_commit(commit, logged) == {"train.lr": "0.003"}
