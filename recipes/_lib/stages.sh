# The stages every ASR recipe shares (sourced after common.sh, as functions; a recipe adds its data stage):
#   stage_vocab N         asr vocab on $data/train.jsonl (--normalize $normalize when set) -> $exp/processor
#   stage_lm N            asr lm build (order $lm_order) on "${lm_files[@]}" when the recipe sets it, else on
#                         $data/train.jsonl; and on the --lm-text file if given     -> $exp/lm
#   stage_nlm N           asr lm train (a Transformer LM, $nlm_minutes of training) on the same text -> $exp/nlm
#   stage_train N [DIR [TRAIN]]   asr train --config $train_config from $model on TRAIN (default
#                         $data/train.jsonl)                                        -> DIR (default $exp/train)
#   stage_decode N [DIR [OUT]]    one `asr decode` per decoder of "${decoders[@]}" (default greedy beam beam_lm)
#                         over the manifests $data/<set>.jsonl of "${decode_sets[@]}" with DIR/model; beam_lm's
#                         alpha/beta are tuned on $tune_set (default dev) and reused  -> OUT/<decoder>/<set>;
#                         the decoder "rescore" is beam_lm with its n-best lists rescored by $exp/nlm
#                         (alpha, beta and gamma tuned); $alpha_grid, $beta_grid, $gamma_grid, where set, are
#                         the tuning's grids
#                         (OUT default $exp/decode)
#   stage_leaderboard N [DIR...]  asr leaderboard on DIR... (default $exp/decode), and RESULTS.md to $results_md
#                         when set, unless a stage this run did not redo was made with other settings
#   standard_stages N     the five above as stages N to N+4
# Each runs only when selected and not finished (run_stage); a stage run for another folder than $exp/train
# (stage_train 6 "$exp/train_1h") has a marker of its own, NAME.<folder> (6.train.train_1h).

DEFAULT_DECODERS=(greedy beam beam_lm)  # stage_decode's where a recipe sets no decoders

# _named NAME DIR: NAME for the recipe's default run folder, NAME.<folder> for another one
_named() { [[ $2 == "$exp/train" ]] && echo "$1" || echo "$1.$(basename "$2")"; }

stage_vocab() {
    run_stage "$1" vocab || return 0
    local checks=() set
    for set in "${decode_sets[@]}"; do checks+=("$data/$set.jsonl"); done
    "$ASR" vocab --train "$data/train.jsonl" --out "$exp/processor" --check "${checks[@]}" \
        ${normalize:+--normalize "$normalize"}
    stage_done "$1" vocab
}

# _lm_texts: the LM text files, in LM_TEXTS (the recipe's lm_files, else train.jsonl; and --lm-text)
_lm_texts() {
    LM_TEXTS=("$data/train.jsonl")
    [[ -n ${lm_files+set} ]] && LM_TEXTS=("${lm_files[@]}")
    [[ -z $lm_text || " ${LM_TEXTS[*]} " == *" $lm_text "* ]] || LM_TEXTS+=("$lm_text")
}

stage_lm() {
    run_stage "$1" lm || return 0
    _lm_texts
    "$ASR" lm build --text "${LM_TEXTS[@]}" --order "$lm_order" --processor "$exp/processor" \
        --dev "$data/dev.jsonl" --out "$exp/lm"
    stage_done "$1" lm
}

stage_nlm() {
    run_stage "$1" nlm || return 0
    _lm_texts
    rm -rf "$exp/nlm"
    forced_afresh "$exp/nlm.checkpoint"  # a stopped run goes on from its checkpoint, a redone one starts afresh
    "$ASR" lm train --text "${LM_TEXTS[@]}" --max-minutes "$nlm_minutes" --processor "$exp/processor" \
        --dev "$data/dev.jsonl" --out "$exp/nlm"
    stage_done "$1" nlm
}

