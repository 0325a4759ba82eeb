#!/usr/bin/env bash
# The wav2vec 2.0 low-resource grid: fine-tune on labeled subsets (10 min, 1 h, 10 h, 100 h) and decode
# dev-clean, dev-other, test-clean and test-other without an LM, with a 4-gram and with a Transformer LM, as
# the paper's Table 1 (which fuses the Transformer LM into a beam of 500; here it rescores the 4-gram beam's
# 16-best lists, alpha, beta and gamma tuned on dev-other).
#
# Usage: recipes/librispeech/run.sh [--corpus librispeech|synth] [--subsets "10min 1h 10h 100h" (synth: "10min 1h")]
#            [--model facebook/wav2vec2-base] [--train-config FILE] [--lm-text FILE] [--nlm-minutes 10]
#            [--exp DIR] [--ngpu N] [--stage N] [--stop-stage M] [--force] [--KEY VALUE ...: asr train config keys]
# --corpus librispeech reads openslr/librispeech_asr from the hub (train.100 for the subsets; --lm-text can
# name the LibriSpeech LM corpus, else the train.100 transcripts feed the 4-gram). --corpus synth runs the same
# stages offline on the built-in synthetic English: "clean" sets are speech without noise or reverberation,
# "other" sets the same sentences and voices with them (--hours of each), and the subsets are 10 min and 1 h.
# Stages: 1 data, 2 labeled subsets (one per subset), 3 vocab, 4 lm (4-gram), 5 nlm (Transformer LM), 6 train (one run per
# subset), 7 decode, 8 leaderboard.
corpus=librispeech
subsets=
lang=en
hours=1.5     # --corpus synth: hours of each of the clean and the other corpus
nlm_minutes=10  # training minutes of the Transformer LM (stage_nlm)
. "$(dirname "$(readlink -f "$0")")/../_lib/common.sh" "$@"  # through a link too
[[ $corpus == librispeech || $corpus == synth ]] || { echo "$0: --corpus $corpus: expected librispeech or synth" >&2; exit 2; }
for _opt in hours lang; do  # LibriSpeech is English, and as large as it is
    [[ $corpus == synth || " ${GIVEN[*]} " != *" $_opt "* ]] || { echo "$0: --$_opt is for --corpus synth" >&2; exit 2; }
done
if [[ $corpus == synth ]]; then  # published: where the recipe's own run puts its results (default_run)
    subsets=${subsets:-10min 1h}
    model=${model:-$ROOT/models/synth-ctc-tiny-wide}
    train_config=${train_config:-$ROOT/recipes/synth/conf/train_cpu.yaml}
    published=$ROOT/recipes/librispeech/RESULTS.synth.md
else
    subsets=${subsets:-10min 1h 10h 100h}
    model=${model:-facebook/wav2vec2-base}
    train_config=${train_config:-$ROOT/recipes/librispeech/conf/finetune_base.yaml}
    published=$ROOT/recipes/librispeech/RESULTS.md
fi
if default_run corpus; then
    results_md=${results_md:-$published}
fi
exp=${exp:-exp/librispeech/$corpus}
data=$exp/data/$corpus
decode_sets=(dev_clean dev_other test_clean test_other)
tune_set=dev_other
decoders=(greedy beam_lm rescore)
title="recipes/librispeech ($corpus): labeled data x LM"
declare -A subset_hours=([10min]=0.1667 [1h]=1 [10h]=10 [100h]=100)
read -ra subsets <<<"$subsets"  # words, never glob patterns ('1*' matched a file named 10min)
for subset in "${subsets[@]}"; do  # before any stage: a wrong name failed at stage 2, after hours of data preparation
    [[ -v subset_hours[$subset] ]] || { echo "$0: --subsets: unknown subset '$subset' (known: ${!subset_hours[*]})" >&2; exit 2; }
    # --corpus synth: train is 80% of the sentences, whose audio runs 10-15% short of --hours: about 70% of it
    # (0.67-0.72 measured); a larger subset failed at stage 2, after the data stage
    [[ $corpus != synth ]] || LC_ALL=C awk -v h="$hours" -v s="${subset_hours[$subset]}" 'BEGIN { exit !(0.7 * h >= s) }' ||
        { echo "$0: --subsets $subset: --hours $hours gives about $(LC_ALL=C awk -v h="$hours" 'BEGIN { print 0.7 * h }') h of train audio; give --hours $(LC_ALL=C awk -v s="${subset_hours[$subset]}" 'BEGIN { printf "%.2f", s / 0.7 + 0.005 }') or more" >&2; exit 2; }
