"""`mnist-pipeline tune`: a hyperparameter search whose every trial is a DVC experiment.

A worker joins the Optuna study the search file names (creating it, and its MLflow parent
run, when it is new), then, until the study has `n_trials` finished trials (complete or
pruned), asks Optuna for params and runs them as

    dvc exp run --temp -n <study>-<trial number> -S key=value ...

in a temporary copy of the workspace: a real, reproducible pipeline run that `dvc exp show`
lists and `dvc exp apply` restores. Its train stage nests its MLflow run under the study's
parent run and reports each epoch's validation value to the study (trial.py), which may
prune it. The score is the last epoch's value, read from the experiment's history.csv.

Any number of workers, on any machines that share the storage (and the MLflow server), run
one study: Optuna's database hands out the trials; there is no scheduler of ours. A worker
records a heartbeat while its trial runs; a worker that dies stops beating, and the next
worker that looks fails its trial and queues the same params again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from mnist_pipeline import paths
from mnist_pipeline.errors import PipelineError, StudyError
from mnist_pipeline.report.history import read_history_csv
from mnist_pipeline.search import searchfile, trial
from mnist_pipeline.tracking import tracker
from mnist_pipeline.tracking.gatelock import STORAGE_VARIABLE  # the registry locks on it too
from mnist_pipeline.tracking.studyrun import StudyRun, tag_run

LOCAL_STORAGE = "optuna.db"
# A live worker writes a heartbeat every HEARTBEAT seconds; a trial without one for GRACE
# seconds belongs to a dead worker and is failed (then queued again: RETRIES times at most).
HEARTBEAT_SECONDS, GRACE_SECONDS, RETRIES = 10, 60, 1
# A worker whose own trials fail this many times in a row stops: the cause is not the params.
FAILURES_IN_A_ROW = 3
LOG_DIR = ".dvc/tmp/tune"  # one log per trial: the `dvc exp run` output
# Study and trial user attributes.
SEARCH_ATTR, PARENT_ATTR = "search", "mlflow_parent_run_id"
EXPERIMENT_ATTR, COMMIT_ATTR, WORKER_ATTR = "dvc_experiment", "git_commit", "worker"
VALIDATION_ATTR, SURPLUS_ATTR, PUSHED_ATTR = "validation", "surplus", "pushed_to"
ERROR_ATTR = "error"
ROLE_TAG = "mnist_pipeline.role"  # "study" on a parent run
# On the parent run, one per worker while it runs: WORKER_TAG + "host:pid", valued its
# process start (tracker.process_alive): a parent whose workers all died is ended by the
# next `tune` call on the study (end_dead_workers).
WORKER_TAG = "mnist_pipeline.worker."


class TrialFailedError(PipelineError):
    """The trial's pipeline run failed: the trial is FAIL, the worker goes on."""


class SurplusTrialError(PipelineError):
    """Another worker took the study's last trial at the same moment: this one is not run."""


def storage_url(given: str | None = None) -> str:
    """--storage, else $MNIST_PIPELINE_STUDY_STORAGE, else optuna.db beside the embedded
    MLflow store (the project root unless MLFLOW_TRACKING_URI names another SQLite file)."""
    if given or os.environ.get(STORAGE_VARIABLE):
        return given or os.environ[STORAGE_VARIABLE]
    uri = tracker.tracking_uri()
    folder = (
        Path(uri.removeprefix("sqlite:///")).parent
        if uri.startswith("sqlite:///")
        else paths.project_root()
    )
    return f"sqlite:///{folder / LOCAL_STORAGE}"


