"""torch_encdec.py: the PyTorch side of the encoder-decoder rows of `make bench` (imported by bench/torch_train.py).

configs/transformer-translate.yaml's model in plain PyTorch, the same shapes and math as src/encdec.c: the paper's
Transformer with 2 + 2 layers, 4 heads, d_model 64, d_ff 256, a shared 1,000-token vocabulary whose embedding
(times sqrt(C)) is also the output projection, sinusoidal positions, post-LN sublayers LN(x + drop(f(x))) with eps
1e-5, ReLU, dropout 0.1 after the embeddings, on every sublayer output and on the attention weights.

Written for speed in PyTorch 1.13: self-attention is one (3C, C) product, cross-attention's keys and values one
(2C, C) product, the 1/sqrt(HS) scale and the causal mask are folded into one baddbmm. decode() is greedy
translation with a preallocated K/V cache (cross K/V computed once per source) under inference_mode. check()
compares the logits with tests/make_encdec_ref.py, the reference the C model is tested against.
"""

import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = dict(n_enc_layer=2, n_dec_layer=2, n_head=4, d_model=64, d_ff=256, max_src=48, max_tgt=48, src_vocab=1000,
              tgt_vocab=1000, shared_vocab=1, tie_output=1, learned_pos=0, scale_emb=1, pre_ln=0, act=2, ln_eps=1e-5)
DROPOUT = 0.1


class Attn(nn.Module):
    def __init__(self, C, cross):
        super().__init__()
        self.cross = cross
        if cross:
            self.q = nn.Linear(C, C)
            self.kv = nn.Linear(C, 2 * C)
        else:
            self.qkv = nn.Linear(C, 3 * C)
        self.out = nn.Linear(C, C)
        self.ln = nn.LayerNorm(C, eps=CONFIG["ln_eps"])


class Mlp(nn.Module):
    def __init__(self, C, Fd):
        super().__init__()
        self.fc1 = nn.Linear(C, Fd)
        self.fc2 = nn.Linear(Fd, C)
        self.ln = nn.LayerNorm(C, eps=CONFIG["ln_eps"])


