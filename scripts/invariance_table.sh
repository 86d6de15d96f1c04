#!/usr/bin/env bash
# Full-test-set perplexity of a model before and after fuse and rotate (both
# rotation modes): they must agree to ~1e-5 or better in fp32.
# usage: scripts/invariance_table.sh MODEL_DIR SEQLEN WORK_DIR [--device cuda]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=$1
seqlen=$2
work=$3
device=${5:-cpu}
bin=${QUAROT_BIN:-$root/build/apps}
data=$root/tests/data/wikitext-2-raw
mkdir -p "$work"
"$bin/quarot-convert" -q fuse --in "$model" --out "$work/fused" --overwrite --device "$device" > /dev/null
"$bin/quarot-convert" -q rotate --in "$work/fused" --out "$work/hadamard" --overwrite --device "$device" > /dev/null
"$bin/quarot-convert" -q rotate --in "$work/fused" --out "$work/random" --mode random --overwrite --device "$device" > /dev/null
ref=""
for v in original fused hadamard random; do
  dir=$work/$v
  [[ $v == original ]] && dir=$model
  p=$("$bin/quarot-eval" ppl --model "$dir" --data "$data" --seqlen "$seqlen" --device "$device" --batch 4 --json |
      python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["ppl"]))')
  [[ -z $ref ]] && ref=$p
  python3 -c "print('| %-9s | %.6f | %.1e |' % ('$v', $p, abs($p - $ref) / $ref))"
done
