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

echo
echo "== data-parallel training over MPI: 1 rank x 2 threads against 2 ranks x 1 thread =="
# `llmwb train` itself (rank 0's metrics.csv: global-batch tokens over its step time), the same config and global
# batch both ways; each side run twice, alternating, its faster run kept. Skipped without mpirun or an MPI build.
LLMWB="$(dirname "$BENCH")/llmwb"
if command -v mpirun >/dev/null 2>&1 && "$LLMWB" --version 2>/dev/null | grep -q '^MPI: Open MPI'; then
    mpi="mpirun --bind-to core --mca btl_vader_single_copy_mechanism none -np 2"
    [ "$(id -u)" = 0 ] && mpi="mpirun --allow-run-as-root --bind-to core --mca btl_vader_single_copy_mechanism none -np 2"
    base="-c configs/default.yaml --set data.max_chars=200000 --set train.eval_every=0 --set train.sample_every=0"
    base="$base --set train.checkpoint_every=0 --set probe.snapshot_every=0"
    # tokens/s of a run dir from step 10 on (the first steps warm caches and threads up)
    rate() { awk -F, 'NR > 1 && $1 == 10 { t0 = $2; e0 = $8 } NR > 1 { t = $2; e = $8 } END { if (e > e0) printf "%.0f", (t - t0) / (e - e0); else print 0 }' "$1/metrics.csv"; }
    printf "%-26s %16s %16s %8s\n" "config" "1x2 tok/s" "2x1 tok/s" "2x1/1x2"
    for row in "default-B16-T64:--steps 60" "L4-C256-B16-T64:--steps 20 --set model.d_model=256"; do
        name=${row%%:*}; args="$base ${row#*:}"
        "$LLMWB" train $args --run-dir "$OUT/dp-tok" >/dev/null 2>&1 # trains the tokenizer once for every run below
        best1=0; best2=0
        for rep in 1 2; do
            for side in 1 2; do
                d="$OUT/dp-$name-$side-$rep"; mkdir -p "$d"
                cp -r "$OUT/dp-tok/tokenizer" "$OUT/dp-tok/tokens.bin" "$d/"
                if [ $side = 1 ]; then "$LLMWB" train $args --set train.threads=2 --run-dir "$d" >/dev/null 2>&1
                else $mpi "$LLMWB" train $args --set train.threads=1 --run-dir "$d" >/dev/null 2>&1; fi
                r=$(rate "$d")
                if [ $side = 1 ]; then [ "$r" -gt "$best1" ] && best1=$r; else [ "$r" -gt "$best2" ] && best2=$r; fi
            done
        done
        rm -rf "$OUT/dp-tok"
        awk -v n="$name" -v a="$best1" -v b="$best2" 'BEGIN { printf "%-26s %16d %16d %7.2fx\n", n, a, b, (a > 0 ? b / a : 0) }'
    done
    echo "1x2: one process, train.threads 2; 2x1: mpirun -np 2, train.threads 1 per rank, the same global batch."
else
    echo "data-parallel rows skipped: no mpirun, or llmwb built without MPI (apt-get install libopenmpi-dev openmpi-bin)"
fi
