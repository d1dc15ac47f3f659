"""`mnist-pipeline diff` against a temporary MLflow store holding hand-made runs."""

import json

import pytest

mlflow = pytest.importorskip("mlflow")

from mnist_pipeline import cli  # noqa: E402
from mnist_pipeline.tracking.rundiff import RunRecord, compare  # noqa: E402

BASE_PARAMS = {"seed": "42", "train.epochs": "3", "train.learning_rate": "0.001"}
TAGS = {"dataset": "mnist", "dataset_sha256": "d" * 64, "git_commit": "c" * 40}


def log_run(experiment_id, params, losses, accuracies, test_accuracy, weights, name=None, **tags):
    """A run as the pipeline logs it: epochs as steps 1..N, named after its DVC experiment."""
    name = name or tags.get("dvc_experiment")
    with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
        mlflow.log_params(params)
        mlflow.set_tags({**TAGS, "weights_sha256": weights, **tags})
        for epoch, (loss, accuracy) in enumerate(zip(losses, accuracies, strict=True), start=1):
            mlflow.log_metrics(
                {
                    "loss": loss,
                    "accuracy": accuracy,
                    "val_loss": loss + 0.1,
                    "val_accuracy": accuracy - 0.01,
                },
                step=epoch,
            )
        mlflow.log_metrics({"test_accuracy": test_accuracy, "test_loss": losses[-1] + 0.05})
    return run.info.run_id


@pytest.fixture
def store(mlflow_experiment):
    return mlflow_experiment


