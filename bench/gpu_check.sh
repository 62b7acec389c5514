#!/usr/bin/env bash
# The real-size table on one CUDA GPU, qgen beside the HF Trainer (issue 23), in under 8 minutes:
#   t5-base full fine-tuning in bf16 and in fp16 (T5's fp16 guard: skipped non-finite steps counted, no NaN loss),
#   open-calm-1b QLoRA (bitsandbytes NF4 kernels) in bf16, t5-base bf16 with --compile; SDPA attention and fused
#   AdamW are both sides' defaults on CUDA. Each row: s/step, tokens/s, ratio, GPU peak memory, skipped steps.
#
#   bash bench/gpu_check.sh              # on a GPU machine (builds the stand-ins under runs/like/ first)
#   bash bench/gpu_check.sh --cpu-smoke  # every step on the CPU with two-layer stand-ins (about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export QGEN_DATA_DIR=${QGEN_DATA_DIR:-$PWD/../shared/data}
if [[ "${1:-}" == "--cpu-smoke" ]]; then
  MODE=(--shrink --steps 1); PREC_HALF=fp32; PREC_BF=fp32; ROW_TIMEOUT=${ROW_TIMEOUT:-900}
  echo "# gpu_check --cpu-smoke: the GPU script's steps on the CPU, two-layer stand-ins (no CUDA figures)"
else
  $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "error: no CUDA device (use --cpu-smoke)")'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  MODE=(--steps 3); PREC_HALF=fp16; PREC_BF=bf16; ROW_TIMEOUT=${ROW_TIMEOUT:-100}
  # the stand-ins first, in parallel, outside the rows' time limits (about a minute each on 16 cores)
  for like in sonoisa/t5-base-japanese cyberagent/open-calm-1b; do
    [[ -f runs/like/${like#*/}/config.json ]] || $PY -m qgen.cli build-model --like "$like" --output "runs/like/${like#*/}" &
  done
  wait
fi
$PY -c 'import torch, transformers, peft, bitsandbytes as b; print("torch", torch.__version__, "transformers",
transformers.__version__, "peft", peft.__version__, "bitsandbytes", b.__version__)'
OUT=runs/gpu_check.jsonl
rm -f "$OUT"
row() { echo; echo "### $*"; timeout "$ROW_TIMEOUT" $PY bench/real_size.py "${MODE[@]}" --json "$OUT" "$@" || echo "row failed or timed out: $*"; }
row --rows t5-base --precision "$PREC_BF"
row --rows t5-base --precision "$PREC_HALF"
row --rows open-calm-1b --precision "$PREC_BF"
row --rows t5-base --precision "$PREC_BF" --qgen-extra '{"compile": true}'
echo; echo "# results: $OUT"
