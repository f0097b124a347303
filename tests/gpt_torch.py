"""gpt_torch.py: a PyTorch version of the workbench's GPT (the book's GPTModel), used only to make reference files.

Run with Debian's python3-torch (/usr/bin/python3); CI does not have torch, so whatever a script builds from this
module is committed (tests/ref/, tests/vectors/).

The structure is the book's GPTModel (token + learned position embeddings, dropout, pre-LayerNorm blocks
x + drop(attn(ln_1(x))) and x + drop(mlp(ln_2(x))), causal multi-head attention with scores / sqrt(HS), a causal
mask by -inf, softmax, dropout on the weights and an output projection with bias, MLP C -> 4C -> C with tanh-GELU,
final LayerNorm with eps 1e-5, LM head tied to wte or separate), but the modules are named and laid out like
Hugging Face GPT-2 so that state_dict_hf() is a straight copy of the C model's tensor table:

    wte.weight (V, C)            wpe.weight (context_length, C)
    h.{i}.ln_1.weight/bias (C)   h.{i}.attn.c_attn.weight (C, 3C)  h.{i}.attn.c_attn.bias (3C) [qkv_bias only]
    h.{i}.attn.c_proj.weight (C, C)  .bias (C)    h.{i}.ln_2.weight/bias (C)
    h.{i}.mlp.c_fc.weight (C, 4C) .bias (4C)      h.{i}.mlp.c_proj.weight (4C, C) .bias (C)
    ln_f.weight/bias (C)         lm_head.weight (V, C) [untied only]

Weights of the projections are in Conv1D layout (in, out): y = x @ W + b; c_attn's output is q | k | v.

Use:
    from gpt_torch import GPT, gpt_config
    cfg = gpt_config("tiny", vocab_size=97)          # or gpt_config(n_layer=2, n_head=2, d_model=32, ...)
    model = GPT(cfg)
    d = model.state_dict_hf()                        # {hf_name: tensor}
    model.load_state_dict_hf(d)                      # accepts HF GPT-2 files (prefix "transformer." allowed)
    logits = model(idx)                              # idx (B, T) int64 -> (B, T, V)
    loss = cross_entropy(logits, targets)            # mean over targets != -100
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -100

PRESETS = {
    # name: (n_layer, n_head, d_model, context_length, vocab_size)
    "tiny": (2, 2, 32, 16, 97),
    "gpt2-small": (12, 12, 768, 1024, 50257),
    "gpt2-124m": (12, 12, 768, 1024, 50257),
    "gpt2-medium": (24, 16, 1024, 1024, 50257),
    "gpt2-355m": (24, 16, 1024, 1024, 50257),
    "gpt2-large": (36, 20, 1280, 1024, 50257),
    "gpt2-774m": (36, 20, 1280, 1024, 50257),
    "gpt2-xl": (48, 25, 1600, 1024, 50257),
    "gpt2-1558m": (48, 25, 1600, 1024, 50257),
}

# The book's GPT_CONFIG_124M key names, accepted as aliases.
_ALIASES = {
    "n_layers": "n_layer", "n_heads": "n_head", "emb_dim": "d_model", "n_embd": "d_model",
    "drop_rate": "dropout", "n_positions": "context_length", "n_ctx": "context_length",
    "tie_word_embeddings": "tie_embeddings",
}


def gpt_config(preset=None, **overrides):
    """Returns a config dict with the C GptConfig's fields (n_layer, n_head, d_model, context_length, vocab_size,
    dropout, qkv_bias, tie_embeddings). preset is a name from PRESETS or None (then every dim must be given);
    overrides may use the C names or the book's / HF's names (emb_dim, n_heads, n_layers, drop_rate, n_embd...)."""
    cfg = {"dropout": 0.0, "qkv_bias": False, "tie_embeddings": False}
    if preset is not None:
        nl, nh, c, t, v = PRESETS[preset]
        cfg.update(n_layer=nl, n_head=nh, d_model=c, context_length=t, vocab_size=v)
        if preset != "tiny":
            cfg["dropout"] = 0.1
    for k, val in overrides.items():
        cfg[_ALIASES.get(k, k)] = val
    for k in ("n_layer", "n_head", "d_model", "context_length", "vocab_size"):
        if k not in cfg:
            raise ValueError("gpt_config: missing %s" % k)
    if cfg["d_model"] % cfg["n_head"]:
        raise ValueError("gpt_config: d_model %d is not a multiple of n_head %d" % (cfg["d_model"], cfg["n_head"]))
    cfg["qkv_bias"] = bool(cfg["qkv_bias"])
    cfg["tie_embeddings"] = bool(cfg["tie_embeddings"])
    return cfg


def hf_config_json(cfg):
    """The config.json dict of a Hugging Face GPT2Config for this model."""
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
        "n_layer": cfg["n_layer"], "n_head": cfg["n_head"], "n_embd": cfg["d_model"],
        "n_positions": cfg["context_length"], "n_ctx": cfg["context_length"], "vocab_size": cfg["vocab_size"],
        "layer_norm_epsilon": 1e-5, "resid_pdrop": cfg["dropout"], "embd_pdrop": cfg["dropout"],
        "attn_pdrop": cfg["dropout"], "tie_word_embeddings": cfg["tie_embeddings"],
        "bos_token_id": 50256, "eos_token_id": 50256,
    }


def count_params(cfg):
    """Parameter count of the model this config describes, without building it."""
    c, v, t, nl = cfg["d_model"], cfg["vocab_size"], cfg["context_length"], cfg["n_layer"]
    per_block = 2 * 2 * c + (c * 3 * c + (3 * c if cfg["qkv_bias"] else 0)) + c * c + c \
        + c * 4 * c + 4 * c + 4 * c * c + c
    n = v * c + t * c + nl * per_block + 2 * c
    if not cfg["tie_embeddings"]:
        n += v * c
    return n


class LoRA(nn.Module):
    """The book's LoRALayer (appendix E) with BOOK-FACTS' scaling: (alpha / rank) * x @ A @ B; A (in, r)
    kaiming_uniform_(a=sqrt(5)), B (r, out) zeros."""

    def __init__(self, n_in, n_out, rank, alpha):
        super().__init__()
        self.A = nn.Parameter(torch.empty(n_in, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(rank, n_out))
        self.scale = alpha / rank

    def forward(self, x):
        return self.scale * (x @ self.A @ self.B)


class Conv1D(nn.Module):
    """HF's Conv1D: a linear layer whose weight is stored (in, out); y = x @ W + b (+ LoRA when self.lora is set)."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None
        self.lora = None

    def forward(self, x):
        y = x @ self.weight
        y = y + self.bias if self.bias is not None else y
        return y + self.lora(x) if self.lora is not None else y


