"""Shared fixtures: tiny generated MNIST-format data and a scratch project directory."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
LONGEST = "test_pipeline.py"  # the fast tier's one `dvc repro`, a minute or more


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest file first: `make test` hands each worker whole files in this order
    (pytest-xdist --dist loadfile), and the repro started last would finish last."""
    items.sort(key=lambda item: item.path.name != LONGEST)  # stable: the rest keep their order


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 2049 for 1-D labels, 2051 for images)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def tiny_dataset(per_class: int = 12, test_per_class: int = 3, seed: int = 0) -> dict:
    """Random 28x28 digits with balanced labels: x_train, y_train, x_test, y_test."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", per_class), ("test", test_per_class)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), count)
        rng.shuffle(labels)
        images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays


IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def write_idx_folder(folder: Path, arrays: dict, compress: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_NAMES.items():
        data = idx_bytes(arrays[key])
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def tiny_arrays() -> dict:
    return tiny_dataset()


@pytest.fixture
def tiny_mirror(tmp_path: Path, tiny_arrays: dict) -> Path:
    return write_idx_folder(tmp_path / "mirror", tiny_arrays)


def edit_params(path: Path, **changes: object) -> None:
    """Set dotted keys in a params.yaml, e.g. edit_params(p, **{"train.epochs": 1}), the way
    `dvc exp run -S` does (comments and layout kept)."""
    from dvc.utils.hydra import apply_overrides

    apply_overrides(
        path,
        [
            f"{key}={json.dumps(value) if not isinstance(value, str) else value}"
            for key, value in changes.items()
        ],
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with the repository's params.yaml, where stage scripts can run."""
    directory = tmp_path / "project"
    directory.mkdir()
    shutil.copy(ROOT / "params.yaml", directory / "params.yaml")
    return directory


