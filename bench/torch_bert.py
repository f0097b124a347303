"""torch_bert.py: the PyTorch side of the BERT row of `make bench` (imported by bench/torch_train.py).

configs/bert-tiny.yaml's model in plain PyTorch, the same shapes and math as src/bert.c: word + position + segment-0
embeddings, LayerNorm (eps 1e-12), pre-LN encoder layers (bidirectional self-attention, erf-GELU MLP of width
4C), a final LayerNorm, and the masked-LM head (dense, GELU, LayerNorm, decoder tied to the word embedding, bias)
run only on the masked rows, as the trainer runs it (bert.h: mlm_rows_only). No dropout (the config has 0.0).

Written for speed in PyTorch 1.13, not to read like Hugging Face's modeling_bert: query, key and value are one
(3C, C) product, the 1/sqrt(HS) scale is folded into the score product (baddbmm with alpha), the masked rows are
gathered before the head. check_diff() compares its logits with tests/make_bert_ref.py, the reference the C model is
tested against, on the same weights.
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# configs/bert-tiny.yaml: 4 layers, 4 heads, d_model 128, context 32, pre-LN, the default 1,024-token BPE plus
# [CLS] [SEP] [MASK] [PAD]; batch 32 rows of [CLS] 30 tokens [SEP], 15% of the 30 scored (5 a row)
CONFIG = dict(n_layer=4, n_head=4, d_model=128, d_ff=512, max_position=32, vocab_size=1028, type_vocab_size=2,
              pre_ln=1, act=0, ln_eps=1e-12, n_classes=0)
V_BPE = 1024


class Layer(nn.Module):
    def __init__(self, C, F_):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, eps=CONFIG["ln_eps"])  # attention.output.LayerNorm (before, pre-LN)
        self.qkv = nn.Linear(C, 3 * C)
        self.out = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=CONFIG["ln_eps"])  # output.LayerNorm
        self.fc1 = nn.Linear(C, F_)
        self.fc2 = nn.Linear(F_, C)


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, V = c["d_model"], c["vocab_size"]
        self.c = c
        self.word = nn.Parameter(torch.empty(V, C))
        self.pos = nn.Parameter(torch.empty(c["max_position"], C))
        self.seg = nn.Parameter(torch.empty(c["type_vocab_size"], C))
        self.emb_ln = nn.LayerNorm(C, eps=c["ln_eps"])
        self.layers = nn.ModuleList(Layer(C, c["d_ff"]) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=c["ln_eps"])
        self.head = nn.Linear(C, C)
        self.head_ln = nn.LayerNorm(C, eps=c["ln_eps"])
        self.head_bias = nn.Parameter(torch.zeros(V))
        for p in self.parameters():  # BERT's: weights N(0, 0.02), biases 0, LayerNorm 1/0
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids, rows, targets):
        """ids (B, T) -> mean cross-entropy of the MLM head on the flat rows (n) against targets (n)."""
        B, T = ids.shape
        C, NH = self.c["d_model"], self.c["n_head"]
        HS, eps = C // NH, self.c["ln_eps"]
        x = F.embedding(ids, self.word) + (self.pos[:T] + self.seg[0])
        x = F.layer_norm(x, (C,), self.emb_ln.weight, self.emb_ln.bias, eps)
        for ly in self.layers:
            h = F.layer_norm(x, (C,), ly.ln_1.weight, ly.ln_1.bias, eps)
            qkv = F.linear(h, ly.qkv.weight, ly.qkv.bias).view(B, T, 3, NH, HS).permute(2, 0, 3, 1, 4)
            q, k, v = (t.reshape(B * NH, T, HS) for t in qkv)
            w = torch.softmax(torch.bmm(q, k.transpose(1, 2)).mul_(1.0 / math.sqrt(HS)), dim=-1)
            y = torch.bmm(w, v).view(B, NH, T, HS).transpose(1, 2).reshape(B, T, C)
            x = x + F.linear(y, ly.out.weight, ly.out.bias)
            h = F.layer_norm(x, (C,), ly.ln_2.weight, ly.ln_2.bias, eps)
            x = x + F.linear(F.gelu(F.linear(h, ly.fc1.weight, ly.fc1.bias)), ly.fc2.weight, ly.fc2.bias)
        x = F.layer_norm(x, (C,), self.ln_f.weight, self.ln_f.bias, eps)
        return self.head_logits(x.view(B * T, C).index_select(0, rows)), targets

    def head_logits(self, hsel):
        C, eps = self.c["d_model"], self.c["ln_eps"]
        t = F.gelu(F.linear(hsel, self.head.weight, self.head.bias))
        t = F.layer_norm(t, (C,), self.head_ln.weight, self.head_ln.bias, eps)
        return F.linear(t, self.word, self.head_bias)

    def loss(self, ids, rows, targets):
        logits, tg = self.forward(ids, rows, targets)
        return F.cross_entropy(logits, tg)

    def decay_groups(self, weight_decay):
        """As bert.h: decay on the 2-D Linear weights only (not the embeddings, LayerNorms, biases)."""
        emb = {id(self.word), id(self.pos), id(self.seg)}
        decay = [p for p in self.parameters() if p.dim() == 2 and id(p) not in emb]
        keep = [p for p in self.parameters() if p.dim() != 2 or id(p) in emb]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]

    def ref_params(self):
        """The weights under tests/make_bert_ref.py's names (Hugging Face BertForMaskedLM's)."""
        p = {"bert.embeddings.word_embeddings.weight": self.word,
             "bert.embeddings.position_embeddings.weight": self.pos,
             "bert.embeddings.token_type_embeddings.weight": self.seg,
             "bert.embeddings.LayerNorm.weight": self.emb_ln.weight, "bert.embeddings.LayerNorm.bias": self.emb_ln.bias,
             "bert.encoder.LayerNorm.weight": self.ln_f.weight, "bert.encoder.LayerNorm.bias": self.ln_f.bias,
             "cls.predictions.transform.dense.weight": self.head.weight,
             "cls.predictions.transform.dense.bias": self.head.bias,
             "cls.predictions.transform.LayerNorm.weight": self.head_ln.weight,
             "cls.predictions.transform.LayerNorm.bias": self.head_ln.bias, "cls.predictions.bias": self.head_bias}
        for i, ly in enumerate(self.layers):
            q = "bert.encoder.layer.%d." % i
            for j, n in enumerate(("query", "key", "value")):
                C = ly.out.weight.shape[0]
                p[q + "attention.self.%s.weight" % n] = ly.qkv.weight[j * C:(j + 1) * C]
                p[q + "attention.self.%s.bias" % n] = ly.qkv.bias[j * C:(j + 1) * C]
            p.update({q + "attention.output.dense.weight": ly.out.weight, q + "attention.output.dense.bias": ly.out.bias,
                      q + "attention.output.LayerNorm.weight": ly.ln_1.weight,
                      q + "attention.output.LayerNorm.bias": ly.ln_1.bias,
                      q + "intermediate.dense.weight": ly.fc1.weight, q + "intermediate.dense.bias": ly.fc1.bias,
                      q + "output.dense.weight": ly.fc2.weight, q + "output.dense.bias": ly.fc2.bias,
                      q + "output.LayerNorm.weight": ly.ln_2.weight, q + "output.LayerNorm.bias": ly.ln_2.bias})
        return p


def batch(B, T, gen):
    """Rows [CLS] 30 ordinary tokens [SEP] with 15% of the 30 positions masked (5 a row, as bert_mlm_mask picks):
    ids (B, T), the flat indices of the masked rows and their original tokens."""
    cls, sep, mask = V_BPE, V_BPE + 1, V_BPE + 2
    tok = torch.randint(0, V_BPE - 1, (B, T), generator=gen)
    tok[:, 0], tok[:, -1] = cls, sep
    n = max(1, math.floor(0.15 * (T - 2) + 0.5))
    pos = torch.stack([torch.randperm(T - 2, generator=gen)[:n] + 1 for _ in range(B)])  # (B, n)
    rows = (pos + torch.arange(B)[:, None] * T).reshape(-1).sort().values
    targets = tok.view(-1)[rows].clone()
    ids = tok.clone()
    ids.view(-1)[rows] = mask
    return ids, rows, targets


def flops(c, B, T, n_masked):
    """bench_train.c's bench_bert_flops: forward x 3, attention T x T, the head on the masked rows only."""
    N, C, Fd, L, V = B * T, c["d_model"], c["d_ff"], c["n_layer"], c["vocab_size"]
    fwd = L * (2.0 * N * (4 * C * C + 2 * C * Fd) + 4.0 * B * T * T * C) + 2.0 * n_masked * (C * C + C * V)
    return 3.0 * fwd


