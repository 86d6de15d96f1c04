#!/usr/bin/env bash
# On the GPU machine, after scripts/device.sh build: the end-to-end numbers that
# need CUDA. FP perplexity of wikillama-27m with --device cuda, `quarot-convert all`
# (GPTQ W4, packed) timed with peak memory, then the packed checkpoint evaluated
# by the LibTorch fake-quant simulation and by the INT4 CUDA runner; the same for
# stories260K; then the accuracy table of wikillama-27m on the GPU.
# usage: scripts/gpu_pipeline.sh BUILD_DIR WIKILLAMA_DIR WORK_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1
wikillama=$2
work=$3
bin=$build/apps
data=$root/tests/data/wikitext-2-raw
mkdir -p "$work"
summary() { python3 -c 'import json,sys; j=json.load(sys.stdin); j.pop("window_nll",None); print(json.dumps(j))'; }

one_model() {  # name dir seqlen
  local name=$1 dir=$2 seqlen=$3
  echo "== $name FP, LibTorch CUDA fp32"
  "$bin/quarot-eval" ppl --model "$dir" --data "$data" --seqlen "$seqlen" --device cuda --batch 8 --json | summary
  echo "== $name convert all (GPTQ W4, pack) on cuda"
  /usr/bin/time -v "$bin/quarot-convert" --json all --in "$dir" --out "$work/$name-w4" --overwrite --pack --device cuda \
    --method gptq --calib "wikitext2:$data" --nsamples 128 --calib-seqlen "$seqlen" 2> "$work/$name-convert.time"
  grep -E "Elapsed|Maximum resident" "$work/$name-convert.time"
  echo "== $name W4A4KV4 packed: LibTorch fake-quant (cuda fp32)"
  "$bin/quarot-eval" ppl --model "$work/$name-w4" --data "$data" --seqlen "$seqlen" --device cuda --batch 8 --json | summary
  echo "== $name W4A4KV4 packed: CUDA INT4 runner"
  "$bin/quarot-eval" ppl --model "$work/$name-w4" --data "$data" --seqlen "$seqlen" --backend cuda --json | summary
}

export QUAROT_BIN=$bin
if [[ ${QUAROT_TABLES_ONLY:-0} != 1 ]]; then
  one_model stories260K "$root/tests/data/models/stories260K" 512
  one_model wikillama-27m "$wikillama" 2048
fi
if [[ ${QUAROT_SKIP_INVARIANCE:-0} != 1 ]]; then
  echo "== invariance wikillama-27m (cuda): original, fused, hadamard, random"
  bash "$root/scripts/invariance_table.sh" "$wikillama" 2048 "$work/inv" --device cuda
fi
echo "== accuracy table wikillama-27m (cuda)"
bash "$root/scripts/accuracy_table.sh" "$wikillama" 2048 "$work/acc" --device cuda
