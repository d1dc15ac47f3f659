"""The errors we anticipate, by kind. Stages and the CLI print these as one line and exit 1;
anything else is a bug in our code or a library's and keeps its full traceback."""

from __future__ import annotations


class PipelineError(Exception):
    """Something the user can fix: bad data, bad params, a missing input, ..."""


class ParamsError(PipelineError):
    """A parameter is missing, unknown, of the wrong type or out of range."""


class DataError(PipelineError):
    """An input file's content is not what it must be (checksum, format, shape, columns)."""


class MissingInputError(PipelineError):
    """A stage's input does not exist (an earlier stage has not run)."""


class TrackingError(PipelineError):
    """The MLflow tracking store cannot be reached or used."""


class RunError(PipelineError):
    """A run reference names no run, several runs, or runs that cannot be compared."""


class ModelError(PipelineError):
    """A model URI or registry entry names no usable model: an unknown URI, a run without the
    raw-image model, a model that does not take raw images, no champion to step back from."""


class StudyError(PipelineError):
    """The Optuna study storage cannot be reached or used, or holds another search."""


class TrialStoppedError(PipelineError):
    """A tuning trial stopped before its last epoch: ended there (its worker died). Its
    MLflow run ends KILLED, not FAILED: nothing went wrong in it."""

    run_status = "KILLED"


class TrialPrunedError(TrialStoppedError):
    """A tuning trial pruned by its study: it did what it was asked, so its MLflow run ends
    FINISHED, tagged as pruned (MLflow has no pruned state; KILLED stays for real stops)."""

    run_status = "FINISHED"

    def __init__(self, message: str, epoch: int):
        super().__init__(message)
        self.epoch = epoch
