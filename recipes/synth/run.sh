#!/usr/bin/env bash
# The built-in default, end to end on 2 CPU cores in about 16 minutes: a synthetic espeak-ng corpus in one
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
. "$(dirname "$0")/../_lib/common.sh" "$@"
exp=${exp:-exp/synth/$lang}
model=${model:-$ROOT/models/synth-ctc-tiny-wide}
train_config=${train_config:-$ROOT/recipes/synth/conf/train_cpu.yaml}
results_md=${results_md:-$ROOT/recipes/synth/RESULTS.md}
data=$exp/data/$lang
lm_files=("$data/lm_text.txt" "$data/train.jsonl")  # the sentences that were not voiced, and the train transcripts
title="recipes/synth: $lang"
begin_recipe 6

if run_stage 1 data; then
    "$ASR" data synth --langs "$lang" --hours "$hours" --seed "$seed" --out "$exp/data"
    stage_done 1 data
fi
standard_stages 2
