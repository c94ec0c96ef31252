#!/usr/bin/env bash
# GPU checks of the Triton kernels (fastweights.ops.triton), in under 8 minutes on one H100/H200
# (every step is capped; GPU_CHECK_SECONDS, default 470, is when the last one must end):
#   1. the fault scan (python -m fastweights.bench.kernel_faults): every rule kernel with each of
#      its launch configs, one at a time, bf16 then fp32, at B=4 T=1024 H=16 K=V=128, in worker
#      processes with CUDA_LAUNCH_BLOCKING=1; a fault names the kernel, config and launch line.
#      The first failed case is rerun under compute-sanitizer, and on failures the scan runs again
#      with DISABLE_MMA_V3=1 (Triton's mma.sync path instead of Hopper's wgmma);
#   2. the kernel tests at real shapes on CUDA (FASTWEIGHTS_KERNEL_SHAPES=real: K = V = 128,
#      T = 1000, bf16 included) with FASTWEIGHTS_TRITON_AUTOTUNE=0 (one compilation per kernel),
#      then our published layers against fla's layers (tests/interop/test_fla_gpu.py) and the
#      torch.library test (opcheck, torch.compile(fullgraph=True) with inductor);
#   3. only when the scan found nothing: the ops benchmark (benchmarks/ops.py), bf16, fwd and
#      fwd+bwd: our Triton forms, fla 0.6.0's chunk_* (when installed) and causal SDPA, on fla's own
#      default shape grid (fla benchmarks/ops/registry.py SHAPE_CONFIGS), then T in {1K, 4K, 16K}
#      with our PyTorch chunk form and the recurrent kernels (ours, fla's fused_recurrent_*) too;
#   4. if time is left: the training loop's GPU test (bf16 autocast) and 200 timed training steps.
# Every record carries the device, torch/triton/fla versions and the git commit
# (benchmarks/results/); the log goes to benchmarks/results/gpu-check-<time>.log.
#
# The GPU machine may have no network, so two things come from local wheels in benchmarks/wheels
# (or the folder GPU_WHEELS names), fetched beforehand:
#   pip download --no-deps fla-core==0.6.0 flash-linear-attention==0.6.0 einops -d benchmarks/wheels
#   pip download --no-deps nvidia-cuda-sanitizer-api nvidia-cuda-sanitizer-api-cu12 -d benchmarks/wheels
# fla (pure Python + Triton) is installed from them; compute-sanitizer, when the machine lacks it,
# is unpacked from the newest sanitizer wheel whose binary runs. Without them the fla forms and
# the sanitizer rerun are left out (the log says so) and everything else runs.
#
# Usage: scripts/gpu_check.sh [--skip-scan] [--skip-tests] [--skip-bench]   (PYTHON=... to pick
# the interpreter)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python}
RESULTS=benchmarks/results
mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOG="$RESULTS/gpu-check-$STAMP.log"
RUN_SCAN=1
RUN_TESTS=1
RUN_BENCH=1
for arg in "$@"; do
    case "$arg" in
        --skip-scan) RUN_SCAN=0 ;;
        --skip-tests) RUN_TESTS=0 ;;
        --skip-bench) RUN_BENCH=0 ;;
        *) echo "unknown option $arg (expected --skip-scan, --skip-tests, --skip-bench)" >&2; exit 2 ;;
    esac
done
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "error: no CUDA device (torch.cuda.is_available() is False)" >&2; exit 1; }
exec > >(tee -a "$LOG") 2>&1
status=0
DEADLINE=${GPU_CHECK_SECONDS:-470}  # every step is capped so that the whole run ends by then

# capped SECONDS CMD...: run CMD with a timeout of SECONDS or what is left before the deadline
capped() {
    local cap=$1 left=$((DEADLINE - SECONDS))
    shift
    if [ "$left" -lt 15 ]; then echo "skipped (time is up): $*"; return 1; fi
    timeout $((cap < left ? cap : left)) "$@"
}
"$PY" - <<'EOF'
import subprocess, torch, triton
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
print(f"device: {torch.cuda.get_device_name(0)}  torch {torch.__version__}  "
      f"triton {triton.__version__}  cuda {torch.version.cuda}  commit {commit.stdout.strip()}")
EOF

WHEELS=${GPU_WHEELS:-benchmarks/wheels}

# the compute-sanitizers to try: the machine's, then those unpacked from the wheels in $WHEELS
# (CUDA 13 first, then 12) whose binary runs
sanitizers() {
    command -v compute-sanitizer
    local wheel dir bin
    for wheel in "$WHEELS"/nvidia_cuda_sanitizer_api-*.whl "$WHEELS"/nvidia_cuda_sanitizer_api_cu12-*.whl; do
        [ -f "$wheel" ] || continue
        dir=$(mktemp -d)
        "$PY" -m zipfile -e "$wheel" "$dir" && chmod -R +x "$dir" || continue  # zip drops modes
        bin=$(find "$dir" -path '*/bin/compute-sanitizer' -type f | head -1)
        [ -n "$bin" ] && "$bin" --version >/dev/null 2>&1 && echo "$bin"
    done
}

# fla 0.6.0 from the local wheels, where it is not installed yet (the tests and the benchmark)
if ! "$PY" -c "import fla.ops" 2>/dev/null; then
    if ls "$WHEELS"/fla_core-0.6.0-*.whl >/dev/null 2>&1; then
        echo "== installing fla 0.6.0 from $WHEELS"
        "$PY" -m pip install --no-index --no-deps "$WHEELS"/fla_core-*.whl \
            "$WHEELS"/flash_linear_attention-*.whl $(ls "$WHEELS"/einops-*.whl 2>/dev/null) \
            || echo "warning: fla not installed"
    else
        echo "note: no fla wheels in $WHEELS; fla forms are not measured"
    fi
