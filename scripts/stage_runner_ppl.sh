#!/usr/bin/env bash
# Stages, on the CPU machine, what `scripts/device.sh runner_ppl` needs into the
# ignored folder .stage-ppl/ (carried by the device tool): for each model a packed
# checkpoint, its WikiText-2 test ids (int32) and seqlen, and its config.json alone
# (the transformers baseline measures speed and memory, which need only shapes).
# usage: scripts/stage_runner_ppl.sh NAME PACKED_DIR HF_DIR SEQLEN [NAME PACKED_DIR HF_DIR SEQLEN ...]
# The ids come from `quarot-eval ppl --dump-ids`, which also prints the LibTorch
# simulation's perplexity of the same checkpoint (the number the runner must match).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${QUAROT_BIN:-$root/build/apps}
data=$root/tests/data/wikitext-2-raw
while (($# >= 4)); do
  name=$1 packed=$2 hf=$3 seqlen=$4
  shift 4
  dst=$root/.stage-ppl/$name
  rm -rf "$dst"
  mkdir -p "$dst/hf"
  cp -r "$packed" "$dst/packed"
  cp "$hf/config.json" "$dst/hf/"
  echo "$seqlen" > "$dst/seqlen"
  echo "== $name: LibTorch fake-quant simulation (CPU), ids -> $dst/ids.bin"
  "$bin/quarot-eval" ppl --model "$packed" --data "$data" --seqlen "$seqlen" --batch 4 --json \
    --dump-ids "$dst/ids.bin" | python3 -c 'import json,sys; j=json.load(sys.stdin); j.pop("window_nll",None); print(json.dumps(j))'
done
du -sh "$root/.stage-ppl"