def _quiet_optuna() -> None:
    """Our own one line per trial instead of Optuna's log (it prints a failed trial's
    traceback); heartbeats and the matplotlib plots are 'experimental' in Optuna 5."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _quiet_heartbeat(url: str) -> None:
    """A database gone while a trial runs: the heartbeat thread stops without a traceback;
    the worker says it in one line when the trial, which reports each epoch to the same
    database, fails. Other errors in threads keep their traceback."""
    import threading

    default = threading.excepthook

    def hook(arguments) -> None:
        try:
            with trial.storage_errors(url):
                raise arguments.exc_value
        except StudyError:
            pass
        except BaseException:
            default(arguments)

    threading.excepthook = hook


def make_sampler(spec: searchfile.Search):
    """The search's sampler, seeded anew for each trial from (seed, trial number): one seed
    for all workers would make each draw the same "random" startup trials. So trial n's
    params depend on the seed, n and the trials finished before it, whoever runs it."""
    import numpy as np
    import optuna

    def seeded(number: int):
        seed = int(np.random.SeedSequence([spec.seed, number]).generate_state(1)[0])
        if spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup_trials)

    class PerTrialSeed(optuna.samplers.BaseSampler):
        def __init__(self):
            self._sampler = seeded(0)

        def before_trial(self, study, frozen):
            self._sampler = seeded(frozen.number)
            self._sampler.before_trial(study, frozen)

        def infer_relative_search_space(self, study, frozen):
            return self._sampler.infer_relative_search_space(study, frozen)

        def sample_relative(self, study, frozen, space):
            return self._sampler.sample_relative(study, frozen, space)

        def sample_independent(self, study, frozen, name, distribution):
            return self._sampler.sample_independent(study, frozen, name, distribution)

        def after_trial(self, study, frozen, state, values):
            self._sampler.after_trial(study, frozen, state, values)

    return PerTrialSeed()


def load_spec(search_path: str, trials: int | None = None) -> searchfile.Search:
    """The search file, checked against the project's params.yaml; `trials` (--trials), when
    given, in place of its n_trials."""
    spec = searchfile.load_search(search_path, paths.project_root() / "params.yaml")
    return dataclasses.replace(spec, n_trials=trials) if trials else spec


def open_storage(url: str, heartbeat: bool = True):
    """The study database; a worker's records heartbeats and fails the trials of dead
    workers, queueing their params again."""
    import optuna

    if not heartbeat:
        return trial.open_storage(url)
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=RETRIES)
    return trial.open_storage(
        url,
        heartbeat_interval=HEARTBEAT_SECONDS,
        grace_period=GRACE_SECONDS,
        heartbeat_stale_trial_callback=retry,
    )


def open_study(spec: searchfile.Search, storage, url: str, create: bool = True):
    """(study, created): the study is created (by this worker: its unique name decides,
    race-free) when it is new and `create`."""
    import optuna

    arguments = {
        "study_name": spec.study,
        "storage": storage,
        "sampler": make_sampler(spec),
        "pruner": trial.make_pruner(spec.pruner, spec.warmup_epochs),
    }
    with trial.storage_errors(url):
        if create:
            try:
                return optuna.create_study(direction=spec.direction, **arguments), True
            except optuna.exceptions.DuplicatedStudyError:
                pass
        try:
            return optuna.load_study(**arguments), False
        except KeyError:
            names = optuna.get_all_study_names(storage)
    held = (
        f"it holds {', '.join(names)}: --search FILE names the search file of one"
        if names
        else "it holds none: `mnist-pipeline tune --search FILE` starts one"
    )
    raise StudyError(
        f"no study {spec.study} in {trial.masked(url)} ({held}; --storage or "
        f"{STORAGE_VARIABLE} names another storage)"
    )


def join(
    study,
    created: bool,
    spec: searchfile.Search,
    experiment: str,
    url: str,
    create_parent: Callable[[str, searchfile.Search, str], StudyRun] | None = None,
) -> StudyRun:
    """The study's MLflow parent run. The worker that created the study records the
    search and creates the parent (`create_parent`: a search's by default); the others wait
    for it and check that their search file is the study's."""
    recorded = study.user_attrs
    if created:
        study.set_user_attr(SEARCH_ATTR, spec.as_dict())
        parent = (create_parent or _create_parent)(experiment, spec, url)
        study.set_user_attr(PARENT_ATTR, parent.id)
        return parent
    deadline = time.monotonic() + 120  # the creating worker is between two database writes
    while PARENT_ATTR not in recorded:
        if time.monotonic() > deadline:
            raise StudyError(
                f"study {spec.study} has no MLflow parent run after 120 s: its "
                "creator stopped half-way; name a new study in the search file"
            )
        time.sleep(0.5)
        recorded = study.user_attrs  # read from the storage each time
    wanted = json.loads(json.dumps(spec.as_dict()))  # as the storage gives it back (lists)
    if recorded[SEARCH_ATTR] != wanted:
        changed = sorted(key for key in wanted if wanted[key] != recorded[SEARCH_ATTR].get(key))
        raise StudyError(
            f"study {spec.study} was started with another search (its "
            f"{', '.join(changed)} differ): name a new study in the search "
            "file, or restore the file as it was"
        )
    return StudyRun.open(recorded[PARENT_ATTR], spec.study)


def _create_parent(experiment: str, spec: searchfile.Search, url: str) -> StudyRun:
    worker_tag, started = worker_record()  # at creation: the parent never runs without one
    return StudyRun.create(
        experiment,
        f"study {spec.study}",
        tags={
            ROLE_TAG: "study",
            trial.STUDY_TAG: spec.study,
            "study_storage": trial.masked(url),
            "git_commit": tracker.git("rev-parse", "HEAD"),
            "n_trials": str(spec.n_trials),
            tracker.DESCRIPTION_TAG: f"Optuna study **{spec.study}**: no trial finished yet.",
            worker_tag: started,
        },
        params=_described(spec),
    )


def _described(spec: searchfile.Search) -> dict[str, str]:
    """The search as the parent run's params."""
    return {
        "objective": f"{spec.objective} ({spec.direction})",
        "sampler": f"{spec.sampler} (seed {spec.seed})",
        "pruner": spec.pruner
        + (f" (warmup {spec.warmup_epochs} epochs)" if spec.pruner != "none" else ""),
        **{f"space.{d.key}": d.describe() for d in spec.space},
        **{f"fixed.{key}": value for key, value in spec.fixed.items()},
    }


def tune(
    search_path: str,
    storage: str | None = None,
    push: str | None = None,
    out: Callable[[str], None] = print,
    trials: int | None = None,
) -> int:
    """Run trials of the study until it has n_trials (or `trials`) finished ones; 0 when it
    has."""
    from mnist_pipeline.params import load_params

    root = paths.project_root()
    spec = load_spec(search_path, trials)
    params = load_params(root / "params.yaml")
    if not tracker.git("rev-parse", "HEAD"):
        raise PipelineError(
            "tune runs each trial as a DVC experiment: this needs a git "
            "repository with at least one commit"
        )
    url = storage_url(storage)
    worker = work(Worker(spec, url, root, push, out), params.tracking.experiment)
    out(best_report(spec, url, worker.study))
    return 0


def work(worker: Worker, experiment: str) -> Worker:
    """The worker joins its study (creating it, and its parent run, when it is new) and runs
    trials until the study is done; the parent run ends when the last worker leaves. Used by
    `tune` and by `replicate` (replicates.py), each with its own Worker."""
    spec, url, out = worker.spec, worker.url, worker.out
    _quiet_optuna()
    _quiet_heartbeat(url)
    worker.store = open_storage(url)  # first: an unreachable database stops the worker here
    tracker.connect(experiment)  # an unreachable tracking server stops it here
    worker.study, created = open_study(spec, worker.store, url)
    status = "KILLED"
    try:
        with trial.storage_errors(url):
            worker.check_study(created)
            worker.parent = join(worker.study, created, spec, experiment, url, worker.create_parent)
            out(
                f"study {spec.study} ({trial.masked(url)}): worker {worker.name} joins; "
                f"MLflow parent run {worker.parent.id[:8]}"
            )
            dead = end_dead_workers(
                worker.study, worker.store, spec, worker.parent, worker.publish_state
            )
            for line in dead:
                out(line)
            worker.parent.set_tags(dict([worker_record()]))
            worker.parent.resume()
            status = worker.run()
    finally:
        if worker.parent:
            worker.close_parent(status)
    return worker


def best(
    search_path: str,
    storage: str | None = None,
    trials: int | None = None,
    out: Callable[[str], None] = print,
    register: bool = False,
) -> None:
    """`tune --best`: the study's best trial; a parent run its dead workers left RUNNING is
    ended first (end_dead_workers). `register`: publish the best trial's model, the one way a
    search reaches the registry (its trials never do)."""
    from mnist_pipeline.params import load_params
    from mnist_pipeline.tracking import registry

    spec = load_spec(search_path, trials)
    url = storage_url(storage)
    _quiet_optuna()
    store = open_storage(url, heartbeat=False)
    study, _ = open_study(spec, store, url, create=False)
    with trial.storage_errors(url):
        parent = study.user_attrs.get(PARENT_ATTR)
    params = load_params(paths.project_root() / "params.yaml")
    if parent or register:
        tracker.connect(params.tracking.experiment)
    if parent:
        study_run = StudyRun.open(parent, spec.study)
        with trial.storage_errors(url):
            for line in end_dead_workers(study, store, spec, study_run):
                out(line)
    out(best_report(spec, url, study))
    if register:
        with trial.storage_errors(url):
            run_id = study.best_trial.user_attrs[trial.RUN_ATTR]
        out(registry.publish_run_id(run_id, params.registry).message)


def worker_record() -> tuple[str, str]:
    """This worker's record on the parent run while it works: (tag, process start)."""
    owner = tracker.owner_tags()
    name = f"{owner[tracker.HOST_TAG]}:{owner[tracker.PID_TAG]}"
    return WORKER_TAG + name, owner[tracker.PROCESS_START_TAG]


def end_dead_workers(
    study,
    storage,
    spec: searchfile.Search,
    parent: StudyRun,
    publish_state: Callable[[StudyRun], None] | None = None,
) -> list[str]:
    """Workers recorded on the parent run whose process is gone (SIGKILL, out of memory):
    their running trials failed now and queued again (as the heartbeat would after
    GRACE_SECONDS), their records removed; a RUNNING parent with no worker left is ended
    KILLED, its trial counts updated. Workers on other hosts cannot be checked here (as
    tracker.end_dead_runs): their trials wait for the heartbeat. `publish_state`: how the
    parent shows the study's state (a search's by default). Returns what was done."""
    import optuna
    from optuna.trial import TrialState

    workers = {
        key.removeprefix(WORKER_TAG): start
        for key, start in parent.tags.items()
        if key.startswith(WORKER_TAG)
    }
    dead = {
        w
        for w, start in workers.items()
        if tracker.process_alive(*w.rsplit(":", 1), start) is False
    }
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=RETRIES)
    lines = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = frozen.user_attrs.get(WORKER_ATTR)
        if worker in dead and _fail(
            storage, trial_id := trial_id_of(storage, study, frozen.number)
        ):
            retry(study, storage.get_trial(trial_id))
            lines.append(
                f"trial {frozen.number}: its worker {worker} is gone: failed, queued again"
            )
    for worker in dead:
        parent.remove_tag(WORKER_TAG + worker)  # or another process did
    if parent.status == "RUNNING" and set(workers) <= dead:
        if publish_state:
            publish_state(parent)
        else:
            publish(study, spec, parent)
        parent.end("KILLED")
        lines.append(
            f"MLflow parent run {parent.id[:8]}: every worker of the study is gone: KILLED"
        )
    return lines


