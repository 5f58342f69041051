#!/usr/bin/env bash
# The GPU side of the project in one call, for a lent GPU machine (about 5 minutes on an H100).
#
# What it runs, each step logged to its own file under $OUT (default runs/gpu_check):
#   env.txt         nvidia-smi, the Python, torch, CUDA, cuDNN, numpy and torchvision versions, the commit
#   exactness.txt   tools/cuda_exactness.py: float32 scores and gradients on CUDA against float64, per setting
#   pytest.txt      pytest -m cuda: every CUDA test of the suite, the CUDA parity jobs included
#   parity.txt      python -m parity --device cuda --json parity.json
#   bench.txt       python -m experiments.bench --device cuda: CUDA rows, full-epoch times, targets
#   experiment.txt  python -m experiments run train_convnet --quick --backend both --device cuda
#   summary.txt     each step's exit status and seconds; the script exits 1 if any step failed
# Without a usable CUDA device it says so and exits 2 before running anything.
#
# Such a machine has no network and its own python3 with torch, torchvision, numpy, matplotlib,
# pytest, hypothesis and tqdm; the checkout is used through PYTHONPATH, nothing is installed.
# Fashion-MNIST is read from .gpu-data/ (git-ignored), which `make gpu-data` fills here and the call
# carries. With the device tool:
#   make gpu-data
#   run(command="bash tools/gpu_check.sh", carry=[".gpu-data"], timeout_s=560)
# Environment: PYTHON (default python3), OUT, GPU_CHECK_STEP_LIMIT (seconds per step, default 270).
set -u
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$ROOT/runs/gpu_check}
STEP_LIMIT=${GPU_CHECK_STEP_LIMIT:-270}
mkdir -p "$OUT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export DLFS_DATA_DIR="$ROOT/.gpu-data" DLFS_CACHE_DIR="${TMPDIR:-/tmp}/dlfs-gpu-check-cache"

if ! gpu=$("$PYTHON" -c 'import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name(0))' \
           2>/dev/null); then
    echo "gpu_check: no CUDA device is usable from $PYTHON on this machine (torch.cuda.is_available() is" \
         "false or torch is missing); nothing was run" >&2
    exit 2
fi
echo "gpu_check: $gpu; logs under $OUT"
if [ ! -d "$DLFS_DATA_DIR" ]; then
    echo "gpu_check: $DLFS_DATA_DIR is missing: run 'make gpu-data' and carry .gpu-data;" \
         "the steps that need Fashion-MNIST will fail or skip" >&2
fi

: >"$OUT/summary.txt"
failures=0
# step NAME COMMAND...: run COMMAND with the step limit, log to $OUT/NAME.txt, record status and time
step() {
    local name=$1 started status
    shift
    started=$(date +%s%N)
    if [ "$(type -t "$1")" = function ]; then
        "$@" >"$OUT/$name.txt" 2>&1
    else
        timeout --kill-after=10 "$STEP_LIMIT" "$@" >"$OUT/$name.txt" 2>&1
    fi
    status=$?
    [ "$status" = 124 ] && echo "gpu_check: $name ran past $STEP_LIMIT s and was stopped" >>"$OUT/$name.txt"
    [ "$status" = 0 ] || failures=$((failures + 1))
    printf '%-11s exit %3s  %5s s  %s\n' "$name" "$status" $((($(date +%s%N) - started) / 1000000000)) "$*" \
        | tee -a "$OUT/summary.txt"
}

environment() {
    local status=0
    nvidia-smi || status=1
    echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
    "$PYTHON" - <<'EOF' || status=1
import platform, numpy, torch, torchvision
print(f"python {platform.python_version()}, numpy {numpy.__version__}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
p = torch.cuda.get_device_properties(0)
print(f"{p.name}: {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, capability {p.major}.{p.minor}")
EOF
    ls -l "$DLFS_DATA_DIR"/* || status=1
    return $status
}

step env environment
step exactness "$PYTHON" tools/cuda_exactness.py
# The tests and the parity CLI run side by side (the machine has cores to spare); the bench then runs alone.
step pytest "$PYTHON" -m pytest -m cuda -q -p no:cacheprovider -rs --durations=10 &
pytest_job=$!
step parity "$PYTHON" -m parity --device cuda --jobs 1 --summary --json "$OUT/parity.json"
wait "$pytest_job" || true
failures=$((failures + $(grep -c '^pytest .*exit *[1-9]' "$OUT/summary.txt")))
step bench "$PYTHON" -m experiments bench --device cuda --models SimpleConvNet DeepConvNet --rounds 3
# its figures and metrics stay on the machine: at most 8 files come back from $OUT
step experiment "$PYTHON" -m experiments run train_convnet --quick --backend both --device cuda --no-progress \
    --out "$DLFS_CACHE_DIR/train_convnet"

echo "gpu_check: $failures step(s) failed; see $OUT/summary.txt and each step's log"
[ "$failures" = 0 ]
