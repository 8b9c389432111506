# Sourced (not run) by the scripts in infra/ and infra/slurm/: the lab's settings and the
# tools to use.
#   - infra/cluster.env, when present: defaults that the environment overrides (each line
#     is `: "${NAME:=value}"`, see cluster.env.example), so `MLFLOW_PORT=5001 infra/...`
#     means 5001 whatever cluster.env says;
#   - REPO: the repository (the folder above this file unless set);
#   - PATH: $VENV/bin first when that virtual environment exists (default $REPO/.venv),
#     else the python, ray and mlflow already on PATH (infra/Dockerfile has no .venv).
# shellcheck shell=bash
infra_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -f "$infra_dir/cluster.env" ]; then
  # shellcheck source=/dev/null
  . "$infra_dir/cluster.env"
fi
REPO=${REPO:-$(cd "$infra_dir/.." && pwd)}
VENV=${VENV:-$REPO/.venv}
if [ -x "$VENV/bin/python" ]; then
  PATH="$VENV/bin:$PATH"
fi
export REPO VENV PATH
