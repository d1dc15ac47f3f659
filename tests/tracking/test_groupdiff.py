"""`mnist-pipeline diff` on replicate groups, and two single runs against the recorded seed
spread, on a temporary MLflow store holding planted runs."""

import json
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from mnist_pipeline import cli  # noqa: E402
from mnist_pipeline.tracking.studyrun import GROUP_TAG  # noqa: E402

BASE = {"train.epochs": "3", "train.learning_rate": "0.001"}
FAST = {**BASE, "train.learning_rate": "0.003"}
# test accuracy per seed: the reference's spread is ~0.0018 (docs/better-models.md)
REFERENCE = {1: 0.9675, 2: 0.9668, 3: 0.9685, 4: 0.9692, 5: 0.9646, 6: 0.9671, 7: 0.9680}
BETTER = {seed: value + 0.02 for seed, value in REFERENCE.items()}  # ~10 sd better


def plant(experiment_id, params, seed, accuracy, group=None, name=None):
    """A trained run as the pipeline logs it, as far as diff reads it."""
    tags = {"weights_sha256": f"w{seed}-{accuracy}", "dataset_sha256": "d" * 64}
    if group:
        tags[GROUP_TAG] = group
    with mlflow.start_run(experiment_id=experiment_id, run_name=name or f"{group}-{seed}") as run:
        mlflow.log_params({**params, "seed": str(seed)})
        mlflow.set_tags(tags)
        mlflow.log_metrics(
            {"test_accuracy": accuracy, "test_loss": 1 - accuracy, "test_macro_f1": accuracy}
        )
    return run.info.run_id


def plant_group(experiment_id, name, params, by_seed):
    for seed, accuracy in by_seed.items():
        plant(experiment_id, params, seed, accuracy, group=name)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module (making one takes seconds): an experiment per situation."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        ids = {
            name: mlflow.create_experiment(name, artifact_location=(folder / name).as_uri())
            for name in ("groups", "few", "pairs", "unrecorded", "pooled")
        }
        plant_group(ids["groups"], "reference", BASE, REFERENCE)
        plant_group(ids["groups"], "better", FAST, BETTER)
        shuffled = [0.9680, 0.9646, 0.9675, 0.9671, 0.9692, 0.9685, 0.9668]
        plant_group(ids["groups"], "again", BASE, dict(zip(REFERENCE, shuffled, strict=True)))
        plant_group(ids["few"], "early", BASE, {1: 0.96, 2: 0.97})
        plant_group(ids["few"], "late", FAST, {2: 0.98, 3: 0.99})
        plant_group(ids["pairs"], "reference", BASE, REFERENCE)
        plant_group(ids["unrecorded"], "reference", BASE, REFERENCE)
        plant_group(ids["pooled"], "base", BASE, {1: 0.96, 2: 0.97, 3: 0.98})  # sd 0.01
        plant_group(ids["pooled"], "fast", FAST, {1: 0.95, 2: 0.95, 3: 0.98})  # sd 0.0173
        for experiment, params, seed, accuracy, name in (
            ("pooled", BASE, 9, 0.96, "base-9"),
            ("pooled", FAST, 9, 0.99, "fast-9"),
            ("pairs", BASE, 42, 0.9660, "base-42"),
            ("pairs", FAST, 42, 0.9720, "fast-42"),
            ("pairs", BASE, 43, 0.9670, "base-43"),
            ("unrecorded", FAST, 42, 0.9720, "fast-42"),
            ("unrecorded", FAST, 43, 0.9700, "fast-43"),
        ):
            plant(ids[experiment], params, seed, accuracy, name=name)
        yield uri


