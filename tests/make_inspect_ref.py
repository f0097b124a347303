"""make_inspect_ref.py: writes tests/ref/inspect_*.bin, the PyTorch reference that tests/test_inspect.c checks the
workbench's "look inside" numbers against: the logit lens and head ablation (issue 15).

Run from the repo root with Debian's torch:  /usr/bin/python3 tests/make_inspect_ref.py
CI has no torch: the .bin files are committed. File format: LWREF1, as tests/make_model_ref.py describes.

Arrays written (per config):
    config        [n_layer, n_head, d_model, context_length, vocab_size, qkv_bias, tie_embeddings, B, T]
    inputs (B,T), targets (B,T) (some -100)
    param/<hf name>   the weights (HF GPT-2 names, Conv1D layout), in the C tensor table's order
    lens (L+1,T,V)    the logit lens of row 0: ln_f and the output head applied to the residual stream after the
                      embeddings (row 0) and after each block (row l); row L is the model's own logits
    loss (1)          mean cross-entropy of the batch
    ablate (L,NH)     the same loss with head h of layer l knocked out: its slice of the attention output (the
                      context vectors, before c_proj) set to zero, every other head untouched
    ablate_mean (L,NH) the same with that slice replaced by its mean over every position of the batch (mean
                      ablation)
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt_torch import GPT, gpt_config, cross_entropy  # noqa: E402
from make_model_ref import RefWriter, randomize  # noqa: E402

CONFIGS = [
    ("inspect_untied", dict(n_layer=2, n_head=2, d_model=32, context_length=16, vocab_size=97,
                            qkv_bias=True, tie_embeddings=False), 2, 12, 11),
    ("inspect_tied_nh4", dict(n_layer=3, n_head=4, d_model=32, context_length=24, vocab_size=61,
                              qkv_bias=True, tie_embeddings=True), 2, 9, 12),
]


def residuals(model, idx):
    """[embeddings, after block 1, ..., after block L], each (B, T, C)."""
    pos = torch.arange(idx.shape[1])
    x = model.wte(idx) + model.wpe(pos)
    out = [x]
    for block in model.h:
        x = block(x)
        out.append(x)
    return out


def ablated_loss(model, idx, targets, layer, head, mean=False):
    """Loss with head `head` of block `layer` zeroed (or, mean=True, replaced by its mean over all (B, T) positions)
    before the output projection."""
    attn = model.h[layer].attn
    c = model.cfg["d_model"]
    hs = c // model.cfg["n_head"]
    orig = attn.c_proj.forward

    def knocked(ctx):
        ctx = ctx.clone()
        sl = ctx[..., head * hs:(head + 1) * hs]
        ctx[..., head * hs:(head + 1) * hs] = sl.mean(dim=(0, 1), keepdim=True).expand_as(sl) if mean else 0.0
        return orig(ctx)

    attn.c_proj.forward = knocked
    try:
        return cross_entropy(model(idx), targets).item()
    finally:
        attn.c_proj.forward = orig


def make(name, cfgd, B, T, seed, outdir):
    cfg = gpt_config(**cfgd)
    gen = torch.Generator().manual_seed(seed)
    model = GPT(cfg)
    randomize(model, gen)
    model.eval()
    V, L, NH = cfg["vocab_size"], cfg["n_layer"], cfg["n_head"]
    inputs = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets[1, -2:] = -100
    w = RefWriter()
    w.add("config", [L, NH, cfg["d_model"], cfg["context_length"], V, int(cfg["qkv_bias"]),
                     int(cfg["tie_embeddings"]), B, T])
    w.add("inputs", inputs)
    w.add("targets", targets)
    for n, p in model.hf_names():
        w.add("param/" + n, p)
    with torch.no_grad():
        lens = torch.stack([model.ln_f(r[0]) @ model.head_weight().t() for r in residuals(model, inputs)])
        w.add("lens", lens)
        w.add("loss", [cross_entropy(model(inputs), targets).item()])
        w.add("ablate", [[ablated_loss(model, inputs, targets, l, h) for h in range(NH)] for l in range(L)])
        w.add("ablate_mean", [[ablated_loss(model, inputs, targets, l, h, True) for h in range(NH)]
                              for l in range(L)])
    w.write(os.path.join(outdir, name + ".bin"))


def main():
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref")
    for name, cfgd, B, T, seed in CONFIGS:
        make(name, cfgd, B, T, seed, outdir)
        print("wrote", os.path.join(outdir, name + ".bin"))


if __name__ == "__main__":
    main()
