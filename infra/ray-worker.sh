#!/usr/bin/env bash
# Join a Ray worker node to HEAD_ADDRESS (host:port), with this repository on PYTHONPATH.
# Usage: infra/ray-worker.sh HEAD_ADDRESS [NODE_IP]   (extra flags via RAY_WORKER_ARGS)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/cluster.env" ] && . "$here/cluster.env"
[ $# -ge 1 ] || { echo "usage: $0 HEAD_ADDRESS [NODE_IP]" >&2; exit 2; }
REPO=${REPO:-$(cd "$here/.." && pwd)}
VENV=${VENV:-$REPO/.venv}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
ip_args=()
[ $# -ge 2 ] && ip_args=(--node-ip-address="$2")
exec "$VENV/bin/ray" start --block --address="$1" "${ip_args[@]}" --disable-usage-stats \
  ${RAY_WORKER_ARGS:-}
