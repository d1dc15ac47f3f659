"""`mnist-pipeline replicate`: seeds parsed, the spread's numbers, and a real replicate group
on tiny generated data (two workers sharing two seeds, then a rerun that adds a third)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mnist_pipeline.errors import ParamsError
from mnist_pipeline.report.evaluation import HEADLINE_METRICS
from mnist_pipeline.search import replicates, tuning
from mnist_pipeline.tracking.studyrun import GROUP_TAG

from conftest import finish_worker, start_worker, tiny_repository_copy

MNIST_PIPELINE = str(Path(sys.executable).parent / "mnist-pipeline")
DEADLINE = 900  # seconds for a group on a loaded machine (about 1 min idle)


@pytest.mark.parametrize(
    "given, seeds",
    [
        (["1-5"], (1, 2, 3, 4, 5)),
        (["1,3,8"], (1, 3, 8)),
        (["1", "2", "3"], (1, 2, 3)),  # SEEDS='1 2 3' in the Makefile
        (["4-5", "1-4"], (4, 5, 1, 2, 3)),  # each seed once, in the order given
        (["7"], (7,)),
    ],
)
def test_seeds_are_ranges_lists_or_words(given, seeds):
    assert replicates.parse_seeds(given) == seeds


@pytest.mark.parametrize(
    "given, message",
    [
        (["one"], "--seeds: expected seeds such as 1-5 or 1,3,8, got 'one'"),
        (["5-1"], "--seeds: '5-1' is not a range of seeds"),
        (["-3"], "got '-3'"),
        ([""], "--seeds: no seed given"),
    ],
)
def test_bad_seeds_are_refused_in_one_line(given, message):
    with pytest.raises(ParamsError) as error:
        replicates.parse_seeds(given)
    assert message in str(error.value)


def test_the_spread_is_the_mean_sample_sd_and_a_t_interval():
    """Known numbers: 0.96, 0.97, 0.98 have mean 0.97, sd 0.01; t(0.975, 2) = 4.3027."""
    found = replicates.spread([0.96, 0.97, 0.98])
    assert found["mean"] == pytest.approx(0.97)
    assert found["std"] == pytest.approx(0.01)
    half = 4.302652729911275 * 0.01 / 3**0.5
    assert found["ci95_low"] == pytest.approx(0.97 - half)
    assert found["ci95_high"] == pytest.approx(0.97 + half)
    assert replicates.spread([0.5]) == {"mean": 0.5}  # one seed: no spread to speak of


def test_the_group_metrics_are_named_after_the_headline_metrics():
    per_seed = {
        1: {f"test_{name}": 0.9 for name in HEADLINE_METRICS},
        2: {f"test_{name}": 0.8 for name in HEADLINE_METRICS},
    }
    found = replicates.group_metrics(per_seed)
    assert found["n_seeds"] == 2
    for name in HEADLINE_METRICS:
        assert found[f"test_{name}_mean"] == pytest.approx(0.85)
        assert {f"test_{name}_{key}" for key in ("std", "ci95_low", "ci95_high")} <= set(found)
    assert sorted(found) == sorted(replicates.GROUP_METRICS)


def test_a_configuration_that_sets_the_seed_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(replicates.configs, "load_configs", lambda: {"fixed": {"seed": 3}})
    with pytest.raises(ParamsError, match="configuration fixed sets seed: a replicate group"):
        replicates.configuration("fixed", tmp_path)


def _git(cwd: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", *arguments], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def _experiment(repo: Path, ref: str, params: str) -> None:
    """A DVC experiment as git holds it: a ref refs/exps/..., a child of its baseline."""
    (repo / "params.yaml").write_text(params)
    _git(repo, "commit", "-q", "--allow-empty", "-am", "exp")
    _git(repo, "update-ref", ref, "HEAD")
    _git(repo, "reset", "-q", "--hard", "HEAD~1")


def test_an_experiments_configuration_is_its_params_edits_without_its_seed(tmp_path, monkeypatch):
    """`replicate NAME` with NAME a DVC experiment: what it changed in params.yaml (its seed
    left out: the group varies it); a name two experiments share is refused in one line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(replicates.configs, "load_configs", lambda: {"reference": {}})
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@t")
    _git(tmp_path, "config", "user.name", "t")
    base = "seed: 42\ntrain:\n  learning_rate: 0.001\n  epochs: 10\n"
    (tmp_path / "params.yaml").write_text(base)
    _git(tmp_path, "add", "params.yaml")
    _git(tmp_path, "commit", "-qm", "base")
    edited = "seed: 7\ntrain:\n  learning_rate: 0.003\n  epochs: 10\n"
    _experiment(tmp_path, "refs/exps/ab/cdef/fast-lr", edited)
    assert replicates.configuration("fast-lr", tmp_path) == {"train.learning_rate": 0.003}
    assert replicates.configuration("reference", tmp_path) == {}
    _experiment(tmp_path, "refs/exps/12/3456/twice", edited)
    _experiment(tmp_path, "refs/exps/78/9abc/twice", base)
    with pytest.raises(ParamsError, match="'twice' names 2 DVC experiments"):
        replicates.configuration("twice", tmp_path)
    with pytest.raises(ParamsError, match="no configuration 'nowhere' in configs.yaml"):
        replicates.configuration("nowhere", tmp_path)


