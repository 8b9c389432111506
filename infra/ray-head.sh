#!/usr/bin/env bash
# Start a Ray head node whose workers import this repository's `platform` package.
# Usage: infra/ray-head.sh [NODE_IP]   (extra `ray start` flags via RAY_HEAD_ARGS)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/cluster.env" ] && . "$here/cluster.env"
REPO=${REPO:-$(cd "$here/.." && pwd)}
VENV=${VENV:-$REPO/.venv}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
ip_args=()
[ $# -ge 1 ] && ip_args=(--node-ip-address="$1")
exec "$VENV/bin/ray" start --head --block --port="${RAY_PORT:-6379}" "${ip_args[@]}" \
  --include-dashboard=false --disable-usage-stats ${RAY_HEAD_ARGS:-}
