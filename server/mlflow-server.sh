#!/usr/bin/env bash
# A team MLflow tracking server that lets in only the team: PostgreSQL backend store, artifacts
# served through the server, MLflow's basic-auth app (users, passwords, per-resource
# permissions; tracking/teamserver.py adds who may create what), bound to loopback unless
# told otherwise. Users and their roles: `mnist-pipeline team add-user` (docs/team.md).
#
#   server/mlflow-server.sh start    # PostgreSQL (Debian's packages) + mlflow server
#   server/mlflow-server.sh stop     # stop mlflow server (and PostgreSQL if we started it)
#   server/mlflow-server.sh status
#
# Secrets are never printed, passed on a command line or kept in the repository: the script
# says which file holds them. They live in $MLFLOW_SERVER_STATE/secrets/ (mode 700), generated
# on first start unless given:
#   admin-password     the MLflow admin's (user `admin`); or MLFLOW_ADMIN_PASSWORD_FILE, a file
#                      outside the repository, or MLflow's MLFLOW_AUTH_ADMIN_PASSWORD. Set in
#                      the auth database on every start.
#   postgres-password  the PostgreSQL role's (MLflow's stores and Optuna's studies); or
#                      MLFLOW_DB_PASSWORD_FILE. Set on the role (ALTER ROLE) on every start.
#   pgpass             libpq's password file for the server (PGPASSFILE), so no URI holds it.
#   study-storage      the studies' URL (password included) for `mnist-pipeline tune`.
#   flask-secret-key   the auth app's CSRF key, the same for every worker.
#
# Settings (environment):
#   MLFLOW_SERVER_HOST   interface to bind (default 127.0.0.1; see docs/team.md before exposing)
#   MLFLOW_SERVER_PORT   port (default 5000)
#   MLFLOW_BACKEND_URI   an existing PostgreSQL database, e.g.
#                        postgresql+psycopg2://user@db.internal:5432/mlflow (password in
#                        ~/.pgpass or PGPASSFILE); then MLFLOW_AUTH_DATABASE_URI names the auth
#                        app's own database. Default: a local cluster with a role (MLFLOW_DB_ROLE,
#                        default `mlflow`) owning databases `mlflow` (tracking), `mlflow_auth`
#                        (users, permissions) and `optuna` (studies; another role's are named
#                        after it: ROLE, ROLE_auth, ROLE_optuna)
#   MLFLOW_SERVER_STATE  where artifacts, logs, secrets and pid files go (default .server/)
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077

HOST=${MLFLOW_SERVER_HOST:-127.0.0.1}
PORT=${MLFLOW_SERVER_PORT:-5000}
STATE=$(realpath -m "${MLFLOW_SERVER_STATE:-.server}")
SECRETS="$STATE/secrets"
MLFLOW=${MLFLOW:-.venv/bin/mlflow}
PYTHON=${PYTHON:-.venv/bin/python}
ROLE=${MLFLOW_DB_ROLE:-mlflow}
[[ "$ROLE" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "MLFLOW_DB_ROLE=$ROLE: lowercase letters, digits, _" >&2; exit 2; }
if [ "$ROLE" = mlflow ]; then STUDIES=optuna; else STUDIES=${ROLE}_optuna; fi
LOCAL="postgresql+psycopg2://$ROLE@127.0.0.1:5432"
BACKEND=${MLFLOW_BACKEND_URI:-$LOCAL/$ROLE}
AUTH_DB=${MLFLOW_AUTH_DATABASE_URI:-$LOCAL/${ROLE}_auth}
URL="http://$HOST:$PORT"

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }

start_postgres() {
    if ! command -v pg_lsclusters >/dev/null; then
        echo "Installing PostgreSQL from the system's packages"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    local cluster
    cluster=$(pg_lsclusters -h | head -n 1)
    if [ -z "$cluster" ]; then
        pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -n 1)" main >/dev/null
        cluster=$(pg_lsclusters -h | head -n 1)
    fi
    read -r version name port status _ <<<"$cluster"
    if [ "$status" != online ]; then
        pg_ctlcluster "$version" "$name" start
        touch "$STATE/postgres.started-by-us"
    fi
    [ "$port" = 5432 ] || { echo "PostgreSQL cluster listens on $port, expected 5432" >&2; exit 1; }
    # The role's password is (re)set from the secret on every start: a cluster that already has
    # the role (another password, an old default) then takes this one. Given on stdin, not in
    # psql's arguments, where `ps` would show it.
    local verb=ALTER
    [ "$(as_postgres "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$ROLE'\"")" = 1 ] || verb=CREATE
    printf "%s ROLE %s LOGIN PASSWORD '%s';\n" "$verb" "$ROLE" "$(cat "$SECRETS/postgres-password")" \
        | as_postgres "psql -q -v ON_ERROR_STOP=1"
    # Tracking store, the auth app's users and permissions, the studies of `mnist-pipeline
    # tune`: a database each (each keeps its own alembic_version table).
    for database in "$ROLE" "${ROLE}_auth" "$STUDIES"; do
        if [ "$(as_postgres "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='$database'\"")" != 1 ]; then
            as_postgres "createdb -O $ROLE $database"
        fi
    done
}

