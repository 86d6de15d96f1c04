#!/usr/bin/env bash
# Stages, on the CPU machine, what the GPU machine lacks into the ignored folder
# .stage/ (carried by the device tool): Debian's header-only libraries, and the
# assets from ../shared that are not committed (wikillama-27m, the Llama-2 tokenizer).
# usage: scripts/stage_device.sh [--with-assets]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stage="$root/.stage"
mkdir -p "$stage"
# Header-only dependencies, compressed: the device tree travels under 64 MiB.
tar -C /usr/include -cJf "$stage/headers.tar.xz" nlohmann CLI catch2 eigen3
if [[ "${1:-}" == "--with-assets" ]]; then
  shared="${QUAROT_SHARED:-$root/../shared}/assets"
  mkdir -p "$stage/wikillama-27m" "$stage/llama2"
  cp "$shared/models/wikillama-27m/"*.json "$shared/models/wikillama-27m/model.safetensors" "$stage/wikillama-27m/"
  xz -9 -c "$shared/tokenizers/llama2/tokenizer.json" > "$stage/llama2/tokenizer.json.xz"
fi
du -sh "$stage"
