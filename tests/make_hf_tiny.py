#!/usr/bin/python3
"""make_hf_tiny.py: builds tiny random GPT-2 models laid out like Hugging Face downloads, plus the logits PyTorch
computes for them, for tests/test_checkpoint.c (the import path of OpenAI GPT-2 weights).

Run from the repository root with Debian's torch:  /usr/bin/python3 tests/make_hf_tiny.py
CI has no torch: the outputs under tests/ref/ are committed.

Model: L=2, NH=2, C=32, n_positions=32, vocab 300, qkv_bias true, tied head (as OpenAI GPT-2), random weights
scaled up so that every tensor (biases, LayerNorm) visibly changes the logits.

Outputs (one directory per variant):
  tests/ref/hf-tiny/       config.json (plain GPT2Config, no "llmwb" keys), model.safetensors in F32 with the
                           "transformer." prefix of GPT2LMHeadModel files and the legacy attn.bias /
                           attn.masked_bias buffers, no lm_head.weight; expected_logits.bin
  tests/ref/hf-tiny-f16/   the same weights stored as F16 without prefix, with lm_head.weight (= wte);
                           expected_logits.bin computed with the F16-rounded weights

expected_logits.bin: magic b"LWLOGIT1", then u32 B, u32 T, u32 V, u32 0 (little-endian), then B*T int32 ids,
then B*T*V float32 logits (row-major (B, T, V)).

The safetensors files are written directly (8-byte little-endian header length, JSON header padded with spaces to a
multiple of 8, tensors contiguous in name order) so the script does not need the safetensors package.
"""

import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt_torch import GPT, gpt_config, hf_config_json  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref")
V, L, NH, C, NPOS = 300, 2, 2, 32, 32
B, T = 2, 12


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """tensors: {name: torch tensor}; dtype F32 or F16 (data converted)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        t = t.to(torch.float16 if dtype == "F16" else torch.float32)
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_logits(path, ids, logits):
    with open(path, "wb") as f:
        f.write(b"LWLOGIT1")
        f.write(struct.pack("<4I", ids.shape[0], ids.shape[1], logits.shape[2], 0))
        f.write(ids.to(torch.int32).numpy().tobytes())
        f.write(logits.detach().to(torch.float32).contiguous().numpy().tobytes())


def main():
    torch.manual_seed(20240521)
    cfg = gpt_config(n_layer=L, n_head=NH, d_model=C, context_length=NPOS, vocab_size=V, qkv_bias=True,
                     tie_embeddings=True, dropout=0.0)
    model = GPT(cfg)
    with torch.no_grad():
        for name, p in model.hf_names():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
            elif name in ("wte.weight", "wpe.weight"):
                p.normal_(0.0, 0.5)
            else:
                p.normal_(0.0, 0.15)
    model.eval()
    ids = torch.randint(0, V, (B, T))
    conf = hf_config_json(cfg)
    conf["bos_token_id"] = conf["eos_token_id"] = V - 1

    # F32, "transformer." prefix, legacy buffers, no lm_head
    d = model.state_dict_hf()
    f32 = {"transformer." + k: v for k, v in d.items()}
    mask = torch.tril(torch.ones(NPOS, NPOS)).view(1, 1, NPOS, NPOS)
    for i in range(L):
        f32["transformer.h.%d.attn.bias" % i] = mask
        f32["transformer.h.%d.attn.masked_bias" % i] = torch.tensor(-1e4)
    out = os.path.join(OUT, "hf-tiny")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out, "model.safetensors"), f32, "F32", {"format": "pt"})
    with torch.no_grad():
        write_logits(os.path.join(out, "expected_logits.bin"), ids, model(ids))

    # F16, no prefix, lm_head.weight present (equal to wte)
    half = {k: v.to(torch.float16) for k, v in d.items()}
    half["lm_head.weight"] = half["wte.weight"].clone()
    out16 = os.path.join(OUT, "hf-tiny-f16")
    os.makedirs(out16, exist_ok=True)
    with open(os.path.join(out16, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out16, "model.safetensors"), half, "F16", {"format": "pt"})
    m16 = GPT(cfg)
    m16.load_state_dict_hf({k: v.float() for k, v in half.items()})
    m16.eval()
    with torch.no_grad():
        write_logits(os.path.join(out16, "expected_logits.bin"), ids, m16(ids))
    print("wrote", out, out16)


if __name__ == "__main__":
    main()
