#!/usr/bin/env bash
# Reproduces models/synth-ctc-tiny-wide, the offline starting checkpoint: a wav2vec2 CTC model (3.8 M parameters)
# trained in three phases (about 2.3 hours on 2 CPU cores in all).
#   Phase 1 (about 30 minutes): a tiny model (0.7 M) from scratch on clean espeak-ng speech in German, Spanish,
#     Italian, Russian and Finnish (0.5 h each, seed 0): a model learning from raw audio leaves the all-blank
#     phase several times sooner on clean speech. --from DIR skips it and starts phase 2 from DIR.
#   Phase 2 (50 minutes): a new CTC head over all seven corpus languages plus French, and training on the varied
#     corpus: espeak-ng and Festival voices (real speakers' voices; test-only voices stay unheard), noise of five
#     colours and levels, reverberation, telephone-band and wideband codec round trips, loudness from -35 to -15
#     dBFS, and the real Asterisk prompt recordings in English, Spanish, French, Italian and Russian (their train
#     split only: dev and test prompts stay unheard). --phase2 DIR skips phases 1 and 2 (DIR: a phase-2 model).
#   Phase 3 (60 minutes): a wider transformer (`asr model init --preset tiny-wide`: 4 layers of 256) over the
#     phase-2 model's convolutional feature encoder, copied in and kept frozen (its output cached), trained on the
#     same varied corpus plus 2 h more English: the tiny model underfits the recipes' English, whose errors are
#     mostly spelling.
# Every language uses seed 0 and at most 0.75 h, so its sentences are the first of the corpus order that the
# recipes' own corpora (seed 0, 1.5 h and more) put in their train split; phase 3's extra English comes from the
# reserve share of that order (--sentence-pool reserve), which no recipe voices at any --hours. So no recipe's
# dev or test sentence, and no test-only voice, is in the checkpoint's training data.
# Usage: recipes/synth/make_start_checkpoint.sh [EXP_DIR] [--from PHASE1_MODEL_DIR | --phase2 PHASE2_MODEL_DIR]
#            [--stage N] [--stop-stage M] [--force] [--num-processes N]
# (paths relative to the current folder; EXP_DIR, or --exp EXP_DIR, defaults to exp/start_checkpoint in the
# repository). Stages: 1 clean corpus, 2 phase 1, 3 varied corpus, 4 phase 2, 5 more English, 6 phase 3, 7 model
# card (test decodes) and the checkpoint in models/. A finished stage is skipped when the script runs again, an
# interrupted one is redone (asr data synth and asr train resume their own work), --force redoes the selected
# ones; --from skips stages 1-2, --phase2 stages 1, 2 and 4. --num-processes N > 1 trains through accelerate.
[[ $# -gt 0 && $1 != -* ]] && set -- --exp "$@"  # EXP_DIR as the first argument, as before the stages
exp="" from="" phase2=""
OWN_OPTIONS_ONLY=1  # --help: the usage above only (common.sh's shared options are refused here)
. "$(dirname "$(readlink -f "$0")")/../_lib/common.sh" "$@"  # through a link too
fail() { echo "make_start_checkpoint.sh: $*" >&2; exit 2; }
# the three phases' training settings are their configs (conf/start_checkpoint*.yaml): no --key value for them,
# nor the other recipes' settings that common.sh declares (taken and ignored before)
((${#TRAIN_OVERRIDES[@]} == 0)) || fail "unknown option(s) ${TRAIN_OVERRIDES[*]}"
_opt=$(given_beyond exp from phase2)
[[ -z $_opt ]] || fail "unknown option --${_opt//_/-}"
for _opt in from phase2; do
    [[ -n ${!_opt} ]] || continue
    [[ -f ${!_opt}/model.safetensors && -f ${!_opt}/run_info.json ]] ||
        fail "--$_opt ${!_opt}: not a model folder of asr train (model.safetensors and run_info.json)"
    printf -v "$_opt" '%s' "$(realpath "${!_opt}")"
done
[[ -z $from || -z $phase2 ]] || fail "--from and --phase2 exclude each other"
exp=$(realpath -m "${exp:-$ROOT/exp/start_checkpoint}")
cd "$ROOT"
phase1_model=${from:-$exp/phase1/model}
phase2_model=${phase2:-$exp/train/model}
conf=recipes/synth/conf
# stage_inputs NAME: each phase's config and start model, whose content its marker records (a config edited in
# place made a phase "done before, skipped" without a word, and the checkpoint was shipped as the edited one's)
stage_inputs() {
    case $1 in
    phase1) INPUTS=("$conf/start_checkpoint.yaml") ;;
    phase2) INPUTS=("$conf/start_checkpoint_varied.yaml" "$phase1_model") ;;
    phase3) INPUTS=("$conf/start_checkpoint_wide.yaml" "$phase2_model") ;;
    *) INPUTS=() ;;
    esac
}
# the phases' start models: read by their stages alone (other stages recorded them, and named each rerun with
# --phase2 as made with other settings)
READ_BY+=([phase2]="from" [phase3]="phase2" [card]="phase2")
given=${from:+from}${phase2:+phase2}  # the option that gives a model made before, if any
REPLACED=()                              # the stages its model replaces (neither run nor read)
[[ $given == from ]] && REPLACED=(1 2)
[[ $given == phase2 ]] && REPLACED=(1 2 4)
new=models/synth-ctc-tiny-wide
# stage 7 writes the checkpoint; where it finished, only --force runs a stage again (a stage run takes the
# later stages' markers, so none is missing)
[[ -e $exp/.done/7.card && $force != true ]] || PUBLISHES="the checkpoint would be written to $new"
begin_recipe 7
clean_langs=(de es it ru fi)
langs=(en de es fi hi it ru)
asterisk_langs=(en es fr it ru)
# the varied corpus's voices and augmentation (phases 2 and 3); the shipped checkpoint heard the first room
# responses (--reverb-drr first), made before their direct-to-reverberant ratio was drawn from real rooms' range
varied=(--engines espeak-ng,festival --noise-prob 0.5 --reverb-prob 0.3 --reverb-drr first --noise-colours white,pink,brown,blue,violet
    --telephone-prob 0.15 --codec-prob 0.15 --level-dbfs=-35,-15)
# wanted N NAME: run_stage N NAME, unless the given model replaces stage N (said when the stage is selected)
wanted() {
    if [[ " ${REPLACED[*]} " == *" $1 "* ]]; then
        ((stage <= $1 && $1 <= stop_stage)) && log "stage $1 ($2): skipped, --$given ${!given} replaces it"
        return 1
    fi
    run_stage "$1" "$2"
}
csv() { local IFS=,; echo "$*"; }
# manifests DIR SPLIT LANG...: DIR/<lang>/SPLIT.jsonl of each LANG, appended to the array MANIFESTS (an array, so
# that a path with a space stays one argument)
manifests() { local l; for l in "${@:3}"; do MANIFESTS+=("$1/$l/$2.jsonl"); done; }
# new_model PRESET OUT ARGS...: asr model init into OUT, made again (it refuses a folder that holds a model, and
# the same seed makes the same weights)
new_model() {
    rm -rf "$2"
    "$ASR" model init --preset "$1" --out "$2" --seed 0 "${@:3}"
}

if wanted 1 clean_corpus; then
    "$ASR" data synth --langs "$(csv "${clean_langs[@]}")" --hours 0.5 --seed 0 --noise-prob 0 --reverb-prob 0 \
        --out "$exp/clean"
    for split in train dev; do
        MANIFESTS=() && manifests "$exp/clean" $split "${clean_langs[@]}"
        "$ASR" data merge "${MANIFESTS[@]}" --out "$exp/clean_$split.jsonl"
    done
    # the shipped checkpoints were made with lower-nopunct@1; pinned, so that this script reproduces them
    "$ASR" vocab --train "$exp/clean_train.jsonl" --out "$exp/clean_processor" --normalize lower-nopunct@1
    stage_done 1 clean_corpus
fi
if wanted 2 phase1; then
    new_model tiny "$exp/init" --processor "$exp/clean_processor"
    train_into "$exp/init" "$exp/phase1" --config "$conf/start_checkpoint.yaml" \
        --processor "$exp/clean_processor" --train_manifest "$exp/clean_train.jsonl" \
        --dev_manifest "$exp/clean_dev.jsonl"
    stage_done 2 phase1
fi

if wanted 3 varied_corpus; then
    "$ASR" data synth --langs "$(csv "${langs[@]}")" --hours 0.75 --seed 0 "${varied[@]}" --out "$exp/data"
    for l in "${asterisk_langs[@]}"; do
        "$ASR" data asterisk --lang "$l" --out "$exp/asterisk/$l"
    done
    for split in train dev; do
        MANIFESTS=() && manifests "$exp/data" $split "${langs[@]}" && manifests "$exp/asterisk" $split "${asterisk_langs[@]}"
        "$ASR" data merge "${MANIFESTS[@]}" --out "$exp/$split.jsonl"
    done
    "$ASR" vocab --train "$exp/train.jsonl" --out "$exp/processor" --normalize lower-nopunct@1
    stage_done 3 varied_corpus
fi
if wanted 4 phase2; then
    train_into "$phase1_model" "$exp/train" --config "$conf/start_checkpoint_varied.yaml" \
        --processor "$exp/processor" --train_manifest "$exp/train.jsonl" --dev_manifest "$exp/dev.jsonl"
    stage_done 4 phase2
fi

if wanted 5 more_english; then  # 2 h more English, from sentences no recipe voices
    "$ASR" data synth --langs en --hours 2 --seed 0 --sentence-pool reserve "${varied[@]}" --out "$exp/data_reserve"
    for split in train dev; do
        "$ASR" data merge "$exp/$split.jsonl" "$exp/data_reserve/en/$split.jsonl" --out "$exp/${split}_wide.jsonl"
    done
    stage_done 5 more_english
fi
if wanted 6 phase3; then  # a tiny-wide transformer over the phase-2 model's feature encoder (frozen)
    new_model tiny-wide "$exp/wide_init" --processor "$exp/processor" --encoder-from "$phase2_model"
    train_into "$exp/wide_init" "$exp/wide" --config "$conf/start_checkpoint_wide.yaml" \
        --processor "$exp/processor" --train_manifest "$exp/train_wide.jsonl" --dev_manifest "$exp/dev_wide.jsonl"
    stage_done 6 phase3
fi

if wanted 7 card; then  # the checkpoint with its model card (test decodes) in $new
    rm -rf "$new.new"
    cp -r "$exp/wide/model" "$new.new"
    cp "$exp/wide/learning_curve.png" "$new.new/"
    "$ASR" decode --model "$new.new" --manifest "$exp/dev_wide.jsonl" --out "$exp/decode_dev" --no-cache
    tests=()
    for l in "${langs[@]}"; do tests+=("synth_$l" "$exp/data/$l/test.jsonl"); done
    tests+=(synth_en_reserve "$exp/data_reserve/en/test.jsonl")
    for l in "${asterisk_langs[@]}"; do tests+=("asterisk_$l" "$exp/asterisk/$l/test.jsonl"); done
    for ((i = 0; i < ${#tests[@]}; i += 2)); do
        "$ASR" decode --model "$new.new" --manifest "${tests[i + 1]}" --out "$exp/decode_test/${tests[i]}" --no-cache
    done
    .venv/bin/python recipes/synth/model_card.py "$new.new" "$phase2_model/run_info.json" "$exp/wide/run_info.json" \
        "$exp/decode_dev/results.json" "$exp/decode_test"
    # in the place of the old one (set aside, then removed: never missing, as an rm then mv left it on a kill)
    .venv/bin/python -c 'import sys; from pathlib import Path; from asr.folders import replace_folder
replace_folder(Path(sys.argv[1]), Path(sys.argv[2]))' "$new.new" "$new"
    log "the checkpoint: $new"
    stage_done 7 card
fi
end_recipe
