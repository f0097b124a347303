"""make_model_ref.py: writes tests/ref/model_*.bin, the PyTorch reference that tests/test_model.c checks the C model
against (logits, attention weights, loss, every gradient, and 10 AdamW steps with gradient clipping).

Run from the repo root with Debian's torch:  /usr/bin/python3 tests/make_model_ref.py
CI has no torch: the .bin files are committed. Re-run only when the model's math or this script changes.

File format "LWREF1" (little-endian):
    8 bytes   magic "LWREF1\\0\\0"
    uint32    number of arrays
    then for each array:
        uint32    name length, then the name (UTF-8, no terminator)
        uint32    ndim, then ndim uint32 dims
        float32   prod(dims) values, row-major
Integers (token ids, config fields) are stored as float32 (exact below 2^24).

Arrays written:
    config        [n_layer, n_head, d_model, context_length, vocab_size, qkv_bias, tie_embeddings, B, T]
    inputs (B,T), targets (B,T) with some -100
    param/<hf name>   initial weights (HF GPT-2 names, Conv1D layout), in the C tensor table's order
    logits (B,T,V), att (L,B,NH,T,T) (after softmax, before dropout), loss (1)
    grad/<hf name>    gradient of the mean loss
    grad_norm (1)     global L2 norm of those gradients
    adamw_loss (10)   loss before each of 10 steps of: forward, backward, clip_grad_norm_(1.0), AdamW(lr 1e-3,
                      betas 0.9/0.95, eps 1e-8, weight decay 0.1 on 2-D projection weights and an untied lm_head only)
    final/<hf name>   weights after those 10 steps

tests/ref/model_ft_cls.bin (finetuning: classification head, freezing, LoRA; make_ft below) holds:
    config, inputs (B,T) right-padded with token V-1 after last[b], and
    ft_config     [n_classes, last_blocks, lora_rank, lora_alpha]
    last (B), labels (B)
    param/<name>      base weights + score.weight (NC, C), score.bias (NC)
    cls_logits (B,NC), cls_loss (1)          with every tensor trainable
    frz_grad/<name>   gradients when only the last block + ln_f + score train (the book's setting); only those
    frz_loss (5)      losses of 5 AdamW steps (lr 1e-3, betas 0.9/0.999, eps 1e-8, wd 0.1 on 2-D weights) so frozen
    frz_final/<name>  every tensor after them (frozen ones equal param/)
    lora/<name>       adapters (rank 4, alpha 8, targets attn,proj,fc,fcproj,head): A kaiming, B N(0, 0.1)
    lora_logits (B,NC), lora_loss (1), lora_grad/<name> (adapters only: everything else is frozen)
    lora_steps (3), lora_final/<name>  3 AdamW steps of the adapters (same optimizer settings)
"""

import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt_torch import GPT, gpt_config, cross_entropy, decay_groups  # noqa: E402

CONFIGS = [
    # name, config, batch B, T, seed
    ("model_bias_untied", dict(n_layer=2, n_head=2, d_model=32, context_length=16, vocab_size=97,
                               qkv_bias=True, tie_embeddings=False), 3, 16, 1),
    ("model_nobias_tied", dict(n_layer=2, n_head=2, d_model=32, context_length=16, vocab_size=97,
                               qkv_bias=False, tie_embeddings=True), 3, 16, 2),
    ("model_bias_tied_nh4", dict(n_layer=3, n_head=4, d_model=32, context_length=24, vocab_size=61,
                                 qkv_bias=True, tie_embeddings=True), 3, 13, 3),
]


class RefWriter:
    def __init__(self):
        self.arrays = []

    def add(self, name, t):
        t = torch.as_tensor(t).detach().to(torch.float32).contiguous().clone()  # snapshot: params change later
        self.arrays.append((name, t))

    def write(self, path):
        with open(path, "wb") as f:
            f.write(b"LWREF1\0\0")
            f.write(struct.pack("<I", len(self.arrays)))
            for name, t in self.arrays:
                nb = name.encode()
                f.write(struct.pack("<I", len(nb)))
                f.write(nb)
                f.write(struct.pack("<I", t.dim()))
                for d in t.shape:
                    f.write(struct.pack("<I", d))
                f.write(t.numpy().astype("<f4").tobytes())


def randomize(model, gen):
    """Weights with O(1) activations everywhere (so every gradient is well above fp32 noise): projections
    N(0, 1/fan_in), embeddings N(0, 0.5), LayerNorm weights 1 + N(0, 0.1), all biases N(0, 0.1)."""
    with torch.no_grad():
        for name, p in model.hf_names():
            r = torch.randn(p.shape, generator=gen)
            if name in ("wte.weight", "wpe.weight"):
                p.copy_(0.5 * r)
            elif name == "lm_head.weight":
                p.copy_(r / p.shape[1] ** 0.5)
            elif p.dim() == 2:
                p.copy_(r / p.shape[0] ** 0.5)
            elif ("ln_" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * r)
            else:
                p.copy_(0.1 * r)


