"""End to end: the real `dvc repro` in a temporary copy of the repository, on generated data
served through the mirror setting, with MLflow's default embedded store.

The one repro and the checks on what it left are in `make test`; what runs more of the
pipeline (retraining, experiments, a remote and a clone) is slow, in `make test-all`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_pipeline import paths
from mnist_pipeline.cli.reprocheck import stages_run
from mnist_pipeline.report.evaluation import HEADLINE_METRICS, TEST_METRICS

from conftest import dvc, edit_params, git_commit_all, run_stage, tiny_repository_copy

mlflow = pytest.importorskip("mlflow")

FIGURES = tuple(Path(figure).name for figure in paths.FIGURES)


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
    assert list(metrics) == ["test"] and list(metrics["test"]) == sorted(HEADLINE_METRICS)
    assert 0 <= metrics["test"]["accuracy"] <= 1 and metrics["test"]["loss"] > 0
    per_class = (project / "reports/evaluate/per_class.csv").read_text().splitlines()
    assert per_class[0] == "class,precision,recall,f1,support" and len(per_class) == 11
    assert sum(int(row.rsplit(",", 1)[1]) for row in per_class[1:]) == 50
    predictions = (project / "reports/evaluate/predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == 51
    assert len((project / "reports/train/history.csv").read_text().splitlines()) == 3
    for name in FIGURES:
        assert (project / "reports/figures" / name).read_bytes()[:4] == b"\x89PNG", name
    scratch = json.loads((project / "reports/scratch/gradients.json").read_text())
    assert scratch["loss"] == 0.1332476222330792


def test_dvc_metrics_are_the_headline_only(pipeline):
    """`dvc metrics show` / `dvc exp show` columns: accuracy, loss, macro F1 — the per-class
    numbers live in per_class.csv, and the numpy network's check is no metric at all."""
    project, env, _ = pipeline
    shown = json.loads(dvc("metrics", "show", "--json", cwd=project, env=env).stdout)
    (workspace,) = shown.values()  # keyed "workspace" or "" depending on the DVC version
    assert list(workspace["data"]) == ["reports/evaluate/metrics.json"]
    metrics = workspace["data"]["reports/evaluate/metrics.json"]["data"]
    assert sorted(metrics["test"]) == sorted(HEADLINE_METRICS)
    on_disk = json.loads((project / "reports/evaluate/metrics.json").read_text())
    assert metrics["test"]["accuracy"] == on_disk["test"]["accuracy"]
    exps = json.loads(dvc("exp", "show", "--json", cwd=project, env=env).stdout)
    columns = exps[0]["data"]["metrics"]
    assert list(columns) == ["reports/evaluate/metrics.json"]
    assert sorted(columns["reports/evaluate/metrics.json"]["data"]["test"]) == sorted(
        HEADLINE_METRICS
    )


def store(project: Path):
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    return client, client.get_experiment_by_name("mnist-pipeline")


