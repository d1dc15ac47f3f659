"""The train stage's side of a tuning trial (`mnist-pipeline tune`, tuning.py).

The worker runs each trial as `dvc exp run` with MNIST_PIPELINE_TRIAL set to a TrialLink.
Train then nests its MLflow run under the study's parent run, reports the objective's
per-epoch validation value to the study, and stops when the study prunes the trial or has
ended it (its worker died: the heartbeat failed it). Outside `tune` the variable is unset
and none of this runs; it never touches a DVC output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator

from mnist_pipeline.errors import StudyError, TrialPrunedError, TrialStoppedError
from mnist_pipeline.tracking.tracker import store_lock

TRIAL_VARIABLE = "MNIST_PIPELINE_TRIAL"
STUDY_TAG, TRIAL_TAG = "optuna.study", "optuna.trial"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests the run under its parent
PRUNED_ATTR, RUN_ATTR = "pruned_at_epoch", "mlflow_run_id"  # trial user attributes


@dataclasses.dataclass(frozen=True)
class TrialLink:
    storage: str
    study: str
    trial_id: int
    number: int
    parent_run_id: str
    metric: str  # the objective: a history.EPOCH_METRICS name
    pruner: str
    warmup_epochs: int

    def to_environment(self) -> dict[str, str]:
        return {TRIAL_VARIABLE: json.dumps(dataclasses.asdict(self), sort_keys=True)}


def from_environment() -> TrialLink | None:
    text = os.environ.get(TRIAL_VARIABLE)
    return TrialLink(**json.loads(text)) if text else None


def run_tags(link: TrialLink | None) -> dict[str, str]:
    if link is None:
        return {}
    return {PARENT_TAG: link.parent_run_id, STUDY_TAG: link.study, TRIAL_TAG: str(link.number)}


def make_pruner(name: str, warmup_epochs: int, startup_trials: int = 2):
    """The study's pruner. Median rule: stop a trial whose value at an epoch is worse than
    the median of earlier trials' at that epoch."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    # Optuna skips steps below n_warmup_steps; ours are epochs 1..N, warm-up ones included.
    return optuna.pruners.MedianPruner(
        n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs + 1
    )


def epoch_callback(link: TrialLink, run_id: str):
    """A fit listener (model.training.keras_callback) reporting the objective each epoch
    (step = epoch, 1..N) and stopping the fit with TrialPrunedError when the study prunes the
    trial, TrialStoppedError when it has ended it."""
    import optuna

    storage = open_storage(link.storage)
    with storage_errors(link.storage):
        study = optuna.load_study(
            study_name=link.study,
            storage=storage,
            pruner=make_pruner(link.pruner, link.warmup_epochs),
        )
    return _TrialReport(link, run_id, storage, study)


class _TrialReport:
    """epoch_callback's listener: the trial's side of the fit, through the study's storage."""

    def __init__(self, link: TrialLink, run_id: str, storage, study):
        self.link, self.run_id, self.storage, self.study = link, run_id, storage, study

    def on_train_begin(self):
        import optuna

        with storage_errors(self.link.storage):
            try:
                self.storage.set_trial_user_attr(self.link.trial_id, RUN_ATTR, self.run_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                raise self._ended(0) from None

    def on_epoch_end(self, epoch: int, logs: dict):
        import optuna

        with storage_errors(self.link.storage):
            try:
                self._report(epoch + 1, float(logs[self.link.metric]))
            except optuna.exceptions.UpdateFinishedTrialError:  # ended meanwhile
                raise self._ended(epoch + 1) from None

    def _report(self, step: int, value: float) -> None:
        # Storage calls, not optuna.Trial: building a Trial would ask the sampler to draw.
        # Reporting to a trial that is no longer RUNNING (a dead worker's, failed by
        # the heartbeat) raises UpdateFinishedTrialError.
        link, storage = self.link, self.storage
        storage.set_trial_intermediate_value(link.trial_id, step, value)
        if self.study.pruner.prune(self.study, storage.get_trial(link.trial_id)):
            storage.set_trial_user_attr(link.trial_id, PRUNED_ATTR, step)
            raise TrialPrunedError(
                f"trial {link.number} of study {link.study} pruned at epoch "
                f"{step}: {link.metric} {value:.4f} is worse than the median "
                "of earlier trials there",
                epoch=step,
            )

    def _ended(self, step: int) -> TrialStoppedError:
        state = self.storage.get_trial(self.link.trial_id).state.name
        return TrialStoppedError(
            f"trial {self.link.number} of study {self.link.study} was ended "
            f"({state}) while it ran: stopped at epoch {step}"
        )


def open_storage(url: str, **heartbeat):
    """Optuna's database storage (SQLite file or PostgreSQL) with patient locks and a short
    connect timeout; `heartbeat`: RDBStorage's heartbeat arguments (the worker's side).

    Workers that start together race to create the tables of a new database: a SQLite file
    is created under a file lock; on a server, the loser's "already exists" or duplicate
    key is retried once the winner's tables are there."""
    import optuna
    import sqlalchemy.exc

    connect = {"timeout": 60} if url.startswith("sqlite") else {"connect_timeout": 10}
    engine = {"pool_pre_ping": True, "connect_args": connect}
    with storage_errors(url), store_lock(url):
        for attempt in range(5):
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, **heartbeat)
            except sqlalchemy.exc.SQLAlchemyError as error:
                lost_race = isinstance(error, sqlalchemy.exc.IntegrityError) or (
                    "already exists" in str(error)
                )
                if not lost_race or attempt == 4:
                    raise


def masked(url: str) -> str:
    """The storage URL without its password, for messages."""
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: say it as given
        return url


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """A database that cannot be reached or used: one StudyError naming it and the cause.

    The cause is looked for along the exception's context too: when the database goes
    away as a trial ends, Optuna 5's `_run_trial` masks it with an UnboundLocalError."""
    try:
        yield
    except Exception as error:
        cause = _storage_cause(error)
        if cause is None:
            raise
        text = str(getattr(cause, "orig", None) or cause).strip()
        reason = text.splitlines()[0] if text else type(cause).__name__
        raise StudyError(f"study storage {masked(url)} unusable: {reason}") from error


def _storage_cause(error: BaseException) -> BaseException | None:
    """The deepest database error in the exception's chain, if any (Optuna wraps a lost
    connection in a StorageInternalError that blames "invalid data in the commit")."""
    import optuna
    import sqlalchemy.exc

    if isinstance(error, ModuleNotFoundError):  # no driver for the URL (psycopg2)
        return error
    kinds = (
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        sqlalchemy.exc.ArgumentError,
        optuna.exceptions.StorageInternalError,
    )
    # The database's own complaint beneath ("file is not a database"), not a bad statement.
    detail = sqlalchemy.exc.DatabaseError
    not_detail = (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)
    found, seen = None, set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kinds) or (
            found is not None and isinstance(error, detail) and not isinstance(error, not_detail)
        ):
            found = error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return found
