"""make_bert_ref.py: writes tests/ref/bert_*.bin, the PyTorch reference that tests/test_bert.c checks the C BERT
(src/bert.c) against: MLM logits, attention weights, loss, every gradient, 10 AdamW steps with clipping, the
classifier ([CLS] -> pooler -> classifier) logits, loss and gradients, and the MLM masking itself.

Plain PyTorch (no transformers): the model below is written from the BERT paper and Hugging Face's modeling_bert
(BertEmbeddings, BertSelfAttention, BertSelfOutput, BertIntermediate, BertOutput, BertPredictionHeadTransform,
BertLMPredictionHead with the decoder tied to the word embeddings, BertPooler), as functions over a dict of tensors
keyed by the HF BertForMaskedLM / BertForSequenceClassification names.

Run from the repo root with Debian's torch:  /usr/bin/python3 tests/make_bert_ref.py
CI has no torch: the .bin files are committed. Format: LWREF1, as tests/make_model_ref.py writes it.

Arrays:
    config      [n_layer, n_head, d_model, d_ff, max_position, vocab_size, type_vocab_size, pre_ln, act (0 erf
                 GELU, 1 tanh GELU), ln_eps, n_classes, B, T]
    inputs, segments, pad (1 = padding), labels (B, T) MLM labels (-100 = not predicted), cls_labels (B)
    param/<name>    initial weights, in the C tensor table's order
    logits (B*T, V)  MLM head on every row (no labels)      att (L, B, NH, T, T)
    loss (1)         mean cross-entropy over the labelled rows
    grad/<name>      its gradient (zeros for the pooler/classifier)            grad_norm (1)
    adamw_loss (10), final/<name>: 10 steps of forward, backward, clip_grad_norm_(1.0), AdamW (lr 1e-3, betas
                     0.9/0.95, eps 1e-8, weight decay 0.1 on 2-D Linear weights only)
    cls_logits (B, K), cls_loss (1), cls_grad/<name>   [n_classes > 0]
    mask_spec [seed, prob, mask_id, rand_lo, rand_hi, special...], mask_tokens (B, T), mask_inputs, mask_labels:
                     bert_mlm_mask re-implemented here on the engine's xoshiro256** (src/rng.c)
"""

import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_ref import RefWriter  # noqa: E402

IGNORE = -100


def table(c):
    """(name, shape, decay) in the C table's order (src/bert.c bert_init)."""
    C, Fd, V = c["d_model"], c["d_ff"], c["vocab_size"]
    t = [("bert.embeddings.word_embeddings.weight", (V, C), 0),
         ("bert.embeddings.position_embeddings.weight", (c["max_position"], C), 0)]
    if c["type_vocab_size"] > 0:
        t.append(("bert.embeddings.token_type_embeddings.weight", (c["type_vocab_size"], C), 0))
    t += [("bert.embeddings.LayerNorm.weight", (C,), 0), ("bert.embeddings.LayerNorm.bias", (C,), 0)]
    for l in range(c["n_layer"]):
        p = "bert.encoder.layer.%d." % l
        for n in ("query", "key", "value"):
            t.append((p + "attention.self.%s.weight" % n, (C, C), 1))
        for n in ("query", "key", "value"):
            t.append((p + "attention.self.%s.bias" % n, (C,), 0))
        t += [(p + "attention.output.dense.weight", (C, C), 1), (p + "attention.output.dense.bias", (C,), 0),
              (p + "attention.output.LayerNorm.weight", (C,), 0), (p + "attention.output.LayerNorm.bias", (C,), 0),
              (p + "intermediate.dense.weight", (Fd, C), 1), (p + "intermediate.dense.bias", (Fd,), 0),
              (p + "output.dense.weight", (C, Fd), 1), (p + "output.dense.bias", (C,), 0),
              (p + "output.LayerNorm.weight", (C,), 0), (p + "output.LayerNorm.bias", (C,), 0)]
    if c["pre_ln"]:
        t += [("bert.encoder.LayerNorm.weight", (C,), 0), ("bert.encoder.LayerNorm.bias", (C,), 0)]
    t += [("cls.predictions.transform.dense.weight", (C, C), 1), ("cls.predictions.transform.dense.bias", (C,), 0),
          ("cls.predictions.transform.LayerNorm.weight", (C,), 0),
          ("cls.predictions.transform.LayerNorm.bias", (C,), 0), ("cls.predictions.bias", (V,), 0)]
    if c["n_classes"] > 0:
        K = c["n_classes"]
        t += [("bert.pooler.dense.weight", (C, C), 1), ("bert.pooler.dense.bias", (C,), 0),
              ("classifier.weight", (K, C), 1), ("classifier.bias", (K,), 0)]
    return t


def act(c, x):
    return F.gelu(x) if c["act"] == 0 else F.gelu(x, approximate="tanh")


