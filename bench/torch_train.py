"""torch_train.py: the PyTorch side of the training benchmark (run by bench/run.sh next to `llmwb-bench train`).

Same models, batch, step and output lines as bench/bench_train.c: a step is zero_grad + forward + cross-entropy +
backward + clip_grad_norm_(1.0) + AdamW (betas 0.9/0.95, weight decay 0.1 on 2-D projection weights); warmup
steps, then the fastest of N (the median beside it). Prints:
    torch VERSION, threads N, BLAS core CORE
    torch settings: ...             (what was done to make PyTorch fast here)
    sgemm peak: X GFLOP/s
    train NAME B=.. T=..: X ms/step Y tok/s Z GFLOP/s
    generate NAME: X tok/s          (greedy, KV cache, 8-token prompt)
Besides the GPT rows (tests/gpt_torch.py's model): bench/torch_bert.py (configs/bert-tiny.yaml's BERT, the MLM loss
on the masked positions) and bench/torch_encdec.py (configs/transformer-translate.yaml's encoder-decoder, teacher
forced; and greedy decoding with a K/V cache), each checked against its tests/make_*_ref.py before it is timed.
Usage: /usr/bin/python3 bench/torch_train.py [threads=2] [steps=N] [only=NAME|none] [fast=1] [foreach=1]
Tuning kept because it was fastest here (bench/run.sh sets the environment): OMP_WAIT_POLICY=PASSIVE, glibc malloc
tunables that keep freed memory, torch.set_num_threads(threads), flush-to-zero denormals, AdamW(foreach=True), the
fused forwards below (fast=1), anomaly detection and the autograd profiler off.
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
import gpt_torch  # noqa: E402
from gpt_torch import GPT, gpt_config, cross_entropy, decay_groups  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bert  # noqa: E402
import torch_encdec  # noqa: E402


# ---- the fastest PyTorch 1.13 formulation of the same model (same modules, parameters and math) ----
# tests/gpt_torch.py is written to read like the book; for the benchmark its three hot modules get forwards that
# PyTorch runs faster: a bias fused into the product (addmm), the fused tanh-GELU kernel instead of five
# elementwise ops, and attention that does not keep a copy of its weights. fast_check() compares the two on the
# same weights before anything is timed.
def _conv1d_fast(self, x):
    x2 = x.reshape(-1, x.shape[-1])
    y = torch.addmm(self.bias, x2, self.weight) if self.bias is not None else torch.mm(x2, self.weight)
    return y.view(*x.shape[:-1], y.shape[-1])


def _mlp_fast(self, x):
    return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


def _attention_fast(self, x):
    b, t, c = x.shape
    hs = c // self.n_head
    q, k, v = self.c_attn(x).split(c, dim=2)
    q = q.view(b, t, self.n_head, hs).transpose(1, 2)
    k = k.view(b, t, self.n_head, hs).transpose(1, 2)
    v = v.view(b, t, self.n_head, hs).transpose(1, 2)
    scores = (q @ k.transpose(2, 3)).mul_(1.0 / math.sqrt(hs)).masked_fill_(self.mask[:t, :t], -math.inf)
    w = self.attn_drop(torch.softmax(scores, dim=-1))
    return self.c_proj((w @ v).transpose(1, 2).reshape(b, t, c))


def use_fast_forwards(on):
    for cls, name, fast in ((gpt_torch.Conv1D, "forward", _conv1d_fast), (gpt_torch.MLP, "forward", _mlp_fast),
                            (gpt_torch.Attention, "forward", _attention_fast)):
        if not hasattr(cls, "_book_forward"):
            cls._book_forward = cls.forward
        cls.forward = fast if on else cls._book_forward


def fast_check(cfg):
    """Largest |logit difference| between the book's forwards and the fast ones on one random model and batch."""
    torch.manual_seed(7)
    small = dict(cfg, n_layer=min(cfg["n_layer"], 2))
    model = GPT(small).eval()
    with torch.no_grad():
        for p in model.parameters():  # weights large enough that every op matters (GELU's curve, the biases)
            p.add_(torch.randn_like(p) * 0.5)
    idx = torch.randint(0, small["vocab_size"], (2, min(16, small["context_length"])))
    with torch.no_grad():
        use_fast_forwards(False)
        ref = model(idx)
        use_fast_forwards(True)
        got = model(idx)
    return float((ref - got).abs().max())


def step_flops(cfg, B, T):
    C, L, V = cfg["d_model"], cfg["n_layer"], cfg["vocab_size"]
    fwd = 2.0 * B * T * (L * (C * 3 * C + C * C + 8 * C * C) + C * V) + L * 4.0 * B * T * T * C
    return 3.0 * fwd


def time_train(name, B, T, flops, model, param_groups, loss_fn, warmup, steps, foreach, note=""):
    """Times warmup + steps training steps of loss_fn() (zero_grad, forward + loss, backward, clip_grad_norm_(1.0),
    AdamW lr 1e-4, betas 0.9/0.95, eps 1e-8 over param_groups) and prints the train and parts lines."""
    opt = torch.optim.AdamW(param_groups, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, foreach=foreach)
    params = [p for p in model.parameters() if p.requires_grad]
    times, parts = [], [0.0, 0.0, 0.0]
    for s in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        t3 = time.perf_counter()
        if s >= warmup:
            times.append((t3 - t0) * 1e3)
            parts[0] += (t1 - t0) * 1e3
            parts[1] += (t2 - t1) * 1e3
            parts[2] += (t3 - t2) * 1e3
    med, best = statistics.median(times), min(times)
    print("train %s B=%d T=%d: %.1f ms/step %.1f tok/s %.1f GFLOP/s (fastest of %d steps; median %.1f, max %.1f ms; "
          "loss %.3f%s)" % (name, B, T, best, B * T / (best / 1e3), flops / (best / 1e3) / 1e9, steps, med,
                            max(times), loss.item(), note))
    print("  %s parts (mean ms): forward %.1f, backward %.1f, clip+AdamW %.1f"
          % (name, parts[0] / steps, parts[1] / steps, parts[2] / steps), flush=True)


