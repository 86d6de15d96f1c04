#!/usr/bin/env bash
# The accuracy table of docs/RESULTS.md for one model: WikiText-2 test perplexity
# of FP, W16A16KV4, W8A8KV8/W6A6KV6/W4A4KV4 RTN, W4A4KV4 and W4A16 GPTQ, and
# W4A4KV4 RTN/GPTQ without rotation. Calibration on wiki.valid.raw (never test).
# usage: scripts/accuracy_table.sh MODEL_DIR SEQLEN WORK_DIR [--device cuda] [--nsamples N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=$1
seqlen=$2
work=$3
shift 3
device=cpu
nsamples=128
while (($#)); do
  case $1 in
    --device) device=$2; shift 2 ;;
    --nsamples) nsamples=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin=${QUAROT_BIN:-$root/build/apps}
data=$root/tests/data/wikitext-2-raw
mkdir -p "$work"
convert() { "$bin/quarot-convert" -q --json "$@" --device "$device" --overwrite; }
ppl() {  # ppl LABEL DIR [flags]
  local label=$1 dir=$2
  shift 2
  local t0=$SECONDS
  local p
  p=$("$bin/quarot-eval" ppl --model "$dir" --data "$data" --seqlen "$seqlen" --device "$device" --batch 4 --json "$@" |
      python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])')
  printf '| %-28s | %10s | %5ds |\n' "$label" "$p" $((SECONDS - t0))
}
gptq=(--method gptq --calib "wikitext2:$data" --nsamples "$nsamples" --calib-seqlen "$seqlen")
t0=$SECONDS
convert fuse --in "$model" --out "$work/fused" > /dev/null
convert rotate --in "$work/fused" --out "$work/rot" > /dev/null
convert quantize --in "$work/rot" --out "$work/rtn8" --method rtn --w-bits 8 --a-bits 8 --kv-bits 8 > /dev/null
convert quantize --in "$work/rot" --out "$work/rtn6" --method rtn --w-bits 6 --a-bits 6 --kv-bits 6 > /dev/null
convert quantize --in "$work/rot" --out "$work/rtn4" --method rtn --w-bits 4 > /dev/null
convert quantize --in "$work/fused" --out "$work/rtn4-norot" --method rtn --w-bits 4 > /dev/null
g0=$SECONDS
/usr/bin/time -v "$bin/quarot-convert" -q --json all --in "$model" --out "$work/gptq4" --device "$device" --overwrite "${gptq[@]}" \
  > /dev/null 2> "$work/gptq4.time"
gptq_secs=$((SECONDS - g0))
convert quantize --in "$work/fused" --out "$work/gptq4-norot" "${gptq[@]}" > /dev/null
echo "conversions took $((SECONDS - t0))s; convert all (GPTQ) took ${gptq_secs}s, peak RSS $(grep 'Maximum resident' "$work/gptq4.time" | awk '{print $NF}') KiB"
echo "| config | ppl | eval time |"
echo "|---|---|---|"
ppl "FP (original)" "$model"
ppl "W16A16KV4 (rotated)" "$work/rot" --k-bits 4 --v-bits 4
ppl "W8A8KV8 RTN" "$work/rtn8"
ppl "W6A6KV6 RTN" "$work/rtn6"
ppl "W4A4KV4 RTN" "$work/rtn4"
ppl "W4A4KV4 GPTQ" "$work/gptq4"
ppl "W4A16 GPTQ" "$work/gptq4" --a-bits 16 --k-bits 16 --v-bits 16
ppl "W4A4KV4 RTN, no rotation" "$work/rtn4-norot"
ppl "W4A4KV4 GPTQ, no rotation" "$work/gptq4-norot"