def sinusoid(n, C):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    ang = pos / torch.pow(10000.0, torch.arange(0, C, 2, dtype=torch.float64)[None, :] / C)
    pe = torch.zeros(n, C, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(ang), torch.cos(ang)
    return pe.float()


class EncDec(nn.Module):
    def __init__(self, c):
        super().__init__()
        C = c["d_model"]
        self.c = c
        self.shared = nn.Parameter(torch.empty(c["src_vocab"], C))
        self.register_buffer("pe", sinusoid(max(c["max_src"], c["max_tgt"]), C))
        self.enc = nn.ModuleList(nn.ModuleList([Attn(C, 0), Mlp(C, c["d_ff"])]) for _ in range(c["n_enc_layer"]))
        self.dec = nn.ModuleList(nn.ModuleList([Attn(C, 0), Attn(C, 1), Mlp(C, c["d_ff"])])
                                 for _ in range(c["n_dec_layer"]))
        self.register_buffer("causal", torch.triu(torch.full((c["max_tgt"], c["max_tgt"]), -math.inf), 1))
        for n, p in self.named_parameters():  # the paper's code: Xavier-uniform weights, embeddings N(0, C^-1/2)
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, C ** -0.5) if n == "shared" else nn.init.xavier_uniform_(p)

    def embed(self, ids, t0=0):
        T = ids.shape[1]
        return F.embedding(ids, self.shared).mul_(math.sqrt(self.c["d_model"])) + self.pe[t0:t0 + T]

    def attend(self, q, k, v, B, Tq, Tk, mask):
        """q (B, Tq, C), k and v (B, Tk, C) -> softmax(q k^T / sqrt(HS) + mask) v, heads merged (B, Tq, C)."""
        NH = self.c["n_head"]
        C = q.shape[-1]
        HS = C // NH
        q = q.view(B, Tq, NH, HS).transpose(1, 2).reshape(B * NH, Tq, HS)
        k = k.view(B, Tk, NH, HS).transpose(1, 2).reshape(B * NH, Tk, HS)
        v = v.view(B, Tk, NH, HS).transpose(1, 2).reshape(B * NH, Tk, HS)
        kt = k.transpose(1, 2)
        s = torch.baddbmm(mask, q, kt, beta=1.0, alpha=1.0 / math.sqrt(HS)) if mask is not None else \
            torch.bmm(q, kt).mul_(1.0 / math.sqrt(HS))
        w = F.dropout(torch.softmax(s, dim=-1), DROPOUT, self.training)
        return torch.bmm(w, v).view(B, NH, Tq, HS).transpose(1, 2).reshape(B, Tq, C)

    def sublayer(self, ln, x, y):
        """Post-LN: LN(x + drop(y))."""
        return F.layer_norm(x + F.dropout(y, DROPOUT, self.training), (x.shape[-1],), ln.weight, ln.bias,
                            self.c["ln_eps"])

    def self_attn(self, a, x, mask):
        B, T, C = x.shape
        q, k, v = F.linear(x, a.qkv.weight, a.qkv.bias).split(C, dim=2)
        return self.sublayer(a.ln, x, F.linear(self.attend(q, k, v, B, T, T, mask), a.out.weight, a.out.bias))

    def mlp(self, f, x):
        return self.sublayer(f.ln, x, F.linear(F.relu(F.linear(x, f.fc1.weight, f.fc1.bias)), f.fc2.weight,
                                               f.fc2.bias))

    def forward(self, src, tgt):
        """src (B, S), tgt (B, T) decoder inputs -> logits (B, T, V)."""
        (B, S), T = src.shape, tgt.shape[1]
        C = self.c["d_model"]
        x = F.dropout(self.embed(src), DROPOUT, self.training)
        for a, f in self.enc:
            x = self.mlp(f, self.self_attn(a, x, None))
        mem = x
        y = F.dropout(self.embed(tgt), DROPOUT, self.training)
        for a, xa, f in self.dec:
            y = self.self_attn(a, y, self.causal[:T, :T])
            k, v = F.linear(mem, xa.kv.weight, xa.kv.bias).split(C, dim=2)
            q = F.linear(y, xa.q.weight, xa.q.bias)
            y = self.sublayer(xa.ln, y, F.linear(self.attend(q, k, v, B, T, S, None), xa.out.weight, xa.out.bias))
            y = self.mlp(f, y)
        return F.linear(y, self.shared)

    def loss(self, src, tgt, labels):
        return F.cross_entropy(self.forward(src, tgt).view(-1, self.c["tgt_vocab"]), labels.view(-1))

    def decay_groups(self, weight_decay):
        """As encdec.h: decay on the 2-D Linear weights (not the shared embedding, LayerNorms, biases)."""
        decay = [p for n, p in self.named_parameters() if p.dim() == 2 and n != "shared"]
        keep = [p for n, p in self.named_parameters() if p.dim() != 2 or n == "shared"]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]

    def ref_params(self):
        """The weights under tests/make_encdec_ref.py's names (BART/Marian's)."""
        C = self.c["d_model"]
        p = {"model.shared.weight": self.shared}

        def attn(pre, ln, a):
            if a.cross:
                w = torch.cat([a.q.weight, a.kv.weight])
                b = torch.cat([a.q.bias, a.kv.bias])
            else:
                w, b = a.qkv.weight, a.qkv.bias
            for j, n in enumerate("qkv"):
                p[pre + ".%s_proj.weight" % n] = w[j * C:(j + 1) * C]
                p[pre + ".%s_proj.bias" % n] = b[j * C:(j + 1) * C]
            p.update({pre + ".out_proj.weight": a.out.weight, pre + ".out_proj.bias": a.out.bias,
                      ln + ".weight": a.ln.weight, ln + ".bias": a.ln.bias})

        def mlp(pre, f):
            p.update({pre + ".fc1.weight": f.fc1.weight, pre + ".fc1.bias": f.fc1.bias, pre + ".fc2.weight": f.fc2.weight,
                      pre + ".fc2.bias": f.fc2.bias, pre + ".final_layer_norm.weight": f.ln.weight,
                      pre + ".final_layer_norm.bias": f.ln.bias})

        for i, (a, f) in enumerate(self.enc):
            q = "model.encoder.layers.%d" % i
            attn(q + ".self_attn", q + ".self_attn_layer_norm", a)
            mlp(q, f)
        for i, (a, xa, f) in enumerate(self.dec):
            q = "model.decoder.layers.%d" % i
            attn(q + ".self_attn", q + ".self_attn_layer_norm", a)
            attn(q + ".encoder_attn", q + ".encoder_attn_layer_norm", xa)
            mlp(q, f)
        return p


def flops(c, B, S, T):
    """bench_train.c's bench_encdec_flops: forward x 3."""
    Ns, Nt, C, Fd, V = B * S, B * T, c["d_model"], c["d_ff"], c["tgt_vocab"]
    enc = 2.0 * Ns * (4 * C * C + 2 * C * Fd) + 4.0 * B * S * S * C
    dec = (2.0 * Nt * (4 * C * C + 2 * C * Fd) + 4.0 * B * T * T * C + 2.0 * Nt * 2 * C * C + 2.0 * Ns * 2 * C * C +
           4.0 * B * T * S * C)
    return 3.0 * (c["n_enc_layer"] * enc + c["n_dec_layer"] * dec + 2.0 * Nt * C * V)


def setup(B, S, T):
    """(model, loss closure, FLOPs per step, note) of the teacher-forced training row."""
    torch.manual_seed(1234)
    model = EncDec(CONFIG).train()
    V = CONFIG["tgt_vocab"]
    g = torch.Generator().manual_seed(1234)
    src, tgt, labels = (torch.randint(0, V, shape, generator=g) for shape in ((B, S), (B, T), (B, T)))
    note = "; source S=%d, %d params" % (S, sum(p.numel() for p in model.parameters()))
    return model, (lambda: model.loss(src, tgt, labels)), flops(CONFIG, B, S, T), note


