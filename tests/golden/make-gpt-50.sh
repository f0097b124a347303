#!/bin/sh
# Regenerates tests/golden/gpt-50/{metrics.csv,checkpoint.sha256} from the GPT golden run (see its config.yaml).
# Run from the repository root after `make`, only when a change of the GPT path's numbers is meant; say why in the
# commit. usage: sh tests/golden/make-gpt-50.sh [path/to/llmwb]
set -eu
bin=${1:-build/llmwb}
dir=tests/golden/gpt-50
run=$(mktemp -d /tmp/llmwb-golden-XXXXXX)
trap 'rm -rf "$run"' EXIT
OPENBLAS_CORETYPE=Prescott LLMWB_BLAS_AUTO=0 "$bin" train -c "$dir/config.yaml" --run-dir "$run/run" >"$run/log" 2>&1 ||
    { cat "$run/log"; exit 1; }
grep -q 'OpenBLAS .* Prescott, 1 thread' "$run/log" || { echo "not on the Prescott core:"; head -1 "$run/log"; exit 1; }
# the columns that do not depend on the clock
cut -d, -f1-6 "$run/run/metrics.csv" >"$dir/metrics.csv"
(cd "$run/run" && sha256sum samples.txt latest/model.safetensors latest/optimizer.safetensors latest/config.json \
    latest/vocab.json latest/merges.txt) >"$dir/checkpoint.sha256"
echo "wrote $dir/metrics.csv and $dir/checkpoint.sha256"
