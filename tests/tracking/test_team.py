"""Team scale: a real MLflow tracking server, a DVC remote, parallel queued experiments."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, make_tiny_project, run_stage, tiny_repository_copy

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
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{directory / 'server.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(directory / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
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


@pytest.mark.skipif(
    not SERVER,
    reason="no tracking server: .ci/run starts one (`make server`) "
    "and sets MNIST_PIPELINE_TEST_SERVER",
)
def test_pipeline_logs_everything_to_the_postgres_backed_server(tmp_path, as_team_user):
    """As a publisher (CI): runs the pipeline, registers, moves the champion."""
    experiment = f"server-test-{uuid.uuid4().hex[:8]}"
    # The server outlives the test: a registered model of its own, not a shared one.
    registered = f"'{experiment}-{{dataset}}'"  # quoted for `-S`: braces are override syntax
    names = {"tracking.experiment": experiment, "registry.model_name": registered}
    project, env = make_tiny_project(tmp_path / "project", **names)
    env["MLFLOW_TRACKING_URI"] = SERVER
    env |= as_team_user("publisher")
    for stage in STAGES:
        result = run_stage(stage, project, env)
        assert result.returncode == 0, result.stderr
    publish = subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", "publish"],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert publish.returncode == 0, publish.stderr

    client = mlflow.MlflowClient(SERVER)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert run.data.params["train.epochs"] == "2"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
    assert steps == [1, 2]
    assert {"test_accuracy", "test_loss", "test_macro_f1"} <= set(run.data.metrics)
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/confusion_matrix.png" in figures and len(figures) == 5
    mlflow.set_tracking_uri(SERVER)  # `models:/` URIs resolve through the global tracking URI
    models = {
        client.get_logged_model(output.model_id).name: output.model_id
        for output in run.outputs.model_outputs
    }
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

    assert run_stage("evaluate", project, env).returncode == 0  # opens no MLflow
    evaluated = {p: p.read_bytes() for p in (project / "reports/evaluate").iterdir()}
    result = run_stage("plot", project, env)
    assert result.returncode == 1
    assert f"MLflow tracking server {uri} unreachable" in result.stderr
    assert {p: p.read_bytes() for p in (project / "models").iterdir()} == trained
    assert {p: p.read_bytes() for p in (project / "reports/evaluate").iterdir()} == evaluated
    assert not (project / "reports/figures").exists()

    server = start_server(tmp_path, port)
    try:
        result = run_stage("plot", project, env)
        assert result.returncode == 0, result.stderr
        client = mlflow.MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("mnist-pipeline").experiment_id])
        assert len(runs) == 1 and "test_accuracy" in runs[0].data.metrics  # the same run
    finally:
        stop_server(server)


def dvc(project, env, *arguments, timeout=900):
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *arguments],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def docs_block(paragraph: str, page: str = "team.md") -> str:
    """The first ```bash block after the line of a docs page that starts with `paragraph`."""
    text = (ROOT / "docs" / page).read_text()
    after = text[text.index(paragraph) :]
    start = after.index("```bash\n") + len("```bash\n")
    return after[start : after.index("```\n", start)]


def task_states(status: str) -> dict[str, str]:
    """Name -> status from `dvc queue status` (Task, Name, Created, Status columns)."""
    rows = (line.split() for line in status.splitlines()[1:])
    return {row[1]: row[-1] for row in rows if len(row) >= 4}


def queue_workers(project: Path) -> list[int]:
    """PIDs of this project's DVC queue workers still running (DVC records each one's pid
    in .dvc/tmp/exps/celery/dvc-exp-worker-<n>.json)."""
    alive = []
    for info in (project / ".dvc/tmp/exps/celery").glob("dvc-exp-worker-*.json"):
        pid = json.loads(info.read_text())["pid"]
        with contextlib.suppress(OSError):  # no /proc/<pid>: the worker has exited
            if b"queue-worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                alive.append(pid)
    return alive


