"""The team server lets in only the team: MLflow's basic-auth app with the roles of
tracking/team.py, against the server .ci/run starts (server/mlflow-server.sh, loopback)."""

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from unittest import mock

import pytest

from conftest import (
    ADMIN_PASSWORD_VARIABLE,
    TEST_SERVER_VARIABLE,
    make_tiny_project,
    run_stage,
    team_user,
)

SERVER = os.environ.get(TEST_SERVER_VARIABLE)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SERVER and os.environ.get(ADMIN_PASSWORD_VARIABLE)),
        reason="no team server with auth: .ci/run starts one and sets "
        f"{TEST_SERVER_VARIABLE} and {ADMIN_PASSWORD_VARIABLE}",
    ),
]
mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402 (after the skip)

OUTPUTS = ("models", "reports")


def cli(project: Path, env: dict, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", *arguments],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def snapshot(project: Path) -> dict[Path, bytes]:
    return {
        path: path.read_bytes()
        for folder in OUTPUTS
        for path in sorted((project / folder).rglob("*"))
        if path.is_file()
    }


def errors(stderr: str) -> list[str]:
    """The lines a stage or the CLI says about an error (not libraries' warnings)."""
    return [line for line in stderr.splitlines() if "refused" in line or "Traceback" in line]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny project a member trained, evaluated and plotted on the server, with an
    experiment and registered model of its own (the server's database persists)."""
    experiment = f"auth-test-{uuid.uuid4().hex[:8]}"
    registered = f"'{experiment}-{{dataset}}'"  # quoted: braces are override syntax
    names = {"tracking.experiment": experiment, "registry.model_name": registered}
    project, env = make_tiny_project(tmp_path_factory.mktemp("auth") / "project", **names)
    env = {**env, "MLFLOW_TRACKING_URI": SERVER}
    member = team_user("member")
    for stage in ("train", "evaluate", "plot"):
        result = run_stage(stage, project, {**env, **member})
        assert result.returncode == 0, result.stderr
    return project, env, experiment, member


@contextlib.contextmanager
def client_as(credentials: dict):
    """An MlflowClient for the server whose requests carry these credentials."""
    with mock.patch.dict(os.environ, credentials):
        yield mlflow.MlflowClient(SERVER)


def test_no_credentials_or_a_wrong_password_one_line_before_any_work(trained):
    project, env, _, member = trained
    before = snapshot(project)
    wrong = {**member, "MLFLOW_TRACKING_PASSWORD": "not-" + member["MLFLOW_TRACKING_PASSWORD"]}
    for credentials, said in (
        ({}, "refused a request without credentials (401)"),
        (wrong, f"refused the password of user '{member['MLFLOW_TRACKING_USERNAME']}' (401)"),
    ):
        bare = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
        with mock.patch.dict(os.environ, bare, clear=True):
            for stage in ("train", "plot"):  # the stages that open MLflow
                result = run_stage(stage, project, {**env, **credentials})
                assert result.returncode == 1
                assert errors(result.stderr) == [mock.ANY], result.stderr
                assert said in result.stderr and SERVER in result.stderr
            result = cli(project, {**env, **credentials}, "diff")
            assert result.returncode == 1
            assert errors(result.stderr) == [mock.ANY], result.stderr
            assert result.stderr.strip().endswith("(docs/team.md)")
    assert snapshot(project) == before  # outputs untouched


def test_a_viewer_reads_runs_but_cannot_log_or_promote(trained):
    project, env, experiment, _ = trained
    viewer = team_user("viewer")
    with client_as(viewer) as client:
        experiment_id = client.get_experiment_by_name(experiment).experiment_id
        (run,) = client.search_runs([experiment_id])
        assert "test_accuracy" in run.data.metrics
        with pytest.raises(MlflowException) as refused:
            client.log_metric(run.info.run_id, "viewer_metric", 1.0)
        assert refused.value.error_code == "PERMISSION_DENIED"
        with pytest.raises(MlflowException) as refused:
            client.create_experiment(f"{experiment}-viewer")
        assert refused.value.error_code == "PERMISSION_DENIED"
    before = snapshot(project)
    result = run_stage("train", project, {**env, **viewer})
    assert result.returncode == 1
    assert errors(result.stderr) == [mock.ANY], result.stderr
    assert "(403)" in result.stderr and "runs/create" in result.stderr
    assert snapshot(project) == before
    result = cli(project, {**env, **viewer}, "promote", "latest")
    assert result.returncode == 1 and "(403)" in result.stderr, result.stderr
    assert errors(result.stderr) == [mock.ANY], result.stderr


def test_only_a_publisher_moves_the_champion(trained):
    project, env, experiment, member = trained
    name = f"{experiment}-mnist"
    # A member may not create the team's registered model (and so own it).
    result = cli(project, {**env, **member}, "publish")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "registered-models/create" in result.stderr and "(403)" in result.stderr
    publisher = team_user("publisher")
    result = cli(project, {**env, **publisher}, "publish")
    assert result.returncode == 0, result.stderr
    assert "the first champion" in result.stdout

    with client_as(member) as client:
        assert client.get_registered_model(name).aliases == {"champion": "1"}  # reads
        for move in (
            lambda: client.set_registered_model_alias(name, "champion", "1"),
            lambda: client.delete_registered_model_alias(name, "champion"),
            lambda: client.create_model_version(name, "models:/m-0", tags={}),
        ):
            with pytest.raises(MlflowException) as refused:
                move()
            assert refused.value.error_code == "PERMISSION_DENIED"
    result = cli(project, {**env, **member}, "demote", "latest")
    assert result.returncode == 1 and "(403)" in result.stderr, result.stderr
    # The publisher takes it back and gives it again, by hand.
    result = cli(project, {**env, **publisher}, "demote", "latest")
    assert result.returncode == 0 and "has no champion now" in result.stdout, result.stderr
    result = cli(project, {**env, **publisher}, "promote", "latest")
    assert result.returncode == 0 and "by hand" in result.stdout, result.stderr
    with client_as(member) as client:
        assert client.get_registered_model(name).aliases == {"champion": "1"}


def test_new_users_get_a_generated_password_in_a_private_credentials_file(tmp_path):
    admin = {
        "MLFLOW_TRACKING_URI": SERVER,
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": os.environ[ADMIN_PASSWORD_VARIABLE],
    }
    name = f"test-cli-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "credentials"
    result = cli(tmp_path, admin, "team", "add-user", name, "--role", "viewer", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert out.stat().st_mode & 0o077 == 0
    text = out.read_text()
    password = text.split("mlflow_tracking_password = ")[1].strip()
    assert len(password) >= 20 and password not in result.stdout + result.stderr
    # MLflow's credentials file, read as MLflow reads ~/.mlflow/credentials.
    home = tmp_path / "home"
    (home / ".mlflow").mkdir(parents=True)
    (home / ".mlflow/credentials").write_text(text)
    reader = {"MLFLOW_TRACKING_URI": SERVER, "HOME": str(home)}
    bare = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    with mock.patch.dict(os.environ, bare, clear=True):
        again = ["team", "add-user", "x" + name, "--role", "viewer", "--out", f"{out}-2"]
        result = cli(tmp_path, reader, *again)
    assert result.returncode == 1  # a viewer is no admin
    assert errors(result.stderr) == [mock.ANY] and "(403)" in result.stderr, result.stderr
    assert f"user '{name}'" in result.stderr


NGINX = Path("/usr/sbin/nginx")


@pytest.mark.skipif(not NGINX.exists(), reason="no nginx (Debian: apt-get install nginx-light)")
def test_the_documented_nginx_site_puts_tls_in_front(tmp_path):
    """docs/team.md's nginx site, on a loopback port with a self-signed certificate: clients
    reach the server over TLS with MLflow's own CA setting, and the users and roles hold."""
    import socket

    text = (Path(__file__).parents[2] / "docs/team.md").read_text()
    site = text[text.index("```nginx\n") + len("```nginx\n") :]
    site = site[: site.index("```")]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(tmp_path / "privkey.pem"),
            "-out",
            str(tmp_path / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )
    site = (
        site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
        .replace("/etc/ssl/mlflow/", f"{tmp_path}/")
        .replace("http://127.0.0.1:5000", SERVER)
    )
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{\naccess_log {tmp_path}/logs/access.log;\n{site}}}\n"
    )
    nginx = subprocess.Popen(
        [
            str(NGINX),
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            str(tmp_path / "logs/error.log"),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        viewer = team_user("viewer")
        tls = {
            "MLFLOW_TRACKING_URI": f"https://localhost:{port}",
            "MLFLOW_TRACKING_SERVER_CERT_PATH": str(tmp_path / "fullchain.pem"),
        }
        result = cli(
            tmp_path,
            {**tls, **viewer},
            "team",
            "add-user",
            "x",
            "--role",
            "viewer",
            "--out",
            str(tmp_path / "x"),
        )
        assert result.returncode == 1, result.stderr
        assert "(403)" in result.stderr and "users/create" in result.stderr  # got in: a viewer
        wrong = {**viewer, "MLFLOW_TRACKING_PASSWORD": "wrong"}
        result = cli(tmp_path, {**tls, **wrong}, "diff", "--experiment", "x")
        assert result.returncode == 1 and "(401)" in result.stderr, result.stderr
        with mock.patch.dict(os.environ, {**tls, **viewer}):
            assert mlflow.MlflowClient().search_experiments(max_results=1)
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
