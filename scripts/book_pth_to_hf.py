#!/usr/bin/python3
"""book_pth_to_hf.py: converts a model the book's code saved with torch.save (its GPTModel: tok_emb, pos_emb,
trf_blocks.N.att.W_query/W_key/W_value/out_proj, ff.layers.0/2, norm1/norm2 scale/shift, final_norm, out_head)
into a Hugging Face GPT-2 directory that `llmwb import-gpt2`, `llmwb generate --ckpt` and finetune.init_from read.

    python3 scripts/book_pth_to_hf.py model.pth models/my-gpt [--n-head N]

It needs PyTorch (which the book's code already uses). The input is a state_dict, or a dict holding one under
"model_state_dict" (the book's model_and_optimizer.pth). The number of heads cannot be read from the weights: it
defaults to d_model / 64 (GPT-2's head size: 12 heads for the 124M model); give --n-head for other models.

Output: config.json (GPT2Config fields; tie_word_embeddings false unless out_head equals tok_emb) and
model.safetensors in F32 with Hugging Face's names and Conv1D layout (in, out):
    wte.weight = tok_emb.weight            wpe.weight = pos_emb.weight
    h.N.ln_1.weight/bias = norm1.scale/shift               h.N.ln_2.* = norm2.*    ln_f.* = final_norm.*
    h.N.attn.c_attn.weight = [W_query | W_key | W_value]^T   (C, 3C); c_attn.bias their biases, or zeros
    h.N.attn.c_proj.weight = out_proj.weight^T     h.N.mlp.c_fc.weight = ff.layers.0.weight^T
    h.N.mlp.c_proj.weight = ff.layers.2.weight^T   lm_head.weight = out_head.weight (when untied)
With the GPT-2 vocabulary (50,257 tokens) the tokenizer files are copied from corpora/gpt2 as vocab.json and
merges.txt.
"""

import argparse
import json
import os
import re
import shutil
import struct
import sys

import torch


def fail(msg):
    sys.exit("book_pth_to_hf.py: " + msg)


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def convert(sd, n_head=None):
    """sd: the book's GPTModel state_dict. Returns (config dict, {hf_name: tensor})."""
    for k in ("tok_emb.weight", "pos_emb.weight", "final_norm.scale", "out_head.weight"):
        if k not in sd:
            fail("no %s: not a state_dict of the book's GPTModel (keys: %s ...)" % (k, ", ".join(list(sd)[:6])))
    V, C = sd["tok_emb.weight"].shape
    T = sd["pos_emb.weight"].shape[0]
    L = 1 + max(int(m.group(1)) for m in (re.match(r"trf_blocks\.(\d+)\.", k) for k in sd) if m)
    if n_head is None:
        if C % 64:
            fail("d_model %d is not a multiple of 64: give --n-head" % C)
        n_head = C // 64
    if C % n_head:
        fail("--n-head %d does not divide d_model %d" % (n_head, C))
    out = {"wte.weight": sd["tok_emb.weight"], "wpe.weight": sd["pos_emb.weight"],
           "ln_f.weight": sd["final_norm.scale"], "ln_f.bias": sd["final_norm.shift"]}
    for i in range(L):
        p, h = "trf_blocks.%d." % i, "h.%d." % i
        q, k, v = (sd[p + "att.%s.weight" % w] for w in ("W_query", "W_key", "W_value"))
        out[h + "attn.c_attn.weight"] = torch.cat([q, k, v], dim=0).t()
        if p + "att.W_query.bias" in sd:
            out[h + "attn.c_attn.bias"] = torch.cat([sd[p + "att.%s.bias" % w] for w in ("W_query", "W_key", "W_value")])
        else:  # the book's default qkv_bias=False: Hugging Face's GPT-2 always has the bias, so zeros
            out[h + "attn.c_attn.bias"] = torch.zeros(3 * C)
        out[h + "attn.c_proj.weight"] = sd[p + "att.out_proj.weight"].t()
        out[h + "attn.c_proj.bias"] = sd[p + "att.out_proj.bias"]
        out[h + "mlp.c_fc.weight"] = sd[p + "ff.layers.0.weight"].t()
        out[h + "mlp.c_fc.bias"] = sd[p + "ff.layers.0.bias"]
        out[h + "mlp.c_proj.weight"] = sd[p + "ff.layers.2.weight"].t()
        out[h + "mlp.c_proj.bias"] = sd[p + "ff.layers.2.bias"]
        for src, dst in (("norm1", "ln_1"), ("norm2", "ln_2")):
            out[h + dst + ".weight"] = sd[p + src + ".scale"]
            out[h + dst + ".bias"] = sd[p + src + ".shift"]
    tied = torch.equal(sd["out_head.weight"], sd["tok_emb.weight"])
    if not tied:
        out["lm_head.weight"] = sd["out_head.weight"]
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": int(V),
              "n_positions": int(T), "n_ctx": int(T), "n_embd": int(C), "n_layer": int(L), "n_head": int(n_head),
              "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
              "tie_word_embeddings": bool(tied), "bos_token_id": 50256, "eos_token_id": 50256}
    return config, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pth", help="the file torch.save wrote (model.pth or model_and_optimizer.pth)")
    ap.add_argument("out", help="the directory to write (created)")
    ap.add_argument("--n-head", type=int, default=None, help="attention heads (default d_model / 64)")
    a = ap.parse_args()
    obj = torch.load(a.pth, map_location="cpu")
    if isinstance(obj, dict) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        fail("%s: expected a state_dict, got %s" % (a.pth, type(obj).__name__))
    config, tensors = convert(obj, a.n_head)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(a.out, "model.safetensors"), tensors)
    gpt2 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpora", "gpt2")
    if config["vocab_size"] == 50257 and os.path.isdir(gpt2):
        shutil.copyfile(os.path.join(gpt2, "encoder.json"), os.path.join(a.out, "vocab.json"))
        shutil.copyfile(os.path.join(gpt2, "vocab.bpe"), os.path.join(a.out, "merges.txt"))
    n = sum(t.numel() for t in tensors.values())
    print("%s: %d layers, %d heads, d_model %d, context %d, vocab %d, %s head; %s parameters" %
          (a.out, config["n_layer"], config["n_head"], config["n_embd"], config["n_ctx"], config["vocab_size"],
           "tied" if config["tie_word_embeddings"] else "untied", format(n, ",")))


if __name__ == "__main__":
    main()