done
# a grid finished by an earlier version has one stage-2 marker for all its subsets: each made subset takes it
if [[ -e $exp/.done/2.subsets ]]; then
    for subset in "${subsets[@]}"; do
        if [[ -e $data/train_$subset.jsonl ]]; then cp "$exp/.done/2.subsets" "$exp/.done/2.subset.train_$subset"; fi
    done
    rm "$exp/.done/2.subsets"
fi
begin_recipe 8
note_heard_sentences "$hours" 0

if run_stage 1 data; then
    forced_afresh "$exp/raw" "$data"
    if [[ $corpus == synth ]]; then
        "$ASR" data synth --langs "$lang" --hours "$hours" --seed 0 --noise-prob 0 --reverb-prob 0 --out "$exp/raw/clean"
        "$ASR" data synth --langs "$lang" --hours "$hours" --seed 0 --out "$exp/raw/other"
        clean=$exp/raw/clean/$lang other=$exp/raw/other/$lang
        cp "$clean/lm_text.txt" "$exp/raw/lm_text.txt"
    else
        "$ASR" data prepare --source hf:openslr/librispeech_asr:clean --splits train.100,validation,test --lang en \
            --out "$exp/raw/clean"
        "$ASR" data prepare --source hf:openslr/librispeech_asr:other --splits validation,test --lang en \
            --out "$exp/raw/other"
        clean=$exp/raw/clean other=$exp/raw/other
        mv "$clean/train.100.jsonl" "$clean/train.jsonl"
    fi
    mkdir -p "$data"
    "$ASR" data merge "$clean/train.jsonl" --out "$data/train.jsonl"
    for kind in clean other; do
        dir=$clean; [[ $kind == other ]] && dir=$other
        "$ASR" data merge "$dir/dev.jsonl" --out "$data/dev_$kind.jsonl"
        "$ASR" data merge "$dir/test.jsonl" --out "$data/test_$kind.jsonl"
    done
    cp "$data/dev_other.jsonl" "$data/dev.jsonl"  # what vocab --check, LM perplexity and training's dev use
    stage_done 1 data
fi

for subset in "${subsets[@]}"; do  # one stage per subset, as training and decoding: --subsets can grow
    if run_stage 2 "subset.train_$subset"; then
        "$ASR" data subset "$data/train.jsonl" --hours "${subset_hours[$subset]}" --seed 0 --out "$data/train_$subset.jsonl"
        stage_done 2 "subset.train_$subset"
    fi
done

stage_vocab 3
if [[ -n $lm_text ]]; then
    lm_files=("$lm_text")  # the LibriSpeech LM corpus, say
elif [[ $corpus == synth ]]; then
    lm_files=("$exp/raw/lm_text.txt")  # the sentences never voiced
fi
stage_lm 4
stage_nlm 5
for subset in "${subsets[@]}"; do
    stage_train 6 "$exp/train_$subset" "$data/train_$subset.jsonl"
done
decoded=()
for subset in "${subsets[@]}"; do
    stage_decode 7 "$exp/train_$subset" "$exp/decode/$subset"
    decoded+=("$exp/decode/$subset")
done
stage_leaderboard 8 "${decoded[@]}"  # this grid's decodes: a subset left out of --subsets keeps its old ones
end_recipe