def diff(capsys, experiment, *arguments):
    code = cli.main(["diff", "--experiment", experiment, *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_groups_clearly_apart_name_the_winner_in_every_format(capsys, store):
    code, out, _ = diff(capsys, "groups", "reference", "better", "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert result["kind"] == "replicate groups" and result["a"]["seeds"] == list(range(1, 8))
    assert [(row["param"], row["a"], row["b"]) for row in result["params"]] == [
        ("train.learning_rate", "0.001", "0.003")
    ]
    accuracy, loss, _ = result["metrics"]
    assert accuracy["a"]["mean"] == pytest.approx(sum(REFERENCE.values()) / 7)
    assert accuracy["a"]["low"] < accuracy["a"]["mean"] < accuracy["a"]["high"]
    assert accuracy["paired"]["mean"] == pytest.approx(0.02)
    assert accuracy["paired"]["p_value"] == pytest.approx(2 / 2**7)  # all 7 seeds one way
    assert accuracy["paired"]["verdict"] == loss["paired"]["verdict"] == "B better"  # lower loss
    assert result["verdict"].startswith("test_accuracy: B better (the interval excludes 0")
    code, out, _ = diff(capsys, "groups", "better", "reference")  # swapped: the verdict swaps too
    assert code == 0 and "Verdict: test_accuracy: A better" in out
    assert "Paired difference B - A over 7 common seed(s) (1, 2, 3, 4, 5, 6, 7)" in out
    code, out, _ = diff(capsys, "groups", "reference", "better", "--format", "markdown")
    assert code == 0 and out.startswith("### Replicate groups: A `group reference (7 runs")
    assert "| test_accuracy | +0.0200 | [+0.0200, +0.0200] | 0.0156 | B better | 6 |" in out


def test_groups_within_the_noise_give_no_difference(capsys, store):
    code, out, _ = diff(capsys, "groups", "reference", "again")
    assert code == 0 and "Verdict: test_accuracy: no difference detectable with 7 seeds" in out
    assert "Params (but the seed): none differ" in out


def test_groups_without_two_common_seeds_say_so(capsys, store):
    code, out, _ = diff(capsys, "few", "early", "late")
    assert code == 0
    assert "Verdict: test_accuracy: not comparable: 1 common seed(s), a paired test needs 2" in out


def test_a_pair_of_runs_is_judged_against_its_configurations_seed_spread(capsys, store):
    code, out, _ = diff(capsys, "pairs", "base-42", "fast-42", "--format", "json")
    assert code == 0
    noise = json.loads(out)["noise"]
    assert noise["source"] == "A's configuration: group reference (7 seeds)"
    accuracy = noise["metrics"][0]
    assert accuracy["spread"] == pytest.approx(0.00147, abs=1e-5)
    assert accuracy["verdict"] == "B better: beyond the seed spread (4.1 sd > 3)"
    code, out, _ = diff(capsys, "pairs", "base-42", "base-43")
    assert code == 0 and "within the seed spread (0.7 sd, not beyond 3)" in out
    assert "the seed spread of A and B's configuration: group reference (7 seeds)" in out


def test_both_configurations_spreads_are_pooled(capsys, store):
    code, out, _ = diff(capsys, "pooled", "base-9", "fast-9", "--format", "json")
    assert code == 0
    noise = json.loads(out)["noise"]
    assert noise["source"] == (
        "A's configuration: group base (3 seeds) and B's configuration: group fast (3 seeds)"
    )
    accuracy = noise["metrics"][0]
    assert accuracy["spread"] == pytest.approx((0.01**2 / 2 + 0.0003 / 2) ** 0.5)
    assert accuracy["verdict"] == "within the seed spread (2.1 sd, not beyond 3)"


def test_a_pair_with_no_recorded_spread_says_so(capsys, store):
    code, out, _ = diff(capsys, "unrecorded", "fast-42", "fast-43")
    assert code == 0 and "Seed noise: no seed spread recorded for either run's" in out
    code, out, _ = diff(capsys, "unrecorded", "fast-42", "fast-43", "--format", "json")
    assert json.loads(out)["noise"] == {"source": None, "metrics": []}


def test_a_group_and_a_run_or_a_plot_of_groups_are_clear_errors(capsys, store):
    code, _, err = diff(capsys, "groups", "reference")  # with the latest run, which is no group
    assert code == 1 and "'reference' is a replicate group and 'latest' is not" in err
    code, _, err = diff(capsys, "groups", "reference", "better", "--plot", "curves.png")
    assert code == 1 and "--plot draws two runs' curves: name two runs, not groups" in err


def test_groups_named_gives_each_group_by_seed_and_names_the_missing_ones(store):
    """What benchmarks/replicates.py writes: each named group's seeds and metrics."""
    from mnist_pipeline.errors import RunError
    from mnist_pipeline.tracking import groupdiff

    reference, better = groupdiff.groups_named("groups", ["reference", "better"])
    assert reference.seeds == sorted(REFERENCE) and reference.params == BASE
    assert better.by_seed["test_accuracy"] == pytest.approx(BETTER)
    with pytest.raises(RunError, match="no replicate group nowhere in experiment 'groups'"):
        groupdiff.groups_named("groups", ["reference", "nowhere"])


def test_a_configuration_leaves_out_only_params_that_do_not_change_the_model():
    """Each param left out of a configuration is read by no stage up to evaluate, or is one
    documented to give identical weights; a registry rename keeps a group's configuration."""
    import yaml

    from mnist_pipeline.params import flatten
    from mnist_pipeline.tracking import groupdiff
    from mnist_pipeline.tracking.tracker import stringify

    root = Path(__file__).resolve().parents[2]
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    model_params = {
        key
        for name in ("download", "prepare", "split", "train", "evaluate")
        for key in stages[name].get("params", [])
    }
    identical = {"tracking.experiment", "train.threads", "train.steps_per_execution"}
    identical |= {"data.source", "data.verify"}  # where the bytes come from: checked by sha256
    params = stringify(flatten(yaml.safe_load((root / "params.yaml").read_text())))
    left_out = set(params) - set(groupdiff.configuration(params)) - {"seed"}
    for key in left_out - identical:
        assert not any(key == read or key.startswith(f"{read}.") for read in model_params), key
    renamed = {k.replace("registry.", "registry.old_"): v for k, v in params.items()}
    assert groupdiff.configuration(renamed) == groupdiff.configuration(params)
    assert "train.learning_rate" in groupdiff.configuration(params)
