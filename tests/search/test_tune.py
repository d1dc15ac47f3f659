"""`mnist-pipeline tune`: the search file's checks, the sampler and pruning pieces, and real
studies on tiny generated data: two concurrent workers (local SQLite storage, and the team's
PostgreSQL with the MLflow server when CI starts them), a worker killed mid-trial."""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from mnist_pipeline.errors import ParamsError, StudyError, TrialPrunedError, TrialStoppedError
from mnist_pipeline.search import searchfile, trial, tuning
from mnist_pipeline.tracking import tracker
from mnist_pipeline.tracking.studyrun import StudyRun

from conftest import (
    ROOT,
    dvc,
    edit_params,
    finish_worker,
    git_commit_all,
    start_worker,
    tiny_repository_copy,
)

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
MNIST_PIPELINE = str(Path(sys.executable).parent / "mnist-pipeline")
GOOD = {
    "study": "s",
    "objective": "val_loss",
    "n_trials": 4,
    "space": {
        "train.learning_rate": {"low": 0.001, "high": 0.01, "log": True},
        "model.hidden_1.units": {"low": 8, "high": 32, "step": 8},
        "model.hidden_1.dropout": {"low": 0.0, "high": 0.3},
        "train.optimizer": {"choices": ["adam", "rmsprop"]},
    },
}


def test_the_projects_search_file_is_valid():
    spec = searchfile.load_search(ROOT / "search.yaml", ROOT / "params.yaml")
    assert spec.objective in searchfile.OBJECTIVES and spec.n_trials >= 2
    assert {d.key for d in spec.space}.isdisjoint(spec.fixed)


def _bad(**changes):
    raw = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if key.startswith("space."):
            raw["space"][key.removeprefix("space.")] = value
        else:
            raw[key] = value
    return raw


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            _bad(**{"space.train.learnign_rate": {"low": 0.1, "high": 1}}),
            "space.train.learnign_rate: unknown key",
        ),
        (
            _bad(**{"space.train.learning_rate": {"low": 0.01, "high": 0.001}}),
            "space.train.learning_rate: empty range (low 0.01 must be below high 0.001)",
        ),
        (_bad(**{"space.train.learning_rate": {"low": 0.01, "high": 0.01}}), "empty range"),
        (
            _bad(**{"space.model.hidden_1.units": {"low": 8.5, "high": 32}}),
            "space.model.hidden_1.units: 8.5 is not a valid model.hidden_1.units "
            "(model.hidden_1.units: expected an integer, got 8.5)",
        ),
        (
            _bad(**{"space.model.hidden_1.dropout": {"low": 0.0, "high": 1.0}}),
            "1.0 is not a valid model.hidden_1.dropout",
        ),
        (
            _bad(**{"space.train.optimizer": {"choices": ["adam", "adamw"]}}),
            "space.train.optimizer.choices: 'adamw' is not a valid train.optimizer",
        ),
        (_bad(**{"space.train.optimizer": {"choices": []}}), "expected a non-empty list"),
        (_bad(**{"space.train.optimizer": {"low": 1, "high": 2}}), "a range of a non-number"),
        (
            _bad(**{"space.train.learning_rate": {"low": 0, "high": 0.1, "log": True}}),
            "0 is not a valid train.learning_rate",
        ),
        (
            _bad(**{"space.model.hidden_1.units": {"low": 8, "high": 32, "step": 0.5}}),
            "space.model.hidden_1.units.step: expected a int > 0",
        ),
        (
            _bad(**{"space.train.epochs": {"low": 1, "high": 3, "by": 1}}),
            "space.train.epochs.by: unknown key",
        ),
        (
            _bad(**{"space.tracking.experiment": {"choices": ["a", "b"]}}),
            "not a key the trained model depends on",
        ),
        (_bad(objective="test_accuracy"), "objective: expected one of ['val_loss'"),
        (_bad(n_trials=0), "n_trials: expected an integer >= 1, got 0"),
        (_bad(n_trials="4"), "n_trials: expected an integer >= 1, got '4'"),
        (_bad(space={}), "space: empty"),
        (_bad(study="my study"), "study: expected a name"),
        (_bad(trials=3), "trials: unknown key"),
        (_bad(sampler={"name": "cmaes"}), "sampler.name: expected one of ['tpe', 'random']"),
        (_bad(fixed={"train.optimizer": "sgd"}), "space.train.optimizer: also in fixed"),
        (_bad(fixed={"train.epochs": 0}), "fixed.train.epochs: 0 is not a valid train.epochs"),
        ({k: v for k, v in GOOD.items() if k != "space"}, "space: missing"),
    ],
)
def test_bad_search_files_are_rejected_naming_what_is_wrong(raw, message):
    with pytest.raises(ParamsError) as error:
        searchfile.parse_search(raw, PARAMS)
    assert message in str(error.value)


