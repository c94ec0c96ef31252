#!/usr/bin/env bash
# GPU checks of the Triton kernels (fastweights.ops.triton), meant to finish in under 8 minutes on
# one H100/H200:
#   1. the kernel tests at real shapes on CUDA (tests/ops/triton with FASTWEIGHTS_KERNEL_SHAPES=real:
#      K = V = 128, T = 1000, bf16 included), then the torch.compile test with inductor;
#   2. the ops benchmark (benchmarks/ops.py), bf16, fwd and fwd+bwd: our Triton forms ("triton",
#      "triton_recurrent"), our PyTorch chunk form, fla 0.6.0's chunk_* and fused_recurrent_*
#      (when installed) and causal SDPA (PyTorch picks its flash backend for bf16), on fla's own
#      default shape grid (fla benchmarks/ops/registry.py SHAPE_CONFIGS) plus T in {1K, 4K, 16K}.
# Every benchmark record carries the device, torch/triton/fla versions and the git commit
# (benchmarks/results/ops-cuda-<gpu>.jsonl); the log goes to benchmarks/results/gpu-check-<time>.log.
#
# fla (pure Python + Triton) is installed from local wheels when present, since the GPU machine
# may have no network: put them in benchmarks/wheels (or set FLA_WHEELS) beforehand with
#   pip download --no-deps fla-core==0.6.0 flash-linear-attention==0.6.0 einops -d benchmarks/wheels
# Without them the fla forms are left out (the benchmark says so) and everything else runs.
#
# Usage: scripts/gpu_check.sh [--skip-tests] [--skip-bench]     (PYTHON=... to pick the interpreter)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python}
RESULTS=benchmarks/results
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu-check-$(date -u +%Y%m%dT%H%M%SZ).log"
RUN_TESTS=1
RUN_BENCH=1
for arg in "$@"; do
    case "$arg" in
        --skip-tests) RUN_TESTS=0 ;;
        --skip-bench) RUN_BENCH=0 ;;
        *) echo "unknown option $arg (expected --skip-tests, --skip-bench)" >&2; exit 2 ;;
    esac
done
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "error: no CUDA device (torch.cuda.is_available() is False)" >&2; exit 1; }
exec > >(tee -a "$LOG") 2>&1
status=0
"$PY" - <<'EOF'
import subprocess, torch, triton
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
print(f"device: {torch.cuda.get_device_name(0)}  torch {torch.__version__}  "
      f"triton {triton.__version__}  cuda {torch.version.cuda}  commit {commit.stdout.strip()}")
EOF

WHEELS=${FLA_WHEELS:-benchmarks/wheels}
if ! "$PY" -c "import fla.ops" 2>/dev/null; then
    if ls "$WHEELS"/fla_core-0.6.0-*.whl >/dev/null 2>&1; then
        echo "== installing fla 0.6.0 from $WHEELS"
        "$PY" -m pip install --no-index --no-deps "$WHEELS"/*.whl || echo "warning: fla not installed"
    else
        echo "note: no fla wheels in $WHEELS; fla forms are not measured"
    fi
fi

if [ "$RUN_TESTS" = 1 ]; then
    echo "== kernel tests at real shapes on CUDA"
    FASTWEIGHTS_KERNEL_SHAPES=real timeout 300 "$PY" -m pytest tests/ops/triton -q -x \
        -m "not slow" -p no:cacheprovider || status=1
    echo "== torch.library: opcheck and torch.compile(fullgraph=True) with inductor"
    timeout 180 "$PY" -m pytest tests/ops/triton/test_library.py -q -p no:cacheprovider \
        || status=1
fi

if [ "$RUN_BENCH" = 1 ]; then
    FORMS=chunk,triton,triton_recurrent
    if "$PY" -c "import fla.ops" 2>/dev/null; then FORMS=$FORMS,fla_chunk,fla_recurrent; fi
    BENCH=("$PY" benchmarks/ops.py --device cuda --dtype bfloat16 --repeats 5 --warmup 2
           --max-seconds 3 --mode fwd,fwdbwd --forms "$FORMS")
    echo "== ops benchmark: fla's default shape grid (B T H D), delta and gated_delta"
    for shape in "1 8192 96 128" "2 16384 16 128" "4 2048 16 128" "4 4096 64 128" \
                 "8 2048 32 256" "8 1024 8 64"; do
        read -r B T H D <<<"$shape"
        timeout 120 "${BENCH[@]}" --rules delta,gated_delta --B "$B" --T "$T" --H "$H" --D "$D" \
            || { echo "warning: shape B=$B T=$T H=$H D=$D did not finish"; status=1; }
    done
    echo "== ops benchmark: T in {1K, 4K, 16K}, B=4 H=16 D=128, all three rules"
    timeout 150 "${BENCH[@]}" --rules sum,delta,gated_delta --B 4 --H 16 --D 128 \
        --T 1024,4096,16384 || status=1
fi

echo "== done (status $status); log: $LOG"
exit $status
