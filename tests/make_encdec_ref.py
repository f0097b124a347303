"""make_encdec_ref.py: writes tests/ref/encdec_*.bin, the PyTorch reference that tests/test_encdec.c checks the C
encoder-decoder (src/encdec.c) against: logits, the three kinds of attention map, the loss, every gradient, the
gradient norm and 10 AdamW steps with clipping.

Plain PyTorch (no transformers): "Attention Is All You Need" written as functions over a dict of tensors keyed by
Hugging Face BART/Marian names (model.shared.weight, model.encoder.layers.0.self_attn.q_proj.weight, ...):
embeddings times sqrt(d_model) plus sinusoidal or learned positions, encoder layers (self-attention with the
source padding masked, MLP), decoder layers (causal self-attention, cross-attention over the final encoder output
with the source padding masked, MLP), post-LN as the paper or pre-LN with final LayerNorms, output projection tied
to the target embedding or separate, no output bias.

Run from the repo root with Debian's torch:  /usr/bin/python3 tests/make_encdec_ref.py
CI has no torch: the .bin files are committed. Format: LWREF1, as tests/make_model_ref.py writes it.

Arrays:
    config   [n_enc_layer, n_dec_layer, n_head, d_model, d_ff, max_src, max_tgt, src_vocab, tgt_vocab,
              shared_vocab, tie_output, learned_pos, scale_emb, pre_ln, act (0 erf GELU, 1 tanh GELU, 2 ReLU),
              ln_eps, B, S, T]
    src (B, S), src_pad (B, S; 1 = padding), tgt_in (B, T), labels (B, T; -100 after the end)
    param/<name>     initial weights in the C tensor table's order
    logits (B, T, Vt), enc_att (Le, B, NH, S, S), dec_att (Ld, B, NH, T, T), cross_att (Ld, B, NH, T, S), loss (1)
    grad/<name>, grad_norm (1)
    adamw_loss (10), final/<name>: forward, backward, clip_grad_norm_(1.0), AdamW (lr 1e-3, betas 0.9/0.98 as the
              paper, eps 1e-8, weight decay 0.1 on 2-D Linear weights and an untied lm_head)
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_ref import RefWriter  # noqa: E402

IGNORE = -100


def attn_names(p):
    q = [p + ".%s_proj.weight" % n for n in "qkv"]
    b = [p + ".%s_proj.bias" % n for n in "qkv"]
    return q, b


def table(c):
    """(name, shape, decay) in the C table's order (src/encdec.c encdec_init)."""
    C, Fd = c["d_model"], c["d_ff"]
    t = []
    if c["shared_vocab"]:
        t.append(("model.shared.weight", (c["src_vocab"], C), 0))
    else:
        t += [("model.encoder.embed_tokens.weight", (c["src_vocab"], C), 0),
              ("model.decoder.embed_tokens.weight", (c["tgt_vocab"], C), 0)]
    if c["learned_pos"]:
        t += [("model.encoder.embed_positions.weight", (c["max_src"], C), 0),
              ("model.decoder.embed_positions.weight", (c["max_tgt"], C), 0)]

    def attn(p, ln):
        w, b = attn_names(p)
        return ([(n, (C, C), 1) for n in w] + [(n, (C,), 0) for n in b] +
                [(p + ".out_proj.weight", (C, C), 1), (p + ".out_proj.bias", (C,), 0),
                 (ln + ".weight", (C,), 0), (ln + ".bias", (C,), 0)])

    def mlp(p):
        return [(p + ".fc1.weight", (Fd, C), 1), (p + ".fc1.bias", (Fd,), 0), (p + ".fc2.weight", (C, Fd), 1),
                (p + ".fc2.bias", (C,), 0), (p + ".final_layer_norm.weight", (C,), 0),
                (p + ".final_layer_norm.bias", (C,), 0)]

    for l in range(c["n_enc_layer"]):
        p = "model.encoder.layers.%d" % l
        t += attn(p + ".self_attn", p + ".self_attn_layer_norm") + mlp(p)
    if c["pre_ln"]:
        t += [("model.encoder.layer_norm.weight", (C,), 0), ("model.encoder.layer_norm.bias", (C,), 0)]
    for l in range(c["n_dec_layer"]):
        p = "model.decoder.layers.%d" % l
        t += attn(p + ".self_attn", p + ".self_attn_layer_norm")
        t += attn(p + ".encoder_attn", p + ".encoder_attn_layer_norm") + mlp(p)
    if c["pre_ln"]:
        t += [("model.decoder.layer_norm.weight", (C,), 0), ("model.decoder.layer_norm.bias", (C,), 0)]
    if not c["tie_output"]:
        t.append(("lm_head.weight", (c["tgt_vocab"], C), 1))
    return t