def worker_logs(project: Path) -> str:
    return "".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
        for path in sorted((project / ".dvc/tmp/exps/celery").glob("dvc-exp-worker-*.out"))
    )


def test_parallel_queued_experiments_each_get_their_own_run(tmp_path):
    """The parallel-experiments block of docs/team.md as written: three queued variants on two
    workers, all logging to the project's embedded store. Every task ends Success, no worker
    died at start, and none outlives the block."""
    project, env = tiny_repository_copy(tmp_path)
    script = tmp_path / "parallel-experiments.sh"
    script.write_text(docs_block("## Parallel experiments"))
    names = ["lr-fast", "lr-slow", "seed-7"]
    log = tmp_path / "parallel-experiments.log"
    try:
        # Output to a file, not a pipe: the workers started in the background inherit it.
        with open(log, "w") as output:
            result = subprocess.run(
                ["bash", "-eu", "-o", "pipefail", str(script)],
                cwd=project,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=1800,
            )
        assert result.returncode == 0, log.read_text()
        assert "not finished" not in log.read_text(), log.read_text()
        status = dvc(project, env, "queue", "status")
        states = task_states(status)
        assert [states.get(name) for name in names] == ["Success"] * 3, status
        deadline = time.monotonic() + 60
        while queue_workers(project) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        leftover = queue_workers(project)
        for pid in leftover:  # only the workers this test started, by pid
            os.kill(pid, signal.SIGKILL)
    logs = worker_logs(project)
    assert not leftover, f"queue workers still running 60 s after `dvc queue stop --kill`\n{logs}"
    assert "Unrecoverable error" not in logs, logs

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("mnist-pipeline").experiment_id])
    tagged = sorted(run.data.tags.get("dvc_experiment", "") for run in runs)
    assert tagged == names
    assert all("test_accuracy" in run.data.metrics for run in runs)
    logs = "".join(
        path.read_text(errors="replace") for path in (project / ".dvc/tmp").rglob("*.out")
    )
    assert "database is locked" not in logs
    shutil.rmtree(project / ".dvc/tmp/exps", ignore_errors=True)


def test_queue_status_misses_a_task_that_a_worker_takes_while_it_reads(tmp_path):
    """Why docs/team.md waits on task names: `dvc queue status` lists running tasks (the
    broker's processed/ folder), then queued ones (in/). A worker taking a task moves its
    message from in/ to processed/; done between the two listings, the task is in neither."""
    from dvc.repo import Repo

    project, env = tiny_repository_copy(tmp_path)
    dvc(project, env, "exp", "run", "--queue", "--name", "seed-7", "--set-param", "seed=7")
    broker = project / ".dvc/tmp/exps/celery/broker"
    with Repo(project) as repo:
        queue = repo.experiments.celery_queue

        def states():
            return [(task["name"], task["status"]) for task in queue.status()]

        assert states() == [("seed-7", "Queued")]
        list_queued = queue.iter_queued

        def worker_takes_it_first():
            for message in (broker / "in").glob("*.celery.msg"):  # what kombu's worker does
                shutil.move(message, broker / "processed")
            return list_queued()

        queue.iter_queued = worker_takes_it_first
        assert states() == []  # in transit: neither Running nor Queued
        queue.iter_queued = list_queued
        assert states() == [("seed-7", "Running")]


