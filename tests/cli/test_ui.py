"""The MLflow UI as `mnist-pipeline ui` opens it: a classic ML experiment, test accuracy in
the runs list's first screen, a start without MLflow's deprecation warnings."""

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mnist_pipeline.tracking import tracker as tracking

CHROMIUM = shutil.which("chromium")
# A fresh profile each time (--user-data-dir): what a first visit shows.
CHROMIUM_OPTIONS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--window-size=1440,900",
    "--virtual-time-budget=15000",
    "--dump-dom",
]


def mlflow_ui_bundle() -> str:
    """The installed MLflow UI's JavaScript: the app that reads the tags we set."""
    import mlflow

    folder = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    return "".join(path.read_text(errors="replace") for path in folder.glob("*.js"))


def test_ui_tags_are_names_the_installed_mlflow_ui_reads():
    bundle = mlflow_ui_bundle()
    assert f'"{tracking.EXPERIMENT_KIND_TAG}"' in bundle
    assert f'"{tracking.UI_TAGS[tracking.EXPERIMENT_KIND_TAG]}"' in bundle
    view_tag = next(key for key in tracking.UI_TAGS if key != tracking.EXPERIMENT_KIND_TAG)
    assert f'"{view_tag.removesuffix(tracking.RUNS_VIEW_KEY)}"' in bundle  # its prefix
    assert '"viewStateShareKey"' in bundle  # the URL parameter `ui` prints
    for key in tracking.RUNS_VIEW:  # search facets and UI state the shared view restores
        assert f'"{key}"' in bundle, key


@pytest.fixture
def store(mlflow_store, monkeypatch):
    monkeypatch.setenv(tracking.URI_VARIABLE, mlflow_store)
    import mlflow

    yield mlflow.MlflowClient(tracking.tracking_uri())
    mlflow.set_tracking_uri(None)


def test_a_new_experiment_is_a_classic_one_with_the_runs_view(store):
    experiment = store.get_experiment(tracking.connect("fresh"))
    assert experiment.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    assert experiment.tags[tracking.DESCRIPTION_TAG] == tracking.EXPERIMENT_DESCRIPTION
    assert {key: experiment.tags.get(key) for key in tracking.UI_TAGS} == tracking.UI_TAGS


def test_an_existing_experiment_gets_the_tags_it_lacks_or_holds_otherwise(store):
    view_tag = next(key for key in tracking.UI_TAGS if key != tracking.EXPERIMENT_KIND_TAG)
    created = store.create_experiment("older", tags={view_tag: "{}", "team": "ours"})
    assert tracking.connect("older") == created
    tags = store.get_experiment(created).tags
    assert {key: tags.get(key) for key in tracking.UI_TAGS} == tracking.UI_TAGS
    assert tags["team"] == "ours"  # other tags untouched


def free_port() -> int:
    """A free port of 5100-5199 (the range this project's UI tests use)."""
    for port in range(5100, 5200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip("no free port in 5100-5199")


def started_ui(project: Path, port: int) -> tuple[subprocess.Popen, str]:
    """`mnist-pipeline ui` on the project's store, and the URL it prints once the UI answers.
    Its output is drained as it comes (the server logs each request there); stderr goes to
    ui.err in the project."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    environment.pop(tracking.URI_VARIABLE, None)
    command = [sys.executable, "-m", "mnist_pipeline.cli", "ui", "--port", str(port)]
    with open(project / "ui.err", "w") as stderr:
        ui = subprocess.Popen(
            [*command, "--experiment", "shown"],
            cwd=project,
            env=environment,
            text=True,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_drain, args=(ui.stdout, lines), daemon=True).start()
    # `ui` itself gives up after 180 s (its output then ends): this deadline is a backstop.
    while (line := lines.get(timeout=300)) is not None:
        if line.startswith("MLflow UI, experiment 'shown': "):
            return ui, line.split(": ", 1)[1].split()[0]
    ui.wait(timeout=60)
    pytest.fail(f"`mnist-pipeline ui` ended ({ui.returncode}) without a URL")


def _drain(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium to render the UI")
def test_ui_url_shows_test_accuracy_in_the_runs_list(tmp_path):
    import mlflow

    store = f"sqlite:///{tmp_path / tracking.STORE_FILE}"
    mlflow.set_tracking_uri(store)
    experiment_id = mlflow.create_experiment("shown")  # made before the UI tags: `ui` adds them
    with mlflow.start_run(experiment_id=experiment_id, run_name="a-run"):
        mlflow.log_metric("test_accuracy", 0.9713)
    mlflow.set_tracking_uri(None)

    ui, url = started_ui(tmp_path, free_port())
    try:
        assert "viewStateShareKey=" in url and "workflowType=machine_learning" in url
        dom = subprocess.run(
            [CHROMIUM, *CHROMIUM_OPTIONS, f"--user-data-dir={tmp_path / 'profile'}", url],
            capture_output=True,
            text=True,
            timeout=180,
        ).stdout
    finally:
        ui.terminate()  # `ui` stops its server too
        ui.wait(timeout=60)
    stderr = (tmp_path / "ui.err").read_text()
    assert "a-run" in dom
    assert "test_accuracy" in dom and "0.9713" in dom  # a column shown without clicks
    assert "StarletteDeprecationWarning" not in stderr
    assert ui.returncode == 0
