"""Team scale: a real MLflow tracking server, a DVC remote, parallel queued experiments."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import make_tiny_project, run_stage, tiny_repository_copy

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow")

SERVER = os.environ.get("MNIST_PIPELINE_TEST_SERVER")  # set by .ci/run after `make server`
STAGES = ("train", "evaluate", "plot")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(directory: Path, port: int) -> subprocess.Popen:
    """An `mlflow server` serving artifacts, on loopback, with a SQLite backend in
    `directory`; returns once it answers /health."""
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server",
         "--backend-store-uri", f"sqlite:///{directory / 'server.db'}",
         "--serve-artifacts", "--artifacts-destination", str(directory / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    pytest.fail("mlflow server did not start within 90 s")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, 15)
    server.wait(timeout=30)


@pytest.mark.skipif(not SERVER, reason="no tracking server: .ci/run starts one (`make server`) "
                    "and sets MNIST_PIPELINE_TEST_SERVER")  # fmt: skip
def test_pipeline_logs_everything_to_the_postgres_backed_server(tmp_path):
    experiment = f"server-test-{uuid.uuid4().hex[:8]}"
    # The server outlives the test: a registered model of its own, not a shared one.
    registered = f"'{experiment}-{{dataset}}'"  # quoted for `-S`: braces are override syntax
    names = {"tracking.experiment": experiment, "registry.model_name": registered}
    project, env = make_tiny_project(tmp_path / "project", **names)
    env["MLFLOW_TRACKING_URI"] = SERVER
    for stage in STAGES:
        result = run_stage(stage, project, env)
        assert result.returncode == 0, result.stderr

    client = mlflow.MlflowClient(SERVER)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert run.data.params["train.epochs"] == "2"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
    assert steps == [1, 2]
    assert {"test_accuracy", "test_loss", "test_macro_f1"} <= set(run.data.metrics)
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/confusion_matrix.png" in figures and len(figures) == 5
    mlflow.set_tracking_uri(SERVER)  # `models:/` URIs resolve through the global tracking URI
    models = {client.get_logged_model(output.model_id).name: output.model_id
              for output in run.outputs.model_outputs}  # fmt: skip
    model = mlflow.pyfunc.load_model(f"models:/{models['keras_model']}")
    import numpy as np

    x = np.load(project / "data/split/val.npz")["x"][:4]
    probabilities = np.asarray(model.predict(x))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    # The registry on the server: the raw-image model, a version, champion, on raw images.
    name = f"{experiment}-mnist"  # tracking.experiment is unique here, so the registry name
    champion = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    with np.load(project / "data/raw/mnist.npz") as raw:
        table = champion.predict(raw["x_test"])
    predicted = (project / "reports/evaluate/predictions.csv").read_text().splitlines()[1:]
    assert list(table["label"]) == [row.split(",")[1] for row in predicted]
    assert run.data.tags["registered_version"] == f"{name}/1"


def test_server_down_between_stages_then_back(tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port)
    try:
        project, env = make_tiny_project(tmp_path / "project")
        env["MLFLOW_TRACKING_URI"] = uri
        assert run_stage("train", project, env).returncode == 0
    finally:
        stop_server(server)
    trained = {p: p.read_bytes() for p in (project / "models").iterdir()}

    result = run_stage("evaluate", project, env)
    assert result.returncode == 1
    assert f"MLflow tracking server {uri} unreachable" in result.stderr
    assert {p: p.read_bytes() for p in (project / "models").iterdir()} == trained
    assert not (project / "reports/evaluate/metrics.json").exists()

    server = start_server(tmp_path, port)
    try:
        for stage in ("evaluate", "plot"):
            result = run_stage(stage, project, env)
            assert result.returncode == 0, result.stderr
        client = mlflow.MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("mnist-pipeline").experiment_id])
        assert len(runs) == 1 and "test_accuracy" in runs[0].data.metrics  # the same run
    finally:
        stop_server(server)


def dvc(project, env, *arguments, timeout=900):
    result = subprocess.run([sys.executable, "-m", "dvc", *arguments], cwd=project, env=env,
                            capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_parallel_queued_experiments_each_get_their_own_run(tmp_path):
    """Three queued variants on two workers, all logging to the project's embedded store."""
    project, env = tiny_repository_copy(tmp_path)
    names = ["lr-fast", "lr-slow", "seed-7"]
    settings = ["train.learning_rate=0.01", "train.learning_rate=0.0001", "seed=7"]
    for name, setting in zip(names, settings, strict=True):
        dvc(project, env, "exp", "run", "--queue", "--name", name, "--set-param", setting)
    # Output to a file, not pipes: `queue start` daemonizes workers that inherit its output,
    # and a worker that outlives the queue (seen with celery) would hold a pipe open forever.
    with open(tmp_path / "queue-start.log", "w") as log:
        subprocess.run([sys.executable, "-m", "dvc", "queue", "start", "--jobs", "2"],
                       cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                       timeout=120, check=True)  # fmt: skip
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = dvc(project, env, "queue", "status")
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    dvc(project, env, "queue", "stop", "--kill")
    assert status.count("Success") == 3, status

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("mnist-pipeline").experiment_id])
    tagged = sorted(run.data.tags.get("dvc_experiment", "") for run in runs)
    assert tagged == names
    assert all("test_accuracy" in run.data.metrics for run in runs)
    logs = "".join(path.read_text(errors="replace") for path in
                   (project / ".dvc/tmp").rglob("*.out"))  # fmt: skip
    assert "database is locked" not in logs
    shutil.rmtree(project / ".dvc/tmp/exps", ignore_errors=True)
