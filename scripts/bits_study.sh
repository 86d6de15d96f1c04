#!/usr/bin/env bash
# Where does an 8-bit configuration lose perplexity? Evaluates a rotated model
# with one quantizer at a time (weights RTN on the fly, activations, KV cache),
# at QuaRot's clip ratios and without clipping.
# usage: scripts/bits_study.sh ROTATED_DIR SEQLEN [--device cuda] [BITS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=$1
seqlen=$2
device=cpu
[[ ${3:-} == --device ]] && device=$4
bits=${5:-8}
bin=${QUAROT_BIN:-$root/build/apps}
data=$root/tests/data/wikitext-2-raw
row() {
  local label=$1
  shift
  p=$("$bin/quarot-eval" ppl --model "$model" --data "$data" --seqlen "$seqlen" --device "$device" --batch 4 --json "$@" |
      python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])')
  printf '| %-36s | %10s |\n' "$label" "$p"
}
echo "| $bits-bit component | ppl |"
echo "|---|---|"
row "none (rotated FP)"
row "W$bits RTN, clip search" --w-bits $bits
row "W$bits RTN, no clip search" --w-bits $bits --no-w-clip
row "A$bits, clip 0.9" --a-bits $bits --a-clip 0.9
row "A$bits, clip 1.0" --a-bits $bits --a-clip 1.0
row "KV$bits, clip 0.95" --k-bits $bits --v-bits $bits --kv-clip 0.95
row "KV$bits, clip 1.0" --k-bits $bits --v-bits $bits --kv-clip 1.0
row "W${bits}A${bits}KV$bits, clips 0.9/0.95" --w-bits $bits --a-bits $bits --k-bits $bits --v-bits $bits --a-clip 0.9 --kv-clip 0.95
row "W${bits}A${bits}KV$bits, no clipping" --w-bits $bits --no-w-clip --a-bits $bits --k-bits $bits --v-bits $bits --a-clip 1.0 --kv-clip 1.0
