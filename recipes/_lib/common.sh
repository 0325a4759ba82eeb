# Shared by recipes/<corpus>/run.sh (sourced, never run): options, logging and stages.
#
# A recipe sets its own defaults as shell variables, then sources this file with its arguments:
#   lang=hi hours=3; . "$(dirname "$0")/../_lib/common.sh" "$@"
# Then it computes what depends on the options and calls begin_recipe. The settings every recipe has are declared
# here (exp, model, train_config, lm_text, lm_order, results_md; empty means the recipe's default), and the shared
# stages (stages.sh) are loaded. Options: --stage N, --stop-stage M, --force (redo finished stages), --num-processes N (or --ngpu N;
# training runs through `accelerate launch` when N > 1), and --NAME VALUE for any default the recipe defined
# (--lang, --exp, ...). Any other --key value goes to the training config (asr train --key value), in
# TRAIN_OVERRIDES. Every stage is logged with a timestamp to stdout and to $exp/logs/run.<time>.log.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ASR=${ASR:-$ROOT/.venv/bin/asr}
ACCELERATE=${ACCELERATE:-$ROOT/.venv/bin/accelerate}
exp=${exp-} model=${model-} train_config=${train_config-} lm_text=${lm_text-} results_md=${results_md-}
lm_order=${lm_order:-4}
nlm_minutes=${nlm_minutes:-10}  # training minutes of the Transformer LM (stage_nlm)
stage=${stage:-1}
stop_stage=${stop_stage:-100}
force=${force:-false}
num_processes=${num_processes:-1}
TRAIN_OVERRIDES=()
ORIGINAL_ARGS=("$@")

while (($#)); do
    case $1 in
        --force) force=true; shift ;;
        --help | -h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        --*)
            (($# >= 2)) || { echo "$0: option $1 needs a value" >&2; exit 2; }
            name=${1#--}
            name=${name//-/_}
            # checked before any expansion: ${!name} of 'x[$(cmd)]' would run cmd
            [[ $name =~ ^[a-z][a-z0-9_]*$ ]] || { echo "$0: bad option name $1" >&2; exit 2; }
            [[ $name == ngpu ]] && name=num_processes
            [[ $name == exp && -z $2 ]] && { echo "$0: --exp is empty" >&2; exit 2; }
            if [[ -n ${!name+set} ]]; then
                printf -v "$name" '%s' "$2"
            else
                TRAIN_OVERRIDES+=("--$name" "$2")
            fi
            shift 2 ;;
        *) echo "$0: unexpected argument $1 (options are --name value)" >&2; exit 2 ;;
    esac
done

# numbers are checked before any arithmetic: (( )) would evaluate '1[$(cmd)]'
for name in stage stop_stage num_processes; do
    [[ ${!name} =~ ^[0-9]+$ ]] || { echo "$0: --${name//_/-} ${!name}: expected a whole number" >&2; exit 2; }
done

log() { echo "$(date '+%F %T') $*"; }

# run_stage N NAME: true when stage N is selected and not finished (or --force); logs what it decides.
run_stage() {
    local n=$1 name=$2
    if ((n < stage || n > stop_stage)); then
        return 1
    fi
    if [[ $force != true && -e "$exp/.done/$n.$name" ]]; then
        log "stage $n ($name): done before, skipped (--force to redo)"
        return 1
    fi
    rm -f "$exp/.done/$n.$name"  # a marker never outlives what it vouches for (--force deletes outputs next)
    log "stage $n ($name): start"
    return 0
}

# stage_done N NAME: marks stage N finished (a stage interrupted before this is redone on the next run).
stage_done() {
    touch "$exp/.done/$1.$2"
    log "stage $1 ($2): done"
}

# begin_recipe LAST: called once the recipe has its settings (LAST: its last stage); checks the options (a
# --stage past LAST, training keys that asr train does not know), starts the log and sets TRAIN_CMD (asr train,
# through accelerate launch when more than one process is asked for).
begin_recipe() {
    last_stage=$1
    [[ -n $exp ]] || { echo "$0: --exp is empty" >&2; exit 2; }
    ((stage <= last_stage)) || { echo "$0: --stage $stage is past the last stage ($last_stage)" >&2; exit 2; }
    local keys=() i
    for ((i = 0; i < ${#TRAIN_OVERRIDES[@]}; i += 2)); do keys+=("${TRAIN_OVERRIDES[i]#--}"); done
    ((${#keys[@]} == 0)) || "$ASR" train --check-keys "${keys[@]}" || exit 2
    mkdir -p "$exp/logs" "$exp/.done"
    LOG_FILE="$exp/logs/run.$(date +%Y%m%d-%H%M%S).log"
    exec > >(tee -a "$LOG_FILE") 2>&1
    if ((num_processes > 1)); then
        TRAIN_CMD=("$ACCELERATE" launch --multi_gpu --num_processes "$num_processes" -m asr train)
    else
        TRAIN_CMD=("$ASR" train)
    fi
    [[ -n ${decode_sets+set} ]] || decode_sets=(dev test)
    log "$0 ${ORIGINAL_ARGS[*]@Q}"
    log "exp=$exp stage=$stage stop_stage=$stop_stage num_processes=$num_processes force=$force log=$LOG_FILE"
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