def trial_id_of(storage, study, number: int) -> int:
    """The storage's id of the study's trial `number` (Optuna's public storage API; the
    trial objects keep it in a private attribute)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def _fail(storage, trial_id: int) -> bool:
    """Fail a running trial; False when another process ended it first."""
    import optuna
    from optuna.trial import TrialState

    try:
        return storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


class Worker:
    """One worker's loop over trials, and what it records of each."""

    def __init__(self, spec, url, root: Path, push, out):
        self.spec, self.url, self.store, self.study = spec, url, None, None
        self.root, self.push, self.out = root, push, out
        self.parent: StudyRun | None = None
        self.name = worker_record()[0].removeprefix(WORKER_TAG)  # host:pid
        self.failures = 0

    def run(self) -> str:
        """Trials until the study has n_trials finished ones; the parent run's end status."""
        import optuna
        from optuna.trial import TrialState

        waiting_for: list[int] = []
        while True:
            optuna.storages.fail_stale_trials(self.study)
            trials = self.study.get_trials(deepcopy=False)
            finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
            running = [t.number for t in trials if t.state == TrialState.RUNNING]
            queued = [t for t in trials if t.state == TrialState.WAITING]
            if len(finished) >= self.spec.n_trials:
                return "FINISHED"
            if len(finished) + len(running) >= self.spec.n_trials and not queued:
                if running != waiting_for:
                    self.out(
                        f"waiting for trial(s) {', '.join(map(str, running))} of other "
                        f"workers (a dead worker's trial fails after {GRACE_SECONDS} s "
                        "without a heartbeat, and is run again)"
                    )
                    waiting_for = running
                time.sleep(HEARTBEAT_SECONDS)  # polls the study's state, the real signal
                continue
            self.study.optimize(
                self.objective,
                n_trials=1,
                catch=(TrialFailedError, SurplusTrialError),
                callbacks=[self.summarize],
                gc_after_trial=False,
            )
            if self.failures >= FAILURES_IN_A_ROW:
                raise PipelineError(
                    f"{self.failures} trials in a row failed on this worker "
                    f"(logs in {LOG_DIR}/): stopping"
                )

    def objective(self, optuna_trial) -> float:
        """Run one trial as a DVC experiment; its score is the last epoch's validation value."""
        number = optuna_trial.number
        self._check_not_surplus(number, optuna_trial)
        values = searchfile.suggest(optuna_trial, self.spec)
        name, commit = self._claim(optuna_trial)
        link = trial.TrialLink(
            storage=self.url,
            study=self.spec.study,
            trial_id=trial_id_of(self.store, self.study, number),
            number=number,
            parent_run_id=self.parent.id,
            metric=self.spec.objective,
            pruner=self.spec.pruner,
            warmup_epochs=self.spec.warmup_epochs,
        )
        arguments = ["exp", "run", "--temp", "-n", name, *searchfile.set_params(values)]
        log = self.root / LOG_DIR / f"{name}.log"
        self.out(f"trial {number}: dvc {' '.join(arguments)}  (log: {log.relative_to(self.root)})")
        started = time.monotonic()
        code = self._dvc(arguments, log, link.to_environment())
        seconds = time.monotonic() - started
        if code != 0:
            self._failed(
                optuna_trial, link, f"`dvc exp run` exited {code} after {seconds:.0f} s", log
            )
        self.failures = 0
        history = read_history_csv(
            tracker.git("show", f"{experiment_ref(commit, name)}:{paths.HISTORY}")
        )
        final = {metric: float(history[metric][-1]) for metric in searchfile.OBJECTIVES}
        optuna_trial.set_user_attr(VALIDATION_ATTR, final)
        self._share(optuna_trial, name, log)
        others = ", ".join(f"{k} {v:.4f}" for k, v in final.items() if k != self.spec.objective)
        score = final[self.spec.objective]
        self.out(f"trial {number}: {self.spec.objective} {score:.4f} ({others}) in {seconds:.0f} s")
        return score

    def _check_not_surplus(self, number: int, optuna_trial) -> None:
        """SurplusTrialError when the study's n_trials are taken by trials numbered before this
        one (two workers asked for the last trial at once)."""
        from optuna.trial import TrialState

        taken = self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        )
        if sum(t.number < number for t in taken) >= self.spec.n_trials:
            optuna_trial.set_user_attr(SURPLUS_ATTR, True)
            raise SurplusTrialError(
                f"trial {number}: the study's {self.spec.n_trials} trials are taken"
            )

    def _claim(self, optuna_trial) -> tuple[str, str]:
        """The trial's DVC experiment name and commit, recorded on the trial with this worker;
        StudyError when that experiment exists already (an earlier study of the same name)."""
        name = self.experiment_name(optuna_trial)
        commit = tracker.git("rev-parse", "HEAD")
        if tracker.git("rev-parse", "--verify", "--quiet", experiment_ref(commit, name)):
            raise StudyError(
                f"DVC experiment {name} already exists at commit {commit[:7]} (an "
                f"earlier study named {self.spec.study}?): `dvc exp remove {name}`"
                " or name a new study in the search file"
            )
        for key, value in (
            (EXPERIMENT_ATTR, name),
            (COMMIT_ATTR, commit),
            (WORKER_ATTR, self.name),
        ):
            optuna_trial.set_user_attr(key, value)
        return name, commit

    def experiment_name(self, optuna_trial) -> str:
        return f"{self.spec.study}-{optuna_trial.number}"

    def check_study(self, created: bool) -> None:
        """Before joining: nothing to check for a search (join compares the search files)."""

    def create_parent(self, experiment: str, spec: searchfile.Search, url: str) -> StudyRun:
        return _create_parent(experiment, spec, url)

    def publish_state(self, parent: StudyRun, finished=None) -> None:
        """The study as its parent run shows it, after trial `finished` (a FrozenTrial) if
        given: the trial's objective value, the best trial, figures (`publish`)."""
        from optuna.trial import TrialState

        if finished is not None and finished.state == TrialState.COMPLETE:
            parent.log_metric(self.spec.objective, finished.value, step=finished.number)
        publish(self.study, self.spec, parent, finished.number if finished else None)

    def _failed(self, optuna_trial, link: trial.TrialLink, what: str, log: Path) -> None:
        """The trial's run stopped: pruned (its train stage recorded the epoch), else failed."""
        import optuna

        attributes = self.store.get_trial(link.trial_id).user_attrs
        if trial.PRUNED_ATTR in attributes:
            raise optuna.TrialPruned(f"pruned at epoch {attributes[trial.PRUNED_ATTR]}")
        self.failures += 1
        error = f"{what}: {_cause(log)}"
        optuna_trial.set_user_attr(ERROR_ATTR, error)
        raise TrialFailedError(f"trial {optuna_trial.number}: {error}")

    def _share(self, optuna_trial, name: str, log: Path) -> None:
        """`dvc exp push` the trial's experiment when --push names a remote; a failed push
        leaves the trial standing (its run is done and recorded), only unshared."""
        if not self.push:
            return
        if self._dvc(["exp", "push", self.push, name], log, {}, append=True):
            self.out(
                f"trial {optuna_trial.number}: `dvc exp push {self.push} {name}` failed: "
                f"{_cause(log)}"
            )
        else:
            optuna_trial.set_user_attr(PUSHED_ATTR, self.push)

    def _dvc(self, arguments: list[str], log: Path, env: dict, append: bool = False) -> int:
        """Run DVC with this interpreter's environment first on PATH (the stages' `python`),
        in its own process group: an interrupt of the worker stops it, stage included.
        `--wait-for-lock`: workers on one machine share the repository, and DVC's own lock
        gives up after 3 s, which two `dvc exp run` starting together exceed under load."""
        log.parent.mkdir(parents=True, exist_ok=True)
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        with open(log, "a" if append else "w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "dvc", "--wait-for-lock", *arguments],
                cwd=self.root,
                env={**os.environ, "PATH": path, **env},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                return process.wait()
            except BaseException:  # Ctrl-C or SIGTERM: stop DVC as Ctrl-C would, then go
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                raise

    def summarize(self, study, frozen) -> None:
        """After each of this worker's trials: its line, its run's Optuna state, and the
        study's state on the parent run (publish_state: every worker writes the same)."""
        from optuna.trial import TrialState

        if frozen.state == TrialState.PRUNED:
            self.out(
                f"trial {frozen.number}: pruned at epoch {frozen.user_attrs.get(trial.PRUNED_ATTR)}"
            )
        elif frozen.state == TrialState.FAIL and not frozen.user_attrs.get(SURPLUS_ATTR):
            self.out(f"trial {frozen.number}: failed: {frozen.user_attrs.get(ERROR_ATTR, '?')}")
        if frozen.user_attrs.get(trial.RUN_ATTR):  # the run's own state may be FINISHED
            tag_run(frozen.user_attrs[trial.RUN_ATTR], tracker.TRIAL_STATE_TAG, frozen.state.name)
        self.publish_state(self.parent, frozen)

    def close_parent(self, status: str) -> None:
        """End the parent run when no trial of the study runs any more (the last worker out
        does it); FINISHED when the study has all its trials. A resumed study reopens it."""
        from optuna.trial import TrialState

        self.parent.remove_tag(worker_record()[0])  # or the server is gone
        try:
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except Exception:  # the storage is gone: every worker stops, nothing runs any more
            running = []
        if not running:
            self.parent.end(status)


def publish(
    study, spec: searchfile.Search, parent: StudyRun, finished_number: int | None = None
) -> None:
    """The study as the parent run shows it: best trial (tags `best.<param>`, metric
    `best_<objective>`: the best when trial `finished_number` ended, at that step),
    description, figures, the trials table."""

    counts = _counts(study)
    tags = {f"trials.{state}": str(count) for state, count in counts.items()}  # zeros too
    tags["n_trials"] = str(spec.n_trials)  # --trials may have changed it
    if counts["complete"]:
        best = study.best_trial
        tags |= {
            "best_trial": str(best.number),
            "best_trial.dvc_experiment": best.user_attrs.get(EXPERIMENT_ATTR, ""),
            "best_trial.mlflow_run": best.user_attrs.get(trial.RUN_ATTR, ""),
            **{f"best.{key}": str(value) for key, value in best.params.items()},
            tracker.DESCRIPTION_TAG: _description(spec, best, counts),
        }
        if finished_number is not None:
            parent.log_metric(f"best_{spec.objective}", best.value, step=finished_number)
    parent.set_tags(tags)
    import matplotlib.pyplot as plt

    for name, figure in search_figures(study, spec.objective, counts["complete"]).items():
        parent.log_figure(figure, f"search/{name}.png")
        plt.close(figure)
    parent.log_text(study.trials_dataframe().to_csv(index=False), "search/trials.csv")


def _counts(study) -> dict[str, int]:
    """The study's trials by state: {"running": 1, "waiting": 0, "complete": 7, ...}."""
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {state.name.lower(): states.count(state) for state in TrialState}


def _description(spec, best, counts) -> str:
    validation = best.user_attrs.get(VALIDATION_ATTR, {})
    params = ", ".join(f"`{key}={value}`" for key, value in best.params.items())
    return "  \n".join(
        [
            f"Optuna study **{spec.study}**: {spec.n_trials} trials searching "
            f"{', '.join(d.key for d in spec.space)}; objective {spec.objective} on the "
            f"validation split ({spec.direction}d).",
            "Trials: " + ", ".join(f"{count} {state}" for state, count in counts.items() if count),
            f"**Best**: trial {best.number}, "
            + ", ".join(f"{k} {v:.4f}" for k, v in validation.items())
            + f" — DVC experiment `{best.user_attrs.get(EXPERIMENT_ATTR)}`: {params}",
            "Child runs: one per trial (expand this run). Figures: Artifacts → search/.",
        ]
    )


def search_figures(study, objective: str, complete: int) -> dict:
    """Optuna's own views of the search (matplotlib): value per trial with the best so far,
    each trial's span on the timeline (which worker ran what when is in trials.csv), and
    the value against each searched param (from `complete` >= 2 complete trials)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.ticker import MaxNLocator
    from optuna.visualization import matplotlib as views

    with warnings.catch_warnings():  # a param drawn once so far: "identical low and high xlims"
        warnings.simplefilter("ignore", UserWarning)
        history = views.plot_optimization_history(study, target_name=objective)
        timeline = views.plot_timeline(study)
        history.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials, not 0.5 of one
        timeline.yaxis.set_major_locator(MaxNLocator(integer=True))
        figures = {"history": history.figure, "timeline": timeline.figure}
        if complete >= 2:
            axes = views.plot_slice(study, target_name=objective)  # an array for 2+ params
            many = hasattr(axes, "flat")
            figures["slice"] = _slice_grid(axes, objective) if many else axes.figure
    return figures


def _slice_grid(axes, objective: str, columns: int = 3):
    """Optuna draws one panel per param in a single row (2560 x 480 px for 8 params: a strip
    MLflow previews as a thumbnail); its panels are laid out again here as a grid 1000 px
    wide, each row with its value axis, log axes labelled 0.0005, 0.001, 0.002 (not
    crowded 4x10^-4, 6x10^-4 minor labels), the trial colorbar beside them."""
    import math

    from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

    panels = list(axes.flat)
    figure = panels[0].figure
    for other in [a for a in figure.axes if a not in panels]:
        other.remove()  # Optuna's colorbar, sized for the strip
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    grid = figure.add_gridspec(rows, columns)
    for index, panel in enumerate(panels):
        panel.set_subplotspec(grid[index])
        first = index % columns == 0
        panel.yaxis.set_tick_params(labelleft=first)
        panel.set_ylabel(objective if first else "")
        if panel.get_xscale() == "log":
            low, high = panel.get_xlim()
            if high / low < 4:  # trials within one narrow range: 1-2-5 ticks would miss it
                panel.set_xscale("linear")
                panel.xaxis.set_major_locator(MaxNLocator(nbins=3))
            else:
                panel.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            panel.xaxis.set_major_formatter(FormatStrFormatter("%.3g"))
            panel.xaxis.set_minor_formatter(NullFormatter())
        elif _numeric(panel):
            panel.xaxis.set_major_locator(MaxNLocator(nbins=4))
    figure.set_size_inches(10, 0.6 + 2.6 * rows)
    figure.set_layout_engine("constrained")
    bar = figure.colorbar(panels[0].collections[0], ax=panels, label="Trial")
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _numeric(panel) -> bool:
    """A panel of numbers: choices (numbers too, for batch sizes) keep their own ticks."""
    from matplotlib.ticker import ScalarFormatter

    return isinstance(panel.xaxis.get_major_formatter(), ScalarFormatter)


def best_report(spec: searchfile.Search, url: str, study) -> str:
    """The study's state, its best trial and the commands that apply or rerun it."""

    with trial.storage_errors(url):
        counts = _counts(study)
        best = study.best_trial if counts["complete"] else None
    finished = counts["complete"] + counts["pruned"]
    lines = [
        f"study {spec.study} ({trial.masked(url)}): {finished} of {spec.n_trials} trials "
        "finished (" + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "); "
        f"objective {spec.objective} on the validation split, {spec.direction}d"
    ]
    if best is None:
        raise StudyError(lines[0] + ": no trial has completed yet")
    attributes = best.user_attrs
    name, commit = attributes.get(EXPERIMENT_ATTR), attributes.get(COMMIT_ATTR, "")
    validation = ", ".join(f"{k} {v:.4f}" for k, v in attributes.get(VALIDATION_ATTR, {}).items())
    lines.append(
        f"best: trial {best.number}: {validation} (DVC experiment {name}, MLflow run "
        f"{attributes.get(trial.RUN_ATTR, '?')[:8]}, worker {attributes.get(WORKER_ATTR)})"
    )
    lines += [f"  {key} = {value}" for key, value in best.params.items()]
    rerun = " ".join(["dvc exp run", *searchfile.set_params({**best.params, **spec.fixed})])
    if tracker.git("rev-parse", "--verify", "--quiet", experiment_ref(commit, name)):
        lines.append(f"apply it:  dvc exp apply {name}")
    elif attributes.get(PUSHED_ATTR):
        lines.append(
            f"apply it:  dvc exp pull {attributes[PUSHED_ATTR]} {name} && dvc exp apply {name}"
        )
    else:
        lines.append(
            f"apply it:  not here: it ran on {attributes.get(WORKER_ATTR)} and was not pushed "
            "(tune --push REMOTE); rerun it as below"
        )
    if tracker.git("rev-parse", "HEAD") != commit:  # the same commit and params: the same weights
        rerun = f"git checkout {commit[:7]} && {rerun}"
    lines.append(f"rerun it:  {rerun}")
    return "\n".join(lines)


def _cause(log: Path) -> str:
    """Why a trial's `dvc exp run` failed: the stage's own one-line error if it gave one
    (stage.run logs "ERROR mnist_pipeline: ..."), else the log's last line; and the log."""
    lines = log.read_text(errors="replace").strip().splitlines() or ["(empty log)"]
    ours = [line for line in lines if line.startswith("ERROR mnist_pipeline:")]
    return f"{(ours or lines)[-1]} (log: {log})"


def experiment_ref(commit: str, name: str) -> str:
    """Where DVC keeps experiment `name` of baseline `commit`."""
    return f"refs/exps/{commit[:2]}/{commit[2:]}/{name}"