# A secret: copied from the file given, else the state folder's (generated once).
secret() {
    local name=$1 given=${2:-}
    if [ -n "$given" ]; then
        [ -s "$given" ] || { echo "$given: missing or empty" >&2; exit 1; }
        install -m 600 "$given" "$SECRETS/$name"
    elif [ ! -s "$SECRETS/$name" ]; then
        head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$SECRETS/$name"
    fi
}

write_secrets() {
    mkdir -p "$SECRETS" && chmod 700 "$SECRETS"
    if [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ]; then  # MLflow's own variable, if set
        printf '%s' "$MLFLOW_AUTH_ADMIN_PASSWORD" >"$SECRETS/admin-password"
    fi
    secret admin-password "${MLFLOW_ADMIN_PASSWORD_FILE:-}"
    secret postgres-password "${MLFLOW_DB_PASSWORD_FILE:-}"
    secret flask-secret-key  # the auth app's CSRF key: one for all the server's workers
    local password
    password=$(cat "$SECRETS/postgres-password")
    printf '127.0.0.1:5432:*:%s:%s\n' "$ROLE" "$password" >"$SECRETS/pgpass"
    printf 'postgresql+psycopg2://%s:%s@127.0.0.1:5432/%s\n' "$ROLE" "$password" "$STUDIES" \
        >"$SECRETS/study-storage"
    # The auth app's settings: every signed-in user reads everything (a viewer); writing needs
    # a role's grants (tracking/team.py). No password here: the admin's comes from the
    # environment, the database's from PGPASSFILE.
    cat >"$SECRETS/basic_auth.ini" <<EOF
[mlflow]
default_permission = READ
database_uri = $AUTH_DB
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
}

start() {
    mkdir -p "$STATE/artifacts"
    if curl -fsS "$URL/health" >/dev/null 2>&1; then
        echo "MLflow server already answers at $URL"; return
    fi
    write_secrets
    [ "$BACKEND" = "$LOCAL/$ROLE" ] && start_postgres
    export PGPASSFILE="$SECRETS/pgpass" MLFLOW_AUTH_CONFIG_PATH="$SECRETS/basic_auth.ini"
    MLFLOW_AUTH_ADMIN_PASSWORD=$(cat "$SECRETS/admin-password")
    MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$SECRETS/flask-secret-key")
    # The environment, never an argument that `ps` would show.
    export MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY
    "$PYTHON" -m mnist_pipeline.tracking.teamserver set-admin-password
    # Its own session: stop ends the server, its workers and job runners as one group.
    setsid nohup "$MLFLOW" server \
        --app-name mnist-team \
        --backend-store-uri "$BACKEND" \
        --serve-artifacts --artifacts-destination "$STATE/artifacts" \
        --host "$HOST" --port "$PORT" --workers 2 \
        >"$STATE/server.log" 2>&1 &
    echo $! >"$STATE/server.pid"
    unset MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY
    for _ in $(seq 120); do
        if curl -fsS "$URL/health" >/dev/null 2>&1; then
            echo "MLflow server at $URL (basic-auth: users and permissions; artifacts $STATE/artifacts)"
            echo "Admin: user admin, password in $SECRETS/admin-password"
            echo "Add a user: MLFLOW_TRACKING_URI=$URL MLFLOW_TRACKING_USERNAME=admin" \
                "MLFLOW_TRACKING_PASSWORD=\$(cat $SECRETS/admin-password)" \
                "mnist-pipeline team add-user NAME --role member|publisher|viewer --out FILE"
            [ "$BACKEND" = "$LOCAL/$ROLE" ] && echo "Studies (mnist-pipeline tune):" \
                "export MNIST_PIPELINE_STUDY_STORAGE=\$(cat $SECRETS/study-storage)"
            return
        fi
        kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null || break
        sleep 1
    done
    echo "MLflow server did not come up; its log, $STATE/server.log, ends with:" >&2
    tail -n 20 "$STATE/server.log" >&2
    stop_server >/dev/null
    exit 1
}

stop_server() {
    [ -f "$STATE/server.pid" ] || return 0
    local pid
    pid=$(cat "$STATE/server.pid")
    # The server's session: mlflow, uvicorn, its workers and MLflow's job runners.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$STATE/server.pid"
    echo "MLflow server stopped"
}

stop() {
    stop_server
    if [ -f "$STATE/postgres.started-by-us" ]; then
        read -r version name _ <<<"$(pg_lsclusters -h | head -n 1)"
        pg_ctlcluster "$version" "$name" stop && rm -f "$STATE/postgres.started-by-us"
        echo "PostgreSQL stopped"
    fi
}

status() {
    if curl -fsS "$URL/health" >/dev/null 2>&1; then echo "up: $URL"; else echo "down: $URL"; exit 1; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
