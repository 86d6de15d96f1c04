#!/usr/bin/env python3
"""Hugging Face transformers in bf16 (sdpa) over pre-tokenized ids: tokens per
second and peak GPU memory of a perplexity pass, the baseline the CUDA runner's
pass is compared against (docs/RESULTS.md).

Speed and memory depend on the shapes only, so a model directory with just
config.json works: the weights are then randomly initialised (said in the output,
and its perplexity is not reported). Same loop as make_golden.py's bf16_speed:
windows of --seqlen, batches of 8, fp32 cross-entropy of the logits.

usage: hf_throughput.py --model DIR --ids IDS.bin --seqlen 2048 [--json OUT]
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="int32 little-endian token ids (quarot-eval ppl --dump-ids)")
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--json")
    a = ap.parse_args()
    has_weights = any(f.endswith(".safetensors") for f in os.listdir(a.model))
    if has_weights:
        m = LlamaForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16)
    else:
        torch.manual_seed(0)
        m = LlamaForCausalLM(LlamaConfig.from_pretrained(a.model)).to(torch.bfloat16)
    m = m.to("cuda").eval()
    ids = np.fromfile(a.ids, dtype="<i4")
    n = len(ids) // a.seqlen
    data = torch.tensor(ids[: n * a.seqlen], dtype=torch.long).view(n, a.seqlen).cuda()
    m(data[:1])  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    nll = 0.0
    for i in range(0, n, a.batch):
        x = data[i:i + a.batch]
        logits = m(x).logits.float()
        nll += F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                               reduction="none").view(x.shape[0], -1).mean(1).sum().item()
    torch.cuda.synchronize()
    secs = time.time() - t0
    rec = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "transformers": __import__("transformers").__version__, "windows": n, "seqlen": a.seqlen,
           "batch": a.batch, "seconds": secs, "tokens_per_second": n * a.seqlen / secs,
           "peak_gpu_bytes": torch.cuda.max_memory_allocated(), "weights": "checkpoint" if has_weights else "random"}
    if has_weights:
        rec["ppl_bf16"] = math.exp(nll / n)
    print(json.dumps(rec))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rec, f, indent=1)


if __name__ == "__main__":
    main()
