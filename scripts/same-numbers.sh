#!/bin/sh
# same-numbers.sh BASE [OUT] — does this tree compute exactly what commit BASE computes?
# Builds BASE in a temporary git worktree, then runs in both trees, one thread each, with fixed seeds:
#   a 50-step pretraining run of configs/default.yaml (dropout 0.1, evaluations, samples, two checkpoints),
#   and from its checkpoint 30-step classify, LoRA-classify, instruct and LoRA-instruct finetuning runs (samples and
#   responses exercise KV-cached decoding),
# and compares byte for byte: metrics.csv (without the wall-clock columns tokens_per_sec and elapsed), samples,
# evaluation files and the checkpoint files (trainer_state.json without elapsed and the stored YAML).
# Exit status 0 when everything matches. Takes a few minutes on 2 cores. Float results depend on the BLAS kernels
# the CPU selects, so compare two builds on one machine (this script), never against numbers from another.
set -eu
base=${1:?usage: same-numbers.sh BASE [OUT]}
out=${2:-$(mktemp -d /tmp/llmwb-same.XXXXXX)}
here=$(pwd)
git worktree add --detach "$out/base" "$base" >/dev/null
trap 'git -C "$here" worktree remove --force "$out/base" >/dev/null 2>&1 || true' EXIT
make -C "$out/base" -j2 build/llmwb >"$out/base-build.log" 2>&1
make -j2 build/llmwb >"$out/here-build.log" 2>&1

pretrain() { # TREE RUN_DIR
    (cd "$1" && OPENBLAS_NUM_THREADS=1 ./build/llmwb train -c configs/default.yaml --run-dir "$2" \
        --set train.steps=50 --set train.threads=1 --set train.eval_every=10 --set train.sample_every=25 \
        --set train.checkpoint_every=25 --set data.max_chars=100000 --set model.dropout=0.1 \
        --set tokenizer.vocab_size=512 --set model.vocab_size=512 --set probe.snapshot_every=10) >"$2.log" 2>&1
}
finetune() { # TREE RUN_DIR CONFIG [--set ...]
    t=$1; r=$2; c=$3; shift 3
    (cd "$t" && OPENBLAS_NUM_THREADS=1 ./build/llmwb train -c "$c" --run-dir "$r" \
        --set finetune.init_from="$out/base-lm/latest" --set train.steps=30 --set train.threads=1 \
        --set train.eval_every=10 --set train.checkpoint_every=15 --set train.sample_every=10 \
        --set model.dropout=0.1 "$@") >"$r.log" 2>&1
}
for side in base here; do
    tree=$here; [ $side = base ] && tree=$out/base
    pretrain "$tree" "$out/$side-lm"
    finetune "$tree" "$out/$side-cls" configs/finetune-word-order.yaml
    finetune "$tree" "$out/$side-lora" configs/finetune-word-order.yaml --set finetune.lora_rank=4 \
        --set finetune.lora_targets=attn,proj,fc,fcproj,head
    finetune "$tree" "$out/$side-ins" configs/finetune-instruct.yaml
    finetune "$tree" "$out/$side-insl" configs/finetune-instruct.yaml --set finetune.lora_rank=4 \
        --set finetune.lora_targets=attn,proj,fc,fcproj
done

st=0
for run in lm cls lora ins insl; do
    a=$out/base-$run; b=$out/here-$run
    cut -d, -f1-6 "$a/metrics.csv" >"$a.metrics"; cut -d, -f1-6 "$b/metrics.csv" >"$b.metrics"
    files=$(cd "$a" && ls samples.txt tokens.bin classify-step*.txt responses-step*.jsonl latest/*.safetensors \
        latest/config.json latest/llmwb-finetune.json latest/adapter_config.json latest/vocab.json latest/merges.txt \
        2>/dev/null || true)
    for f in "../$run.metrics" $files; do
        if [ "$f" = "../$run.metrics" ]; then fa=$a.metrics; fb=$b.metrics; f="metrics.csv (columns 1-6)"
        else fa=$a/$f; fb=$b/$f; fi
        if cmp -s "$fa" "$fb"; then echo "$run $f: identical"; else echo "$run $f: DIFFERS"; st=1; fi
    done
    strip='import json,sys; d=json.load(open(sys.argv[1])); d.pop("elapsed",None); d.pop("config_yaml",None); print(json.dumps(d,sort_keys=True))'
    if [ -f "$a/latest/trainer_state.json" ]; then
        if [ "$(python3 -c "$strip" "$a/latest/trainer_state.json")" = "$(python3 -c "$strip" "$b/latest/trainer_state.json")" ]
        then echo "$run latest/trainer_state.json (without elapsed, config_yaml): identical"
        else echo "$run latest/trainer_state.json: DIFFERS"; st=1; fi
    fi
done
echo "runs in $out"
exit $st
