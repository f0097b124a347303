#!/bin/sh
# make bench: our figures side by side with reference implementations run in the same command, as ratios.
#   BPE training time (1 MB, 4 MB) and encoding MB/s against npm's tiktoken (when node/npm are available);
#   training step ms/step and tokens/s against PyTorch (Debian's python3-torch) on the same model and batch: GPT rows,
#   BERT (configs/bert-tiny.yaml, masked-LM step) and the encoder-decoder (configs/transformer-translate.yaml,
#   teacher-forced step, and greedy decoding with the KV cache).
# Usage: bench/run.sh BUILD/llmwb-bench     (BENCH_ROWS="bert-tiny-B32-T32 ..." runs only those training rows)
set -u
BENCH=${1:?usage: bench/run.sh path/to/llmwb-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}

echo "== tokenizer =="
"$BENCH" bpe | tee "$OUT/bpe.txt"
if command -v node >/dev/null 2>&1 && sh bench/tiktoken/setup.sh >/dev/null 2>&1; then
    node bench/tiktoken/bench.js corpora/austen_prideprejudice.txt | tee "$OUT/tiktoken.txt"
    ours=$(sed -n 's/.*encode .*: *\([0-9.]*\) MB\/s.*/\1/p' "$OUT/bpe.txt" | head -1)
    theirs=$(sed -n 's/.*tiktoken.*: *\([0-9.]*\) MB\/s.*/\1/p' "$OUT/tiktoken.txt" | head -1)
    if [ -n "$ours" ] && [ -n "$theirs" ]; then
        awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "encode speed ratio llmwb/tiktoken: %.2fx (%.2f vs %.2f MB/s)\n", a / b, a, b }'
    fi
else
    echo "tiktoken reference skipped: node/npm or the npm package tiktoken unavailable"
fi

echo "== training step and generation =="
# Both sides on the same BLAS core and threads: the core llmwb-bench runs (its own choice, see src/blas.h) is given
# to PyTorch's OpenBLAS through OPENBLAS_CORETYPE.
# OpenBLAS's idle workers sleep at once instead of spinning ~0.1 s after each product (llmwb sets this for itself,
# see src/blas.h; PyTorch gets it too: it also mixes BLAS calls with its own OpenMP threads).
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
"$BENCH" train only=none | tee "$OUT/c.txt"
core=$(sed -n 's/^blas: OpenBLAS [^ ]* \([A-Za-z0-9_]*\).*/\1/p' "$OUT/c.txt")
[ -n "$core" ] && export OPENBLAS_CORETYPE="$core"
# PyTorch tuned for this machine (bench/torch_train.py says what it does inside):
#  - OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep between ops instead of spinning against the main thread and the
#    BLAS threads (2-5x faster steps on 2 cores);
#  - GLIBC_TUNABLES: malloc keeps freed memory (no trimming, a 256 MiB top pad, tensors up to 32 MiB off mmap), so
#    the big activation tensors are not page-faulted afresh every step.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296:glibc.malloc.top_pad=268435456}
have_torch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    have_torch=1
    /usr/bin/python3 bench/torch_train.py only=none | tee "$OUT/t.txt"
else
    echo "PyTorch reference skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)"
fi
# Each row alternates the two sides (llmwb, PyTorch, llmwb, PyTorch) and keeps each side's fastest step, so load
# from other processes on a shared machine hits both alike.
rows=${BENCH_ROWS:-124M-B4-T64 124M-B4-T256 default-B16-T64 small-L4-C256-B4-T256 generate bert-tiny-B32-T32
      encdec-B32-S15-T15 encdec-greedy}
for row in $rows; do
    for rep in 1 2; do
        "$BENCH" train only=$row | grep -v '^blas:\|^peak RSS' | tee -a "$OUT/c.txt"
        [ $have_torch = 1 ] && /usr/bin/python3 bench/torch_train.py only=$row | grep -v '^torch\|^peak RSS' | tee -a "$OUT/t.txt"
    done
