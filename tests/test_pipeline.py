"""End to end: the real `dvc repro` in a temporary copy of the repository, on generated data
served through the mirror setting, with MLflow's default embedded store."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_pipeline.reprocheck import stages_run

from conftest import edit_params, git_commit_all, tiny_repository_copy

pytestmark = pytest.mark.slow

FIGURES = ("samples.png", "loss.png", "accuracy.png", "predictions.png", "confusion_matrix.png")


def dvc(*arguments: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *arguments], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    project, env = tiny_repository_copy(tmp_path_factory.mktemp("pipeline"))
    first = dvc("repro", cwd=project, env=env)
    return project, env, first


def test_every_stage_ran_in_order(pipeline):
    _, _, first = pipeline
    ran = stages_run(first.stdout)
    assert ran.index("download") < ran.index("prepare") < ran.index("split") < ran.index("train")
    assert ran.index("train") < ran.index("evaluate") < ran.index("plot")
    assert set(ran) == {"download", "prepare", "split", "train", "evaluate", "plot", "scratch"}


def test_outputs_have_sane_content(pipeline):
    project, _, _ = pipeline
    metrics = json.loads((project / "reports/evaluate/metrics.json").read_text())
    assert 0 <= metrics["test"]["accuracy"] <= 1 and metrics["test"]["loss"] > 0
    assert sum(entry["support"] for entry in metrics["per_class"].values()) == 50
    predictions = (project / "reports/evaluate/predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == 51
    assert len((project / "reports/train/history.csv").read_text().splitlines()) == 3
    for name in FIGURES:
        assert (project / "reports/figures" / name).read_bytes()[:4] == b"\x89PNG", name
    scratch = json.loads((project / "reports/scratch/gradients.json").read_text())
    assert scratch["loss"] == 0.1332476222330792


def test_dvc_metrics_show_lists_test_accuracy(pipeline):
    project, env, _ = pipeline
    shown = json.loads(dvc("metrics", "show", "--json", cwd=project, env=env).stdout)
    (workspace,) = shown.values()  # keyed "workspace" or "" depending on the DVC version
    workspace = workspace["data"]["reports/evaluate/metrics.json"]["data"]
    assert (
        workspace["test"]["accuracy"]
        == json.loads((project / "reports/evaluate/metrics.json").read_text())["test"]["accuracy"]
    )


def test_mlflow_run_of_the_model_holds_metrics_and_figures(pipeline):
    mlflow = pytest.importorskip("mlflow")
    project, _, _ = pipeline
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnist-pipeline")
    (run,) = client.search_runs([experiment.experiment_id])
    assert {"test_accuracy", "test_loss", "val_accuracy"} <= set(run.data.metrics)
    figures = {artifact.path for artifact in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {f"figures/{name}" for name in FIGURES}
    assert experiment.artifact_location == (project / "mlartifacts").as_uri()


def test_second_repro_runs_nothing(pipeline):
    project, env, _ = pipeline
    again = dvc("repro", cwd=project, env=env)
    assert "Running stage" not in again.stdout
    assert "up to date" in dvc("status", cwd=project, env=env).stdout


def test_plot_param_change_reruns_only_plot(pipeline):
    project, env, _ = pipeline
    before = (project / "reports/figures/loss.png").read_bytes()
    edit_params(project / "params.yaml", **{"plot.dpi": 60})
    rerun = dvc("repro", cwd=project, env=env)
    assert stages_run(rerun.stdout) == ["plot"]
    assert (project / "reports/figures/loss.png").read_bytes() != before


def test_dvc_remote_push_then_pull_into_a_fresh_clone(pipeline, tmp_path):
    """The team workflow: push outputs to a (local-directory) remote, clone, pull: every
    output is back, `dvc status` is clean and `dvc repro` runs nothing."""
    project, env, _ = pipeline
    dvc("repro", cwd=project, env=env)
    remote = tmp_path / "remote"
    dvc("remote", "add", "--default", "shared", str(remote), cwd=project, env=env)
    git_commit_all(project, "run")
    dvc("push", cwd=project, env=env)

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    assert not (clone / "models/weights.npz").exists()
    dvc("pull", cwd=clone, env=env)
    for path in ("models/weights.npz", "data/split/train.npz", "data/raw/mnist.npz"):
        assert (clone / path).read_bytes() == (project / path).read_bytes(), path
    assert "up to date" in dvc("status", cwd=clone, env=env).stdout
    assert stages_run(dvc("repro", cwd=clone, env=env).stdout) == []
