#!/usr/bin/env bash
# A/B of bench_w4a4 builds in one device call (the numbers of docs/RESULTS.md
# section 5 that say `.devbin/ab.sh`, a copy of this script carried to the device).
#
# On the CPU machine, per variant V: build, then `xz -c build-cuda/lib/runner/bench_w4a4
# > .devbin/ab/bench_V.xz` (after scripts/stage_runner_bins.sh, which empties .devbin/
# and stages the test binary of the tree being committed). On the device:
#   bash .devbin/ab.sh "V1 V2 ..." ROUNDS "SHAPE,SHAPE" MS [TEST_FILTER]
# runs test_runner_gpu (optionally only TEST_FILTER), then every variant in turn for
# each round, prints one table (whole linear us (quant, gemm) [speedup] per run) and
# leaves the logs in $OUT/logs.tgz.
set -u
vars="$1"; rounds="$2"; shapes="$3"; ms="$4"; filt="${5:-}"
d=/tmp/abrun; rm -rf "$d"; mkdir -p "$d" "$OUT/logs"
tar -C "$d" -xJf .devbin/bins.tar.xz
# Every staged variant, not only those run: a variant may be a shell script that runs
# another one with settings (e.g. `QUAROT_RUNNER_PDL=0 exec /tmp/abrun/bench_X "$@"`).
for f in .devbin/ab/bench_*.xz; do b=$(basename "$f" .xz); xz -dc "$f" > "$d/$b"; chmod +x "$d/$b"; done
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/logs/gpu_info.txt"
timeout 200 "$d/test_runner_gpu" $filt > "$OUT/logs/test_out.txt" 2>&1
echo "test rc=$?" | tee -a "$OUT/logs/test_out.txt"
for r in $(seq 1 "$rounds"); do
  for v in $vars; do
    IFS=',' read -ra shape_list <<< "$shapes"
    for s in "${shape_list[@]}"; do
      timeout 120 "$d/bench_$v" --shapes "$s" --m "$ms" >> "$OUT/logs/bench_${v}_r$r.txt" 2>&1
    done
  done
done
python3 - "$vars" "$rounds" <<'PY'
import collections, os, re, sys
variants, rounds, out = sys.argv[1].split(), int(sys.argv[2]), os.environ["OUT"]
row = re.compile(r"(\S+(?: \S+)*?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x")
runs = collections.defaultdict(dict)
for v in variants:
    for r in range(1, rounds + 1):
        for line in open(f"{out}/logs/bench_{v}_r{r}.txt"):
            m = row.match(line)
            if m:
                w4a4, quant, gemm, bf16 = (float(m.group(i)) for i in (3, 4, 5, 6))
                runs[(m.group(1), int(m.group(2)))].setdefault(v, []).append((w4a4, quant, gemm, bf16))
print("shape M | " + " | ".join(f"{v} w4a4(quant,gemm)[x]" for v in variants))
for key, by_variant in runs.items():
    cells = [" ".join(f"{a:.2f}({q:.2f},{g:.2f})[{b / a:.2f}]" for a, q, g, b in by_variant.get(v, []))
             for v in variants]
    print(f"{key[0]} {key[1]} | " + " | ".join(cells))
PY
tail -4 "$OUT/logs/test_out.txt"
tar -C "$OUT" -czf "$OUT/logs.tgz" logs && rm -rf "$OUT/logs"
