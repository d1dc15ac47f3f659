"""`mnist-pipeline exps` on a real tiny project with two DVC experiments."""

import csv
import io
import os
import subprocess
import sys

import pytest

from conftest import dvc, git_commit_all, tiny_repository_copy

pytestmark = pytest.mark.slow

EXPERIMENTS = {
    "lr-fast": {"train.learning_rate": "0.01", "train.epochs": "1"},
    "relu-first": {"model.hidden_1.activation": "relu", "model.hidden_2.units": "48"},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project, env = tiny_repository_copy(tmp_path_factory.mktemp("exps"))
    dvc("repro", cwd=project, env=env)
    git_commit_all(project, "pipeline outputs")
    for name, changes in EXPERIMENTS.items():
        overrides = [f"--set-param={key}={value}" for key, value in changes.items()]
        dvc("exp", "run", "--temp", "--name", name, *overrides, cwd=project, env=env)
    return project, env


def exps(project, env, *arguments, columns=80) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", "exps", *arguments],
        cwd=project,
        env={**env, "COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def rows(lines: list[str]) -> dict[str, str]:
    """Each row's name -> its line (tree prefix removed) and the params lines under it."""
    found: dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if line.startswith(" "):
            found[name] += line
        else:
            line = line.removeprefix("├── ").removeprefix("└── ")
            name = line.split()[0]
            found[name] = line
    return found


def dvc_metrics(project, env) -> dict[str, tuple[float, float]]:
    """Test accuracy and loss of each experiment, as DVC's own table gives them."""
    table = dvc("exp", "show", "--csv", "--precision", "8", cwd=project, env=env).stdout
    return {
        row["Experiment"]: (float(row["test.accuracy"]), float(row["test.loss"]))
        for row in csv.DictReader(io.StringIO(table))
        if row["Experiment"]
    }


def test_each_experiment_fits_80_columns_with_its_metrics_and_changed_params(project):
    project, env = project
    lines = exps(project, env)
    assert lines[0].split() == [
        "experiment",
        "test",
        "accuracy",
        "test",
        "loss",
        "params",
        "that",
        "differ",
    ]
    assert max(map(len, lines)) <= 80, lines
    found = rows(lines)
    assert set(EXPERIMENTS) | {"workspace"} <= set(found), found
    changed = {key for changes in EXPERIMENTS.values() for key in changes}
    for name, (accuracy, loss) in dvc_metrics(project, env).items():
        cells = found[name].split()
        assert (float(cells[1]), float(cells[2])) == (round(accuracy, 4), round(loss, 4))
        shown = dict(pair.split("=", 1) for pair in cells[3:])
        assert set(shown) == changed, found[name]  # the differing params, and only those
        assert EXPERIMENTS[name].items() <= shown.items()


def test_a_narrow_terminal_puts_the_params_under_each_row(project):
    project, env = project
    lines = exps(project, env, "--width", "45")
    assert max(map(len, lines)) <= 45, lines
    assert "train.learning_rate=0.01" in rows(lines)["lr-fast"]


def test_outside_a_dvc_project_it_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", "exps"],
        cwd=tmp_path,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("mnist-pipeline exps: dvc exp show failed: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