def make(name, cfgd, B, T, seed, outdir):
    cfg = gpt_config(**cfgd)
    gen = torch.Generator().manual_seed(seed)
    model = GPT(cfg)
    randomize(model, gen)
    model.train()  # dropout is 0, so train == eval
    V = cfg["vocab_size"]
    inputs = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets[1, -3:] = -100          # padding at the end of a row
    targets[0, 2] = -100            # a masked prompt token
    targets[2, 0] = -100

    w = RefWriter()
    w.add("config", [cfg["n_layer"], cfg["n_head"], cfg["d_model"], cfg["context_length"], V,
                     int(cfg["qkv_bias"]), int(cfg["tie_embeddings"]), B, T])
    w.add("inputs", inputs)
    w.add("targets", targets)
    for n, p in model.hf_names():
        w.add("param/" + n, p)

    logits = model(inputs)
    loss = cross_entropy(logits, targets)
    loss.backward()
    w.add("logits", logits)
    w.add("att", model.attention_weights())
    w.add("loss", [loss.item()])
    norm2 = 0.0
    for n, p in model.hf_names():
        w.add("grad/" + n, p.grad)
        norm2 += float((p.grad.double() ** 2).sum())
    w.add("grad_norm", [norm2 ** 0.5])

    opt = torch.optim.AdamW(decay_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    losses = []
    for _ in range(10):
        opt.zero_grad(set_to_none=False)
        loss = cross_entropy(model(inputs), targets)
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    w.add("adamw_loss", losses)
    for n, p in model.hf_names():
        w.add("final/" + n, p)
    path = os.path.join(outdir, name + ".bin")
    w.write(path)
    print("%s: loss %.6f, grad norm %.4f, 10-step losses %.4f -> %.4f" % (path, losses[0], norm2 ** 0.5,
                                                                         losses[0], losses[-1]))


def adamw_steps(model, params, idx, last, labels, n):
    """n steps of forward, backward, AdamW over params (2-D weights decay 0.1); returns the losses."""
    decay = [p for p in params if p.dim() == 2]
    nodecay = [p for p in params if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    losses = []
    for _ in range(n):
        opt.zero_grad(set_to_none=False)
        loss = torch.nn.functional.cross_entropy(model.classify(idx, last), labels)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return losses


def make_ft(outdir):
    cfgd = dict(n_layer=3, n_head=2, d_model=32, context_length=16, vocab_size=61, qkv_bias=True,
                tie_embeddings=True)
    B, T, NC, last_blocks, rank, alpha = 4, 12, 3, 1, 4, 8.0
    cfg = gpt_config(**cfgd)
    gen = torch.Generator().manual_seed(11)
    V = cfg["vocab_size"]

    def fresh():
        torch.manual_seed(5)
        m = GPT(cfg)
        m.add_class_head(NC)
        return m

    model = fresh()
    randomize(model, gen)
    init = {n: p.detach().clone() for n, p in model.hf_names()}
    last = torch.tensor([11, 7, 4, 9])
    idx = torch.randint(0, V - 1, (B, T), generator=gen)
    for b in range(B):
        idx[b, last[b] + 1:] = V - 1  # padding with "end of text"
    labels = torch.tensor([2, 0, 1, 2])

    w = RefWriter()
    w.add("config", [cfg["n_layer"], cfg["n_head"], cfg["d_model"], cfg["context_length"], V,
                     int(cfg["qkv_bias"]), int(cfg["tie_embeddings"]), B, T])
    w.add("ft_config", [NC, last_blocks, rank, alpha])
    w.add("inputs", idx)
    w.add("last", last)
    w.add("labels", labels)
    for n, p in model.hf_names():
        w.add("param/" + n, p)

    logits = model.classify(idx, last)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    w.add("cls_logits", logits)
    w.add("cls_loss", [loss.item()])

    # the book's freezing: last block + final LayerNorm + head
    L = cfg["n_layer"]
    for n, p in model.hf_names():
        p.requires_grad_(n.startswith("score.") or n.startswith("ln_f.") or n.startswith("h.%d." % (L - last_blocks)))
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model.classify(idx, last), labels).backward()
    for n, p in model.hf_names():
        if p.requires_grad:
            w.add("frz_grad/" + n, p.grad)
    trainable = [p for _, p in model.hf_names() if p.requires_grad]
    w.add("frz_loss", adamw_steps(model, trainable, idx, last, labels, 5))
    for n, p in model.hf_names():
        w.add("frz_final/" + n, p)

    # LoRA from the initial weights
    model = fresh()
    with torch.no_grad():
        for n, p in model.hf_names():
            p.copy_(init[n])
    model.enable_lora(rank, alpha)
    with torch.no_grad():
        for n, p in model.hf_names():
            if n.endswith("lora_B"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    for n, p in model.hf_names():
        if "lora_" in n:
            w.add("lora/" + n, p)
    logits = model.classify(idx, last)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    w.add("lora_logits", logits)
    w.add("lora_loss", [loss.item()])
    for n, p in model.hf_names():
        if "lora_" in n:
            w.add("lora_grad/" + n, p.grad)
        else:
            assert p.grad is None, n
    trainable = [p for n, p in model.hf_names() if "lora_" in n]
    w.add("lora_steps", adamw_steps(model, trainable, idx, last, labels, 3))
    for n, p in model.hf_names():
        if "lora_" in n:
            w.add("lora_final/" + n, p)
    path = os.path.join(outdir, "model_ft_cls.bin")
    w.write(path)
    print("%s: classifier loss %.6f, LoRA loss %.6f" % (path, w.arrays[[a[0] for a in w.arrays].index("cls_loss")][1][0],
                                                        loss.item()))


def main():
    torch.set_num_threads(1)
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref")
    os.makedirs(outdir, exist_ok=True)
    for name, cfgd, B, T, seed in CONFIGS:
        make(name, cfgd, B, T, seed, outdir)
    make_ft(outdir)


if __name__ == "__main__":
    main()