class Head(nn.Linear):
    """The classification head: nn.Linear(C, n_classes) with bias (the book's), named "score" like HF's, with
    an optional LoRA adapter."""

    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out)
        self.lora = None

    def forward(self, x):
        y = super().forward(x)
        return y + self.lora(x) if self.lora is not None else y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class Attention(nn.Module):
    """The book's MultiHeadAttention with q, k, v fused into one Conv1D (q | k | v along the output)."""

    def __init__(self, cfg):
        super().__init__()
        c = cfg["d_model"]
        self.n_head = cfg["n_head"]
        self.c_attn = Conv1D(c, 3 * c, bias=cfg["qkv_bias"])
        self.c_proj = Conv1D(c, c)
        self.attn_drop = nn.Dropout(cfg["dropout"])
        t = cfg["context_length"]
        self.register_buffer("mask", torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1), persistent=False)
        self.last_weights = None  # (B, NH, T, T) after softmax, before dropout

    def forward(self, x):
        b, t, c = x.shape
        hs = c // self.n_head
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.n_head, hs).transpose(1, 2)  # (B, NH, T, HS)
        k = k.view(b, t, self.n_head, hs).transpose(1, 2)
        v = v.view(b, t, self.n_head, hs).transpose(1, 2)
        scores = q @ k.transpose(2, 3)
        scores = scores.masked_fill(self.mask[:t, :t], -torch.inf)
        w = torch.softmax(scores / math.sqrt(hs), dim=-1)
        self.last_weights = w.detach()
        w = self.attn_drop(w)
        ctx = (w @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(ctx)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["d_model"]
        self.c_fc = Conv1D(c, 4 * c)
        self.c_proj = Conv1D(4 * c, c)

    def forward(self, x):
        return self.c_proj(gelu_tanh(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["d_model"]
        self.ln_1 = nn.LayerNorm(c, eps=1e-5)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(c, eps=1e-5)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg["dropout"])

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln_1(x)))
        x = x + self.drop(self.mlp(self.ln_2(x)))
        return x


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cfg = gpt_config(**cfg) if "dropout" not in cfg or "qkv_bias" not in cfg else dict(cfg)
        self.cfg = cfg
        c, v = cfg["d_model"], cfg["vocab_size"]
        self.wte = nn.Embedding(v, c)
        self.wpe = nn.Embedding(cfg["context_length"], c)
        self.drop = nn.Dropout(cfg["dropout"])
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(c, eps=1e-5)
        if cfg["tie_embeddings"]:
            self.lm_head = None
        else:
            self.lm_head = nn.Parameter(torch.zeros(v, c))
        self.score = None
        self.init_weights()

    def add_class_head(self, n_classes):
        """Adds the classification head "score" (Linear C -> n_classes with bias)."""
        self.score = Head(self.cfg["d_model"], n_classes)

    def enable_lora(self, rank, alpha, targets=("attn", "proj", "fc", "fcproj", "head")):
        """Freezes every parameter, then adds trainable LoRA adapters (the book's replace_linear_with_lora, on the
        chosen matrices: attn = c_attn, proj = attn.c_proj, fc = mlp.c_fc, fcproj = mlp.c_proj, head = score)."""
        for p in self.parameters():
            p.requires_grad_(False)
        c = self.cfg["d_model"]
        for blk in self.h:
            for t, mod, n_in, n_out in (("attn", blk.attn.c_attn, c, 3 * c), ("proj", blk.attn.c_proj, c, c),
                                        ("fc", blk.mlp.c_fc, c, 4 * c), ("fcproj", blk.mlp.c_proj, 4 * c, c)):
                if t in targets:
                    mod.lora = LoRA(n_in, n_out, rank, alpha)
        if "head" in targets:
            self.score.lora = LoRA(c, self.score.out_features, rank, alpha)

    def hidden(self, idx):
        """idx (B, T) -> ln_f output (B, T, C)."""
        b, t = idx.shape
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def classify(self, idx, last):
        """Class logits (B, n_classes) from the ln_f output at position last[b] (the last real token) of each row."""
        h = self.hidden(idx)
        return self.score(h[torch.arange(idx.shape[0]), last])

    def init_weights(self, std=0.02):
        """GPT-2 initialisation (the C gpt_init_weights's scheme, not its numbers): weights N(0, std), residual
        projections N(0, std/sqrt(2L)), biases 0, LayerNorm 1/0. Seed with torch.manual_seed first."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    p.normal_(0.0, std / math.sqrt(2 * self.cfg["n_layer"]))
                elif p.dim() == 2:
                    p.normal_(0.0, std)
                elif ".ln_" in name or name.startswith("ln_f"):
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                else:
                    p.zero_()

    def head_weight(self):
        return self.wte.weight if self.lm_head is None else self.lm_head

    def forward(self, idx):
        """idx (B, T) int64 -> logits (B, T, V)."""
        b, t = idx.shape
        assert t <= self.cfg["context_length"]
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return x @ self.head_weight().t()

    def attention_weights(self):
        """(L, B, NH, T, T) attention weights of the last forward, after softmax, before dropout."""
        return torch.stack([blk.attn.last_weights for blk in self.h])

    def hf_names(self):
        """Our parameters in the C tensor table's order, as (hf_name, parameter)."""
        out = []
        for name, p in self.named_parameters():
            name = name.replace(".lora.A", ".lora_A").replace(".lora.B", ".lora_B")
            out.append(("lm_head.weight" if name == "lm_head" else name, p))
        # named_parameters lists lm_head after ln_f already; keep that order (it is the C table's order).
        return out

    def state_dict_hf(self, hf_complete=False):
        """{hf_name: tensor (detached, contiguous float32)} of the model's parameters. With hf_complete=True adds
        what a Hugging Face GPT-2 file always has: zero c_attn.bias when qkv_bias is off (and nothing else: a tied
        HF model has no separate lm_head.weight either)."""
        d = {}
        for name, p in self.hf_names():
            d[name] = p.detach().contiguous().clone()
        if hf_complete and not self.cfg["qkv_bias"]:
            c = self.cfg["d_model"]
            for i in range(self.cfg["n_layer"]):
                d["h.%d.attn.c_attn.bias" % i] = torch.zeros(3 * c)
        return d

    def load_state_dict_hf(self, d, strict=True):
        """Loads {hf_name: tensor or numpy array}. Accepts the prefix "transformer." (GPT2LMHeadModel files),
        ignores HF buffers (attn.bias, attn.masked_bias), a c_attn.bias when qkv_bias is off (it must be zero),
        and lm_head.weight when tied (it must equal wte). With strict, a missing tensor or a shape mismatch raises."""
        src = {}
        for k, val in d.items():
            if k.startswith("transformer."):
                k = k[len("transformer."):]
            if k.endswith(".attn.bias") and not k.endswith("c_attn.bias") or k.endswith("attn.masked_bias"):
                continue
            src[k] = torch.as_tensor(val).float()
        with torch.no_grad():
            for name, p in self.hf_names():
                if name not in src:
                    if strict:
                        raise KeyError("load_state_dict_hf: missing %s" % name)
                    continue
                t = src.pop(name)
                if tuple(t.shape) != tuple(p.shape):
                    raise ValueError("load_state_dict_hf: %s has shape %s, expected %s"
                                     % (name, tuple(t.shape), tuple(p.shape)))
                p.copy_(t)
        for k, t in list(src.items()):
            if k.endswith("c_attn.bias") and not self.cfg["qkv_bias"]:
                if float(t.abs().max()) != 0.0:
                    raise ValueError("load_state_dict_hf: %s is nonzero but qkv_bias is off" % k)
                src.pop(k)
            elif k == "lm_head.weight" and self.cfg["tie_embeddings"]:
                src.pop(k)
        if strict and src:
            raise KeyError("load_state_dict_hf: unexpected %s" % sorted(src)[:5])


def cross_entropy(logits, targets):
    """Mean cross-entropy over targets != -100; logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


def decay_groups(model, weight_decay):
    """AdamW parameter groups as the C model decides decay: 2-D projection weights and a separate lm_head decay;
    biases, LayerNorm and embeddings (wte, wpe) do not."""
    decay, no_decay = [], []
    for name, p in model.hf_names():
        is_emb = name in ("wte.weight", "wpe.weight")
        (decay if p.dim() == 2 and not is_emb else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


if __name__ == "__main__":
    for preset in ("gpt2-124m", "gpt2-355m", "gpt2-774m", "gpt2-1558m"):
        for tied in (False, True):
            print(preset, "tied" if tied else "untied", count_params(gpt_config(preset, tie_embeddings=tied)))
    torch.manual_seed(0)
    m = GPT(gpt_config("tiny", qkv_bias=True))
    idx = torch.randint(0, 97, (2, 8))
    print(m(idx).shape, sum(p.numel() for p in m.parameters()), count_params(m.cfg))
    m2 = GPT(m.cfg)
    m2.load_state_dict_hf(m.state_dict_hf())
    assert torch.equal(m(idx), m2(idx))
