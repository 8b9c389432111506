#!/usr/bin/env bash
# Join a Ray worker node to HEAD_ADDRESS (host:port), with this repository on PYTHONPATH.
# Usage: infra/ray-worker.sh HEAD_ADDRESS [NODE_IP]   (extra flags via RAY_WORKER_ARGS)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 HEAD_ADDRESS [NODE_IP]" >&2; exit 2; }
# shellcheck source=SCRIPTDIR/env.sh
. "$(dirname "$0")/env.sh"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
read -ra extra <<< "${RAY_WORKER_ARGS:-}"
# ${extra[@]+"${extra[@]}"}: an empty array under `set -u` is an error before bash 4.4.
exec ray start --block --address="$1" ${2:+"--node-ip-address=$2"} --disable-usage-stats \
  ${extra[@]+"${extra[@]}"}
