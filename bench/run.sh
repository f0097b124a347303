#!/bin/sh
# make bench: our figures side by side with reference implementations run in the same command, as ratios.
#   BPE training time (1 MB, 4 MB) and encoding MB/s against npm's tiktoken (when node/npm are available);
#   training step ms/step and tokens/s against PyTorch (Debian's python3-torch) on the same model and batch.
# Usage: bench/run.sh BUILD/llmwb-bench
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

echo "== training step =="
"$BENCH" train | tee "$OUT/train.txt"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 bench/torch_train.py | tee "$OUT/torch.txt"
    # lines: "train NAME ...: X ms/step Y tok/s" and "generate NAME: Z tok/s"
    for name in $(sed -n 's/^train \([^ ]*\) .*/\1/p' "$OUT/train.txt"); do
        a=$(sed -n "s/^train $name .*: *\([0-9.]*\) ms\/step.*/\1/p" "$OUT/train.txt" | head -1)
        b=$(sed -n "s/^train $name .*: *\([0-9.]*\) ms\/step.*/\1/p" "$OUT/torch.txt" | head -1)
        [ -n "$a" ] && [ -n "$b" ] && awk -v n="$name" -v a="$a" -v b="$b" \
            'BEGIN { printf "train %s: llmwb %.1f ms/step, PyTorch %.1f ms/step: throughput ratio llmwb/PyTorch %.2fx\n", n, a, b, b / a }'
    done
    for name in $(sed -n 's/^generate \([^ :]*\).*/\1/p' "$OUT/train.txt"); do
        a=$(sed -n "s/^generate $name.*: *\([0-9.]*\) tok\/s.*/\1/p" "$OUT/train.txt" | head -1)
        b=$(sed -n "s/^generate $name.*: *\([0-9.]*\) tok\/s.*/\1/p" "$OUT/torch.txt" | head -1)
        [ -n "$a" ] && [ -n "$b" ] && awk -v n="$name" -v a="$a" -v b="$b" \
            'BEGIN { printf "generate %s: llmwb %.1f tok/s, PyTorch %.1f tok/s: ratio %.2fx\n", n, a, b, a / b }'
    done
else
    echo "PyTorch reference skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)"
fi