def _tune(cwd: Path, env: dict, *arguments: str) -> subprocess.CompletedProcess:
    """`mnist-pipeline tune ARGUMENTS`, run to its end."""
    return subprocess.run(
        [MNIST_PIPELINE, "tune", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tune_rejects_a_bad_search_file_before_any_trial(tmp_path):
    """One line, exit 1, and no study, store or experiment made."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump(_bad(**{"space.train.batch_size": {"low": 256, "high": 64}}))
    )
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    result = _tune(tmp_path, env, "--search", "bad.yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "mnist-pipeline tune: bad.yaml: space.train.batch_size: empty range "
        "(low 256 must be below high 64)"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.yaml", "params.yaml"]


@pytest.mark.parametrize("given", ["0", "-2", "two"])
def test_tune_rejects_a_bad_trials_count_in_one_line(tmp_path, given):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = _tune(tmp_path, dict(os.environ), "--trials", given)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"mnist-pipeline tune: --trials: expected an integer >= 1, got {given!r}"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["params.yaml"]


def test_trials_replaces_the_search_files_n_trials(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(GOOD))
    monkeypatch.chdir(tmp_path)
    assert tuning.load_spec("s.yaml").n_trials == GOOD["n_trials"]
    assert tuning.load_spec("s.yaml", trials=2).n_trials == 2


def test_a_study_not_in_the_storage_is_named_with_the_studies_it_holds(tmp_path):
    """`tune --best` after `tune --search other.yaml`: the error lists the studies there."""
    import optuna

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    spec = searchfile.parse_search(GOOD, PARAMS)  # study "s"
    storage = trial.open_storage(url)
    with pytest.raises(StudyError, match="it holds none: `mnist-pipeline tune --search FILE`"):
        tuning.open_study(spec, storage, url, create=False)
    for name in ("mlp-search-short", "other"):
        optuna.create_study(study_name=name, storage=storage)
    with pytest.raises(StudyError) as error:
        tuning.open_study(spec, storage, url, create=False)
    assert str(error.value) == (
        f"no study s in {url} (it holds mlp-search-short, other: --search FILE names the "
        f"search file of one; --storage or {tuning.STORAGE_VARIABLE} names another storage)"
    )


@pytest.mark.parametrize("learning_rates", [None, (0.000845, 0.00085, 0.00087)])
def test_search_figures_are_readable_at_mlflows_preview_size(learning_rates):
    """Eight searched params: the slice panels in a grid about 1000 px wide (not a 2560 px
    strip), no two tick labels of a panel overlapping (also when the trials' learning rates
    lie close together on the log axis); trial axes tick whole trials only."""
    import optuna

    spec = searchfile.load_search(ROOT / "search.yaml", ROOT / "params.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for number in range(len(learning_rates or range(4))):
        fixed = {"train.learning_rate": learning_rates[number]} if learning_rates else {}
        study.enqueue_trial(fixed)
        candidate = study.ask()
        searchfile.suggest(candidate, spec)
        study.tell(candidate, 0.1 - 0.01 * number)
    figures = tuning.search_figures(study, spec.objective, complete=4)
    width, height = figures["slice"].get_size_inches() * figures["slice"].dpi
    assert 800 <= width <= 1000 and height < width
    panels = [a for a in figures["slice"].axes if a.get_xlabel() in {d.key for d in spec.space}]
    assert len(panels) == len(spec.space)
    assert len({round(a.get_position().y0, 3) for a in panels}) >= 2  # more than one row
    figures["slice"].canvas.draw()
    for panel in panels:
        labels = [label for label in panel.get_xticklabels() if label.get_text()]
        boxes = sorted((label.get_window_extent() for label in labels), key=lambda b: b.x0)
        assert all(left.x1 < right.x0 for left, right in itertools.pairwise(boxes)), (
            panel.get_xlabel(),
            [label.get_text() for label in panel.get_xticklabels()],
        )
    trial_axes = [
        *[a.xaxis for a in figures["history"].axes if a.get_xlabel() == "Trial"],
        *[a.yaxis for a in figures["timeline"].axes if a.get_ylabel() == "Trial"],
        *[a.yaxis for a in figures["slice"].axes if a.get_ylabel() == "Trial"],  # colorbar
    ]
    assert len(trial_axes) == 3
    for axis in trial_axes:
        assert all(tick == int(tick) for tick in axis.get_ticklocs())
    import matplotlib.pyplot as plt

    for figure in figures.values():
        plt.close(figure)


def test_a_pruned_trials_run_ends_finished_tagged_pruned_a_stopped_one_killed(mlflow_experiment):
    import mlflow

    client = mlflow.MlflowClient()
    ended = {}
    for error in (TrialPrunedError("pruned", epoch=6), TrialStoppedError("ended")):
        with (
            pytest.raises(TrialStoppedError),
            tracker.active_run(experiment_id=mlflow_experiment) as run_id,
        ):
            raise error
        ended[type(error).__name__] = client.get_run(run_id)
    pruned, stopped = ended["TrialPrunedError"], ended["TrialStoppedError"]
    assert pruned.info.status == "FINISHED"
    assert pruned.data.tags[tracker.TRIAL_STATE_TAG] == "PRUNED"
    assert pruned.data.tags[tracker.PRUNED_AT_TAG] == "6"
    assert stopped.info.status == "KILLED"
    assert tracker.TRIAL_STATE_TAG not in stopped.data.tags


def test_any_tune_call_ends_a_parent_whose_workers_are_all_gone(tmp_path, mlflow_experiment):
    """A worker of this host recorded on the parent run, its process gone: its running
    trial is failed and queued again, the parent ended KILLED with counts to match. A live
    worker beside it keeps the parent RUNNING."""
    import mlflow
    import optuna
    from optuna.trial import TrialState

    gone = subprocess.Popen(["true"])
    gone.wait()  # a real process, ended: its pid names no process (or another one)
    host = tracker.owner_tags()[tracker.HOST_TAG]
    dead = f"{host}:{gone.pid}"
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    spec = searchfile.parse_search(GOOD, PARAMS)
    storage = trial.open_storage(url)
    study, _ = tuning.open_study(spec, storage, url)
    running = study.ask()
    searchfile.suggest(running, spec)
    running.set_user_attr(tuning.WORKER_ATTR, dead)
    client = mlflow.MlflowClient()
    live_tag, live_start = tuning.worker_record()  # this process: alive
    workers = {tuning.WORKER_TAG + dead: "1", live_tag: live_start}
    parent = client.create_run(mlflow_experiment, tags=workers).info.run_id

    lines = tuning.end_dead_workers(study, storage, spec, StudyRun(parent))
    assert lines == [f"trial 0: its worker {dead} is gone: failed, queued again"]
    assert client.get_run(parent).info.status == "RUNNING"  # this process still works on it
    assert tuning.WORKER_TAG + dead not in client.get_run(parent).data.tags

    client.delete_tag(parent, live_tag)  # it leaves without closing the parent (killed)
    lines = tuning.end_dead_workers(study, storage, spec, StudyRun(parent))
    assert lines == [f"MLflow parent run {parent[:8]}: every worker of the study is gone: KILLED"]
    run = client.get_run(parent)
    assert run.info.status == "KILLED"
    counts = {key: run.data.tags[f"trials.{key}"] for key in ("running", "fail", "waiting")}
    assert counts == {"running": "0", "fail": "1", "waiting": "1"}
    (queued,) = study.get_trials(states=(TrialState.WAITING,))
    assert queued.params == study.trials[0].params and study.trials[0].state == TrialState.FAIL
    assert optuna.load_study(study_name="s", storage=url).trials[0].state == TrialState.FAIL


def test_suggested_values_have_the_keys_types_and_round_trip_through_dvc_set_params():
    import optuna

    spec = searchfile.parse_search({**GOOD, "fixed": {"train.epochs": 3}}, PARAMS)
    study = optuna.create_study(sampler=tuning.make_sampler(spec))
    for _ in range(20):
        values = searchfile.suggest(study.ask(), spec)
        assert 0.001 <= values["train.learning_rate"] <= 0.01
        assert type(values["model.hidden_1.units"]) is int
        assert values["model.hidden_1.units"] in (8, 16, 24, 32)
        assert values["train.optimizer"] in ("adam", "rmsprop") and values["train.epochs"] == 3
        arguments = searchfile.set_params(values)
        parsed = dict(a.split("=", 1) for a in arguments[1::2])
        assert {k: yaml.safe_load(v) for k, v in parsed.items()} == values


def test_each_trial_is_seeded_by_its_number_so_workers_do_not_draw_the_same_params():
    """Two workers' samplers on one study: different draws for their trials; and trial n
    gets the same draw in any study with that seed (a rerun of the search)."""
    import optuna

    spec = searchfile.parse_search({**GOOD, "sampler": {"seed": 7}}, PARAMS)
    storage = optuna.storages.InMemoryStorage()
    first = optuna.create_study(study_name="a", storage=storage, sampler=tuning.make_sampler(spec))
    second = optuna.load_study(study_name="a", storage=storage, sampler=tuning.make_sampler(spec))
    drawn = [searchfile.suggest(study.ask(), spec) for study in (first, second, first, second)]
    assert len({repr(values) for values in drawn}) == 4
    again = optuna.create_study(sampler=tuning.make_sampler(spec))
    assert [searchfile.suggest(again.ask(), spec) for _ in range(4)] == drawn
    plain = [optuna.create_study(sampler=optuna.samplers.TPESampler(seed=7)) for _ in "ab"]
    assert searchfile.suggest(plain[0].ask(), spec) == searchfile.suggest(plain[1].ask(), spec)


def _pruning_setup(tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="p", storage=url, direction="minimize")
    for _ in range(3):
        done = study.ask()
        for epoch in (1, 2, 3):
            done.report(0.5, epoch)
        study.tell(done, 0.5)
    current = study.ask()
    link = trial.TrialLink(
        storage=url,
        study="p",
        trial_id=current._trial_id,
        number=current.number,
        parent_run_id="x",
        metric="val_loss",
        pruner="median",
        warmup_epochs=1,
    )
    return study, current, trial.epoch_callback(link, run_id="run-1")


def test_train_reports_each_epoch_and_stops_when_the_study_prunes_the_trial(tmp_path):
    """Median rule, warm-up 1 epoch; earlier trials all had val_loss 0.5."""
    study, current, callback = _pruning_setup(tmp_path)
    callback.on_train_begin()
    callback.on_epoch_end(0, {"val_loss": 3.0, "val_accuracy": 0.1})  # epoch 1: warm-up
    with pytest.raises(
        TrialStoppedError,
        match="trial 3 of study p pruned at epoch 2: val_loss 0.9000 is worse than the median",
    ):
        callback.on_epoch_end(1, {"val_loss": 0.9, "val_accuracy": 0.5})
    recorded = study.trials[current.number]
    assert recorded.intermediate_values == {1: 3.0, 2: 0.9}
    assert recorded.user_attrs == {trial.RUN_ATTR: "run-1", trial.PRUNED_ATTR: 2}


def test_train_goes_on_while_its_trial_is_as_good_as_the_median(tmp_path):
    study, current, callback = _pruning_setup(tmp_path)
    callback.on_train_begin()
    for epoch, value in enumerate([3.0, 0.5, 0.45]):
        callback.on_epoch_end(epoch, {"val_loss": value, "val_accuracy": 0.5})
    recorded = study.trials[current.number]
    assert recorded.intermediate_values == {1: 3.0, 2: 0.5, 3: 0.45}
    assert trial.PRUNED_ATTR not in recorded.user_attrs


def test_train_stops_when_its_trial_was_ended_meanwhile(tmp_path):
    """A dead worker's trial, failed by the heartbeat, while its training goes on."""
    import optuna

    study, current, callback = _pruning_setup(tmp_path)
    study.tell(current, state=optuna.trial.TrialState.FAIL)
    with pytest.raises(
        TrialStoppedError,
        match=r"was ended \(FAIL\) while it ran: stopped at "
        "epoch 1",
    ):
        callback.on_epoch_end(0, {"val_loss": 0.4, "val_accuracy": 0.9})


# Real studies on tiny data. Each trial is a `dvc exp run --temp` of the whole pipeline: slow
# (make test-all), as are studies anywhere.

TINY_SEARCH = {
    "objective": "val_accuracy",
    "n_trials": 4,
    "sampler": {"name": "tpe", "seed": 1, "startup_trials": 2},
    "pruner": {"name": "none"},
    "space": {
        "train.learning_rate": {"low": 0.001, "high": 0.01, "log": True},
        "model.hidden_1.units": {"low": 8, "high": 64},
    },
}
DEADLINE = 900  # seconds for a whole study on a loaded machine (about 1-2 min idle)


def _study_project(tmp_path, **search_changes) -> tuple[Path, dict, str]:
    project, env = tiny_repository_copy(tmp_path)
    name = f"t{uuid.uuid4().hex[:8]}"  # unique: the PostgreSQL database outlives the test
    # A registered model of its own too: the server's registry outlives the test, and a rerun
    # trains the same weights (its version would already be there).
    edit_params(project / "params.yaml", **{"registry.model_name": f"'{name}-{{dataset}}'"})
    git_commit_all(project, "the study's own registered model")
    (project / "tiny-search.yaml").write_text(
        yaml.safe_dump({**TINY_SEARCH, "study": name, **search_changes})
    )
    return project, env, name


def _worker(project: Path, env: dict, *arguments: str) -> subprocess.Popen:
    return start_worker(project, env, "tune", "--search", "tiny-search.yaml", *arguments)


def _load(name: str, url: str):
    import optuna

    return optuna.load_study(study_name=name, storage=url)


def _created(name: str, database: Path) -> bool:
    """Whether a worker has created study `name` in the SQLite file: read-only, since Optuna's
    storage creates missing tables on opening and would race the worker creating them."""
    import sqlite3

    if not database.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            found = db.execute("SELECT 1 FROM studies WHERE study_name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:  # no table yet, or the worker holds a write lock
        return False
    return found is not None


def _await_training(worker: subprocess.Popen, name: str, database: Path) -> None:
    """Until the worker's running trial of study `name` has reported an epoch (its training is
    under way); fails if the worker exits first or DEADLINE passes."""
    from optuna.trial import TrialState

    url = f"sqlite:///{database}"
    deadline = time.monotonic() + DEADLINE
    while True:
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "the worker's trial never started training"
        if _created(name, database):
            running = _load(name, url).get_trials(states=(TrialState.RUNNING,))
            if running and running[0].intermediate_values:
                return
        time.sleep(0.2)


STORAGES = [
    pytest.param(None, id="local-sqlite"),
    pytest.param(
        "postgresql",
        id="team-postgresql",
        marks=pytest.mark.skipif(
            not (
                os.environ.get("MNIST_PIPELINE_TEST_STUDY_STORAGE")
                and os.environ.get("MNIST_PIPELINE_TEST_SERVER")
            ),
            reason="no PostgreSQL study storage and MLflow server (.ci/run starts them: "
            "MNIST_PIPELINE_TEST_STUDY_STORAGE, MNIST_PIPELINE_TEST_SERVER)",
        ),
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("storage", STORAGES)
def test_two_workers_share_a_study_each_trial_a_dvc_experiment_and_a_nested_mlflow_run(
    tmp_path, storage, as_team_user
):
    import mlflow
    from optuna.trial import TrialState

    project, env, name = _study_project(tmp_path)
    if storage:  # the team's setup: one database for studies, one MLflow server
        env |= {
            tuning.STORAGE_VARIABLE: os.environ["MNIST_PIPELINE_TEST_STUDY_STORAGE"],
            "MLFLOW_TRACKING_URI": os.environ["MNIST_PIPELINE_TEST_SERVER"],
            **as_team_user("member"),  # a member runs studies (registers nothing)
        }
        url = env[tuning.STORAGE_VARIABLE]
        push = []
    else:  # and each trial's experiment pushed, as workers on several machines would
        url = f"sqlite:///{project / tuning.LOCAL_STORAGE}"
        origin = tmp_path / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
        subprocess.run(["git", "remote", "add", "origin", str(origin)], cwd=project, check=True)
        dvc("remote", "add", "-d", "shared", str(tmp_path / "dvc-remote"), cwd=project, env=env)
        git_commit_all(project, "remotes")
        push = ["--push", "origin"]
    store_uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
    registry_before = _registry(store_uri)
    workers = [_worker(project, env, *push), _worker(project, env, *push)]  # at once: they race
    outputs = [finish_worker(worker, DEADLINE) for worker in workers]
    # Trials are scored on validation: none registers a version or moves an alias.
    assert _registry(store_uri) == registry_before

    study = _load(name, url)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4, outputs
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 4
    pids = {str(worker.pid) for worker in workers}
    assert {t.user_attrs[tuning.WORKER_ATTR].split(":")[1] for t in complete} == pids
    # Any other trial is one not run because another worker took the last one meanwhile.
    assert all(t.user_attrs.get(tuning.SURPLUS_ATTR) for t in study.trials if t not in complete)

    client = mlflow.MlflowClient(
        env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
    )
    parent_id = study.user_attrs[tuning.PARENT_ATTR]
    parent = client.get_run(parent_id)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    by_trial = {int(run.data.tags[trial.TRIAL_TAG]): run for run in children}
    assert sorted(by_trial) == sorted(t.number for t in complete)
    for t in complete:
        run = by_trial[t.number]
        assert run.info.status == "FINISHED" and run.info.run_id == t.user_attrs[trial.RUN_ATTR]
        assert run.data.tags[tracker.TRIAL_STATE_TAG] == "COMPLETE"
        assert run.info.run_name == t.user_attrs[tuning.EXPERIMENT_ATTR] == f"{name}-{t.number}"
        assert float(run.data.params["train.learning_rate"]) == t.params["train.learning_rate"]
        assert run.data.metrics["val_accuracy"] == pytest.approx(t.value)  # the last epoch's
        assert "test_accuracy" in run.data.metrics  # the whole pipeline ran
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["best_trial"] == str(study.best_trial.number)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(study.best_value)
    assert parent.data.tags[f"best.{'model.hidden_1.units'}"] == str(
        study.best_params["model.hidden_1.units"]
    )
    if push:
        pushed = subprocess.run(
            ["git", "ls-remote", "origin", "refs/exps/*"],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert sorted(line.rsplit("/", 1)[1] for line in pushed.splitlines()) == sorted(
            f"{name}-{t.number}" for t in complete
        )
        assert any((tmp_path / "dvc-remote").rglob("*"))  # the outputs went to the DVC remote
    artifacts = {a.path for a in client.list_artifacts(parent_id, "search")}
    assert {"search/history.png", "search/timeline.png", "search/trials.csv"} <= artifacts

    # Without --search, `tune --best` looks for search.yaml's study: it names the one here.
    other = _tune(project, env, "--best")
    assert other.returncode == 1
    assert other.stderr.strip().startswith("mnist-pipeline tune: no study mlp-search in ")
    held = other.stderr.split("(it holds ", 1)[1].split(": --search FILE names")[0]
    assert name in held.split(", ")  # (PostgreSQL holds other tests' studies too)

    # `tune --best` names the best trial; its command restores it in the workspace.
    best = _tune(project, env, "--search", "tiny-search.yaml", "--best")
    assert best.returncode == 0, best.stderr
    best_name = f"{name}-{study.best_trial.number}"
    assert f"best: trial {study.best_trial.number}:" in best.stdout
    (apply,) = [line for line in best.stdout.splitlines() if line.startswith("apply it:")]
    assert apply == f"apply it:  dvc exp apply {best_name}"
    subprocess.run(
        apply.removeprefix("apply it:").split(),
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    applied = yaml.safe_load((project / "params.yaml").read_text())
    assert applied["train"]["learning_rate"] == study.best_params["train.learning_rate"]
    assert applied["model"]["hidden_1"]["units"] == study.best_params["model.hidden_1.units"]

    # Asked for, the search's outcome reaches the registry as one version: the best trial's
    # (on the team's server, by a publisher: a member may not register versions).
    publisher = env | (as_team_user("publisher") if storage else {})
    published = _tune(project, publisher, "--search", "tiny-search.yaml", "--best", "--publish")
    assert published.returncode == 0, published.stderr
    assert "champion" in published.stdout.splitlines()[-1]
    added = _registry(store_uri) - registry_before
    versions = [run_id for model, _, run_id in added if "@" not in model]
    assert versions == [study.best_trial.user_attrs[trial.RUN_ATTR]]


def _registry(uri: str) -> set[tuple[str, str, str]]:
    """Every registered version in the store, as (model, version, run id); aliases are part
    of the model's name entry ("name@alias=version")."""
    import mlflow

    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return set()
    client = mlflow.MlflowClient(uri)
    found = set()
    for model in client.search_registered_models():
        found |= {(f"{model.name}@{alias}", str(v), "") for alias, v in model.aliases.items()}
        for version in client.search_model_versions(f"name = '{model.name}'"):
            found.add((model.name, str(version.version), version.run_id))
    return found


def _process_tree(pid: int) -> list[int]:
    """pid and every process below it (parents first)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, index = [pid], 0
    while index < len(tree):
        tree += children.get(tree[index], [])
        index += 1
    return tree


def _kill_tree(pid: int) -> None:
    """SIGKILL to pid and everything below it, all found before the first dies."""
    for member in _process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


@pytest.mark.slow
def test_a_worker_killed_mid_trial_leaves_a_failed_trial_that_another_worker_reruns(tmp_path):
    """SIGKILL of a worker and everything it started (as when its machine dies) while its
    trial trains: `tune --best` then fails the trial (its worker is gone) and ends the
    study's parent run KILLED; a new worker reruns its params and finishes the study (two
    trials: --trials 2 in place of the file's 4); the dead trial's MLflow run is KILLED."""
    import mlflow
    from optuna.trial import TrialState

    project, env, name = _study_project(
        tmp_path,
        fixed={"train.epochs": 200},  # a few seconds of training on tiny data
    )
    url = f"sqlite:///{project / tuning.LOCAL_STORAGE}"
    first = _worker(project, env, "--trials", "2")
    _await_training(first, name, project / tuning.LOCAL_STORAGE)
    _kill_tree(first.pid)
    first.communicate()
    killed = _load(name, url).trials[0]
    assert killed.state == TrialState.RUNNING  # as the worker left it

    best = _tune(project, env, "--search", "tiny-search.yaml", "--best")
    assert best.returncode == 1  # no trial completed yet: said in one line
    assert best.stderr.strip().endswith(": no trial has completed yet"), best.stderr
    dead = killed.user_attrs[tuning.WORKER_ATTR]
    parent_id = _load(name, url).user_attrs[tuning.PARENT_ATTR]
    assert best.stdout.splitlines() == [
        f"trial 0: its worker {dead} is gone: failed, queued again",
        f"MLflow parent run {parent_id[:8]}: every worker of the study is gone: KILLED",
    ]
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    parent = client.get_run(parent_id)
    assert parent.info.status == "KILLED"
    assert (parent.data.tags["trials.running"], parent.data.tags["trials.fail"]) == ("0", "1")

    second = finish_worker(_worker(project, env, "--trials", "2"), DEADLINE)
    study = _load(name, url)
    assert study.trials[0].state == TrialState.FAIL
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2, second
    rerun = [t for t in complete if t.system_attrs.get("failed_trial") == killed.number]
    assert len(rerun) == 1 and rerun[0].params == killed.params
    worker = second.split(" joins;")[0].rsplit("worker ", 1)[1]  # its first line names it
    assert {t.user_attrs[tuning.WORKER_ATTR] for t in complete} == {worker}
    assert client.get_run(killed.user_attrs[trial.RUN_ATTR]).info.status == "KILLED"
    assert client.get_run(study.user_attrs[tuning.PARENT_ATTR]).info.status == "FINISHED"


def test_a_study_database_that_is_down_stops_the_worker_with_one_line(tmp_path):
    project, env, _ = _study_project(tmp_path)
    down = "postgresql+psycopg2://mlflow:secret@127.0.0.1:9/optuna"  # nothing listens on 9
    result = _tune(project, env, "--search", "tiny-search.yaml", "--storage", down)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "mnist-pipeline tune: study storage "
        "postgresql+psycopg2://mlflow:***@127.0.0.1:9/optuna unusable: "
    )
    assert "secret" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_study_database_that_breaks_mid_trial_stops_the_worker_with_one_line(tmp_path):
    """The database becomes unusable while a trial trains (here: the SQLite file
    overwritten): the trial's train stage and then the worker stop, each with one line; the
    parent run does not stay RUNNING."""
    import mlflow

    project, env, name = _study_project(tmp_path, fixed={"train.epochs": 3000})
    database = tmp_path / "studies" / "optuna.db"
    database.parent.mkdir()
    url = f"sqlite:///{database}"
    worker = start_worker(
        project,
        env,
        *("tune", "--search", "tiny-search.yaml", "--storage", url),
        stderr=subprocess.PIPE,
    )
    _await_training(worker, name, database)
    parent = _load(name, url).user_attrs[tuning.PARENT_ATTR]
    with open(database, "r+b") as file:
        file.write(b"not a database any more " * 4096)
    try:
        output, errors = worker.communicate(timeout=DEADLINE)
    finally:
        _kill_tree(worker.pid)  # if it is still there (a timeout)
    assert worker.returncode == 1, output + errors
    assert "Traceback" not in errors  # (above: MLflow creating its new store)
    assert errors.splitlines()[-1] == (
        f"mnist-pipeline tune: study storage {url} unusable: file is not a database"
    )
    log = (project / tuning.LOG_DIR / f"{name}-0.log").read_text()
    assert f"ERROR mnist_pipeline: study storage {url} unusable: file is not a database" in log
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    assert client.get_run(parent).info.status == "KILLED"
