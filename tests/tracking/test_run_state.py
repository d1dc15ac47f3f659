"""Runs honest about their state, and errors by kind, on a tiny generated project.

A train killed mid-fit (SIGKILL) leaves its MLflow run RUNNING: the next stage that opens
the store marks it KILLED, unless its process is still alive. Ctrl-C (SIGINT) and SIGTERM
end the run KILLED, taking effect after the fit's current batch. Anticipated errors are one
line; a library's ValueError from inside numpy is a bug and keeps its traceback.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, make_tiny_project, run_stage

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow")

LONG_FIT = {"train.epochs": 1000}  # long enough to be caught mid-fit on any machine


def start_train(project: Path, env: dict) -> subprocess.Popen:
    """Started with SIGINT ignored, as a stage run by a script in the background inherits it:
    the stage must still take Ctrl-C (a CI run started that way failed here)."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "stages" / "train.py")],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


def runs(env: dict) -> list:
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("mnist-pipeline")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def wait_until_fitting(process: subprocess.Popen, env: dict, deadline_seconds: float = 300):
    """The run, once it is RUNNING and has logged its first epoch (the real signal that the
    fit is under way); fails if the process ends first or the deadline passes."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"train ended early: {process.stderr.read()}"
        found = [run for run in runs(env) if "loss" in run.data.metrics]
        if found:
            return found[0]
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"no epoch logged within {deadline_seconds} s")


def status(env: dict, run_id: str) -> str:
    return mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"]).get_run(run_id).info.status


@pytest.fixture
def project(tmp_path):
    return make_tiny_project(tmp_path / "project", **LONG_FIT)


def test_sigkill_mid_fit_is_marked_killed_by_the_next_stage_not_before(project):
    directory, env = project
    train = start_train(directory, env)
    run = wait_until_fitting(train, env)
    # Another stage while train is alive: the live run is left alone.
    assert run_stage("plot", directory, env).returncode == 1  # no model yet
    assert status(env, run.info.run_id) == "RUNNING"

    train.send_signal(signal.SIGKILL)
    train.wait(timeout=60)
    assert status(env, run.info.run_id) == "RUNNING"  # what MLflow alone leaves behind
    result = run_stage("plot", directory, env)  # the next stage that opens MLflow
    assert "reports/train/history.csv: input missing" in result.stderr
    assert f"its process {train.pid} is gone; marked KILLED" in result.stderr
    assert status(env, run.info.run_id) == "KILLED"
    assert not (directory / "models").exists()  # nothing half-written
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    assert "mnist_pipeline.process.pid" not in client.get_run(run.info.run_id).data.tags


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_mid_fit_ends_the_run_killed(project, signum):
    directory, env = project
    train = start_train(directory, env)
    run = wait_until_fitting(train, env)
    train.send_signal(signum)
    _, stderr = train.communicate(timeout=120)
    assert train.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert status(env, run.info.run_id) == "KILLED"
    assert not (directory / "models").exists()


FIT_INTERRUPTED_AT_BATCH_3 = """
import signal, sys
import numpy as np
from mnist_pipeline import stage
from mnist_pipeline.model import training

training.select_backend(sys.argv[1], 1)
import keras

class SendAtThirdBatch:  # a listener before the checkpoints, as the study's is in train
    batches = 0
    def on_batch_end(self):
        self.batches += 1
        if self.batches == 3:
            signal.raise_signal(signal.SIGINT)
    def on_epoch_end(self, epoch, logs):
        pass

signal.signal(signal.SIGINT, stage._interrupt)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
x = np.random.default_rng(0).random((64, 4), dtype=np.float32)
y = np.arange(64) % 3
count = SendAtThirdBatch()
try:
    with stage.interrupts_at_checkpoints():
        training.fit(model, {"x": x, "y": y}, {"x": x, "y": y}, 5, 8,
                     callbacks=[count, stage.InterruptCheckpoints()])
except KeyboardInterrupt:
    print("interrupted after batch", count.batches)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_fit_takes_an_interrupt_after_the_current_batch(backend):
    """The fit listeners' per-batch hook is wired: interrupted at batch 3 of 8, no batch more."""
    pytest.importorskip(backend)
    result = subprocess.run(
        [sys.executable, "-c", FIT_INTERRUPTED_AT_BATCH_3, backend],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.stdout.strip() == "interrupted after batch 3", result.stderr


def test_anticipated_errors_are_one_line_and_bugs_keep_their_traceback(tmp_path):
    directory, env = make_tiny_project(tmp_path / "project", **{"train.epochs": 1})
    assert run_stage("train", directory, env).returncode == 0
    weights = directory / "models/weights.npz"
    good = weights.read_bytes()

    weights.write_bytes(good[: len(good) // 2])  # a corrupt input: one line naming it
    result = run_stage("evaluate", directory, env)
    assert result.returncode == 1
    assert "models/weights.npz: unreadable npz" in result.stderr
    assert "Traceback" not in result.stderr

    # A test set of the wrong width: numpy's matmul raises ValueError inside numpy. That is
    # not an input we anticipated a message for, so it must show where it came from.
    weights.write_bytes(good)
    test = directory / "data/prepared/test.npz"
    with np.load(test) as arrays:
        np.savez(test, x=arrays["x"][:, :-1], y=arrays["y"])
    result = run_stage("evaluate", directory, env)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: matmul" in result.stderr and "inference.py" in result.stderr


def test_an_experiment_another_process_creates_meanwhile_is_taken_not_an_error(
    mlflow_experiment, monkeypatch
):
    """Two workers starting on a new tracking server: both look the experiment up, find
    nothing, and create it; the second's "already exists" means it is there to use."""
    import mlflow

    from mnist_pipeline.tracking import tracker

    looked_up = mlflow.get_experiment_by_name
    calls = []

    def not_yet_then_there(name):
        calls.append(name)
        return None if len(calls) == 1 else looked_up(name)

    monkeypatch.setattr(mlflow, "get_experiment_by_name", not_yet_then_there)
    uri = os.environ["MLFLOW_TRACKING_URI"]
    assert tracker._experiment_id(mlflow, uri, "runs") == mlflow_experiment
    assert calls == ["runs", "runs"]
