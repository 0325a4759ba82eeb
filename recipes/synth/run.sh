#!/usr/bin/env bash
# The built-in default, end to end on 2 CPU cores in about 15 minutes: a synthetic espeak-ng corpus in one
# language -> character vocabulary -> 4-gram LM -> 10 minutes of CTC fine-tuning from the shipped starting
# checkpoint -> greedy, beam and beam + LM (alpha/beta tuned on dev) decoding of dev and test -> leaderboard.
#
# Usage: recipes/synth/run.sh [--lang hi] [--exp exp/synth/<lang>] [--stage 1] [--stop-stage 6] [--force]
#            [--num-processes N] [--hours 3] [--results-md FILE] [--KEY VALUE ...: asr train config keys]
# Stages: 1 data, 2 vocab, 3 lm, 4 train, 5 decode, 6 leaderboard. A finished stage is skipped when the
# recipe runs again; an interrupted one is redone (asr data synth and asr train resume their own work).
# The leaderboard's RESULTS.md is also copied to --results-md (default: recipes/synth/RESULTS.md).
lang=hi
hours=3
seed=0
lm_order=4
model=
train_config=
exp=
results_md=
. "$(dirname "$0")/../_lib/common.sh" "$@"
exp=${exp:-exp/synth/$lang}
model=${model:-$ROOT/models/synth-ctc-tiny}
train_config=${train_config:-$ROOT/recipes/synth/conf/train_cpu.yaml}
results_md=${results_md:-$ROOT/recipes/synth/RESULTS.md}
data=$exp/data/$lang
begin_recipe

if run_stage 1 data; then
    "$ASR" data synth --langs "$lang" --hours "$hours" --seed "$seed" --out "$exp/data"
    stage_done 1 data
fi

if run_stage 2 vocab; then
    "$ASR" vocab --train "$data/train.jsonl" --out "$exp/processor" --check "$data/dev.jsonl" "$data/test.jsonl"
    stage_done 2 vocab
fi

if run_stage 3 lm; then
    # the sentences that were not voiced, and the train transcripts; never dev or test
    "$ASR" lm build --text "$data/lm_text.txt" "$data/train.jsonl" --order "$lm_order" --processor "$exp/processor" \
        --dev "$data/dev.jsonl" --out "$exp/lm"
    stage_done 3 lm
fi

if run_stage 4 train; then
    [[ $force == true ]] && rm -rf "$exp/train"  # otherwise an interrupted run resumes from its last checkpoint
    "${TRAIN_CMD[@]}" --config "$train_config" --model "$model" --processor "$exp/processor" \
        --train_manifest "$data/train.jsonl" --dev_manifest "$data/dev.jsonl" --output_dir "$exp/train" \
        "${TRAIN_OVERRIDES[@]}"
    stage_done 4 train
fi

if run_stage 5 decode; then
    for split in dev test; do
        common=(--model "$exp/train/model" --manifest "$data/$split.jsonl" --logits-cache "$exp/logits")
        "$ASR" decode "${common[@]}" --decoder greedy --out "$exp/decode/greedy/$split"
        "$ASR" decode "${common[@]}" --decoder beam --out "$exp/decode/beam/$split"
        "$ASR" decode "${common[@]}" --decoder beam_lm --lm "$exp/lm" --tune alpha,beta --dev "$data/dev.jsonl" \
            --out "$exp/decode/beam_lm/$split"
    done
    stage_done 5 decode
fi

if run_stage 6 leaderboard; then
    "$ASR" leaderboard "$exp/decode" --out "$exp/leaderboard" --title "recipes/synth: $lang" --significance
    if [[ -n $results_md ]]; then
        cp "$exp/leaderboard/RESULTS.md" "$results_md"
        log "RESULTS.md -> $results_md"
    fi
    stage_done 6 leaderboard
fi
log "done: $exp/leaderboard/index.html"
