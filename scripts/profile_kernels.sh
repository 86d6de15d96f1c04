#!/usr/bin/env bash
# Nsight Compute and SASS of chosen runner kernels, from the binaries that
# scripts/stage_runner_bins.sh staged in .devbin/ (device call; the numbers quoted in
# lib/runner/NOTES.md as "profile_kernels.sh").
#   bash scripts/profile_kernels.sh "NAME:KERNEL_REGEX:SHAPE:M" ...
# For each spec: ncu (one launch of KERNEL_REGEX in `bench_w4a4 --shapes SHAPE --m M`)
# to $OUT/prof/NAME.ncu.txt, and the SASS of the matching functions with an opcode
# histogram to $OUT/prof/NAME.sass.txt; everything ends in $OUT/prof.tgz.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
d=/tmp/quarot-prof
rm -rf "$d"; mkdir -p "$d" "$OUT/prof"
tar -C "$d" -xJf "$root/.devbin/bins.tar.xz"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cuobjdump -sass "$d/bench_w4a4" > "$d/all.sass" 2>&1
for spec in "$@"; do
  IFS=':' read -r name kernel shape m <<< "$spec"
  python3 - "$d/all.sass" "$kernel" > "$OUT/prof/$name.sass.txt" <<'PY'
import collections, re, sys
text, pat = open(sys.argv[1]).read(), re.compile(sys.argv[2])
for block in re.split(r"\n\s*Function : ", text)[1:]:
    fname = block.split("\n", 1)[0].strip()
    if not pat.search(fname):
        continue
    ops = collections.Counter()
    for line in block.split("\n"):
        m = re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)(\.[A-Z0-9_.]+)?", line)
        if m:
            ops[m.group(1)] += 1
    print(f"== {fname}: {sum(ops.values())} instructions")
    for op, n in ops.most_common():
        print(f"  {op:12s} {n}")
    print(block)
PY
  timeout 240 ncu --kernel-name-base mangled --kernel-name "regex:$kernel" --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section LaunchStats --section Occupancy --section SchedulerStats \
    --section WarpStateStats --section InstructionStats --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis --section SourceCounters --print-details all \
    "$d/bench_w4a4" --shapes "$shape" --m "$m" --reps 1 --settle-ms 0 > "$OUT/prof/$name.ncu.txt" 2>&1
  echo "$name: ncu rc=$?"
  grep -E "Duration|Executed Ipc A|Registers Per|Achieved Occupancy|Executed Instructions |Eligible Warps|No Eligible|Memory Throughput|DRAM Throughput" "$OUT/prof/$name.ncu.txt" | head -14
done
tar -C "$OUT" -czf "$OUT/prof.tgz" prof && rm -rf "$OUT/prof"
