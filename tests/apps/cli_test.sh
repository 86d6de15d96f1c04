#!/usr/bin/env bash
# End-to-end checks of the command-line tools on the bundled stories260K:
# the stage pipeline, what each stage guarantees, and the failure modes a user
# meets (exit codes, messages naming the culprit, inputs left untouched).
# usage: cli_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
model=$src/tests/data/models/stories260K
data=$src/tests/data/wikitext-2-raw
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
json_field() { python3 -c "import json,sys; print(json.load(open('$1'))['$2'])"; }
rel_close() { python3 -c "import sys; a,b,t=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b)<=t*abs(b) else 1)" "$1" "$2" "$3"; }
ratio_below() { python3 -c "import sys; a,b,t=map(float,sys.argv[1:]); sys.exit(0 if a/b<=t else 1)" "$1" "$2" "$3"; }
ppl() {  # ppl MODEL_DIR OUT_JSON [extra flags]
  local m=$1 out=$2
  shift 2
  "$bin/quarot-eval" ppl --model "$m" --data "$data" --seqlen 256 --limit-windows 8 --batch 4 --json "$@" > "$out"
}

before=$(cat "$model"/* | sha256sum)

ppl "$model" $work/fp.json
fp=$(json_field $work/fp.json ppl)
check "ppl --json has ppl, windows, tokens, seconds" \
  "[ \$(json_field $work/fp.json windows) = 8 ] && [ \$(json_field $work/fp.json tokens) = 2048 ]"

"$bin/quarot-convert" -q fuse --in "$model" --out $work/fused > $work/fuse.log
check "fuse writes a manifest" "grep -q '\"fused\": true' $work/fused/quarot.json"
ppl $work/fused $work/fused.json
check "fused model keeps the perplexity (1e-5)" "rel_close \$(json_field $work/fused.json ppl) $fp 1e-5"

"$bin/quarot-convert" -q rotate --in $work/fused --out $work/rot --seed 5 > /dev/null
ppl $work/rot $work/rot.json
check "rotated model keeps the perplexity (1e-5)" "rel_close \$(json_field $work/rot.json ppl) $fp 1e-5"
"$bin/quarot-convert" -q rotate --in $work/fused --out $work/rot2 --seed 5 > /dev/null
check "same seed, same bytes" "cmp -s $work/rot/model.safetensors $work/rot2/model.safetensors"
"$bin/quarot-convert" -q rotate --in $work/fused --out $work/rotr --mode random --seed 5 > /dev/null
ppl $work/rotr $work/rotr.json
check "random-orthogonal rotation keeps the perplexity (1e-5)" "rel_close \$(json_field $work/rotr.json ppl) $fp 1e-5"

"$bin/quarot-convert" -q quantize --in $work/rot --out $work/w8 --method rtn --w-bits 8 --a-bits 8 --kv-bits 8 > /dev/null
check "--kv-bits sets K and V, and 8-bit clip ratios are 1" "python3 -c \"import json,sys; j=json.load(open('$work/w8/quarot.json')); kv=j['kv_cache']; a=j['activations']; sys.exit(0 if kv['k_bits']==kv['v_bits']==8 and kv['clip_ratio']==1.0 and a['clip_ratio']==1.0 else 1)\""
ppl $work/w8 $work/w8.json
check "W8A8KV8 RTN within 1% of FP" "rel_close \$(json_field $work/w8.json ppl) $fp 0.01"

"$bin/quarot-convert" -q quantize --in $work/rot --out $work/g4 --method gptq --w-bits 4 \
  --calib wikitext2:$data --nsamples 8 --calib-seqlen 256 2> $work/gptq.err > /dev/null
check "GPTQ says it falls back to wiki.valid.raw" "grep -q 'wiki.valid.raw' $work/gptq.err"
check "GPTQ records the calibration hash" "grep -q sha256 $work/g4/quarot.json"
"$bin/quarot-convert" -q quantize --in $work/rot --out $work/r4 --method rtn --w-bits 4 > /dev/null
ppl $work/g4 $work/g4.json --a-bits 16 --k-bits 16 --v-bits 16
ppl $work/r4 $work/r4.json --a-bits 16 --k-bits 16 --v-bits 16
check "W4A16: GPTQ beats RTN" "ratio_below \$(json_field $work/g4.json ppl) \$(json_field $work/r4.json ppl) 1.0"

"$bin/quarot-convert" -q pack --in $work/g4 --out $work/packed > /dev/null
check "pack writes 4-bit codes" "python3 - $work/packed/model.safetensors <<'PY'
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
q = h['model.layers.0.mlp.down_proj.qweight']
assert q['dtype'] == 'U8' and q['shape'] == [64, 86], q
assert h['lm_head.weight']['dtype'] == 'F16'
PY"
# Same integer codes; only embeddings and lm_head went to 16 bits.
ppl $work/packed $work/packed.json --a-bits 16 --k-bits 16 --v-bits 16
check "packed weights evaluate like their source (0.5%)" \
  "rel_close \$(json_field $work/packed.json ppl) \$(json_field $work/g4.json ppl) 0.005"

"$bin/quarot-convert" -q all --in "$model" --out $work/all --method rtn --w-bits 4 --pack > /dev/null
check "all runs fuse, rotate, quantize and pack" "grep -q 'int4-packed' $work/all/quarot.json"

# Failure modes: exit 2, a message naming the culprit, nothing overwritten.
"$bin/quarot-eval" ppl --model $work/missing --data "$data" > /dev/null 2> $work/e1
rc=$?
check "missing model dir: exit 2 naming it" "[ $rc -eq 2 ] && grep -q 'missing' $work/e1"
mkdir -p $work/trunc && cp "$model"/*.json $work/trunc/ && head -c 1000 "$model/model.safetensors" > $work/trunc/model.safetensors
"$bin/quarot-eval" ppl --model $work/trunc --data "$data" > /dev/null 2> $work/e2
rc=$?
check "truncated safetensors: exit 2 naming the file" "[ $rc -eq 2 ] && grep -q 'model.safetensors' $work/e2"
"$bin/quarot-convert" -q fuse --in $work/fused --out $work/fused2 > /dev/null 2> $work/e3
rc=$?
check "fusing twice is refused" "[ $rc -eq 2 ] && grep -q 'already fused' $work/e3"
"$bin/quarot-convert" -q fuse --in "$model" --out $work/fused > /dev/null 2> $work/e4
rc=$?
check "existing --out is not overwritten" "[ $rc -eq 2 ] && grep -q 'overwrite' $work/e4"
"$bin/quarot-convert" -q fuse --in $work/rot --out $work/rot/inner > /dev/null 2> $work/e5
rc=$?
check "--out inside --in is refused" "[ $rc -eq 2 ]"
"$bin/quarot-convert" -q rotate --in "$model" --out $work/r > /dev/null 2> $work/e6
rc=$?
check "rotating an unfused model is refused" "[ $rc -eq 2 ] && grep -q 'fuse' $work/e6"
"$bin/quarot-eval" ppl --model "$model" --data "$data" --seqlen 0 > /dev/null 2>&1
rc=$?
check "bad flag value: exit 2" "[ $rc -eq 2 ]"
check "the input model is unchanged" "[ \"\$(cat $model/* | sha256sum)\" = \"$before\" ]"
ls $work | grep -q tmp- && bad "no temporary directories left behind" || ok "no temporary directories left behind"

echo "cli: $passed passed, $failed failed"
[ $failed -eq 0 ]