def test_workers_creating_the_broker_control_file_at_once_lose_a_binding(tmp_path):
    """Why docs/team.md writes `[]` into celery.pidbox.exchange before `dvc queue start`.
    kombu's filesystem transport keeps an exchange's bindings in a file it creates unlocked
    (exists(), then open for writing). Replayed: the second worker binds its control queue
    between the first's check and its write. Without the file, the first's write replaces the
    second's binding (a worker deaf to `dvc queue stop`); with the file, both are kept."""
    from unittest import mock

    import kombu
    from dvc.repo import Repo

    project = tmp_path / "project"
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    with Repo.init(project) as repo:
        broker = repo.experiments.celery_queue.celery.conf.broker_transport_options
    control = Path(broker["control_folder"]).relative_to(project).as_posix()
    assert control in docs_block("## Parallel experiments")  # the folder DVC's queue uses

    def bind_two_workers(folder: Path) -> list[str]:
        options = {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder}
        channels = [
            kombu.Connection("filesystem://", transport_options=options).channel() for _ in range(2)
        ]
        pidbox = kombu.Exchange("celery.pidbox", "fanout")

        def bind(channel, worker: str) -> None:
            # Named per folder: kombu's filesystem transport keeps one binding state per process.
            queue = f"{folder.name}-{worker}.celery.pidbox"
            kombu.Queue(queue, pidbox).bind(channel).declare()

        exists, replayed = Path.exists, []

        def first_checks(path: Path) -> bool:
            found = exists(path)
            if path.name == "celery.pidbox.exchange" and not replayed:
                replayed.append(path)  # the second worker binds now, between check and write
                bind(channels[1], "worker-2")
            return found

        with mock.patch.object(Path, "exists", first_checks):
            bind(channels[0], "worker-1")
        assert replayed
        table = json.loads((folder / "celery.pidbox.exchange").read_text())
        return sorted(queue.removeprefix(f"{folder.name}-") for _, _, queue in table)

    unprimed, primed = tmp_path / "unprimed", tmp_path / "primed"
    unprimed.mkdir()
    primed.mkdir()
    (primed / "celery.pidbox.exchange").write_text("[]")  # what the docs' `echo '[]'` does
    assert bind_two_workers(unprimed) == ["worker-1.celery.pidbox"]
    assert bind_two_workers(primed) == ["worker-1.celery.pidbox", "worker-2.celery.pidbox"]


WRITER = """
import sys, time
from pathlib import Path
import mlflow
from mnist_pipeline.tracking import tracker

index, steps, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
while not go.exists():  # start together, after the slow imports
    time.sleep(0.01)
experiment_id = tracker.connect("concurrency")
with mlflow.start_run(experiment_id=experiment_id, run_name=f"writer-{index}"):
    mlflow.log_params({f"p{key}": index for key in range(40)})
    for step in range(steps):
        for key in range(3):  # one transaction each: as many lock round trips as possible
            mlflow.log_metric(f"m{key}", 1000 * index + step, step=step)
        mlflow.log_metrics({f"batch{key}": step for key in range(10)}, step=step)
"""


def test_embedded_store_takes_concurrent_writers(tmp_path):
    """Four processes create one new SQLite store through tracker.connect at once, then
    each logs many params and metrics into its own run: no "database is locked", and every
    value is read back."""
    writers, steps = 4, 40
    (tmp_path / "writer.py").write_text(WRITER)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    go = tmp_path / "go"
    logs = [tmp_path / f"writer-{index}.log" for index in range(writers)]
    with contextlib.ExitStack() as files:
        processes = [
            subprocess.Popen(
                [sys.executable, str(tmp_path / "writer.py"), str(index), str(steps), str(go)],
                cwd=tmp_path,
                env=env,
                stdout=files.enter_context(open(log, "w")),
                stderr=subprocess.STDOUT,
            )
            for index, log in enumerate(logs)
        ]
        time.sleep(2)
        go.touch()
        codes = [process.wait(timeout=600) for process in processes]
    outputs = "\n".join(log.read_text() for log in logs)
    assert codes == [0] * writers, outputs
    assert "database is locked" not in outputs

    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("concurrency").experiment_id])
    assert sorted(run.info.run_name for run in runs) == [f"writer-{i}" for i in range(writers)]
    for run in runs:
        index = int(run.info.run_name.removeprefix("writer-"))
        assert run.data.params == {f"p{key}": str(index) for key in range(40)}
        for key in range(3):
            history = client.get_metric_history(run.info.run_id, f"m{key}")
            assert sorted((m.step, m.value) for m in history) == [
                (step, 1000 * index + step) for step in range(steps)
            ]
        for key in range(10):
            history = client.get_metric_history(run.info.run_id, f"batch{key}")
            assert sorted((m.step, m.value) for m in history) == [(s, s) for s in range(steps)]