def bench_model(name, cfg, B, T, warmup, steps, foreach):
    torch.manual_seed(1234)
    model = GPT(cfg)
    model.train()
    V = cfg["vocab_size"]
    idx = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    time_train(name, B, T, step_flops(cfg, B, T), model, decay_groups(model, 0.1),
               lambda: cross_entropy(model(idx), tgt), warmup, steps, foreach)


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


def blas_core():
    """The OpenBLAS core torch's BLAS (libblas.so.3, Debian's alternative) runs, or "?" when it is not OpenBLAS."""
    import ctypes
    for lib in ("libblas.so.3", "libopenblas.so.0"):
        try:
            f = ctypes.CDLL(lib).openblas_get_corename
        except (OSError, AttributeError):
            continue
        f.restype = ctypes.c_char_p
        return f().decode()
    return "?"


def sgemm_peak(shapes):
    best_gf = 0.0
    for M, N, K in shapes:
        a, b = torch.randn(M, K), torch.randn(K, N)
        c = torch.empty(M, N)
        for _ in range(10):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            best_gf = max(best_gf, 2.0 * M * N * K / (time.perf_counter() - t0) / 1e9)
    return best_gf


def main():
    args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    threads = int(args.get("threads", 2))
    steps_override = int(args.get("steps", 0))
    only = args.get("only")
    fast = args.get("fast", "1") == "1"
    foreach = args.get("foreach", "1") == "1"
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.autograd.set_detect_anomaly(False)
    torch.autograd.profiler.profile(enabled=False)
    use_fast_forwards(fast)
    print("torch %s, threads %d, BLAS core %s" % (torch.__version__, torch.get_num_threads(), blas_core()))
    print("torch settings: OMP_WAIT_POLICY=%s OPENBLAS_THREAD_TIMEOUT=%s GLIBC_TUNABLES=%s, %s forwards (largest "
          "logit change %.1e), AdamW foreach=%s, anomaly detection off"
          % (os.environ.get("OMP_WAIT_POLICY", "-"), os.environ.get("OPENBLAS_THREAD_TIMEOUT", "-"),
             os.environ.get("GLIBC_TUNABLES", "-"),
             "fused" if fast else "book", fast_check(gpt_config("tiny")) if fast else 0.0, foreach))
    print("sgemm peak: %.1f GFLOP/s" % sgemm_peak(((1024, 1024, 1024), (256, 2304, 768), (256, 768, 3072))))
    for name, cfg, B, T, warm, steps in bench_models():
        if only is None or only == name:
            bench_model(name, cfg, B, T, warm, steps_override or steps, foreach)
    for name, mod, shape, wd, warm, steps in arch_rows():
        if only is None or only == name:
            model, loss_fn, flops, note = mod.setup(*shape)
            time_train(name, shape[0], shape[-1], flops, model, model.decay_groups(wd), loss_fn, warm,
                       steps_override or steps, foreach, note + "; " + mod.check())
    if only is None or only == "encdec-greedy":
        tps, th = torch_encdec.decode_bench(32, 15, 15, threads)
        print("generate encdec-greedy: %.1f tok/s (32 sources of 15 tokens, 15 tokens each, greedy, KV cache, encoding "
              "included, best with %d thread%s)" % (tps, th, "" if th == 1 else "s"))
    if only is None or only == "generate":
        torch.manual_seed(99)
        model = GPT(gpt_config("gpt2-124m", dropout=0.1, qkv_bias=False, tie_embeddings=False)).eval()
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


def bench_models():
    """The rows of the table, as bench/bench_train.c has them: (name, config, B, T, warmup steps, timed steps)."""
    gpt2 = gpt_config("gpt2-124m", dropout=0.1, qkv_bias=False, tie_embeddings=False)
    default = gpt_config(n_layer=4, n_head=4, d_model=128, context_length=64, vocab_size=1024, dropout=0.0,
                         tie_embeddings=True)
    small = gpt_config(n_layer=4, n_head=4, d_model=256, context_length=256, vocab_size=4096, dropout=0.1)
    return [("124M-B4-T64", gpt2, 4, 64, 2, 5), ("124M-B4-T256", gpt2, 4, 256, 1, 2),
            ("default-B16-T64", default, 16, 64, 10, 40), ("small-L4-C256-B4-T256", small, 4, 256, 3, 15)]


def arch_rows():
    """The BERT and encoder-decoder rows as bench/bench_train.c has them: (name, module, its setup() arguments (B, T)
    or (B, S, T), the config's train.weight_decay, warmup steps, timed steps)."""
    return [("bert-tiny-B32-T32", torch_bert, (32, 32), 0.1, 3, 20),
            ("encdec-B32-S15-T15", torch_encdec, (32, 15, 15), 0.01, 5, 40)]


if __name__ == "__main__":
    main()
