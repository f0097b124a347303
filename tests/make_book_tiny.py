#!/usr/bin/python3
"""make_book_tiny.py: a tiny model in the book's own layout (GPTModel with tok_emb, trf_blocks.N.att.W_query, ...,
norm1.scale, out_head; written here from the book's description, qkv_bias False and an untied head as in its
chapter 5), saved with torch.save and converted by scripts/book_pth_to_hf.py, plus the logits the book's forward
computes, for tests/test_checkpoint.c: the converted directory must give the same logits in llmwb.

Run from the repository root with Debian's torch:  /usr/bin/python3 tests/make_book_tiny.py
CI has no torch: tests/ref/book-tiny/ is committed (config.json, model.safetensors, expected_logits.bin in the
format of tests/make_hf_tiny.py).
"""

import math
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_hf_tiny import write_logits  # noqa: E402

V, L, NH, C, T_CTX = 300, 2, 2, 32, 24
B, T = 2, 10


class LayerNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.eps = 1e-5
        self.scale = nn.Parameter(torch.ones(d))
        self.shift = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class GELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class MultiHeadAttention(nn.Module):
    def __init__(self, d, ctx, heads, qkv_bias=False):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.W_query = nn.Linear(d, d, bias=qkv_bias)
        self.W_key = nn.Linear(d, d, bias=qkv_bias)
        self.W_value = nn.Linear(d, d, bias=qkv_bias)
        self.out_proj = nn.Linear(d, d)
        self.register_buffer("mask", torch.triu(torch.ones(ctx, ctx), diagonal=1))

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = (w(x).view(b, n, self.heads, self.hd).transpose(1, 2) for w in (self.W_query, self.W_key, self.W_value))
        s = q @ k.transpose(2, 3)
        s.masked_fill_(self.mask.bool()[:n, :n], -torch.inf)
        w = torch.softmax(s / self.hd ** 0.5, dim=-1)
        return self.out_proj((w @ v).transpose(1, 2).contiguous().view(b, n, d))


class FeedForward(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(d, 4 * d), GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        return self.layers(x)


class TransformerBlock(nn.Module):
    def __init__(self, d, ctx, heads):
        super().__init__()
        self.att = MultiHeadAttention(d, ctx, heads)
        self.ff = FeedForward(d)
        self.norm1 = LayerNorm(d)
        self.norm2 = LayerNorm(d)

    def forward(self, x):
        x = x + self.att(self.norm1(x))
        return x + self.ff(self.norm2(x))


class GPTModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(V, C)
        self.pos_emb = nn.Embedding(T_CTX, C)
        self.trf_blocks = nn.Sequential(*[TransformerBlock(C, T_CTX, NH) for _ in range(L)])
        self.final_norm = LayerNorm(C)
        self.out_head = nn.Linear(C, V, bias=False)

    def forward(self, idx):
        n = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(n))
        return self.out_head(self.final_norm(self.trf_blocks(x)))


def main():
    torch.manual_seed(20261202)
    model = GPTModel()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
            elif "emb" in name:
                p.normal_(0.0, 0.5)
            else:
                p.normal_(0.0, 0.15)
    model.eval()
    ids = torch.randint(0, V, (B, T))
    out = os.path.join(HERE, "ref", "book-tiny")
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "model.pth")
        torch.save(model.state_dict(), pth)
        subprocess.run([sys.executable, os.path.join(HERE, "..", "scripts", "book_pth_to_hf.py"), pth, out,
                        "--n-head", str(NH)], check=True)
    with torch.no_grad():
        write_logits(os.path.join(out, "expected_logits.bin"), ids, model(ids))
    print("wrote", out)


if __name__ == "__main__":
    main()
