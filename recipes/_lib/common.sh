# Shared by recipes/<corpus>/run.sh (sourced, never run): options, logging and stages.
#
# A recipe sets its own defaults as shell variables, then sources this file with its arguments:
#   lang=hi hours=3; . "$(dirname "$(readlink -f "$0")")/../_lib/common.sh" "$@"
# Then it computes what depends on the options and calls begin_recipe. The settings every recipe has are declared
# here (exp, model, train_config, lm_text, lm_order, results_md, and the LM weight grids alpha_grid, beta_grid,
# gamma_grid of the decode stage's tuning; empty means the recipe's or asr decode's default), and the shared
# stages (stages.sh) are loaded. Options: --stage N, --stop-stage M, --force (redo finished stages), --num-processes N (or --ngpu N;
# training runs through `accelerate launch` when N > 1), and --NAME VALUE for any default the recipe defined
# (--lang, --exp, ...). Any other --key value goes to the training config (asr train --key value), in
# TRAIN_OVERRIDES. Every stage is logged with a timestamp to stdout and to $exp/logs/run.<time>.log. A finished
# stage's marker, $exp/.done/<N>.<name>, holds the settings it ran with (see run_stage).

set -euo pipefail

unset CDPATH  # cd would look the relative folders up there, and print the one it found into $ROOT
# -P: the checkout's own path, however it was reached (through a link, the default model's path recorded in every
# stage's marker differed, and each finished stage was "made with other settings")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
ASR=${ASR:-$ROOT/.venv/bin/asr}
ACCELERATE=${ACCELERATE:-$ROOT/.venv/bin/accelerate}
# a setting the environment exports (`export model=...` in a profile) was read as the recipe's default: used, yet
# neither recorded in the stages' markers nor counted as given, so its results were published as the recipe's
_exported=$(compgen -e | grep -xE 'exp|model|train_config|lm_text|lm_order|results_md|normalize|alpha_grid|beta_grid|'\
'gamma_grid|stage|stop_stage|force|num_processes|lang|hours|data_seed|corpus|subsets|nlm_minutes|dataset|from|phase2' |
    head -1 || true)
[[ -z $_exported ]] || { echo "$0: the environment exports '$_exported', a recipe setting: unset it, or give" \
    "--${_exported//_/-}" >&2; exit 2; }
exp=${exp-} model=${model-} train_config=${train_config-} lm_text=${lm_text-} results_md=${results_md-}
normalize=${normalize-}  # asr vocab --normalize (empty: the train manifest language's normaliser)
alpha_grid=${alpha_grid-} beta_grid=${beta_grid-} gamma_grid=${gamma_grid-}  # asr decode --alpha-grid ...
lm_order=${lm_order:-4}
stage=${stage:-1}
stop_stage=${stop_stage:-100}
force=${force:-false}
num_processes=${num_processes:-1}
TRAIN_OVERRIDES=()
# asr train keys the recipe sets itself (--train-config, its stages' outputs): as training keys they came last
# and won, so that a stage trained on other data or into another folder than the later stages read
WIRED=(config processor train_manifest dev_manifest output_dir)
GIVEN=()  # the names of the options the command line set (see default_run)
ORIGINAL_ARGS=("$@")
# the recipe's settings (lower-case variables, its defaults and the ones above), less how this run is driven and
# where it writes: a finished stage's marker records their values, and a rerun that changed one says so when it
# skips the stage
# (exported variables are the environment's, such as http_proxy, not the recipe's)
mapfile -t SETTINGS < <(compgen -v | grep -E '^[a-z][a-z0-9_]*$' | grep -vxF -f <(compgen -e) |
    grep -vxE 'stage|stop_stage|force|num_processes|exp|results_md|subsets')  # a grid's cells: stages of their own
# the settings that only these stages read (by the stage name's first word); the other stages (the recipe's data
# stages) record every setting but these
declare -A READ_BY=([vocab]="normalize" [lm]="lm_order lm_text" [nlm]="nlm_minutes lm_text"
    [train]="model train_config" [decode]="alpha_grid beta_grid gamma_grid" [leaderboard]="")