def encode(c, p, ids, segs, pad, atts):
    """BertModel without the pooler: (B, T) -> (B, T, C); appends each layer's attention weights to atts."""
    B, T = ids.shape
    C, NH, eps = c["d_model"], c["n_head"], c["ln_eps"]
    HS = C // NH
    ln = lambda x, n: F.layer_norm(x, (C,), p[n + ".weight"], p[n + ".bias"], eps)  # noqa: E731
    lin = lambda x, n: F.linear(x, p[n + ".weight"], p[n + ".bias"])  # noqa: E731
    e = p["bert.embeddings.word_embeddings.weight"][ids] + p["bert.embeddings.position_embeddings.weight"][:T]
    if c["type_vocab_size"] > 0:
        e = e + p["bert.embeddings.token_type_embeddings.weight"][segs]
    x = ln(e, "bert.embeddings.LayerNorm")
    keymask = pad.bool()[:, None, None, :]  # (B, 1, 1, T): padding keys are hidden
    for l in range(c["n_layer"]):
        q = "bert.encoder.layer.%d." % l
        a_in = ln(x, q + "attention.output.LayerNorm") if c["pre_ln"] else x
        heads = lambda n: lin(a_in, q + "attention.self." + n).view(B, T, NH, HS).transpose(1, 2)  # noqa: E731
        Q, K, Vv = heads("query"), heads("key"), heads("value")
        s = (Q @ K.transpose(-2, -1)) / math.sqrt(HS)
        s = s.masked_fill(keymask, float("-inf"))
        w = torch.softmax(s, dim=-1)
        atts.append(w)
        y = (w @ Vv).transpose(1, 2).reshape(B, T, C)
        r = x + lin(y, q + "attention.output.dense")
        h = r if c["pre_ln"] else ln(r, q + "attention.output.LayerNorm")
        m_in = ln(h, q + "output.LayerNorm") if c["pre_ln"] else h
        r2 = h + lin(act(c, lin(m_in, q + "intermediate.dense")), q + "output.dense")
        x = r2 if c["pre_ln"] else ln(r2, q + "output.LayerNorm")
    if c["pre_ln"]:
        x = ln(x, "bert.encoder.LayerNorm")
    return x


def mlm_logits(c, p, hid):
    C, eps = c["d_model"], c["ln_eps"]
    t = F.linear(hid, p["cls.predictions.transform.dense.weight"], p["cls.predictions.transform.dense.bias"])
    t = F.layer_norm(act(c, t), (C,), p["cls.predictions.transform.LayerNorm.weight"],
                     p["cls.predictions.transform.LayerNorm.bias"], eps)
    return F.linear(t, p["bert.embeddings.word_embeddings.weight"], p["cls.predictions.bias"])


def cls_logits(c, p, hid):
    pooled = torch.tanh(F.linear(hid[:, 0], p["bert.pooler.dense.weight"], p["bert.pooler.dense.bias"]))
    return F.linear(pooled, p["classifier.weight"], p["classifier.bias"])


def mlm_loss(c, p, ids, segs, pad, labels):
    hid = encode(c, p, ids, segs, pad, [])
    return F.cross_entropy(mlm_logits(c, p, hid).view(-1, c["vocab_size"]), labels.view(-1), ignore_index=IGNORE)


# ---- the engine's RNG (src/rng.c) and bert_mlm_mask (src/bert.c) ----
M64 = (1 << 64) - 1


class Xoshiro:
    def __init__(self, seed):
        x = seed
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def u32(self):
        return self.u64() >> 32

    def below(self, n):
        m = self.u32() * n
        lo = m & 0xFFFFFFFF
        if lo < n:
            t = ((1 << 32) - n) % n
            while lo < t:
                m = self.u32() * n
                lo = m & 0xFFFFFFFF
        return m >> 32

    def uniform(self):
        return float(self.u64() >> 40) / 16777216.0


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def mlm_mask(tokens, prob, mask_id, rand_lo, rand_hi, special, rng):
    inputs = [row[:] for row in tokens]
    labels = [[IGNORE] * len(row) for row in tokens]
    for b, row in enumerate(tokens):
        cand = [t for t, tok in enumerate(row) if tok not in special]
        if not cand:
            continue
        n = min(len(cand), max(1, math.floor(f32(prob) * len(cand) + 0.5)))
        for i in range(n):
            j = i + rng.below(len(cand) - i)
            cand[i], cand[j] = cand[j], cand[i]
            t = cand[i]
            labels[b][t] = row[t]
            u = rng.uniform()
            if u < f32(0.8):
                inputs[b][t] = mask_id
            elif u < f32(0.9):
                inputs[b][t] = rand_lo + rng.below(rand_hi - rand_lo)
    return inputs, labels


def randomize(c, gen):
    """O(1) activations everywhere: Linear weights N(0, 1/fan_in), embeddings N(0, 0.5^2), LayerNorm weights
    1 + N(0, 0.1^2), biases N(0, 0.1^2)."""
    p = {}
    for name, shape, _ in table(c):
        r = torch.randn(shape, generator=gen)
        if "embeddings" in name and len(shape) == 2:
            v = 0.5 * r
        elif len(shape) == 2:
            v = r / shape[1] ** 0.5
        elif "LayerNorm.weight" in name:
            v = 1.0 + 0.1 * r
        else:
            v = 0.1 * r
        p[name] = v.clone().requires_grad_(True)
    return p