def sinusoid(n, C):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(0, C, 2, dtype=torch.float64)[None, :]
    ang = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), i / C)
    pe = torch.zeros(n, C, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang)
    return pe.to(torch.float32)


def act(c, x):
    return (F.gelu(x), F.gelu(x, approximate="tanh"), F.relu(x))[c["act"]]


def mha(c, p, name, xq, xkv, keymask, causal, maps):
    B, Tq, C = xq.shape
    Tk = xkv.shape[1]
    NH = c["n_head"]
    HS = C // NH
    proj = lambda x, n, T: F.linear(x, p[name + ".%s_proj.weight" % n], p[name + ".%s_proj.bias" % n]).view(  # noqa
        B, T, NH, HS).transpose(1, 2)
    q, k, v = proj(xq, "q", Tq), proj(xkv, "k", Tk), proj(xkv, "v", Tk)
    s = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
    if keymask is not None:
        s = s.masked_fill(keymask[:, None, None, :], float("-inf"))
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(Tq, Tk, dtype=torch.bool), 1), float("-inf"))
    w = torch.softmax(s, dim=-1)
    maps.append(w)
    y = (w @ v).transpose(1, 2).reshape(B, Tq, C)
    return F.linear(y, p[name + ".out_proj.weight"], p[name + ".out_proj.bias"])


def sublayer(c, p, ln, x, f):
    """Post-LN: LN(x + f(x)); pre-LN: x + f(LN(x))."""
    norm = lambda z: F.layer_norm(z, (c["d_model"],), p[ln + ".weight"], p[ln + ".bias"], c["ln_eps"])  # noqa
    return x + f(norm(x)) if c["pre_ln"] else norm(x + f(x))


def ffn(c, p, pre):
    return lambda a: F.linear(act(c, F.linear(a, p[pre + ".fc1.weight"], p[pre + ".fc1.bias"])),
                              p[pre + ".fc2.weight"], p[pre + ".fc2.bias"])


def forward(c, p, src, src_pad, tgt, maps):
    C = c["d_model"]
    scale = math.sqrt(C) if c["scale_emb"] else 1.0
    S, T = src.shape[1], tgt.shape[1]
    Es = p["model.shared.weight"] if c["shared_vocab"] else p["model.encoder.embed_tokens.weight"]
    Et = p["model.shared.weight"] if c["shared_vocab"] else p["model.decoder.embed_tokens.weight"]
    if c["learned_pos"]:
        ps, pt = p["model.encoder.embed_positions.weight"][:S], p["model.decoder.embed_positions.weight"][:T]
    else:
        table_ = sinusoid(max(c["max_src"], c["max_tgt"]), C)
        ps, pt = table_[:S], table_[:T]
    pad = src_pad.bool()
    x = Es[src] * scale + ps
    for l in range(c["n_enc_layer"]):
        q = "model.encoder.layers.%d" % l
        x = sublayer(c, p, q + ".self_attn_layer_norm", x,
                     lambda a: mha(c, p, q + ".self_attn", a, a, pad, False, maps["enc"]))
        x = sublayer(c, p, q + ".final_layer_norm", x, ffn(c, p, q))
    if c["pre_ln"]:
        x = F.layer_norm(x, (C,), p["model.encoder.layer_norm.weight"], p["model.encoder.layer_norm.bias"],
                         c["ln_eps"])
    mem = x
    y = Et[tgt] * scale + pt
    for l in range(c["n_dec_layer"]):
        q = "model.decoder.layers.%d" % l
        y = sublayer(c, p, q + ".self_attn_layer_norm", y,
                     lambda a: mha(c, p, q + ".self_attn", a, a, None, True, maps["dec"]))
        y = sublayer(c, p, q + ".encoder_attn_layer_norm", y,
                     lambda a: mha(c, p, q + ".encoder_attn", a, mem, pad, False, maps["cross"]))
        y = sublayer(c, p, q + ".final_layer_norm", y, ffn(c, p, q))
    if c["pre_ln"]:
        y = F.layer_norm(y, (C,), p["model.decoder.layer_norm.weight"], p["model.decoder.layer_norm.bias"],
                         c["ln_eps"])
    W = Et if c["tie_output"] else p["lm_head.weight"]
    return F.linear(y, W)


def loss_of(c, p, src, src_pad, tgt, labels):
    lg = forward(c, p, src, src_pad, tgt, {"enc": [], "dec": [], "cross": []})
    return F.cross_entropy(lg.reshape(-1, c["tgt_vocab"]), labels.reshape(-1), ignore_index=IGNORE)


