#!/usr/bin/env bash
# A shared MLflow tracking server: SQL backend store, artifacts proxied by the server.
# Usage: infra/mlflow-server.sh [HOST]   (default 127.0.0.1; use 0.0.0.0 behind a firewall)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/cluster.env" ] && . "$here/cluster.env"
REPO=${REPO:-$(cd "$here/.." && pwd)}
VENV=${VENV:-$REPO/.venv}
BACKEND=${MLFLOW_BACKEND:-sqlite:///$REPO/runs/mlflow-server.db}
ARTIFACTS=${MLFLOW_ARTIFACTS:-$REPO/runs/mlflow-artifacts}
mkdir -p "$ARTIFACTS"
# Job execution spawns helper processes that outlive a SIGTERM of the server.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
exec "$VENV/bin/mlflow" server --host "${1:-127.0.0.1}" --port "${MLFLOW_PORT:-5000}" \
  --backend-store-uri "$BACKEND" --artifacts-destination "$ARTIFACTS" --workers 2
