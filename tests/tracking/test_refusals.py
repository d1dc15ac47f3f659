"""A tracking server refusing the user, in one line (no server needed: the errors MLflow's
client raises for a 401 and a 403, and the team server's rule on creates)."""

import pytest

from mnist_pipeline.errors import TrackingError
from mnist_pipeline.tracking import team, teamserver, tracker

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402 (after the skip)
from mlflow.protos import databricks_pb2  # noqa: E402

URI = "http://127.0.0.1:5999"


def client_error(endpoint: str, status: int, code: str) -> MlflowException:
    """What MLflow's REST client raises for a refused request."""
    return MlflowException(
        f"API request to endpoint {endpoint} failed with error code {status} != 200. "
        "Response body: '...'",
        error_code=databricks_pb2.ErrorCode.Value(code),
    )


def test_a_wrong_password_names_the_server_the_user_and_the_request(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    error = client_error("/api/2.0/mlflow/experiments/search", 401, "UNAUTHENTICATED")
    said = tracker.refused(error, URI)
    assert said == (
        f"MLflow tracking server {URI} refused the password of user 'alice' (401) on "
        "experiments/search: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
        "(docs/team.md)"
    )
    assert "wrong" not in said


def test_no_credentials_and_a_role_that_does_not_allow_it(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mlflow/credentials either
    error = client_error("/api/2.0/mlflow/runs/create", 401, "UNAUTHENTICATED")
    assert "refused a request without credentials (401) on runs/create" in tracker.refused(
        error, URI
    )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    error = client_error("/api/2.0/mlflow/registered-models/alias", 403, "PERMISSION_DENIED")
    said = tracker.refused(error, URI)
    assert said.startswith(
        f"MLflow tracking server {URI} refused registered-models/alias to user 'bob' (403)"
    )


def test_other_errors_are_not_refusals():
    assert tracker.refused(ValueError("PERMISSION_DENIED")) is None
    missing = MlflowException("no run", error_code=databricks_pb2.RESOURCE_DOES_NOT_EXIST)
    assert tracker.refused(missing) is None


def test_the_team_roles_grant_on_every_resource_of_a_kind():
    """What the server's create rule (teamserver.may_create) looks for: a `*` grant of EDIT
    or more; only publishers hold one on registered models, viewers on nothing."""
    can_create = {
        role: {kind for kind, permission in grants if permission in ("EDIT", "MANAGE")}
        for role, grants in team.ROLES.items()
    }
    assert can_create == {
        "viewer": set(),
        "member": {"experiment"},
        "publisher": {"experiment", "registered_model"},
    }
    assert {kind for _, kind in teamserver.GUARDED_CREATES} == {"experiment", "registered_model"}


def test_an_unknown_role_is_one_line():
    with pytest.raises(TrackingError, match="unknown role 'owner': one of viewer, member"):
        team.add_user(URI, "carol", "owner")