def run_cli(capsys, *arguments):
    code = cli.main(["diff", "--experiment", "runs", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def two_runs(store):
    first = log_run(store, BASE_PARAMS, [0.9, 0.5, 0.6], [0.7, 0.8, 0.79], 0.80, "w1")
    changed = {**BASE_PARAMS, "train.learning_rate": "0.01", "seed": "7"}
    second = log_run(
        store, changed, [0.8, 0.3, 0.2], [0.75, 0.85, 0.9], 0.88, "w2", dvc_experiment="fast-lr"
    )
    return first, second


def test_json_lists_exactly_the_changed_params_best_epochs_and_deltas(capsys, two_runs):
    first, second = two_runs
    code, out, _ = run_cli(capsys, "--format", "json")
    assert code == 0
    diff = json.loads(out)
    assert (diff["a"]["run_id"], diff["b"]["run_id"]) == (first, second)
    assert [(p["param"], p["a"], p["b"]) for p in diff["params"]] == [
        ("seed", "42", "7"),
        ("train.learning_rate", "0.001", "0.01"),
    ]
    loss = next(row for row in diff["epoch_metrics"] if row["metric"] == "loss")
    assert (loss["a_best"], loss["a_best_epoch"]) == (0.5, 2)  # lowest loss, not the last
    assert (loss["b_best"], loss["b_best_epoch"]) == (0.2, 3)
    assert loss["final_delta"] == pytest.approx(0.2 - 0.6)
    accuracy = next(row for row in diff["epoch_metrics"] if row["metric"] == "accuracy")
    assert (accuracy["a_best"], accuracy["a_best_epoch"]) == (0.8, 2)  # highest accuracy
    test = next(row for row in diff["test_metrics"] if row["metric"] == "test_accuracy")
    assert test["delta"] == pytest.approx(0.08)
    assert diff["identity"]["dataset"]["same"] and diff["identity"]["code"]["same"]
    assert not diff["identity"]["weights"]["same"]
    assert diff["verdict"].startswith("same code, same data, different params (seed, ")


def test_all_lists_unchanged_params_too(capsys, two_runs):
    _, out, _ = run_cli(capsys, "--format", "json", "--all")
    assert {row["param"] for row in json.loads(out)["params"]} == set(BASE_PARAMS)


def test_markdown_and_table(capsys, two_runs):
    code, out, _ = run_cli(capsys, "--format", "markdown")
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("| train.learning_rate")]
    assert table == ["| train.learning_rate | 0.001 | 0.01 |"]
    assert "| loss | 0.6000 | 0.2000 | -0.4000 | 0.5000 @2 | 0.2000 @3 |" in out
    code, out, _ = run_cli(capsys)
    assert code == 0 and "Verdict: same code, same data, different params" in out
    assert "(fast-lr)" in out  # the DVC experiment name labels its run


def test_runs_by_name_and_plot(capsys, two_runs, tmp_path):
    first, _ = two_runs
    code, out, _ = run_cli(
        capsys, first, "fast-lr", "--format", "json", "--plot", str(tmp_path / "curves.png")
    )
    assert code == 0 and json.loads(out)["b"]["label"].endswith("(fast-lr)")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_reproduced_runs_are_reported_identical(capsys, store):
    for _ in range(2):
        log_run(store, BASE_PARAMS, [0.9, 0.5], [0.7, 0.8], 0.8, "same-weights")
    code, out, _ = run_cli(capsys, "--format", "json")
    diff = json.loads(out)
    assert code == 0 and diff["params"] == []
    assert all(entry["same"] for entry in diff["identity"].values())
    assert diff["verdict"] == "identical run, reproduced: same weights"


def test_errors_are_clear_and_exit_1(capsys, store):
    code, _, err = run_cli(capsys)
    assert code == 1 and "has 0 trained run(s): need two to compare" in err
    log_run(store, BASE_PARAMS, [0.9], [0.7], 0.8, "w1")
    code, _, err = run_cli(capsys)
    assert code == 1 and "has 1 trained run(s)" in err
    code, _, err = run_cli(capsys, "latest")  # compared with the newest: itself
    assert code == 1 and "latest and latest are the same run " in err
    assert len(err.splitlines()) == 1
    code, _, err = run_cli(capsys, "0" * 32, "latest")
    assert code == 1 and f"no run {'0' * 32} in the tracking store" in err
    other = mlflow.create_experiment("other")
    stranger = log_run(other, BASE_PARAMS, [0.9], [0.7], 0.8, "w9")
    code, _, err = run_cli(capsys, stranger, "latest")
    assert code == 1 and f"run {stranger} belongs to experiment 'other'" in err
    code, _, err = run_cli(capsys, "no-such-exp", "latest")
    assert code == 1 and "'no-such-exp' is no run id (or its first characters), run name" in err


def test_compare_is_pure():
    a = RunRecord(
        "a" * 32, "a", {"x": "1"}, {"weights_sha256": "w"}, {}, {"loss": [(1, 1.0), (2, 0.5)]}
    )
    b = RunRecord("b" * 32, "b", {"x": "2"}, {"weights_sha256": "v"}, {}, {"loss": [(1, 0.8)]})
    diff = compare(a, b)
    assert diff["params"] == [{"param": "x", "a": "1", "b": "2", "changed": True}]
    assert diff["identity"]["code"] == {"a": None, "b": None, "same": False}


def test_runs_are_found_by_short_id_run_name_and_experiment_name(capsys, store):
    first = log_run(store, BASE_PARAMS, [0.9, 0.5], [0.7, 0.8], 0.8, "w1", name="97d2946 #1")
    second = log_run(
        store, BASE_PARAMS, [0.8, 0.4], [0.7, 0.9], 0.9, "w2", dvc_experiment="lr-fast"
    )
    for a, b in ((first[:8], "lr-fast"), ("97d2946 #1", second[:8]), (first, second[:6])):
        code, out, err = run_cli(capsys, a, b, "--format", "json")
        assert code == 0, err
        diff = json.loads(out)
        assert (diff["a"]["run_id"], diff["b"]["run_id"]) == (first, second)
    assert json.loads(out)["a"]["label"] == f"{first[:8]} (97d2946 #1)"


def fake_run(run_id, name, experiment=None):
    from types import SimpleNamespace

    tags = {"dvc_experiment": experiment} if experiment else {}
    return SimpleNamespace(
        info=SimpleNamespace(run_id=run_id, run_name=name), data=SimpleNamespace(tags=tags)
    )


def test_an_ambiguous_id_prefix_lists_the_candidates():
    from mnist_pipeline.errors import RunError
    from mnist_pipeline.tracking.rundiff import _resolve_one

    runs = [
        fake_run("abcd1234" + "0" * 24, "one"),
        fake_run("abcd9876" + "0" * 24, "two"),
        fake_run("ffff0000" + "0" * 24, "abcd", "abcd-exp"),
    ]
    with pytest.raises(
        RunError,
        match=r"'abcd' is ambiguous: .*abcd12340000 \(one\), "
        r"abcd98760000 \(two\)",
    ):
        _resolve_one(runs, "abcd")
    assert _resolve_one(runs, "abcd1") == runs[0].info.run_id
    assert _resolve_one(runs, "abcd-exp") == runs[2].info.run_id
    assert _resolve_one(runs, "latest") == runs[0].info.run_id
    short = r"'abc' is too short for a run id: an id prefix needs at least 4 characters \(2 run"
    with pytest.raises(RunError, match=short):
        _resolve_one(runs, "abc")  # under 4 characters: not taken as an id prefix
    with pytest.raises(RunError, match="'abe' is no run id"):
        _resolve_one(runs, "abe")  # begins no id: 4 characters would not help


def test_a_short_id_prefix_says_it_needs_4_characters(capsys, store):
    run_id = log_run(store, BASE_PARAMS, [0.9], [0.7], 0.8, "w1")
    log_run(store, BASE_PARAMS, [0.8], [0.8], 0.9, "w2")
    code, _, err = run_cli(capsys, run_id[:2], "latest")
    assert code == 1 and err.splitlines()[-1].startswith(
        f"mnist-pipeline diff: {run_id[:2]!r} is too short for a run id: an id prefix needs at "
        "least 4 characters"
    ), err
