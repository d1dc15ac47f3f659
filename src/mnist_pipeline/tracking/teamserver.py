"""The team tracking server's app: MLflow's basic-auth app, plus one rule it lacks.

`server/mlflow-server.sh` starts `mlflow server --app-name mnist-team` (this module's
create_app, registered in pyproject.toml's `mlflow.app` entry points). MLflow's basic-auth app
checks every request against per-resource permissions (team.py gives each role its grants),
but lets any signed-in user create an experiment or a registered model, and makes the creator
its manager. A member creating the team's registered model (a first `publish`) would then own
it and could move its `champion` alias; a viewer could log into an experiment of their own.
So here a create needs a grant on every resource of its kind: a registered model needs the
publisher's (EDIT or more on `registered_model *`), an experiment the member's (on
`experiment *`). Admins pass, as in MLflow's app.

`python -m mnist_pipeline.tracking.teamserver set-admin-password` (run by the server script
before each start) sets the admin's password in the auth database from
MLFLOW_AUTH_ADMIN_PASSWORD: MLflow reads that only when it creates the admin, and the
database outlives the server's state folder.
"""

from __future__ import annotations

import os
import sys

# (URL path ending, resource type whose `*` grant a create needs)
GUARDED_CREATES = (
    ("/registered-models/create", "registered_model"),
    ("/experiments/create", "experiment"),
)


def create_app(app=None):
    """MLflow's basic-auth app with the create rule after its own checks."""
    from mlflow.server import app as flask_app
    from mlflow.server.auth import create_app as basic_auth_app

    served = basic_auth_app(flask_app if app is None else app)
    (flask_app if app is None else app).before_request(_guard_creates)
    return served


def _guard_creates():
    """403 for a create by a user without a grant on every resource of its kind."""
    from flask import g, request
    from mlflow.server import auth

    if request.method != "POST" or auth.is_unprotected_route(request.path):
        return None
    kind = next((kind for end, kind in GUARDED_CREATES if request.path.endswith(end)), None)
    username = getattr(g, "mlflow_authenticated_user", None)
    if kind is None or username is None or auth.sender_is_admin():
        return None
    if may_create(username, kind):
        return None
    return auth.make_forbidden_response()


def may_create(username: str, kind: str) -> bool:
    """Whether the user's roles grant EDIT or more on every resource of this kind."""
    from mlflow.server import auth
    from mlflow.server.auth.permissions import GrantLoadKey
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    (granted,) = auth.resolve_permissions(
        username, DEFAULT_WORKSPACE_NAME, [GrantLoadKey(kind, "*")]
    )
    return granted is not None and granted.can_update


def set_admin_password() -> None:
    """(Re)set the configured admin's password to MLFLOW_AUTH_ADMIN_PASSWORD, creating the
    admin if the auth database has none yet."""
    from mlflow.server.auth.config import read_auth_config
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    config = read_auth_config()
    if not config.admin_password or not config.admin_username:
        sys.exit("set-admin-password: MLFLOW_AUTH_ADMIN_PASSWORD and admin_username needed")
    store = SqlAlchemyStore()
    store.init_db(config.database_uri)
    if store.has_user(config.admin_username):
        store.update_user(config.admin_username, password=config.admin_password, is_admin=True)
    else:
        store.create_user(config.admin_username, config.admin_password, is_admin=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["set-admin-password"]:
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} set-admin-password")
    set_admin_password()