# _shared_help: the options every recipe takes (from this file), after the recipe's own usage
_shared_help() {
    cat <<EOF

Options every recipe takes (recipes/_lib/common.sh; a value follows its option after a space):
  --exp DIR              the run's folder: data, models, decodes, markers (.done/) and logs (logs/run.<time>.log)
  --stage N, --stop-stage M, --force   the stages to run (finished ones are skipped unless --force)
  --num-processes N, --ngpu N          training processes, through accelerate launch when N > 1
  --model DIR|HUB_ID     the starting checkpoint (default: the recipe's)
  --train-config FILE    the asr train config (default: the recipe's conf/)
  --normalize SPEC       asr vocab's text normaliser (default: the train manifest language's)
  --lm-text FILE, --lm-order N         n-gram LM text (added to the recipe's; recipes/librispeech: instead of
                         it); the n-gram order (default: the recipe's)
  --alpha-grid LIST, --beta-grid LIST, --gamma-grid LIST   asr decode's LM weight grids, comma-separated
                         (--gamma-grid: recipes that rescore n-best lists, recipes/librispeech)
  --results-md FILE      where the leaderboard's RESULTS.md is published (default: the recipe's, in its own run)
  --KEY VALUE            any other key: an asr train config key (.venv/bin/asr train --help lists them)
Environment: ASR and ACCELERATE name the asr and accelerate commands the stages run (default: the checkout's
.venv/bin/asr and .venv/bin/accelerate).
EOF
}

while (($#)); do
    case $1 in
        --force) force=true; shift ;;
        --help | -h)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            [[ -n ${OWN_OPTIONS_ONLY-} ]] || _shared_help
            exit 0 ;;
        --force=* | --help=*) echo "$0: option ${1%%=*} takes no value" >&2; exit 2 ;;
        --*=*) echo "$0: option ${1%%=*}: give its value after a space (${1%%=*} ${1#*=})" >&2; exit 2 ;;
        --*)
            # '--lang --force' set lang to '--force' and never forced
            (($# >= 2)) && [[ $2 != --* ]] || { echo "$0: option $1 needs a value" >&2; exit 2; }
            _opt=${1#--}
            _opt=${_opt//-/_}
            # checked before any expansion: ${!_opt} of 'x[$(cmd)]' would run cmd
            [[ $_opt =~ ^[a-z][a-z0-9_]*$ ]] || { echo "$0: bad option name $1" >&2; exit 2; }
            [[ $_opt == ngpu ]] && _opt=num_processes
            GIVEN+=("$_opt")
            [[ " ${WIRED[*]} " != *" $_opt "* ]] ||
                { echo "$0: --$_opt: the recipe sets it for asr train itself (its own options: --help)" >&2; exit 2; }
            if [[ -n ${!_opt+set} ]]; then
                # an empty --model, --train-config or --lang took the recipe's default without a word
                [[ -n $2 ]] || { echo "$0: option $1 is empty" >&2; exit 2; }
                printf -v "$_opt" '%s' "$2"
            else
                TRAIN_OVERRIDES+=("--$_opt" "$2")
            fi
            shift 2 ;;
        *) echo "$0: unexpected argument $1 (options are --name value)" >&2; exit 2 ;;
    esac
done

# numbers are checked before any arithmetic: (( )) would evaluate '1[$(cmd)]', and read 09 as octal; and the
# recipes' own, which failed at the stage that read them (--nlm-minutes after hours of data and LM work)
_checked() {  # NAME PATTERN WHAT: exits naming --NAME unless its value (when the recipe has it) is PATTERN
    [[ -z ${!1+set} || ${!1} =~ $2 ]] || { echo "$0: --${1//_/-} ${!1}: expected $3" >&2; exit 2; }
}
for _opt in stage stop_stage num_processes lm_order; do _checked $_opt '^[1-9][0-9]*$' "a whole number above 0, without leading zeros"; done
_checked lm_order '^[2-6]$' "2 to 6, the orders KenLM builds"  # it failed at stage 3, after the data (R62)
_checked data_seed '^(0|[1-9][0-9]*)$' "a whole number"  # 00 made seed 0's corpus, but no marker read it as 0
_weight='(1000(\.0*)?|[0-9]{1,3}(\.[0-9]*)?|\.[0-9]+)'  # within asr decode's bound, ±1000
for _opt in alpha_grid beta_grid gamma_grid; do
    _checked $_opt "^\$|^-?$_weight(,-?$_weight)*\$" "numbers from -1000 to 1000, comma-separated"
done
for _opt in hours nlm_minutes; do _checked $_opt '^0*([1-9][0-9]*(\.[0-9]*)?|0?\.[0-9]*[1-9][0-9]*)$' "a number above 0"; done
((stage <= stop_stage)) || { echo "$0: --stage $stage is after --stop-stage $stop_stage" >&2; exit 2; }

log() { echo "$(date '+%F %T') $*"; }

# note_heard_sentences HOURS SEED: says so where a synthetic corpus of HOURS and SEED puts sentences that the
# shipped starting checkpoint trained on in its dev and test splits: the checkpoint heard the train splits of
# seed-0 corpora of up to 0.75 h, and a smaller corpus of that seed voices the same first sentences of its order
# in other splits (the published runs, 1.5 h and more, do not).
note_heard_sentences() {
    if [[ $2 == 0 && $model == "$ROOT"/models/synth-ctc-tiny* ]] && LC_ALL=C awk -v h="$1" 'BEGIN {exit !(h < 0.75)}'; then
        log "note: --hours $1 < 0.75 with data seed 0: dev and test sentences are among those the starting" \
            "checkpoint trained on (seed-0 corpora of up to 0.75 h); their scores are not held out"
    fi
}

# given_beyond NAME...: the first option the command line set other than how the run is driven (stages,
# processes) and NAME..., or nothing
given_beyond() {
    local opt
    for opt in "${GIVEN[@]}"; do
        [[ " stage stop_stage num_processes $* " == *" $opt "* ]] || { echo "$opt"; return; }
    done
}

# default_run NAME...: true when the command line set no option but those and NAME... (such as lang): the
# recipe's own run, whose results it publishes. A run with another --exp, --hours or training key is an
# experiment, published only where --results-md says.
default_run() {
    [[ -z $(given_beyond "$@") ]]
}

# run_stage N NAME: true when stage N is selected and not finished (or --force); logs what it decides. A stage
# that runs makes the later stages' results stale: their markers go (those of other run folders stay, see
# _stale), so a rerun redoes them instead of keeping what the old results were made from. A recipe calls it for
# every stage in order, selected or not, so that the stages before --stage are checked: a stage without its
# marker stops the run before any selected stage starts (the outputs there are not what a finished stage left),
# and one made with other settings is named, as a skipped one is (a run that would publish RESULTS.md is refused
# before any stage where one was: _may_publish).
run_stage() {
    local n=$1 name=$2 marker="$exp/.done/$1.$2" changed
    ((n <= stop_stage)) || return 1
    if ((n < stage)) || [[ $force != true && -e $marker ]]; then
        if [[ ! -e $marker ]]; then
            UNFINISHED+=("$n ($name)")
            return 1
        fi
        changed=$(_changed "$marker" "$name")
        if ((n >= stage)); then
            log "stage $n ($name): done before, skipped (--force to redo)${changed:+; WARNING: it was made with $changed}"
        elif [[ -n $changed ]]; then
            log "stage $n ($name), before --stage $stage: WARNING: it was made with $changed"
        fi
        return 1
    fi
    if ((${#UNFINISHED[@]})); then
        echo "$0: stage ${UNFINISHED[0]} has not finished in $exp (or was run again since), and stage $n ($name)" \
            "builds on it: run from stage ${UNFINISHED[0]%% *}" >&2
        exit 2
    fi
    local stale
    mapfile -t stale < <(_stale "$n" "$name")
    rm -f "$marker" "${stale[@]}"  # a marker never outlives what it vouches for
    STAGE=("$n" "$name")  # the stage running (forced_afresh)
    # what training reads, as it starts (R81: taken at its end, a config edited meanwhile was recorded as used)
    stage_inputs "$name"
    ((${#INPUTS[@]} == 0)) || STAGE_CONTENT=$(_digests "${INPUTS[@]}")
    log "stage $n ($name): start"
    return 0
}
STAGE=()  # N NAME of the stage running, between run_stage and stage_done
UNFINISHED=()  # "N (NAME)" of the stages before --stage without a marker
BOARD_READS=() # the decode folders the leaderboard reads (stage_leaderboard)

# forced_afresh PATH...: removes each PATH the running stage would otherwise resume from (the corpus tools, asr
# train and asr lm train resume an interrupted run in their output) where the stage is redone: under --force,
# or where an earlier stage (of its scope, as _stale scopes them) finished after everything in PATH was
# written, so PATH was made from what that stage has remade since. A run stopped after it finished, before its
# stage's marker, is newer than every earlier marker: kept (it was trained again from its first step), as is an
# interrupted one.
forced_afresh() {
    local path
    for path; do
        if [[ $force == true ]] || _remade_since "${STAGE[@]}" "$path"; then rm -rf "$path"; fi
    done
}

# _markers: the finished stages' markers in $exp/.done/, each path ended by a NUL; only files named N.NAME, as
# stage_done writes them: a name of another shape would reach bash arithmetic, which runs a command substitution
# in an array subscript (a planted stage[$(cmd)].x ran cmd)
_markers() {
    local marker
    for marker in "$exp/.done/"*; do
        if [[ -e $marker && ${marker##*/} =~ ^[0-9]+\.[A-Za-z0-9_.-]+$ ]]; then printf "%s\0" "$marker"; fi
    done
}

# _remade_since N NAME PATH: whether PATH exists and an earlier stage of stage N NAME's scope finished after the
# newest file in PATH was written
_remade_since() {
    local n=$1 folder=${2#*.} path=$3 marker markers file rest own
    [[ $folder == "$2" ]] && folder=""
    [[ -e $path ]] || return 1
    mapfile -d "" -t markers < <(_markers)
    for marker in "${markers[@]}"; do
        file=${marker##*/}
        ((10#${file%%.*} < n)) || continue
        rest=${file#*.}
        own=${rest#*.}
        [[ $own == "$rest" ]] && own=""
        [[ -z $folder || -z $own || $own == "$folder" ]] || continue  # another subset's stage: not an input
        [[ -n $(find "$path" -newer "$marker" -print -quit) ]] || return 0
    done
    return 1
}

# stage_done N NAME: marks stage N finished, with the settings it ran with (a stage interrupted before this is
# redone on the next run).
stage_done() {
    # written beside it, then moved in: a kill while writing left an empty marker, a stage done with no settings;
    # a stage that reads none says so (an empty marker is an earlier version's, which recorded none)
    local settings
    settings=$(_settings "$2")
    echo "${settings:-settings: none}" >"$exp/.done/.$1.$2.part"
    mv -f "$exp/.done/.$1.$2.part" "$exp/.done/$1.$2"
    STAGE=()
    unset STAGE_CONTENT
    log "stage $1 ($2): done"
}

# _settings NAME: the settings stage NAME reads, as `declare -p` lines (READ_BY), and for a training stage (NAME
# train...) the training overrides, for the leaderboard the decodes it reads: a marker vouches for what its stage
# made from them (the earlier stages' markers for their own)
_settings() {
    local name kind=${1%%.*} later=" ${READ_BY[*]} "
    for name in "${SETTINGS[@]}"; do
        if [[ -n ${READ_BY[$kind]+set} ]]; then
            [[ " ${READ_BY[$kind]} " == *" $name "* ]] || continue
        else
            [[ $later != *" $name "* ]] || continue
        fi
        declare -p "$name" 2>/dev/null || true
    done
    [[ $kind != train ]] || echo "train overrides: ${TRAIN_OVERRIDES[*]@Q}"
    stage_inputs "$1"
    ((${#INPUTS[@]} == 0)) || echo "${STAGE_CONTENT-$(_digests "${INPUTS[@]}")}"
    [[ $kind != leaderboard ]] || echo "reads: ${BOARD_READS[*]@Q}"
}

# stage_inputs NAME: sets INPUTS to the files whose content the marker of stage NAME records (_digests): a
# training stage's (NAME train...) config and start model. A recipe whose training stages have other names or
# inputs defines its own after sourcing this file (make_start_checkpoint.sh's phases).
stage_inputs() {
    INPUTS=()
    [[ ${1%%.*} != train ]] || INPUTS=("$train_config" "$model")
}

CONTENT="train config and model content"  # the label of _digests' line
# _digests PATH...: one line, "$CONTENT: " and each file with the start of its SHA-256,
# of each PATH that is a file and of a model folder's config.json and weights, through links (R79: a
# --train-config file or a start model changed in place was a training "done before, skipped", and published
# under the changed file's name; R81: a model reached through a link, or a hub snapshot's linked files, had
# none); nothing for a hub id. One line: a weights file gone or added is a change too, and a path's characters
# never reach a pattern (R83)
_digests() {
    local path file files out=()
    for path; do
        files=()
        if [[ -d $path ]]; then
            mapfile -d "" -t files < <(find -L "$path" -maxdepth 1 -type f \( -name config.json -o -name "*.safetensors" \
                -o -name "*.bin" \) -print0 | sort -z)
        elif [[ -f $path ]]; then
            files=("$path")
        fi
        for file in "${files[@]}"; do out+=("${file@Q} $(sha256sum <"$file" | cut -c1-12)"); done
    done
    local IFS=";"
    echo "$CONTENT: ${out[*]}"
}

# _changed MARKER NAME: the settings MARKER (of stage NAME) recorded where this run has them otherwise, or nothing
# (a setting this version no longer has is passed over, as are the training keys of a stage before training,
# which earlier versions recorded in every marker); an empty marker, of a version that recorded none, may have
# been made with any: said so (its stages were skipped without a word, and published as the default run's), as
# is each setting a marker lacks (an earlier version's, before it: --data-seed, --normalize, the grids: R53)
_changed() {
    [[ -s $1 ]] || { echo "settings an earlier version did not record"; return 0; }
    local now line name current changed=()
    now=$(_settings "$2")
    while IFS= read -r line; do
        grep -qxF -- "$line" <<<"$now" && continue
        if [[ $line == "declare "* ]]; then
            name=${line#declare -* }
            current=$(grep -m1 "^declare -[^ ]* ${name%%=*}=" <<<"$now") || continue
            _same_file "${line#*=}" "${current#*=}" && continue
            line=${line#declare -* }
        else
            grep -q "^${line%%: *}: " <<<"$now" || continue  # train overrides, reads
        fi
        changed+=("$line")
    done <"$1"
    while IFS= read -r line; do  # a setting the marker's (earlier) version did not have: its value is not known
        name=${line#declare -* }
        [[ $line == "declare "* ]] && ! grep -q "^declare -[^ ]* ${name%%=*}=" "$1" &&
            changed+=("${name%%=*} that an earlier version did not record")
        # R88: a phase of make_start_checkpoint.sh recorded no content before this version (edited since: shipped)
        if [[ $line == "$CONTENT: "* ]] && ! grep -q "^$CONTENT: " "$1"; then
            changed+=("$CONTENT that an earlier version did not record")
        fi
    done <<<"$now"
    local IFS=';'
    echo "${changed[*]}"
}

# _same_file VALUE VALUE: whether two recorded values ("..." as declare -p quotes them) name one existing file:
# a checkout reached through a link recorded every default path so (before ROOT was the physical path)
_same_file() {
    local a=${1#\"} b=${2#\"}
    a=${a%\"} b=${b%\"}
    [[ -n $a && -e $a && $a -ef $b ]]
}

# _stale N NAME: the markers of later stages that depend on stage N: all of them, except where NAME belongs to a
# run folder: then those of that folder and the leaderboard, which reads every folder's decodes (train.train_1h
# makes decode.train_1h stale, not decode.train_10min; subset.train_1h not the vocabulary of the whole train set)
_stale() {
    local n=$1 folder=${2#*.} marker markers later
    [[ $folder == "$2" ]] && folder=""
    mapfile -d "" -t markers < <(_markers)
    for marker in "${markers[@]}"; do
        later=${marker##*/}
        ((10#${later%%.*} > n)) || continue
        local rest=${later#*.}
        local own=${rest#*.}
        [[ $own == "$rest" ]] && own=""
        if [[ -z $folder || $own == "$folder" || $rest == leaderboard ]]; then echo "$marker"; fi
    done
}

# begin_recipe LAST: called once the recipe has its settings (LAST: its last stage); checks the options (a
# --stage past LAST, training keys that asr train does not know), starts the log and sets TRAIN_CMD (asr train,
# through accelerate launch when more than one process is asked for).
begin_recipe() {
    last_stage=$1
    [[ -n $exp ]] || { echo "$0: --exp is empty" >&2; exit 2; }
    [[ $exp != -* ]] || exp=./$exp  # not an option of the commands it is given to (mkdir's, asr's)
    ((stage <= last_stage)) || { echo "$0: --stage $stage is past the last stage ($last_stage)" >&2; exit 2; }
    # read by the LM stages: found missing there, after the data stage
    [[ -z $lm_text || -r $lm_text ]] || { echo "$0: --lm-text $lm_text: no such file" >&2; exit 2; }
    # files named relative to the current folder are recorded absolute: the same words from another folder,
    # naming another file, had its stage skipped as done with them
    local name
    for name in lm_text train_config model; do
        [[ -z ${!name} || ! -e ${!name} ]] || printf -v "$name" '%s' "$(realpath -s -- "${!name}")"
    done
    # read only by a recipe that rescores n-best lists: elsewhere it was taken, recorded, and used by no decode
    [[ -z $gamma_grid || " ${decoders[*]-} " == *" rescore "* ]] || { echo "$0: --gamma-grid: this recipe" \
        "rescores no n-best lists (its decoders: ${decoders[*]:-${DEFAULT_DECODERS[*]}})" >&2; exit 2; }
    if [[ -n ${train_config-} ]]; then  # its keys and values, as training will read them
        "$ASR" train --check-options --config "$train_config" "${TRAIN_OVERRIDES[@]}" || exit 2
    fi
    mkdir -p "$exp/logs" "$exp/.done"
    # one run at a time on an EXP: a second found the first one's stages done and trained into its folder (held
    # on fd 9 until this run and every process it started end, however they end)
    exec 9<"$exp"
    # 75: held by another run; any other failure: a file system without locks (some FUSE mounts), where the
    # recipe runs unheld rather than refusing every run
    flock -n -E 75 9 || {
        (($? != 75)) || { echo "$0: --exp $exp: another run is using it now; wait for it to end, or give another" \
            "--exp" >&2; exit 2; }
        echo "$0: note: --exp $exp cannot be locked here (no locks on its file system?): a second run on it at" \
            "the same time would not be refused" >&2; }
    LOG_FILE="$exp/logs/run.$(date +%Y%m%d-%H%M%S).log"
    # tee ignores what stops the group (Ctrl-C, a hangup, SIGTERM): the last lines, the stage's among them, reach
    # the terminal and the log, and tee ends at the recipe's end of output
    exec > >(trap '' INT HUP TERM; exec tee -a "$LOG_FILE") 2>&1
    trap '_stage_failed $?' EXIT
    # a hangup, Ctrl-C or SIGTERM to the whole process group (a scheduler's job end, `timeout`) ended the shell
    # with the EXIT trap seeing status 0: no line named the stage. Each ends it with its own status, once the
    # stage's command (which takes the same signal) has stopped
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ((num_processes > 1)); then
        TRAIN_CMD=("$ACCELERATE" launch --multi_gpu --num_processes "$num_processes" -m asr train)
    else
        TRAIN_CMD=("$ASR" train)
    fi
    [[ -n ${decode_sets+set} ]] || decode_sets=(dev test)
    log "$0 ${ORIGINAL_ARGS[*]@Q}"
    log "exp=$exp stage=$stage stop_stage=$stop_stage num_processes=$num_processes force=$force log=$LOG_FILE"
    _may_publish
}

# _may_publish: where this run would publish RESULTS.md (or what PUBLISHES says, a recipe publishing something
# else), refuses it before any stage when a finished stage that it does not redo by --force, nor leaves out
# (REPLACED: the stage numbers a given model replaces), was made with other settings (its results would be
# published as this run's)
_may_publish() {
    local publishes=${PUBLISHES:-${results_md:+RESULTS.md would be published to $results_md}}
    [[ -n $publishes ]] && ((stop_stage >= last_stage)) || return 0
    local marker markers file n changed
    mapfile -d "" -t markers < <(_markers)
    for marker in "${markers[@]}"; do
        file=${marker##*/}
        n=$((10#${file%%.*}))
        [[ $force == true ]] && ((n >= stage)) && continue
        [[ ${file#*.} != leaderboard ]] || continue  # it publishes only when it runs, and then it is redone
        [[ " ${REPLACED[*]-} " != *" $n "* ]] || continue
        changed=$(_changed "$marker" "${file#*.}")
        [[ -z $changed ]] && continue
        echo "$0: $publishes, but stage $n (${file#*.}) was made with" \
            "$changed: run it again (--stage $n --force)" >&2
        exit 2
    done
}

# _stage_failed STATUS: on exit, names the stage that was running and the log (its last line was the failing
# command's own, with no stage or log named)
_stage_failed() {
    ((${#STAGE[@]})) && (($1)) || return 0
    local how="failed (exit status $1)"  # a crash's 137 or 139 too: only a hangup, Ctrl-C or SIGTERM interrupts
    case $1 in 129 | 130 | 143) how="interrupted (SIG$(kill -l "$1"), exit status $1)" ;; esac
    log "stage ${STAGE[0]} (${STAGE[1]}): $how; log: $LOG_FILE" >&2
}

# end_recipe: the closing log line.
end_recipe() {
    if [[ -e $exp/leaderboard/index.html ]] && ((stop_stage >= last_stage)); then
        log "done: $exp/leaderboard/index.html"
    else
        log "done: stages $stage to $((stop_stage < last_stage ? stop_stage : last_stage))"
    fi
}

. "$(dirname "${BASH_SOURCE[0]}")/stages.sh"