fi

SCAN_ARGS=(--B=4 --T=1024 --H=16 --D=128 --dtypes=bfloat16,float32 --rules=delta,gated_delta,sum)
SCAN_OUT="$RESULTS/kernel-scan-$STAMP.jsonl"
scan_clean=1
if [ "$RUN_SCAN" = 1 ]; then
    echo "== fault scan: each kernel with each launch config ($SCAN_OUT)"
    "$PY" -m fastweights.bench.kernel_faults "${SCAN_ARGS[@]}" --budget-s=120 --out="$SCAN_OUT" \
        || { scan_clean=0; status=1; }
    first=$("$PY" -c "import json,sys; bad=[r['case'] for r in map(json.loads, open(sys.argv[1])) \
        if r['status'] in ('failed','died')]; print(bad[0] if bad else '')" "$SCAN_OUT")
    found=0
    for sanitizer in $([ -n "$first" ] && sanitizers); do
        found=1
        echo "== compute-sanitizer on the first failed case ($first): $sanitizer"
        report=$(capped 60 "$sanitizer" --tool memcheck --print-limit 5 \
            "$PY" -m fastweights.bench.kernel_faults "${SCAN_ARGS[@]}" --worker="$first" 2>&1)
        echo "$report" | head -60
        grep -q "ERROR SUMMARY" <<<"$report" && break  # it ran; else try the next one
    done
    if [ -n "$first" ] && [ "$found" = 0 ]; then
        echo "note: no compute-sanitizer here or in $WHEELS; the scan's launch lines stand alone"
    fi
    if [ "$scan_clean" = 0 ]; then
        # triton 3.6+ has known illegal accesses in multi-dot kernels on Hopper's wgmma path:
        # the same scan on Triton's mma.sync path (fresh cache: the kernels compile again)
        echo "== fault scan again with DISABLE_MMA_V3=1 (mma.sync instead of wgmma)"
        DISABLE_MMA_V3=1 TRITON_CACHE_DIR=$(mktemp -d) "$PY" -m fastweights.bench.kernel_faults \
            "${SCAN_ARGS[@]}" --budget-s=90 --out="$RESULTS/kernel-scan-mma-v2-$STAMP.jsonl"
    fi
fi

if [ "$RUN_TESTS" = 1 ]; then
    echo "== kernel tests at real shapes on CUDA (first launch config of each kernel)"
    FASTWEIGHTS_KERNEL_SHAPES=real FASTWEIGHTS_TRITON_AUTOTUNE=0 capped 120 \
        "$PY" -m pytest tests/ops/triton_kernels -q -x -m "not slow" -p no:cacheprovider || status=1
    echo "== the published layers against fla's own layers on CUDA (needs fla installed)"
    capped 90 "$PY" -m pytest tests/interop/test_fla_gpu.py -q -p no:cacheprovider || status=1
    echo "== torch.library: opcheck and torch.compile(fullgraph=True) with inductor"
    FASTWEIGHTS_TRITON_AUTOTUNE=0 capped 60 \
        "$PY" -m pytest tests/ops/triton_kernels/test_library.py -q -p no:cacheprovider || status=1
fi

if [ "$RUN_BENCH" = 1 ] && [ "$scan_clean" = 0 ]; then
    echo "== ops benchmark skipped: the fault scan found failures (autotuning would launch them)"
elif [ "$RUN_BENCH" = 1 ]; then
    FORMS=triton_chunk  # the chunkwise kernels (delta, gated_delta; sum has none)
    RECURRENT=triton_recurrent
    if "$PY" -c "import fla.ops" 2>/dev/null; then
        FORMS=$FORMS,fla_chunk
        RECURRENT=$RECURRENT,fla_recurrent
    fi
    BENCH=("$PY" benchmarks/ops.py --device cuda --dtype bfloat16 --repeats 5 --warmup 2
           --max-seconds 3 --mode fwd,fwdbwd)
    echo "== ops benchmark: fla's default shape grid (B T H D), delta and gated_delta"
    for shape in "1 8192 96 128" "2 16384 16 128" "4 2048 16 128" "4 4096 64 128" \
                 "8 2048 32 256" "8 1024 8 64"; do
        read -r B T H D <<<"$shape"
        capped 40 "${BENCH[@]}" --forms "$FORMS" --rules delta,gated_delta --B "$B" --T "$T" \
            --H "$H" --D "$D" || { echo "warning: shape B=$B T=$T H=$H D=$D did not finish"; status=1; }
    done
    echo "== ops benchmark: T in {1K, 4K, 16K}, B=4 H=16 D=128, all three rules"
    capped 90 "${BENCH[@]}" --forms "$FORMS,$RECURRENT,chunk" --rules sum,delta,gated_delta \
        --B 4 --H 16 --D 128 --T 1024,4096,16384 || status=1
fi

if [ "$RUN_TESTS" = 1 ]; then
    # what any issue wants from a GPU, if time is left: the loop on CUDA with bf16 autocast, and
    # the speed of a training step (the PyTorch forms; tok/s on the progress lines)
    echo "== training on CUDA: the loop's GPU test, then 200 steps of charlm-delta"
    capped 45 "$PY" -m pytest tests/train/test_loop.py -q -k gpu -p no:cacheprovider || status=1
    capped 60 "$PY" -m fastweights.cli train charlm-delta --out "$(mktemp -d)/charlm" \
        --train.steps=200 --train.eval_every=100 || status=1
fi

echo "== done (status $status); log: $LOG"
exit $status
