"""The MLflow parent run of an Optuna study, as the search sees it.

Several workers share one parent run, so none of them holds it as MLflow's active run: this
class addresses it by id. It gives search/ plain values (ids, tags as a dict, a status
string) and never an MLflow object, so the search knows nothing of MLflow's types.
"""

from __future__ import annotations

from typing import Any

from mnist_pipeline.errors import StudyError
from mnist_pipeline.tracking import tracker

# On a replicate group's parent run and on each of its seeds' runs (search/replicates.py):
# the group's name. Comparisons of groups (`mnist-pipeline diff`) find a group's runs by it.
GROUP_TAG = "replicate_group"


class StudyRun:
    """A study's parent run in the experiment `connect` opened."""

    def __init__(self, run_id: str):
        import mlflow

        self.id = run_id
        self._client = mlflow.MlflowClient()

    @classmethod
    def create(
        cls, experiment: str, name: str, tags: dict[str, str], params: dict[str, Any]
    ) -> StudyRun:
        """A new parent run, RUNNING, with its tags and params."""
        import mlflow

        experiment_id = tracker.connect(experiment)
        run = mlflow.MlflowClient().create_run(experiment_id, run_name=name, tags=tags)
        study_run = cls(run.info.run_id)
        tracker.log_params_to(study_run._client, study_run.id, params)
        return study_run

    @classmethod
    def open(cls, run_id: str, study: str) -> StudyRun:
        """The parent run `run_id` of `study`; StudyError when this tracking store lacks it
        (a worker pointed at another server than the study's other workers)."""
        study_run = cls(run_id)
        try:
            study_run._client.get_run(run_id)
        except Exception:
            raise StudyError(
                f"study {study}'s MLflow parent run {run_id} is not in the tracking store "
                f"{tracker.tracking_uri()}: every worker of a study must log to the same MLflow "
                f"server (set {tracker.URI_VARIABLE} as the other workers do)"
            ) from None
        return study_run

    @property
    def status(self) -> str:
        """RUNNING, FINISHED, KILLED, ..."""
        return self._client.get_run(self.id).info.status

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._client.get_run(self.id).data.tags)

    def set_tags(self, tags: dict[str, str]) -> None:
        tracker.set_tags_on(self._client, self.id, tags)

    def remove_tag(self, key: str) -> bool:
        """False when MLflow refuses (gone already, or the server is): callers go on."""
        return tracker.remove_tag(self._client, self.id, key)

    def log_metric(self, key: str, value: float, step: int) -> None:
        self._client.log_metric(self.id, key, value, step=step)

    def log_figure(self, figure, path: str) -> None:
        self._client.log_figure(self.id, figure, path)

    def log_text(self, text: str, path: str) -> None:
        self._client.log_text(self.id, text, path)

    def resume(self) -> None:
        """RUNNING again (a resumed study's parent had been ended)."""
        if self.status != "RUNNING":
            self._client.update_run(self.id, status="RUNNING")

    def end(self, status: str) -> None:
        self._client.set_terminated(self.id, status=status)


def tag_run(run_id: str, key: str, value: str) -> None:
    """One tag on any run by id (a trial's child run: its Optuna state)."""
    import mlflow

    mlflow.MlflowClient().set_tag(run_id, key, value)


def run_metrics(run_id: str) -> dict[str, float]:
    """A run's metrics (each one's latest value), by id."""
    import mlflow

    return dict(mlflow.MlflowClient().get_run(run_id).data.metrics)