def assert_complete(client, run) -> None:
    """What the README promises of every run that trained a model."""
    assert set(TEST_METRICS) <= set(run.data.metrics), run.info.run_name
    steps = [point.step for point in client.get_metric_history(run.info.run_id, "val_loss")]
    assert steps == [1, 2], run.info.run_name
    artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "per_class.csv", "history.csv", "model_summary.txt"} <= artifacts
    figures = {artifact.path for artifact in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {f"figures/{name}" for name in FIGURES}, run.info.run_name
    models = {client.get_logged_model(output.model_id).name for output in run.outputs.model_outputs}
    # The Keras model (train) and the raw-image model (evaluate, or publish when DVC skips it).
    assert models == {"keras_model", "model"}, run.info.run_name
    # Each metric once, from the current evaluation (not also from committed outputs).
    assert len(client.get_metric_history(run.info.run_id, "test_accuracy")) == 1
    # What each model's page shows: the Keras model its final epoch, the raw-image model
    # (the one to use) its test metrics.
    shown = {
        model.name: {metric.key for metric in model.metrics}
        for model in (
            client.get_logged_model(output.model_id) for output in run.outputs.model_outputs
        )
    }
    assert "val_accuracy" in shown["keras_model"] and "test_accuracy" in shown["model"], shown
    assert not any(name.startswith("optimizer_") for name in run.data.params)
    assert not any(tag.startswith("mnist_pipeline.process") for tag in run.data.tags)


def publish(project: Path, env: dict[str, str], *arguments: str) -> str:
    """`mnist-pipeline publish`, as `make run` calls it after `dvc repro`; its stdout. Its
    stderr holds none of MLflow's notes (logging the raw-image model draws several)."""
    command = [sys.executable, "-m", "mnist_pipeline.cli", "publish", *arguments]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not [line for line in result.stderr.splitlines() if "mlflow" in line], result.stderr
    return result.stdout


def test_mlflow_run_of_the_model_holds_metrics_and_figures(pipeline):
    project, _, _ = pipeline
    client, experiment = store(project)
    (run,) = client.search_runs([experiment.experiment_id])
    assert_complete(client, run)
    assert run.info.status == "FINISHED"
    assert experiment.artifact_location == (project / "mlartifacts").as_uri()


def test_no_stage_registers_publish_does_and_registry_edits_rerun_nothing(pipeline):
    """`dvc repro` leaves the registry empty; `mnist-pipeline publish` makes the workspace's
    model version 1 and champion; a registry param edit reruns no stage (nor training)."""
    project, env, _ = pipeline
    client, experiment = store(project)
    assert client.search_registered_models() == []
    out = publish(project, env)
    assert out.startswith("champion: mnist-classifier version 1 (test accuracy ")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["registered_version"] == "mnist-classifier/1"
    assert str(client.get_model_version_by_alias("mnist-classifier", "champion").version) == "1"
    assert_complete(client, run)  # publishing logged nothing twice
    edit_params(project / "params.yaml", **{"registry.champion_spread_multiple": 5})
    assert stages_run(dvc("repro", cwd=project, env=env).stdout) == []


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


def test_plot_by_hand_refuses_evaluate_outputs_of_other_weights(pipeline):
    """plot logs evaluate's outputs into the run of models/weights.npz: run by hand over
    outputs of other weights, or none, it stops with one line naming the file, before it draws
    or logs anything."""
    project, env, _ = pipeline
    evaluated = project / paths.EVALUATED
    kept = evaluated.read_bytes()
    figures = {figure: (project / figure).read_bytes() for figure in paths.FIGURES}
    try:
        evaluated.write_text(json.dumps({**json.loads(kept), "weights_sha256": "0" * 64}))
        other = run_stage("plot", project, env)
        evaluated.unlink()
        missing = run_stage("plot", project, env)
    finally:
        evaluated.write_bytes(kept)
    assert other.returncode != 0 and missing.returncode != 0
    assert f"{paths.EVALUATED} is of other weights than {paths.WEIGHTS}" in other.stderr
    assert f"{paths.EVALUATED} is missing or unreadable: run `dvc repro`" in missing.stderr
    assert "Traceback" not in other.stderr + missing.stderr
    assert {figure: (project / figure).read_bytes() for figure in paths.FIGURES} == figures


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_repro_that_skips_evaluate_and_plot_is_completed_by_publish(pipeline):
    """As on a fresh clone: the committed evaluation outputs already belong to the weights
    train gives, so DVC skips evaluate and plot; `make run`'s publish completes train's run
    from them (train itself reads no later stage's output)."""
    project, env, _ = pipeline
    dvc("repro", cwd=project, env=env)
    rerun = dvc("repro", "--force", "--single-item", "train", cwd=project, env=env)
    assert stages_run(rerun.stdout) == ["train"]
    assert stages_run(dvc("repro", cwd=project, env=env).stdout) == []  # nothing stale
    client, experiment = store(project)

    def newest():
        order = ["attributes.start_time DESC"]
        return client.search_runs([experiment.experiment_id], order_by=order)[0]

    assert "test_accuracy" not in newest().data.metrics  # what DVC skipped is missing
    publish(project, env)
    assert_complete(client, newest())


@pytest.mark.slow
def test_experiments_get_their_own_named_complete_runs_even_with_identical_weights(pipeline):
    """Two --temp experiments whose weights are identical (steps_per_execution does not
    change the arithmetic) each get their own run, named after the experiment, complete."""
    project, env, _ = pipeline
    dvc("repro", cwd=project, env=env)
    git_commit_all(project, "pipeline outputs")
    for name, steps in (("steps-2", 2), ("steps-3", 3)):
        dvc(
            "exp",
            "run",
            "--temp",
            "--name",
            name,
            "--set-param",
            f"train.steps_per_execution={steps}",
            cwd=project,
            env=env,
        )
    client, experiment = store(project)
    found = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    first, second = found["steps-2"], found["steps-3"]
    assert first.data.tags["dvc_experiment"] == "steps-2"
    assert first.data.tags["weights_sha256"] == second.data.tags["weights_sha256"]
    for run in (first, second):
        assert_complete(client, run)
        assert "train.steps_per_execution" in run.data.tags["mlflow.note.content"]
    names = [run.info.run_name for run in client.search_runs([experiment.experiment_id])]
    assert len(names) == len(set(names)), names  # every run its own name


@pytest.mark.slow
def test_exp_run_set_param_changes_exactly_one_line_of_params_yaml(pipeline):
    """`dvc exp run -S` rewrites params.yaml: only the value set may differ (comments,
    layout and order kept). Last in this module: it applies the experiment to the workspace."""
    project, env, _ = pipeline
    dvc("repro", cwd=project, env=env)
    git_commit_all(project, "pipeline outputs")
    before = (project / "params.yaml").read_text().splitlines()
    dvc("exp", "run", "--name", "one-epoch", "--set-param", "train.epochs=1", cwd=project, env=env)
    after = (project / "params.yaml").read_text().splitlines()
    assert len(after) == len(before)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [("  epochs: 2", "  epochs: 1")]
    client, experiment = store(project)
    (run,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'one-epoch'")
    assert_complete_but_for_epochs = set(TEST_METRICS) <= set(run.data.metrics)
    assert assert_complete_but_for_epochs and run.data.tags["dvc_experiment"] == "one-epoch"
