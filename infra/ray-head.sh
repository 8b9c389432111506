#!/usr/bin/env bash
# Start a Ray head node whose workers import this repository's `platform` package.
# Usage: infra/ray-head.sh [NODE_IP]   (extra `ray start` flags via RAY_HEAD_ARGS)
set -euo pipefail
# shellcheck source=SCRIPTDIR/env.sh
. "$(dirname "$0")/env.sh"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
read -ra extra <<< "${RAY_HEAD_ARGS:-}"
# ${extra[@]+"${extra[@]}"}: an empty array under `set -u` is an error before bash 4.4.
exec ray start --head --block --port="${RAY_PORT:-6379}" ${1:+"--node-ip-address=$1"} \
  --include-dashboard=false --disable-usage-stats ${extra[@]+"${extra[@]}"}
