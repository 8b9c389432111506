#!/usr/bin/env bash
# The lab's MLflow server as plain commands (compose.yaml in infra/mlflow/ does the same in
# containers): runs in PostgreSQL, artifacts on S3-compatible storage (or a folder), both
# proxied by the server (clients need its URL and a user, never the S3 keys), basic
# authentication on. The test suite starts its MLflow server with this script.
#
# Usage: infra/mlflow-server.sh        (settings from infra/cluster.env or the environment)
#   MLFLOW_BACKEND    postgresql+psycopg2://USER@HOST:5432/mlflow      (required)
#   MLFLOW_AUTH_DB    postgresql+psycopg2://USER@HOST:5432/mlflow_auth (required)
#   MLFLOW_ARTIFACTS  s3://BUCKET[/prefix] or a folder                  (required)
#   MLFLOW_HOST, MLFLOW_PORT, MLFLOW_WORKERS   default 127.0.0.1, 5000, 2
#   MLFLOW_STATE      folder for the generated auth config (default ~/.local/state/stroke-mlflow)
# Secrets, from the environment only (never in cluster.env, never on the command line):
#   PGPASSWORD                  PostgreSQL password (or ~/.pgpass)
#   MLFLOW_AUTH_ADMIN_PASSWORD  the admin's password, used once on an empty user store
#   MLFLOW_FLASK_SERVER_SECRET_KEY  any long random string (CSRF protection)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, MLFLOW_S3_ENDPOINT_URL (MinIO / Ceph) for s3://
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/cluster.env" ] && . "$here/cluster.env"
REPO=${REPO:-$(cd "$here/.." && pwd)}
VENV=${VENV:-$REPO/.venv}
MLFLOW=${MLFLOW:-$VENV/bin/mlflow}
: "${MLFLOW_BACKEND:?set MLFLOW_BACKEND=postgresql+psycopg2://USER@HOST:5432/mlflow}"
: "${MLFLOW_AUTH_DB:?set MLFLOW_AUTH_DB=postgresql+psycopg2://USER@HOST:5432/mlflow_auth}"
: "${MLFLOW_ARTIFACTS:?set MLFLOW_ARTIFACTS=s3://BUCKET or a folder}"
for uri in "$MLFLOW_BACKEND" "$MLFLOW_AUTH_DB"; do
  case "$uri" in *://*:*@*) echo "a password in $(echo "$uri" | sed 's#://[^@]*@#://***@#'):" \
    "put it in PGPASSWORD or ~/.pgpass instead" >&2; exit 2;; esac
done
if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
  echo "set MLFLOW_FLASK_SERVER_SECRET_KEY (python -c 'import secrets; print(secrets.token_hex(32))')" >&2
  exit 2
fi
state=${MLFLOW_STATE:-$HOME/.local/state/stroke-mlflow}
mkdir -p "$state"
# The lab's auth config: infra/mlflow/basic_auth.ini with this server's user database.
umask 077
sed "s#^database_uri = .*#database_uri = $MLFLOW_AUTH_DB#" "$here/mlflow/basic_auth.ini" \
  > "$state/basic_auth.ini"
export MLFLOW_AUTH_CONFIG_PATH="$state/basic_auth.ini"
# Job execution spawns helper processes that outlive a SIGTERM of the server.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
# From the state folder: the repository's `platform` package must not shadow the stdlib.
cd "$state"
exec "$MLFLOW" server --app-name basic-auth --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" --backend-store-uri "$MLFLOW_BACKEND" \
  --artifacts-destination "$MLFLOW_ARTIFACTS" --workers "${MLFLOW_WORKERS:-2}"
