#!/usr/bin/env bash
# Common Voice in one language from the hub, fine-tuning XLS-R 300M on GPUs through accelerate: the real path
# for users with a hub and GPUs. Data (train, validation -> dev, test) -> vocab -> 4-gram on the train
# sentences (and --lm-text FILE) -> training -> greedy, beam and beam + LM decoding -> leaderboard.
#
# Usage: recipes/common_voice/run.sh --lang fi [--ngpu 8] [--dataset hf:mozilla-foundation/common_voice_17_0:fi]
#            [--model facebook/wav2vec2-xls-r-300m] [--train-config recipes/common_voice/conf/xlsr_300m.yaml]
#            [--exp exp/common_voice/<lang>] [--normalize SPEC] [--lm-text FILE] [--stage N] [--stop-stage M]
#            [--force] [--KEY VALUE ...]
# --dataset takes any `asr data prepare` source with train/validation/test splits: a release as downloaded
# (commonvoice:/path/to/cv-corpus-21.0/fi), a local save_to_disk folder (hf:/path/to/folder), an audiofolder. Stages: 1 data, 2 vocab, 3 lm, 4 train, 5 decode, 6 leaderboard.
lang=fi
dataset=
model=facebook/wav2vec2-xls-r-300m
. "$(dirname "$(readlink -f "$0")")/../_lib/common.sh" "$@"  # through a link too
exp=${exp:-exp/common_voice/$lang}
dataset=${dataset:-hf:mozilla-foundation/common_voice_17_0:$lang}
train_config=${train_config:-$ROOT/recipes/common_voice/conf/xlsr_300m.yaml}
data=$exp/data/cv_$lang
title="recipes/common_voice: $lang ($model)"
begin_recipe 6

if run_stage 1 data; then
    forced_afresh "$data"
    splits=()  # the three splits named, so a missing one is an error; other sources have theirs in folders
    [[ $dataset == hf:* || $dataset == commonvoice:* ]] && splits=(--splits train,validation,test)
    "$ASR" data prepare --source "$dataset" "${splits[@]}" --lang "$lang" --out "$data"
    stage_done 1 data
fi
standard_stages 2
