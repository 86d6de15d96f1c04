#!/usr/bin/env bash
# FP perplexity of the three models on the full WikiText-2 test set, with wall
# time and peak memory: the rows of docs/RESULTS.md's CPU tables.
# usage: scripts/bench_cpu_eval.sh OUT_DIR [SHARED_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
shared=${2:-$root/../shared}
mkdir -p "$out"
eval_one() {  # name dir seqlen
  /usr/bin/time -v "$root/build/apps/quarot-eval" ppl --model "$2" --data "$root/tests/data/wikitext-2-raw" \
    --seqlen "$3" --batch 4 --json > "$out/$1.json" 2> "$out/$1.time"
  python3 - "$out/$1.json" "$out/$1.time" "$1" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1])); t = open(sys.argv[2]).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
print(f"{sys.argv[3]:18s} ppl {j['ppl']:.6f}  windows {j['windows']}  eval {j['seconds']:.1f}s  peak RSS {rss:.0f} MiB")
PY
}
eval_one stories260K "$root/tests/data/models/stories260K" 512
eval_one tinystories-656k "$root/tests/data/models/tinystories-656k" 512
[[ -d "$shared/assets/models/wikillama-27m" ]] && eval_one wikillama-27m "$shared/assets/models/wikillama-27m" 2048
