#!/usr/bin/env bash
# One device call of the GPU check (docs/performance.md, "The device calls"): install the
# part's wheel set (made by benchmarks/gpu_wheels.py, carried as .whl/<part>) where the GPU
# machine's python3 finds it, then run that part of gpu_check.py, its JSON and log into $OUT.
#
#   bash benchmarks/gpu_call.sh core                                      # first call
#   bash benchmarks/gpu_call.sh torchio --merge runs/gpu_check_core.json  # second call
#
# Arguments after the part go to gpu_check.py (they override the defaults below). The
# machine reaches no registry: everything beyond its own packages comes from the wheels.
# Each set is complete and goes into its own folder, $SITE/<part>, so a call runs alike on
# a bare machine and on one still warm from the other call (whose packages it does not see).
# WHEELS (default .whl), SITE (default /tmp/site) and OUT (default runs) can be set.
set -o pipefail
part=${1:?usage: gpu_call.sh core|torchio [gpu_check.py arguments]}
shift
case $part in
  core) budget=240 ;;     # the call's timeout_s: 330
  torchio) budget=210 ;;  # the call's timeout_s: 300
  *) echo "gpu_call.sh: the part is core or torchio, not '$part'" >&2; exit 2 ;;
esac
wheels=${WHEELS:-.whl}/$part
site=${SITE:-/tmp/site}/$part
out=${OUT:-runs}
mkdir -p "$out"
# gpu_wheels.py rewrites the wheels over 8 MiB (SimpleITK's) with LZMA, which pip reads
# through python3's lzma module
python3 -c 'import lzma' || { echo "gpu_call.sh: python3 has no lzma module, which the" \
  "LZMA-packed wheels in $wheels need" >&2; exit 3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$site" "$wheels"/*.whl || exit
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
            "CUDA", torch.version.cuda, "GPU", torch.cuda.is_available() and torch.cuda.get_device_name())'
python3 benchmarks/gpu_check.py --part "$part" --budget-s "$budget" \
  --out "$out/gpu_check_$part.json" "$@" 2>&1 | tee "$out/gpu_check_$part.log"