done
echo
echo "== llmwb against PyTorch (same model, batch, threads and BLAS core; fastest step of each side) =="
[ -f "$OUT/t.txt" ] || : > "$OUT/t.txt"
awk -v have_torch=$have_torch -v core="${core:-?}" '
    FNR == 1 { side++ }
    /^sgemm peak:/ { if ($3 > peak[side]) peak[side] = $3 }
    /^triad:/ { if ($2 > triad) triad = $2 }
    /^train / { k = side SUBSEP $2; if (!(k in t) || $5 < t[k]) t[k] = $5
                gf[$2] = $5 * $9 / 1e3; split($3 " " $4, q, "[= :]"); toks[$2] = q[2] * q[4] }
    /^generate / { nm = $2; sub(/:$/, "", nm); k = side SUBSEP nm; if (!(k in g) || $3 > g[k]) g[k] = $3
                   if (side == 1) for (i = 1; i <= NF; i++) if ($i == "weights") wmb[nm] = $(i + 1) }
    function gen_row(label, nm, extra,    ga, gb) {
        ga = g[1 SUBSEP nm]; gb = g[2 SUBSEP nm]
        if (ga == "") return
        printf "%-24s %10.2f %12s %12.1f %14s %7s %s\n", label, 1e3 / ga, gb == "" ? "-" : sprintf("%.2f", 1e3 / gb),
               ga, gb == "" ? "-" : sprintf("%.1f", gb), gb == "" ? "-" : sprintf("%.2fx", ga / gb), extra
    }
    END {
        printf "sgemm peak (best of every run): llmwb %.1f GFLOP/s, PyTorch %s GFLOP/s; triad %.1f GB/s; BLAS core %s\n", peak[1],
               have_torch ? sprintf("%.1f", peak[2]) : "-", triad, core
        printf "%-24s %10s %12s %12s %14s %7s %10s %12s  %s\n", "config", "llmwb ms", "PyTorch ms", "llmwb tok/s",
               "PyTorch tok/s", "ratio", "MFU llmwb", "MFU PyTorch", "BLAS core"
        n = split("124M-B4-T64 124M-B4-T256 default-B16-T64 small-L4-C256-B4-T256 bert-tiny-B32-T32 encdec-B32-S15-T15", order, " ")
        for (i = 1; i <= n; i++) {
            nm = order[i]; a = t[1 SUBSEP nm]; b = t[2 SUBSEP nm]
            if (a == "") continue
            ra = toks[nm] / (a / 1e3); rb = b == "" ? 0 : toks[nm] / (b / 1e3)
            printf "%-24s %10.1f %12s %12.1f %14s %7s %9.0f%% %12s  %s\n", nm, a, b == "" ? "-" : sprintf("%.1f", b), ra,
                   b == "" ? "-" : sprintf("%.1f", rb), b == "" ? "-" : sprintf("%.2fx", ra / rb),
                   100 * gf[nm] / (a / 1e3) / peak[1], b == "" ? "-" : sprintf("%.0f%%", 100 * gf[nm] / (b / 1e3) / peak[2]),
                   core
        }
        w = wmb["gpt2-124m"]
        if (w > 0 && triad > 0) {
            lim = triad * 1e3 / w
            gen_row("generate-124M-KV", "gpt2-124m", sprintf("%9.0f%% of the %.1f tok/s memory-bandwidth limit (%s MB of weights per token at %.1f GB/s)  %s",
                    100 * g[1 SUBSEP "gpt2-124m"] / lim, lim, w, triad, core))
        }
        gen_row("encdec-greedy-KV", "encdec-greedy", sprintf("%25s%s", "", core))
        print "ms: per training step; per generated token for the generate rows (encdec: 32 sources of 15 tokens, 15 greedy tokens each, encoding included)."
        print "tok/s: B*T tokens a step (BERT: whole rows, the loss on the 15% masked; encoder-decoder: target tokens, as the Train screen counts)."
        print "MFU: model FLOPs (matmuls, attention as computed) per second over the same side'"'"'s sgemm peak."
        print "Timings are the fastest step of two alternating runs per side: on a shared machine the ratio is the figure to read."
    }' "$OUT/c.txt" "$OUT/t.txt"