def setup(B, T):
    """(model, loss closure, FLOPs per step, note) of the bert-tiny row."""
    torch.manual_seed(1234)
    model = Bert(CONFIG).train()
    ids, rows, targets = batch(B, T, torch.Generator().manual_seed(1234))
    note = "; %d masked positions scored, %d params" % (rows.numel(), sum(p.numel() for p in model.parameters()))
    return model, (lambda: model.loss(ids, rows, targets)), flops(CONFIG, B, T, rows.numel()), note


def check():
    """What check_diff() found, as a note for the train line."""
    d = check_diff()
    return "largest logit change vs tests/make_bert_ref.py %s" % ("-" if d is None else "%.1e" % d)


def check_diff():
    """Largest |MLM logit difference| between this model and tests/make_bert_ref.py's on the same random weights
    and batch, or None when that file is not there."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
    if not os.path.exists(os.path.join(here, "make_bert_ref.py")):
        return None
    sys.path.insert(0, here)
    import make_bert_ref as ref
    torch.manual_seed(3)
    model = Bert(CONFIG).eval()
    with torch.no_grad():
        for p in model.parameters():  # large enough that every op matters
            p.add_(torch.randn_like(p) * 0.3)
        ids, rows, _ = batch(2, CONFIG["max_position"], torch.Generator().manual_seed(5))
        got, _ = model(ids, rows, None)
        p = model.ref_params()
        hid = ref.encode(CONFIG, p, ids, torch.zeros_like(ids), torch.zeros_like(ids), [])
        want = ref.mlm_logits(CONFIG, p, hid).reshape(-1, CONFIG["vocab_size"])[rows]
    return float((got - want).abs().max())
