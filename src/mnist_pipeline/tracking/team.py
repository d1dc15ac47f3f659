"""Who may do what on the team's tracking server: three roles of MLflow's basic-auth app.

The server (server/mlflow-server.sh, app teamserver.py) lets every signed-in user read
everything (`default_permission = READ`). A role adds grants on every resource of a kind:

- viewer: nothing more; reads runs, models and the registry, logs nothing.
- member: EDIT on every experiment: runs the pipeline and studies, logs into the team's
  experiments, creates new ones. Registers nothing and moves no alias.
- publisher (CI): a member, plus MANAGE on every registered model: registers versions, moves
  (and takes back, `demote`) the `champion` alias that serving follows.

The server enforces this, not our client: registering a version needs EDIT on the registered
model, moving or removing an alias EDIT or MANAGE; creating a registered model needs the
publisher's grant (teamserver.py), so a member cannot become the owner of the team's model by
creating it first. `mnist-pipeline team add-user` calls this with the admin's credentials.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from mnist_pipeline.errors import TrackingError

WORKSPACE = "default"  # MLflow's one workspace when workspaces are off (the default)
ROLES = {
    "viewer": (),
    "member": (("experiment", "EDIT"),),
    "publisher": (("experiment", "EDIT"), ("registered_model", "MANAGE")),
}


def auth_client(uri: str):
    """MLflow's basic-auth client for the server at `uri` (credentials from the environment
    or MLflow's credentials file, as every MLflow client takes them)."""
    import warnings

    with warnings.catch_warnings():  # Starlette's deprecation notice, on importing the server
        warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
        from mlflow.server.auth.client import AuthServiceClient

    return AuthServiceClient(uri)


def ensure_role(client, name: str):
    """The role `name` on the server with exactly ROLES[name]'s grants, created if missing."""
    role = next((r for r in client.list_roles(WORKSPACE) if r.name == name), None)
    if role is None:
        role = client.create_role(WORKSPACE, name, f"mnist-pipeline {name} (tracking/team.py)")
    granted = client.list_role_permissions(role.id)
    held = {(g.resource_type, g.resource_pattern, g.permission) for g in granted}
    for kind, permission in ROLES[name]:
        if (kind, "*", permission) not in held:
            client.add_role_permission(role.id, kind, "*", permission)
    return role


def add_user(uri: str, username: str, role: str, password: str | None = None) -> str:
    """Create `username` (password generated unless given) with `role`; returns the
    password. A user that exists already keeps their password and gets the role."""
    from mlflow.exceptions import MlflowException

    if role not in ROLES:
        raise TrackingError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    client = auth_client(uri)
    password = password or secrets.token_urlsafe(18)
    try:
        client.create_user(username, password)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        raise TrackingError(
            f"user {username!r} exists on {uri}; its password stays as it is"
        ) from None
    client.assign_role(username, ensure_role(client, role).id)
    return password


def credentials_file(path: Path, username: str, password: str) -> None:
    """Write MLflow's credentials file (~/.mlflow/credentials on the user's machine), readable
    by its owner only: the user copies it there, or exports its two values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(
        f"[mlflow]\nmlflow_tracking_username = {username}\nmlflow_tracking_password = {password}\n"
    )
