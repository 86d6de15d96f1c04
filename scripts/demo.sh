#!/usr/bin/env bash
# Set-up, build, then the main job on the bundled default model (stories260K) and
# WikiText-2: FP perplexity, then fuse -> rotate -> GPTQ W4A4KV4 -> pack, and the
# perplexity of the result. Outputs go to ./demo-out/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
bin=$root/build/apps
model=${QUAROT_MODEL:-$root/tests/data/models/stories260K}
data=$root/tests/data/wikitext-2-raw
out=${QUAROT_OUT:-$root/demo-out}
mkdir -p "$out"
echo "== FP perplexity of $(basename "$model") on WikiText-2 test"
"$bin/quarot-eval" ppl --model "$model" --data "$data" --seqlen 512 --batch 8
echo "== quarot-convert all: fuse, rotate, GPTQ W4 (A4 KV4 at run time), pack"
"$bin/quarot-convert" all --in "$model" --out "$out/stories260K-w4a4kv4" --overwrite --pack \
  --method gptq --w-bits 4 --calib "wikitext2:$data" --nsamples 128 --calib-seqlen 512
echo "== W4A4KV4 perplexity (LibTorch fake-quant simulation of the packed checkpoint)"
"$bin/quarot-eval" ppl --model "$out/stories260K-w4a4kv4" --data "$data" --seqlen 512 --batch 8
