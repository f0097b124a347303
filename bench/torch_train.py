"""torch_train.py: the PyTorch side of the training benchmark (run by bench/run.sh next to `llmwb-bench train`).

Same models, batch, step and output lines as bench/bench_train.c: a step is zero_grad + forward + cross-entropy +
backward + clip_grad_norm_(1.0) + AdamW (betas 0.9/0.95, weight decay 0.1 on 2-D projection weights); warmup
steps, then the median of N. Prints:
    train NAME B=.. T=..: X ms/step Y tok/s Z GFLOP/s
    generate NAME: X tok/s          (greedy, KV cache, 8-token prompt)
Usage: /usr/bin/python3 bench/torch_train.py [threads=2] [steps=N] [only=NAME]
"""

import math
import os
import resource
import statistics
import sys
import time

# PyTorch's best threading here: OpenMP threads that sleep instead of spinning between ops (measured on the
# 2-core dev machine: ~1.9x faster small-model steps and ~4x faster generation than the default spin policy, which
# competes with the main thread). An OMP_WAIT_POLICY set by the caller wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from gpt_torch import GPT, gpt_config, cross_entropy, decay_groups  # noqa: E402


def step_flops(cfg, B, T):
    C, L, V = cfg["d_model"], cfg["n_layer"], cfg["vocab_size"]
    fwd = 2.0 * B * T * (L * (C * 3 * C + C * C + 8 * C * C) + C * V) + L * 4.0 * B * T * T * C
    return 3.0 * fwd


def bench_model(name, cfg, B, T, warmup, steps):
    torch.manual_seed(1234)
    model = GPT(cfg)
    model.train()
    opt = torch.optim.AdamW(decay_groups(model, 0.1), lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    V = cfg["vocab_size"]
    idx = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    times, parts = [], [0.0, 0.0, 0.0]
    for s in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = cross_entropy(model(idx), tgt)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t3 = time.perf_counter()
        if s >= warmup:
            times.append((t3 - t0) * 1e3)
            parts[0] += (t1 - t0) * 1e3
            parts[1] += (t2 - t1) * 1e3
            parts[2] += (t3 - t2) * 1e3
    med = statistics.median(times)
    print("train %s B=%d T=%d: %.1f ms/step %.1f tok/s %.1f GFLOP/s (min %.1f max %.1f ms, %d steps, loss %.3f)"
          % (name, B, T, med, B * T / (med / 1e3), step_flops(cfg, B, T) / (med / 1e3) / 1e9, min(times), max(times),
             steps, loss.item()))
    print("  %s parts (mean ms): forward %.1f, backward %.1f, clip+AdamW %.1f"
          % (name, parts[0] / steps, parts[1] / steps, parts[2] / steps), flush=True)


@torch.no_grad()
def generate_kv(model, prompt, n):
    """Greedy decoding with a per-layer K/V cache built on the model's own weights (no recomputation)."""
    cfg = model.cfg
    C, NH = cfg["d_model"], cfg["n_head"]
    HS = C // NH
    cache = [[None, None] for _ in model.h]

    def step(tokens, pos0):
        t = tokens.shape[1]
        x = model.wte(tokens) + model.wpe(torch.arange(pos0, pos0 + t))
        for li, blk in enumerate(model.h):
            h = blk.ln_1(x)
            q, k, v = blk.attn.c_attn(h).split(C, dim=2)
            q = q.view(1, t, NH, HS).transpose(1, 2)
            k = k.view(1, t, NH, HS).transpose(1, 2)
            v = v.view(1, t, NH, HS).transpose(1, 2)
            if cache[li][0] is not None:
                k = torch.cat([cache[li][0], k], dim=2)
                v = torch.cat([cache[li][1], v], dim=2)
            cache[li] = [k, v]
            s = (q @ k.transpose(2, 3)) / math.sqrt(HS)
            if t > 1:
                s = s.masked_fill(torch.triu(torch.ones(t, k.shape[2], dtype=torch.bool), 1 + k.shape[2] - t),
                                  -torch.inf)
            y = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(1, t, C)
            x = x + blk.attn.c_proj(y)
            x = x + blk.mlp(blk.ln_2(x))
        return model.ln_f(x[:, -1]) @ model.head_weight().t()

    logits = step(torch.tensor([prompt]), 0)
    pos = len(prompt)
    t0 = time.perf_counter()
    for _ in range(n):
        nxt = int(torch.argmax(logits, dim=-1))
        logits = step(torch.tensor([[nxt]]), pos)
        pos += 1
    return time.perf_counter() - t0


def main():
    args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    threads = int(args.get("threads", 2))
    steps_override = int(args.get("steps", 0))
    only = args.get("only")
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    print("torch %s, threads %d" % (torch.__version__, torch.get_num_threads()))
    for M, N, K in ((1024, 1024, 1024), (256, 3072, 768)):
        a, b = torch.randn(M, K), torch.randn(K, N)
        best = min((lambda: (lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()))()
                   for _ in range(8))
        print("sgemm M=%d N=%d K=%d: %.1f GFLOP/s" % (M, N, K, 2.0 * M * N * K / best / 1e9))
    gpt2 = gpt_config("gpt2-124m", dropout=0.1, qkv_bias=False, tie_embeddings=False)
    small = gpt_config(n_layer=4, n_head=4, d_model=256, context_length=256, vocab_size=4096, dropout=0.1)
    models = [("gpt2-124m", gpt2, 4, 64, 2, 7), ("small-L4-C256", small, 4, 256, 3, 15)]
    for name, cfg, B, T, warm, steps in models:
        if only is None or only == name:
            bench_model(name, cfg, B, T, warm, steps_override or steps)
    if only is None or only == "generate":
        torch.manual_seed(99)
        model = GPT(gpt2).eval()
        prompt = [15496, 11, 314, 716, 257, 2746, 290, 314]
        n, best = 56, None
        for th in sorted({1, threads}):  # one thread is often faster for batch-1 decoding: report the best
            torch.set_num_threads(th)
            generate_kv(model, prompt, 8)  # warm up
            dt = generate_kv(model, prompt, n)
            if best is None or dt < best[0]:
                best = (dt, th)
        torch.set_num_threads(threads)
        print("generate gpt2-124m: %.1f tok/s (%d tokens after an 8-token prompt, KV cache, best with %d thread%s)"
              % (n / best[0], n, best[1], "" if best[1] == 1 else "s"))
    print("peak RSS: %.0f MiB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


if __name__ == "__main__":
    main()
