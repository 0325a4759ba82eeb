#!/usr/bin/env bash
# Real recorded telephone prompts (Debian's asterisk-core-sounds-<lang>, 8 kHz studio recordings, one speaker
# per language): fine-tune the shipped starting checkpoint on the prompts' train split and decode dev and test
# greedy, beam and beam + LM (a 3-gram on the train prompts, or --lm-text FILE), then the leaderboard.
#
# Usage: recipes/asterisk/run.sh [--lang en|es|fr|it|ru] [--exp exp/asterisk/<lang>] [--lm-text FILE]
#            [--stage N] [--stop-stage M] [--force] [--num-processes N] [--KEY VALUE ...: asr train config keys]
# Stages: 1 data, 2 vocab, 3 lm, 4 train, 5 decode, 6 leaderboard.
lang=en
lm_order=3
. "$(dirname "$0")/../_lib/common.sh" "$@"
# 0.3 h of one speaker is learnt by heart in 10 minutes (train loss 0.2 against dev CER 32%): stronger
# SpecAugment than the synthetic recipes' (chosen on dev; the command line's own keys come after and win)
TRAIN_OVERRIDES=(--mask_time_prob 0.25 --mask_feature_prob 0.1 "${TRAIN_OVERRIDES[@]}")
exp=${exp:-exp/asterisk/$lang}
model=${model:-$ROOT/models/synth-ctc-tiny-wide}
train_config=${train_config:-$ROOT/recipes/synth/conf/train_cpu.yaml}
data=$exp/data/asterisk_$lang
title="recipes/asterisk: $lang"
begin_recipe 6

if run_stage 1 data; then
    "$ASR" data asterisk --lang "$lang" --out "$data"
    stage_done 1 data
fi
standard_stages 2
