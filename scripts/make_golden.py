#!/usr/bin/env python3
"""Golden reference files from Hugging Face tokenizers/transformers.

Runs on the GPU machine (scripts/device.sh golden), where torch, transformers and
tokenizers are installed. Everything it writes is an independent reference for
the C++ code: nothing here imports or mirrors quarot's sources.

Writes under --out:
  tokenizer/<name>.<split>.json   id count, sha256 of the int32-LE ids, per-chunk
                                  digests (to localise a first mismatch) and the
                                  leading ids
  ids/<name>.<split>.bin          the full ids (int32 LE), for debugging only
  ppl.json                        WikiText-2 test perplexity per model (fp32 and
                                  fp64 forward), with every window's mean NLL
  tiny-*/                         small random Llama checkpoints plus logits.safetensors
                                  (input_ids, float64 logits)
  meta.json                       library versions, device, timings
"""
import argparse
import hashlib
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
import tokenizers
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

CHUNK = 16384
HEAD = 2048


def wikitext_text(path):
    """The HF dataset's rows joined with "\\n\\n" (see tests/data/README.md)."""
    with open(path, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    # Lines split on "\n" alone, each keeping it (str.splitlines would also split
    # on \x0b, \x85, \u2028 and friends).
    lines = [line + "\n" for line in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    rows = ["" if line == " \n" else line for line in lines]
    return "\n\n".join(rows)


def digest(ids):
    return hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest()


def tokenizer_golden(name, tok_path, data_dir, out):
    tok = tokenizers.Tokenizer.from_file(tok_path)
    result = {}
    for split in ("test", "valid"):
        text = wikitext_text(os.path.join(data_dir, f"wiki.{split}.raw"))
        t0 = time.time()
        ids = tok.encode(text).ids
        secs = time.time() - t0
        rec = {
            "tokenizer": name,
            "split": split,
            "count": len(ids),
            "sha256": digest(ids),
            "chunk": CHUNK,
            "chunk_sha256": [digest(ids[i:i + CHUNK]) for i in range(0, len(ids), CHUNK)],
            "head": ids[:HEAD],
            "hf_seconds": secs,
        }
        with open(os.path.join(out, "tokenizer", f"{name}.{split}.json"), "w") as f:
            json.dump(rec, f)
        np.asarray(ids, dtype="<i4").tofile(os.path.join(out, "ids", f"{name}.{split}.bin"))
        result[split] = ids
        print(f"tokenizer {name} {split}: {len(ids)} ids in {secs:.2f}s", flush=True)
    return result


def load_model(path, dtype, device):
    kw = dict(attn_implementation="eager")
    try:
        m = LlamaForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    except TypeError:
        m = LlamaForCausalLM.from_pretrained(path, torch_dtype=dtype, **kw)
    return m.to(device).eval()


@torch.no_grad()
def window_nlls(model, ids, seqlen, batch, device):
    n = len(ids) // seqlen
    data = torch.tensor(ids[: n * seqlen], dtype=torch.long).view(n, seqlen)
    out = []
    for i in range(0, n, batch):
        x = data[i:i + batch].to(device)
        logits = model(x).logits.to(torch.float64)
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        nll = -logp.gather(-1, x[:, 1:, None]).squeeze(-1)
        out.extend(nll.mean(dim=1).tolist())
    return out


def ppl_golden(name, path, ids, seqlen, device):
    rec = {"model": name, "seqlen": seqlen}
    for label, dtype in (("fp32", torch.float32), ("fp64", torch.float64)):
        model = load_model(path, dtype, device)
        t0 = time.time()
        nlls = window_nlls(model, ids, seqlen, 8, device)
        rec[f"seconds_{label}"] = time.time() - t0
        rec[f"ppl_{label}"] = math.exp(float(np.mean(nlls)))
        rec[f"window_nll_{label}"] = nlls
        del model
    rec["windows"] = len(ids) // seqlen
    rec["tokens"] = rec["windows"] * seqlen
    print(f"ppl {name}: fp32 {rec['ppl_fp32']:.6f} fp64 {rec['ppl_fp64']:.6f} "
          f"({rec['windows']} windows)", flush=True)
    return rec


@torch.no_grad()
def bf16_speed(path, ids, seqlen, device):
    """transformers in bf16 (sdpa) over the whole test set: the baseline the
    CUDA runner is compared against."""
    try:
        m = LlamaForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
    except TypeError:
        m = LlamaForCausalLM.from_pretrained(path, torch_dtype=torch.bfloat16)
    m = m.to(device).eval()
    n = len(ids) // seqlen
    data = torch.tensor(ids[: n * seqlen], dtype=torch.long).view(n, seqlen).to(device)
    m(data[:1])
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    nll = 0.0
    for i in range(0, n, 8):
        x = data[i:i + 8]
        logits = m(x).logits.float()
        nll += F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                               x[:, 1:].reshape(-1), reduction="none").view(x.shape[0], -1).mean(1).sum().item()
    torch.cuda.synchronize()
    secs = time.time() - t0
    return {"seconds": secs, "tokens_per_second": n * seqlen / secs,
            "peak_gpu_bytes": torch.cuda.max_memory_allocated(), "ppl_bf16": math.exp(nll / n)}


def tiny_checkpoint(out, name, cfg_kwargs, seed, seq):
    """A random Llama of real structure; logits in float64 as the reference."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(**cfg_kwargs)
    model = LlamaForCausalLM(cfg).to(torch.float32)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "bias" in pname:
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    d = os.path.join(out, name)
    model.save_pretrained(d, safe_serialization=True)
    ref = load_model(d, torch.float64, "cpu")
    ids = torch.randint(0, cfg.vocab_size, (2, seq), generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        logits = ref(ids).logits.to(torch.float64).contiguous()
    save_file({"input_ids": ids.contiguous(), "logits": logits}, os.path.join(d, "logits.safetensors"))
    with open(os.path.join(d, "config.json")) as f:
        print(f"tiny {name}: config {f.read()}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="tests/data/wikitext-2-raw")
    ap.add_argument("--models", default="tests/data/models")
    ap.add_argument("--wikillama", required=True)
    ap.add_argument("--llama2-tokenizer", required=True)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for sub in ("tokenizer", "ids"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    models = {
        "stories260K": (os.path.join(args.models, "stories260K"), 512),
        "tinystories-656k": (os.path.join(args.models, "tinystories-656k"), 512),
        "wikillama-27m": (args.wikillama, 2048),
    }
    meta = {"torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}

    tokenizer_golden("llama2", args.llama2_tokenizer, args.data, args.out)
    ppl = {}
    for name, (path, seqlen) in models.items():
        ids = tokenizer_golden(name, os.path.join(path, "tokenizer.json"), args.data, args.out)
        ppl[name] = ppl_golden(name, path, ids["test"], seqlen, device)
        if name == "wikillama-27m" and device == "cuda":
            meta["wikillama_bf16_transformers"] = bf16_speed(path, ids["test"], seqlen, device)
            print("bf16 speed", meta["wikillama_bf16_transformers"], flush=True)
    with open(os.path.join(args.out, "ppl.json"), "w") as f:
        json.dump(ppl, f)

    tiny_checkpoint(args.out, "tiny-gqa", dict(
        vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2), seed=1234, seq=48)
    tiny_checkpoint(args.out, "tiny-llama3", dict(
        vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, head_dim=24, max_position_embeddings=256,
        rms_norm_eps=1e-6, rope_theta=500000.0, tie_word_embeddings=True,
        attention_bias=True, mlp_bias=True,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        bos_token_id=1, eos_token_id=2), seed=4321, seq=80)
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