# train_into INIT OUT ARGS...: asr train from INIT into OUT. A run of a stage redone starts afresh (forced_afresh:
# asr train would resume the finished run, its new INIT unread); any other resumes from OUT's last checkpoint (a
# run stopped after it finished, before its stage's marker, is finished: nothing is trained again)
train_into() {
    forced_afresh "$2"
    "${TRAIN_CMD[@]}" --model "$1" --output_dir "$2" "${@:3}"
}

stage_train() {
    local dir=${2:-$exp/train} manifest=${3:-$data/train.jsonl}
    run_stage "$1" "$(_named train "$dir")" || return 0
    train_into "$model" "$dir" --config "$train_config" --processor "$exp/processor" \
        --train_manifest "$manifest" --dev_manifest "$data/dev.jsonl" "${TRAIN_OVERRIDES[@]}"
    stage_done "$1" "$(_named train "$dir")"
}

stage_decode() {
    local dir=${2:-$exp/train} out=${3:-$exp/decode}
    run_stage "$1" "$(_named decode "$dir")" || return 0
    local tune=${tune_set:-dev} set decoder target lm_args manifests=() decs=("${DEFAULT_DECODERS[@]}") grids=()
    [[ -z $alpha_grid ]] || grids+=(--alpha-grid "$alpha_grid")
    [[ -z $beta_grid ]] || grids+=(--beta-grid "$beta_grid")
    [[ -n ${decoders+set} ]] && decs=("${decoders[@]}")
    manifests=("$data/$tune.jsonl")  # beam_lm's alpha/beta are tuned on it and reused on the others
    for set in "${decode_sets[@]}"; do [[ $set == "$tune" ]] || manifests+=("$data/$set.jsonl"); done
    for decoder in "${decs[@]}"; do
        lm_args=(--decoder "$decoder")
        [[ $decoder == beam_lm ]] && lm_args+=(--lm "$exp/lm" --tune alpha,beta --tune-on "$tune" "${grids[@]}")
        [[ $decoder == rescore ]] && lm_args=(--decoder beam_lm --lm "$exp/lm" --rescore "$exp/nlm" \
            --tune alpha,beta,gamma --tune-on "$tune" "${grids[@]}" ${gamma_grid:+--gamma-grid "$gamma_grid"})
        target=$out/$decoder  # one manifest: asr decode writes into --out itself, not --out/<set>
        ((${#manifests[@]} == 1)) && target=$out/$decoder/$tune
        "$ASR" decode --model "$dir/model" --manifest "${manifests[@]}" --logits-cache "$exp/logits" \
            "${lm_args[@]}" --out "$target"
    done
    stage_done "$1" "$(_named decode "$dir")"
}

stage_leaderboard() {
    local folders=("${@:2}") folder
    ((${#folders[@]})) || folders=("$exp/decode")
    BOARD_READS=()  # recorded in its marker, relative to $exp
    for folder in "${folders[@]}"; do BOARD_READS+=("${folder#"$exp"/}"); done
    run_stage "$1" leaderboard || return 0
    "$ASR" leaderboard "${folders[@]}" --out "$exp/leaderboard" --title "$title" --significance
    if [[ -n ${results_md-} ]]; then
        mkdir -p "$(dirname -- "$results_md")"  # a folder not made yet, as --exp (it failed here, after every stage)
        cp "$exp/leaderboard/RESULTS.md" "$results_md"
        log "RESULTS.md -> $results_md"
    else
        log "RESULTS.md not published (an experiment's run; --results-md FILE copies it)"
    fi
    stage_done "$1" leaderboard
}

# standard_stages N: vocab, lm, train, decode and leaderboard as stages N to N+4 (after a recipe's data stage).
standard_stages() {
    stage_vocab "$1"
    stage_lm $(($1 + 1))
    stage_train $(($1 + 2))
    stage_decode $(($1 + 3))
    stage_leaderboard $(($1 + 4))
    end_recipe
}