def make(name, c, B, T, seed, outdir):
    gen = torch.Generator().manual_seed(seed)
    p = randomize(c, gen)
    V = c["vocab_size"]
    ids = torch.randint(1, V, (B, T), generator=gen)
    segs = torch.zeros(B, T, dtype=torch.long)
    if c["type_vocab_size"] > 0:
        segs[:, T // 2:] = 1
    pad = torch.zeros(B, T, dtype=torch.long)
    pad[1, -3:] = 1
    pad[2, -1:] = 1
    ids[pad.bool()] = 0
    labels = torch.randint(0, V, (B, T), generator=gen)
    keep = torch.rand(B, T, generator=gen) < 0.35
    keep[0, 1] = True
    labels[~keep | pad.bool()] = IGNORE
    cls_labels = torch.randint(0, max(c["n_classes"], 1), (B,), generator=gen)

    w = RefWriter()
    w.add("config", [c["n_layer"], c["n_head"], c["d_model"], c["d_ff"], c["max_position"], V, c["type_vocab_size"],
                     c["pre_ln"], c["act"], c["ln_eps"], c["n_classes"], B, T])
    for k, v in (("inputs", ids), ("segments", segs), ("pad", pad), ("labels", labels), ("cls_labels", cls_labels)):
        w.add(k, v)
    names = [n for n, _, _ in table(c)]
    for n in names:
        w.add("param/" + n, p[n])

    atts = []
    hid = encode(c, p, ids, segs, pad, atts)
    w.add("logits", mlm_logits(c, p, hid).reshape(B * T, V))
    w.add("att", torch.stack(atts))
    loss = mlm_loss(c, p, ids, segs, pad, labels)
    loss.backward()
    w.add("loss", [loss.item()])
    norm2 = 0.0
    for n in names:
        g = p[n].grad if p[n].grad is not None else torch.zeros_like(p[n])
        w.add("grad/" + n, g)
        norm2 += float((g.double() ** 2).sum())
    w.add("grad_norm", [norm2 ** 0.5])

    if c["n_classes"] > 0:
        for n in names:
            p[n].grad = None
        hid = encode(c, p, ids, segs, pad, [])
        lg = cls_logits(c, p, hid)
        closs = F.cross_entropy(lg, cls_labels)
        closs.backward()
        w.add("cls_logits", lg)
        w.add("cls_loss", [closs.item()])
        for n in names:
            g = p[n].grad if p[n].grad is not None else torch.zeros_like(p[n])
            w.add("cls_grad/" + n, g)

    decay = [p[n] for n, _, d in table(c) if d]
    nodecay = [p[n] for n, _, d in table(c) if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    losses = []
    for _ in range(10):
        opt.zero_grad(set_to_none=False)
        loss = mlm_loss(c, p, ids, segs, pad, labels)
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p[n] for n in names], 1.0)
        opt.step()
    w.add("adamw_loss", losses)
    for n in names:
        w.add("final/" + n, p[n])

    # the masking: 4 sequences of 40 with [CLS]=1 ... [SEP]=2 and [PAD]=0 tails, [MASK]=3, ordinary ids 4..V-1
    mseed, mB, mT = 1234 + seed, 4, 40
    tok = torch.randint(4, V, (mB, mT), generator=gen).tolist()
    for b in range(mB):
        n = mT - 5 * b
        tok[b][0], tok[b][n - 1] = 1, 2
        for t in range(n, mT):
            tok[b][t] = 0
    special = [0, 1, 2]
    minp, mlab = mlm_mask(tok, 0.15, 3, 4, V, special, Xoshiro(mseed))
    w.add("mask_spec", [mseed, 0.15, 3, 4, V] + special)
    w.add("mask_tokens", tok)
    w.add("mask_inputs", minp)
    w.add("mask_labels", mlab)

    path = os.path.join(outdir, name + ".bin")
    w.write(path)
    print("%s: loss %.6f, grad norm %.4f, 10-step losses %.4f -> %.4f" % (path, losses[0], norm2 ** 0.5,
                                                                         losses[0], losses[-1]))


CONFIGS = [
    ("bert_postln_seg_cls", dict(n_layer=2, n_head=2, d_model=32, d_ff=64, max_position=16, vocab_size=53,
                                 type_vocab_size=2, pre_ln=0, act=0, ln_eps=1e-12, n_classes=3), 3, 12, 1),
    ("bert_preln_tanh_nh4", dict(n_layer=2, n_head=4, d_model=32, d_ff=48, max_position=20, vocab_size=41,
                                 type_vocab_size=0, pre_ln=1, act=1, ln_eps=1e-5, n_classes=0), 3, 11, 2),
]


def main():
    torch.set_num_threads(1)
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref")
    os.makedirs(outdir, exist_ok=True)
    for name, c, B, T, seed in CONFIGS:
        make(name, c, B, T, seed, outdir)


if __name__ == "__main__":
    main()
