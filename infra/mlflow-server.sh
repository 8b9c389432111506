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
#   MLFLOW_SERVER_ALLOWED_HOSTS  the names clients use, as Host-header patterns
#                     (mlflow-host:*,mlflow-host.lab.org:*); default this machine's names
#   MLFLOW_HOST, MLFLOW_PORT, MLFLOW_WORKERS   default 127.0.0.1, 5000, 2
#   MLFLOW_STATE      folder for the generated auth config (default ~/.local/state/stroke-mlflow)
#   MLFLOW            the mlflow program (default: from $VENV, else PATH; the venv needs
#                     the `server` extra: pip install -e ".[server]")
# Secrets, from the environment only (never in cluster.env, never on the command line):
#   PGPASSWORD                  PostgreSQL password (or ~/.pgpass)
#   MLFLOW_AUTH_ADMIN_PASSWORD  the admin's password, used once on an empty user store
#   MLFLOW_FLASK_SERVER_SECRET_KEY  any long random string (CSRF protection)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, MLFLOW_S3_ENDPOINT_URL (MinIO / Ceph) for s3://
set -euo pipefail
# shellcheck source=SCRIPTDIR/env.sh
. "$(dirname "$0")/env.sh"
MLFLOW=${MLFLOW:-mlflow}
: "${MLFLOW_BACKEND:?set MLFLOW_BACKEND=postgresql+psycopg2://USER@HOST:5432/mlflow}"
: "${MLFLOW_AUTH_DB:?set MLFLOW_AUTH_DB=postgresql+psycopg2://USER@HOST:5432/mlflow_auth}"
: "${MLFLOW_ARTIFACTS:?set MLFLOW_ARTIFACTS=s3://BUCKET or a folder}"
for uri in "$MLFLOW_BACKEND" "$MLFLOW_AUTH_DB"; do
  case "$uri" in *://*:*@*) echo "a password in ${uri%%://*}://***@${uri##*@}:" \
    "put it in PGPASSWORD or ~/.pgpass instead" >&2; exit 2;; esac
done
if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
  echo "set MLFLOW_FLASK_SERVER_SECRET_KEY (python -c 'import secrets; print(secrets.token_hex(32))')" >&2
  exit 2
fi
# MLflow 3.17 answers 403 "Invalid Host header" to every API call whose Host header is not
# loopback or a private IP (DNS-rebinding protection) unless the name is allowed; /health
# is exempt, so a health check passes while every client that uses a hostname fails.
# Patterns match the whole header, port included (fnmatch): `mlflow-host:*`. Setting the
# variable replaces MLflow's defaults, so loopback is added back for checks on this machine
# (add the server's IP address too if clients use it instead of a name).
allowed=${MLFLOW_SERVER_ALLOWED_HOSTS:-$(hostname):*,$(hostname -f 2>/dev/null || hostname):*}
export MLFLOW_SERVER_ALLOWED_HOSTS="$allowed,localhost:*,127.0.0.1:*"
echo "MLflow answers requests for these Host headers: $MLFLOW_SERVER_ALLOWED_HOSTS" >&2
state=${MLFLOW_STATE:-$HOME/.local/state/stroke-mlflow}
mkdir -p "$state"
# The lab's auth config: infra/mlflow/basic_auth.ini with this server's user database.
umask 077
sed "s#^database_uri = .*#database_uri = $MLFLOW_AUTH_DB#" "$infra_dir/mlflow/basic_auth.ini" \
  > "$state/basic_auth.ini"
export MLFLOW_AUTH_CONFIG_PATH="$state/basic_auth.ini"
# Job execution spawns helper processes that outlive a SIGTERM of the server.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
# From the state folder: the repository's `platform` package must not shadow the stdlib.
cd "$state"
exec "$MLFLOW" server --app-name basic-auth --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" --backend-store-uri "$MLFLOW_BACKEND" \
  --artifacts-destination "$MLFLOW_ARTIFACTS" --workers "${MLFLOW_WORKERS:-2}"
