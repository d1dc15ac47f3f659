#!/usr/bin/env bash
# A team MLflow tracking server: PostgreSQL backend store, artifacts served through the
# server, bound to loopback unless told otherwise.
#
#   server/mlflow-server.sh start    # PostgreSQL (Debian's packages) + mlflow server
#   server/mlflow-server.sh stop     # stop mlflow server (and PostgreSQL if we started it)
#   server/mlflow-server.sh status
#
# Settings (environment):
#   MLFLOW_SERVER_HOST   interface to bind (default 127.0.0.1; see docs/team.md before exposing)
#   MLFLOW_SERVER_PORT   port (default 5000)
#   MLFLOW_BACKEND_URI   an existing PostgreSQL database, e.g.
#                        postgresql+psycopg2://user:password@db.internal:5432/mlflow
#                        (default: a local cluster with role `mlflow` and databases `mlflow`
#                        and `optuna`, the latter for `mnist-pipeline tune`'s studies)
#   MLFLOW_SERVER_STATE  where artifacts, logs and pid files go (default .server/)
set -euo pipefail
cd "$(dirname "$0")/.."

HOST=${MLFLOW_SERVER_HOST:-127.0.0.1}
PORT=${MLFLOW_SERVER_PORT:-5000}
STATE=$(realpath -m "${MLFLOW_SERVER_STATE:-.server}")
MLFLOW=${MLFLOW:-.venv/bin/mlflow}
LOCAL_DB="postgresql+psycopg2://mlflow:mlflow@127.0.0.1:5432/mlflow"
BACKEND=${MLFLOW_BACKEND_URI:-$LOCAL_DB}
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
    if [ "$(as_postgres "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='mlflow'\"")" != 1 ]; then
        as_postgres "psql -qc \"CREATE ROLE mlflow LOGIN PASSWORD 'mlflow'\""
    fi
    # mlflow: the tracking store; optuna: the studies of `mnist-pipeline tune` (their own
    # database: both keep an alembic_version table).
    for database in mlflow optuna; do
        if [ "$(as_postgres "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='$database'\"")" != 1 ]; then
            as_postgres "createdb -O mlflow $database"
        fi
    done
}

start() {
    mkdir -p "$STATE/artifacts"
    if curl -fsS "$URL/health" >/dev/null 2>&1; then
        echo "MLflow server already answers at $URL"; return
    fi
    [ "$BACKEND" = "$LOCAL_DB" ] && start_postgres
    nohup "$MLFLOW" server \
        --backend-store-uri "$BACKEND" \
        --serve-artifacts --artifacts-destination "$STATE/artifacts" \
        --host "$HOST" --port "$PORT" --workers 2 \
        >"$STATE/server.log" 2>&1 &
    echo $! >"$STATE/server.pid"
    for _ in $(seq 120); do
        if curl -fsS "$URL/health" >/dev/null 2>&1; then
            echo "MLflow server at $URL (backend ${BACKEND%%@*}@..., artifacts $STATE/artifacts)"
            echo "Use it with: export MLFLOW_TRACKING_URI=$URL"
            [ "$BACKEND" = "$LOCAL_DB" ] && echo "Studies (mnist-pipeline tune): export MNIST_PIPELINE_STUDY_STORAGE=${LOCAL_DB%/mlflow}/optuna"
            return
        fi
        kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null || break
        sleep 1
    done
    echo "MLflow server did not come up; its log, $STATE/server.log, ends with:" >&2
    tail -n 20 "$STATE/server.log" >&2
    exit 1
}

stop() {
    if [ -f "$STATE/server.pid" ]; then
        pid=$(cat "$STATE/server.pid")
        # The server runs its workers as children: end the whole group.
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
        rm -f "$STATE/server.pid"
        echo "MLflow server stopped"
    fi
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