def run_stage(
    name: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run stages/<name>.py as DVC would, in `cwd`; returns the completed process."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / f"{name}.py")],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


TINY_PARAMS = {
    "data.verify": False,  # generated data: format checks only
    "train.epochs": 2,
    "train.batch_size": 32,
    "train.steps_per_execution": 4,
}


def make_tiny_project(
    directory: Path, *, test_per_class: int = 5, **params: object
) -> tuple[Path, dict[str, str]]:
    """A project directory whose data stages have run on generated data (30 training and
    `test_per_class` test images of each class).

    Returns (directory, environment) where the environment points the mirror at the
    generated IDX files and MLflow at a SQLite store inside the directory.
    """
    directory.mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", directory / "params.yaml")
    edit_params(directory / "params.yaml", **{**TINY_PARAMS, **params})
    mirror = write_idx_folder(
        directory.parent / f"{directory.name}-mirror", tiny_dataset(30, test_per_class)
    )
    env = {
        "MNIST_PIPELINE_MIRROR": str(mirror),
        "MLFLOW_TRACKING_URI": f"sqlite:///{directory / 'mlflow.db'}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    subprocess.run(["git", "init", "-q"], cwd=directory, check=True)
    git_commit_all(directory, "tiny project")
    for stage in ("download", "prepare", "split"):
        result = run_stage(stage, directory, env)
        assert result.returncode == 0, result.stderr
    return directory, env


def dvc(*arguments: str, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `dvc ARGUMENTS` in `cwd` with this interpreter's DVC; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def git_commit_all(directory: Path, message: str) -> None:
    """Commit everything not ignored, as a test user (CI may have no git identity)."""
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "add", "-A"], cwd=directory, check=True)
    subprocess.run(
        ["git", *identity, "commit", "--allow-empty", "-qm", message], cwd=directory, check=True
    )


def copy_repository(destination: Path) -> None:
    """The repository's own files (tracked or new, not ignored), without outputs or stores."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not name.startswith(("reports/", "dvc.lock")):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def tiny_repository_copy(base: Path) -> tuple[Path, dict[str, str]]:
    """A git repository holding a copy of this one, with params for generated data, and the
    environment to run DVC in it: the mirror set, this interpreter's tools first on PATH,
    and MLflow's default embedded store."""
    project = base / "project"
    copy_repository(project)
    edit_params(project / "params.yaml", **TINY_PARAMS)
    mirror = write_idx_folder(base / "mirror", tiny_dataset(30, 5))
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env |= {
        "MNIST_PIPELINE_MIRROR": str(mirror),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    for key, value in (("user.name", "test"), ("user.email", "test@example.invalid")):
        subprocess.run(["git", "config", key, value], cwd=project, check=True)  # dvc exp run
    git_commit_all(project, "copy")
    return project, env


# The team server .ci/run starts (server/mlflow-server.sh): its URL, and its admin's password
# (read from the server's secrets folder, never written into the repository), with which a
# test makes users of a role of its own. Without the password (a server without auth) tests
# run with no credentials, as before.
TEST_SERVER_VARIABLE = "MNIST_PIPELINE_TEST_SERVER"
ADMIN_PASSWORD_VARIABLE = "MNIST_PIPELINE_TEST_SERVER_ADMIN_PASSWORD"


def team_user(role: str, prefix: str = "test") -> dict[str, str]:
    """A new user with `role` (viewer, member, publisher: tracking/team.py) on the test
    server, named uniquely (the server's database persists); their MLflow credentials as the
    environment variables MLflow's clients read. {} when there is no admin password."""
    import uuid
    from unittest import mock

    from mnist_pipeline.tracking import team

    admin_password = os.environ.get(ADMIN_PASSWORD_VARIABLE)
    if not admin_password:
        return {}
    name = f"{prefix}-{role}-{uuid.uuid4().hex[:8]}"
    admin = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": admin_password}
    with mock.patch.dict(os.environ, admin):
        password = team.add_user(os.environ[TEST_SERVER_VARIABLE], name, role)
    return {"MLFLOW_TRACKING_USERNAME": name, "MLFLOW_TRACKING_PASSWORD": password}


@pytest.fixture
def as_team_user(monkeypatch):
    """as_team_user(role): a new user of that role on the test server, their credentials
    set in this process's environment (MLflow clients here) and returned (for subprocesses)."""

    def become(role: str) -> dict[str, str]:
        credentials = team_user(role)
        for key, value in credentials.items():
            monkeypatch.setenv(key, value)
        return credentials

    return become


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made, once per test process: making them runs
    MLflow's migrations (2-4 s), copying the file takes milliseconds."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_store(tmp_path, empty_mlflow_store) -> str:
    """A new, empty MLflow SQLite store of this test's own (a copy of the template); its URI."""
    path = tmp_path / "mlflow.db"
    shutil.copyfile(empty_mlflow_store, path)
    return f"sqlite:///{path}"


@pytest.fixture
def mlflow_experiment(tmp_path, monkeypatch, mlflow_store) -> str:
    """A temporary SQLite store (MLFLOW_TRACKING_URI points at it) with an experiment `runs`;
    returns the experiment's id."""
    import mlflow

    uri = mlflow_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return mlflow.create_experiment("runs", artifact_location=(tmp_path / "a").as_uri())


def start_worker(project: Path, env: dict, *arguments: str, stderr=subprocess.STDOUT):
    """`mnist-pipeline ARGUMENTS` (a `tune` or `replicate` worker) in `project`, in its own
    process group (finish_worker kills the group); stderr with stdout unless `stderr` (PIPE:
    apart, for a test of its error lines)."""
    command = str(Path(sys.executable).parent / "mnist-pipeline")
    return subprocess.Popen(
        [command, *arguments],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def finish_worker(worker, timeout: float) -> str:
    """A worker process's output once it has ended well (search tests: `tune`, `replicate`
    workers started in their own process group); killed, and the test failed, past timeout."""
    import signal
    import subprocess

    try:
        output, _ = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        output, _ = worker.communicate()
        pytest.fail(f"worker still running after {timeout} s:\n{output}")
    assert worker.returncode == 0, output
    return output