def _replicate(project: Path, env: dict, *arguments: str) -> subprocess.Popen:
    return start_worker(project, env, "replicate", *arguments)


def _group_runs(project: Path, group: str):
    """(parent, children by seed) of the group, found by its tag."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnist-pipeline")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.{GROUP_TAG} = '{group}'"
    )
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = {int(run.data.params["seed"]): run for run in runs if run is not parent}
    return parent, children


@pytest.mark.slow
def test_a_replicate_group_runs_each_seed_once_and_its_parent_holds_their_spread(tmp_path):
    """Two workers at once share seeds 1-2 of the workspace's configuration: each seed one
    DVC experiment and one nested MLflow run tagged with the group; the parent's metrics are
    the children's test metrics' mean, sd and interval. A rerun with 1-3 runs seed 3 only."""
    project, env = tiny_repository_copy(tmp_path)
    group = f"g{uuid.uuid4().hex[:8]}"
    workers = [_replicate(project, env, "--seeds", "1-2", "--group", group) for _ in "ab"]
    outputs = [finish_worker(worker, DEADLINE) for worker in workers]
    parent, children = _group_runs(project, group)
    assert sorted(children) == [1, 2], outputs
    assert sum(output.count(": seed ") for output in outputs) == 2  # each seed ran once
    _check_spread(parent, children, n=2)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[tuning.ROLE_TAG] == "replicates"
    assert parent.data.tags["seeds"] == "1,2"
    assert "seed" not in parent.data.params and "train.epochs" in parent.data.params
    for seed, child in children.items():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.run_name == f"{group}-seed{seed}"  # its DVC experiment's name
    listed = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "list", "--name-only"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(listed) == [f"{group}-seed1", f"{group}-seed2"]
    weights = {child.data.tags["weights_sha256"] for child in children.values()}
    assert len(weights) == 2  # another seed, other weights

    again = finish_worker(_replicate(project, env, "--seeds", "1-3", "--group", group), DEADLINE)
    assert again.count(": seed ") == 1 and ": seed 3: test_accuracy" in again, again
    parent_again, children = _group_runs(project, group)
    assert parent_again.info.run_id == parent.info.run_id and sorted(children) == [1, 2, 3]
    _check_spread(parent_again, children, n=3)
    assert f"replicate group {group}: 3 seeds (1, 2, 3)" in again

    other = subprocess.run(
        [MNIST_PIPELINE, "replicate", "tuned-base", "--group", group],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert other.returncode == 1
    assert other.stderr.strip().startswith(
        f"mnist-pipeline replicate: replicate group {group} runs other params (its "
    )
    assert other.stderr.strip().endswith("differ): --group NAME starts another group")


def _check_spread(parent, children, n: int) -> None:
    metrics = parent.data.metrics
    assert metrics["n_seeds"] == n
    for name in HEADLINE_METRICS:
        values = [child.data.metrics[f"test_{name}"] for child in children.values()]
        assert metrics[f"test_{name}_mean"] == pytest.approx(statistics.fmean(values))
        assert metrics[f"test_{name}_std"] == pytest.approx(statistics.stdev(values))
        low, high = metrics[f"test_{name}_ci95_low"], metrics[f"test_{name}_ci95_high"]
        assert low < metrics[f"test_{name}_mean"] < high
