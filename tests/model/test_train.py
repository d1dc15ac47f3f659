"""The train stage on generated data: determinism, MLflow contents, tracking failures."""

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.errors import ParamsError

from conftest import edit_params, make_tiny_project, run_stage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny project trained twice, each time in a separate process."""
    directory, env = make_tiny_project(tmp_path_factory.mktemp("train") / "project")
    copies = []
    for attempt in range(2):
        result = run_stage("train", directory, env)
        assert result.returncode == 0, result.stderr
        copy = directory.parent / f"outputs-{attempt}"
        shutil.copytree(directory / "models", copy / "models")
        shutil.copytree(directory / "reports", copy / "reports")
        copies.append(copy)
    return directory, env, copies


def test_two_runs_give_byte_identical_outputs(trained):
    _, _, (first, second) = trained
    for path in (
        "models/weights.npz",
        "models/model.json",
        "reports/train/history.csv",
        "reports/train/model_summary.txt",
    ):
        assert filecmp.cmp(first / path, second / path, shallow=False), path


def test_history_has_one_row_per_epoch(trained):
    directory, _, _ = trained
    lines = (directory / "reports/train/history.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy"
    rows = [[float(value) for value in line.split(",")] for line in lines[1:]]
    assert [row[0] for row in rows] == [1, 2]  # as Keras prints them: "Epoch 1/2"
    assert all(0 <= row[2] <= 1 and 0 <= row[4] <= 1 and row[1] > 0 for row in rows)


@pytest.fixture(scope="module")
def mlflow_run(trained):
    mlflow = pytest.importorskip("mlflow")
    directory, env, _ = trained
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("mnist-pipeline")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    assert len(runs) == 2
    return client, runs[0], experiment


def test_run_holds_every_param(mlflow_run):
    from mnist_pipeline.params import flatten, load_params

    _, run, _ = mlflow_run
    assert set(run.data.params) == set(flatten(load_params("params.yaml")))  # nothing else
    assert run.data.params["train.epochs"] == "2"
    assert run.data.params["train.learning_rate"] == "0.001"  # as written, not float32's
    assert run.data.params["model.hidden_1.activation"] == "linear"


def test_per_epoch_metrics_are_logged_at_each_epoch_numbered_from_1(mlflow_run, trained):
    client, run, _ = mlflow_run
    directory, _, _ = trained
    history = (directory / "reports/train/history.csv").read_text().splitlines()[1:]
    for column, metric in enumerate(("loss", "accuracy", "val_loss", "val_accuracy"), start=1):
        points = client.get_metric_history(run.info.run_id, metric)
        assert [entry.step for entry in points] == [1, 2], metric
        assert [entry.value for entry in points] == [
            float(row.split(",")[column]) for row in history
        ]
    assert not any(name.startswith("validation_") for name in run.data.metrics)


def test_runs_have_distinct_readable_names_and_a_description(mlflow_run):
    client, run, experiment = mlflow_run
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    commit = runs[0].data.tags["git_commit"][:7]
    assert [r.info.run_name for r in runs] == [f"{commit} #1", f"{commit} #2"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert not any(tag.startswith("mnist_pipeline.process") for tag in run.data.tags)
    description = run.data.tags["mlflow.note.content"]
    assert "mnist" in description and "784 → 128 linear → 64 relu → 10 softmax" in description


def keras_model_id(client, run) -> str:
    """The Keras model train logs (evaluate adds the raw-image `model`: see test_serving.py)."""
    (model_id,) = [
        output.model_id
        for output in run.outputs.model_outputs
        if client.get_logged_model(output.model_id).name == "keras_model"
    ]
    return model_id


def test_the_logged_model_carries_the_final_epoch_metrics(mlflow_run):
    client, run, _ = mlflow_run
    model = client.get_logged_model(keras_model_id(client, run))
    final = {metric.key: metric.value for metric in model.metrics}
    assert final["val_accuracy"] == run.data.metrics["val_accuracy"]  # epoch 2, the last
    assert {metric.step for metric in model.metrics} == {2}


def test_tags_identify_data_code_and_weights(mlflow_run, trained):
    import hashlib
    import json

    directory, _, _ = trained
    _, run, _ = mlflow_run
    tags = run.data.tags
    raw = json.loads((directory / "data/raw/mnist.json").read_text())
    assert tags["dataset"] == "mnist"
    assert tags["dataset_sha256"] == raw["content_sha256"]
    weights = (directory / "models/weights.npz").read_bytes()
    assert tags["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True)
    assert tags["git_commit"] == commit.stdout.decode().strip()
    assert tags["git_dirty"] == "False"  # only untracked outputs changed


def load_logged_model_and_check_predictions(model_uri: str, directory):
    """Load the run's logged model; it must predict what numpy inference on the project's
    weights predicts."""
    import json

    import mlflow

    from mnist_pipeline.model.inference import predict_proba

    loaded = mlflow.pyfunc.load_model(model_uri)
    x = np.load(directory / "data/split/val.npz")["x"][:8]
    spec = json.loads((directory / "models/model.json").read_text())
    with np.load(directory / "models/weights.npz") as archive:
        expected = predict_proba(spec, dict(archive), x)
    np.testing.assert_allclose(np.asarray(loaded.predict(x)), expected, atol=1e-6)
    return loaded


def test_logged_model_loads_and_predicts_like_the_trained_one(mlflow_run, trained):
    directory, _, _ = trained
    client, run, _ = mlflow_run
    model_uri = f"models:/{keras_model_id(client, run)}"
    loaded = load_logged_model_and_check_predictions(model_uri, directory)
    assert loaded.metadata.get_input_schema().inputs[0].shape == (-1, 784)


def test_unreachable_tracking_server_fails_before_training(trained):
    directory, env, _ = trained
    before = {path.name: path.read_bytes() for path in (directory / "models").iterdir()}
    result = run_stage("train", directory, {**env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert result.returncode == 1
    assert "MLflow tracking server http://127.0.0.1:9 unreachable" in result.stderr
    assert "Epoch 1/" not in result.stdout + result.stderr
    assert {path.name: path.read_bytes() for path in (directory / "models").iterdir()} == before


def test_plot_starts_an_equally_tagged_run_when_the_store_was_wiped(trained, tmp_path):
    """Evaluate opens no MLflow (it runs without a store); plot, the stage that logs, finds
    no run of these weights in a wiped store and starts one with train's part."""
    import hashlib

    import mlflow

    directory, env, _ = trained
    wiped = f"sqlite:///{tmp_path / 'wiped.db'}"
    offline = {**env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # nothing listens there
    assert run_stage("evaluate", directory, offline).returncode == 0
    result = run_stage("plot", directory, {**env, "MLFLOW_TRACKING_URI": wiped})
    assert result.returncode == 0, result.stderr
    assert "no MLflow run has weights" in result.stderr
    client = mlflow.MlflowClient(wiped)
    (run,) = client.search_runs([client.get_experiment_by_name("mnist-pipeline").experiment_id])
    weights = (directory / "models/weights.npz").read_bytes()
    assert run.data.tags["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    assert run.data.tags["dataset"] == "mnist" and "git_commit" in run.data.tags
    assert "test_accuracy" in run.data.metrics and run.data.params["train.epochs"] == "2"
    assert len(client.list_artifacts(run.info.run_id, "figures")) == 5
    assert {client.get_logged_model(m.model_id).name for m in run.outputs.model_outputs} == {
        "model"  # the Keras model is train's, logged while training
    }


# Keras's JAX backend (`train.backend: jax`): the same stage, deterministic too.


@pytest.fixture(scope="module")
def trained_on_jax(tmp_path_factory):
    pytest.importorskip("jax", reason="the 'jax' extra is not installed")
    directory, env = make_tiny_project(
        tmp_path_factory.mktemp("jax") / "project", **{"train.backend": "jax"}
    )
    weights = []
    for _ in range(2):
        result = run_stage("train", directory, env)
        assert result.returncode == 0, result.stderr
        weights.append((directory / "models/weights.npz").read_bytes())
    return directory, env, weights


def test_jax_backend_repeats_bit_for_bit(trained_on_jax, trained):
    _, _, (first, second) = trained_on_jax
    assert first == second
    tensorflow_weights = (trained[0] / "models/weights.npz").read_bytes()
    assert first != tensorflow_weights  # really trained by another backend


def test_jax_run_is_tracked_and_its_model_predicts_like_numpy_inference(trained_on_jax):
    import mlflow

    directory, env, _ = trained_on_jax
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("mnist-pipeline")
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    assert run.data.params["train.backend"] == "jax"
    assert [entry.step for entry in client.get_metric_history(run.info.run_id, "loss")] == [1, 2]
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    model_uri = f"models:/{keras_model_id(client, run)}"
    requirements = Path(mlflow.pyfunc.get_model_dependencies(model_uri)).read_text()
    assert "jax==" in requirements and "tensorflow" not in requirements
    # Trained on JAX, loaded in this TensorFlow process: a .keras file loads on any backend.
    load_logged_model_and_check_predictions(model_uri, directory)


@pytest.mark.parametrize(("backend", "other"), [("jax", "tensorflow"), ("tensorflow", "jax")])
def test_a_backend_process_never_imports_the_other_backend(backend, other):
    """Keras seeds TensorFlow, and TensorFlow loads jax for TFLite, whenever they are
    installed: 0.6-2 s and 150-400 MB for nothing, so select_backend keeps them out."""
    pytest.importorskip("jax", reason="the 'jax' extra is not installed")
    script = (
        "import sys\n"
        "from mnist_pipeline.model import training\n"
        f"training.select_backend({backend!r}, 1)\n"
        "training.configure_determinism(42, 1)\n"
        "import keras\n"
        f"print(keras.backend.backend(), {other!r} in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [backend, "False"]


def test_missing_backend_package_names_the_extra(monkeypatch):
    from mnist_pipeline.model import training

    monkeypatch.setattr(training.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ParamsError, match=r"'jax' is not installed .*uv sync --extra jax"):
        training.select_backend("jax", 1)


# The options beyond the reference: dropout, cosine schedule and shifted images together.

OPTIONS = {
    "model.hidden_1.dropout": 0.3,
    "model.hidden_2.dropout": 0.1,
    "train.lr_schedule": "cosine",
    "train.augment_shift": 2,
}


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_an_option_rich_model_repeats_bit_for_bit(tmp_path, backend):
    """Dropout masks and shifts are random: seeded with the run, so two trainings of the
    same params give byte-identical outputs, on either backend."""
    if backend == "jax":
        pytest.importorskip("jax", reason="the 'jax' extra is not installed")
    options = {**OPTIONS, "train.backend": backend}
    directory, env = make_tiny_project(tmp_path / "project", **options)
    outputs = []
    for _ in range(2):
        result = run_stage("train", directory, env)
        assert result.returncode == 0, result.stderr
        outputs.append(
            {
                path: (directory / path).read_bytes()
                for path in (
                    "models/weights.npz",
                    "models/model.json",
                    "reports/train/history.csv",
                    "reports/train/model_summary.txt",
                )
            }
        )
    assert outputs[0] == outputs[1]
    spec = outputs[0]["models/model.json"].decode()
    assert '"dropout": 0.3' in spec and "shift" not in spec  # shifts: training's, not the model's
    summary = outputs[0]["reports/train/model_summary.txt"].decode()
    assert "hidden_1_dropout (Dropout)" in summary and "hidden_2_dropout (Dropout)" in summary
    evaluated = run_stage("evaluate", directory, env)  # numpy inference reads the spec
    assert evaluated.returncode == 0, evaluated.stderr


def test_the_run_description_names_the_options(tmp_path):
    import mlflow

    directory, env = make_tiny_project(tmp_path / "project", **OPTIONS, **{"train.epochs": 1})
    result = run_stage("train", directory, env)
    assert result.returncode == 0, result.stderr
    assert "fit: 1 epochs in" in result.stderr  # the fit's wall time, in the log only
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("mnist-pipeline")
    (run,) = client.search_runs([experiment.experiment_id])
    description = run.data.tags["mlflow.note.content"]
    assert "784 → 128 linear (dropout 0.3) → 64 relu (dropout 0.1) → 10 softmax" in description
    assert "learning rate 0.001 (cosine decay)" in description
    assert "images shifted up to 2 px" in description
    assert run.data.params["train.lr_schedule"] == "cosine"
    assert run.data.params["model.hidden_2.dropout"] == "0.1"


def test_a_bad_option_stops_the_stage_with_one_line(tmp_path):
    directory, env = make_tiny_project(tmp_path / "project")
    edit_params(directory / "params.yaml", **{"model.hidden_1.dropout": 1.5})
    result = run_stage("train", directory, env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ERROR mnist_pipeline: model.hidden_1.dropout: expected between 0 (none) and 1 "
        "(exclusive), got 1.5"
    )