@torch.inference_mode()
def decode(model, srcs, T, out=None):
    """Greedy translation of each source (1, S) for T tokens (no early stop), with a K/V cache: the encoder and
    every layer's cross K/V once per source, then one token at a time. Returns the seconds taken; out (a list),
    when given, receives each source's tokens."""
    c = model.c
    C, NH, V = c["d_model"], c["n_head"], c["tgt_vocab"]
    HS = C // NH
    scale = 1.0 / math.sqrt(HS)
    Ld = len(model.dec)
    kcache = torch.empty(Ld, NH, T, HS)
    vcache = torch.empty(Ld, NH, T, HS)
    t0 = time.perf_counter()
    for src in srcs:
        S = src.shape[1]
        x = model.embed(src)
        for a, f in model.enc:
            x = model.mlp(f, model.self_attn(a, x, None))
        cross = []
        for _, xa, _ in model.dec:
            k, v = F.linear(x[0], xa.kv.weight, xa.kv.bias).split(C, dim=1)
            cross.append((k.view(S, NH, HS).permute(1, 2, 0), v.view(S, NH, HS).transpose(0, 1)))  # (NH,HS,S) (NH,S,HS)
        tok, toks = V - 1, []  # the begin marker
        for t in range(T):
            y = model.shared[tok] * math.sqrt(C) + model.pe[t]  # (C)
            for li, (a, xa, f) in enumerate(model.dec):
                q, k, v = F.linear(y, a.qkv.weight, a.qkv.bias).view(3, NH, HS)
                kcache[li, :, t] = k
                vcache[li, :, t] = v
                w = torch.softmax(torch.bmm(q.unsqueeze(1), kcache[li, :, :t + 1].transpose(1, 2)).mul_(scale), -1)
                h = torch.bmm(w, vcache[li, :, :t + 1]).view(C)
                y = F.layer_norm(y + F.linear(h, a.out.weight, a.out.bias), (C,), a.ln.weight, a.ln.bias, c["ln_eps"])
                q = F.linear(y, xa.q.weight, xa.q.bias).view(NH, 1, HS)
                w = torch.softmax(torch.bmm(q, cross[li][0]).mul_(scale), -1)
                h = torch.bmm(w, cross[li][1]).view(C)
                y = F.layer_norm(y + F.linear(h, xa.out.weight, xa.out.bias), (C,), xa.ln.weight, xa.ln.bias,
                                 c["ln_eps"])
                y = F.layer_norm(y + F.linear(F.relu(F.linear(y, f.fc1.weight, f.fc1.bias)), f.fc2.weight, f.fc2.bias),
                                 (C,), f.ln.weight, f.ln.bias, c["ln_eps"])
            tok = int(torch.argmax(F.linear(y, model.shared)))
            toks.append(tok)
        if out is not None:
            out.append(toks)
    return time.perf_counter() - t0


def decode_bench(n_src, S, T, threads):
    """The best tokens/s of greedy decoding over 1 and `threads` threads (batch-1 decoding is often faster on one),
    two timed passes each after a warm-up; and the thread count that gave it."""
    torch.manual_seed(99)
    model = EncDec(CONFIG).eval()
    g = torch.Generator().manual_seed(99)
    srcs = [torch.randint(0, CONFIG["src_vocab"], (1, S), generator=g) for _ in range(n_src)]
    best = None
    for th in sorted({1, threads}):
        torch.set_num_threads(th)
        decode(model, srcs[:2], T)
        dt = min(decode(model, srcs, T) for _ in range(2))
        if best is None or dt < best[0]:
            best = (dt, th)
    torch.set_num_threads(threads)
    return n_src * T / best[0], best[1]


def check():
    """What check_diff() found, as a note for the train line."""
    d, same = check_diff()
    return "cached greedy decoding %s the full forward's; largest logit change vs tests/make_encdec_ref.py %s" % (
        "matches" if same else "DIFFERS FROM", "-" if d is None else "%.1e" % d)


def check_diff():
    """(largest |logit difference| between this model and tests/make_encdec_ref.py's on the same random weights
    and batch, dropout off, or None when that file is not there; whether decode()'s cached greedy tokens are those
    of greedy decoding by full forwards)."""
    torch.manual_seed(3)
    model = EncDec(CONFIG).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        g = torch.Generator().manual_seed(5)
        src, tgt = torch.randint(0, 1000, (2, 9), generator=g), torch.randint(0, 1000, (2, 7), generator=g)
        got = model(src, tgt)
        toks = []
        decode(model, [src[:1]], 8, toks)
        full = [CONFIG["tgt_vocab"] - 1]
        for _ in range(8):
            full.append(int(model(src[:1], torch.tensor([full]))[0, -1].argmax()))
        same = toks[0] == full[1:]
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
        if not os.path.exists(os.path.join(here, "make_encdec_ref.py")):
            return None, same
        sys.path.insert(0, here)
        import make_encdec_ref as ref
        want = ref.forward(CONFIG, model.ref_params(), src, torch.zeros_like(src), tgt,
                           {"enc": [], "dec": [], "cross": []})
    return float((got - want).abs().max()), same