def randomize(c, gen):
    """O(1) activations: Linear weights N(0, 1/fan_in), embeddings N(0, 0.5^2) (N(0, 1/C) when scaled by
    sqrt(C)), LayerNorm weights 1 + N(0, 0.1^2), biases N(0, 0.1^2)."""
    p = {}
    for name, shape, _ in table(c):
        r = torch.randn(shape, generator=gen)
        if ("embed" in name or "shared" in name) and len(shape) == 2:
            v = r / math.sqrt(c["d_model"]) if c["scale_emb"] and "positions" not in name else 0.5 * r
        elif len(shape) == 2:
            v = r / shape[1] ** 0.5
        elif "norm.weight" in name:
            v = 1.0 + 0.1 * r
        else:
            v = 0.1 * r
        p[name] = v.clone().requires_grad_(True)
    return p


def make(name, c, B, S, T, seed, outdir):
    gen = torch.Generator().manual_seed(seed)
    p = randomize(c, gen)
    Vs, Vt = c["src_vocab"], c["tgt_vocab"]
    src = torch.randint(3, Vs, (B, S), generator=gen)
    src_pad = torch.zeros(B, S, dtype=torch.long)
    src_pad[1, -3:] = 1
    src_pad[2, -1:] = 1
    src[src_pad.bool()] = 0
    tgt = torch.randint(3, Vt, (B, T + 1), generator=gen)
    tgt[:, 0] = 1  # BOS
    tgt_in, labels = tgt[:, :-1].clone(), tgt[:, 1:].clone()
    labels[1, -2:] = IGNORE  # a shorter target
    labels[2, -4:] = IGNORE
    tgt_in[1, -1:] = 0
    tgt_in[2, -3:] = 0

    w = RefWriter()
    w.add("config", [c["n_enc_layer"], c["n_dec_layer"], c["n_head"], c["d_model"], c["d_ff"], c["max_src"],
                     c["max_tgt"], Vs, Vt, c["shared_vocab"], c["tie_output"], c["learned_pos"], c["scale_emb"],
                     c["pre_ln"], c["act"], c["ln_eps"], B, S, T])
    for k, v in (("src", src), ("src_pad", src_pad), ("tgt_in", tgt_in), ("labels", labels)):
        w.add(k, v)
    names = [n for n, _, _ in table(c)]
    for n in names:
        w.add("param/" + n, p[n])
    maps = {"enc": [], "dec": [], "cross": []}
    logits = forward(c, p, src, src_pad, tgt_in, maps)
    w.add("logits", logits)
    for k in ("enc", "dec", "cross"):
        w.add(k + "_att", torch.stack(maps[k]))
    loss = F.cross_entropy(logits.reshape(-1, Vt), labels.reshape(-1), ignore_index=IGNORE)
    loss.backward()
    w.add("loss", [loss.item()])
    norm2 = 0.0
    for n in names:
        w.add("grad/" + n, p[n].grad)
        norm2 += float((p[n].grad.double() ** 2).sum())
    w.add("grad_norm", [norm2 ** 0.5])

    decay = [p[n] for n, _, d in table(c) if d]
    nodecay = [p[n] for n, _, d in table(c) if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.98), eps=1e-8, foreach=False)
    losses = []
    for _ in range(10):
        opt.zero_grad(set_to_none=False)
        loss = loss_of(c, p, src, src_pad, tgt_in, labels)
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p[n] for n in names], 1.0)
        opt.step()
    w.add("adamw_loss", losses)
    for n in names:
        w.add("final/" + n, p[n])
    path = os.path.join(outdir, name + ".bin")
    w.write(path)
    print("%s: loss %.6f, grad norm %.4f, 10-step losses %.4f -> %.4f" % (path, losses[0], norm2 ** 0.5,
                                                                         losses[0], losses[-1]))


CONFIGS = [
    ("encdec_paper", dict(n_enc_layer=2, n_dec_layer=2, n_head=2, d_model=32, d_ff=64, max_src=16, max_tgt=16,
                          src_vocab=47, tgt_vocab=47, shared_vocab=1, tie_output=1, learned_pos=0, scale_emb=1,
                          pre_ln=0, act=2, ln_eps=1e-5), 3, 10, 9, 1),
    ("encdec_preln_separate", dict(n_enc_layer=2, n_dec_layer=1, n_head=4, d_model=32, d_ff=48, max_src=12,
                                   max_tgt=14, src_vocab=41, tgt_vocab=37, shared_vocab=0, tie_output=0,
                                   learned_pos=1, scale_emb=0, pre_ln=1, act=0, ln_eps=1e-5), 3, 11, 8, 2),
]


def main():
    torch.set_num_threads(1)
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref")
    os.makedirs(outdir, exist_ok=True)
    for name, c, B, S, T, seed in CONFIGS:
        make(name, c, B, S, T, seed, outdir)


if __name__ == "__main__":
    main()
