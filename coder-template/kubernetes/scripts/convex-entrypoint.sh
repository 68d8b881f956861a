#!/bin/sh
# Entrypoint for the Convex backend and dashboard containers.
#
#   convex-entrypoint.sh <env-file> <command> [args...]
#
# Waits for <env-file> (`.env.convex.local`, written by `coder-convex`), loads it, runs
# <command> with those settings, and exits non-zero when the file changes so the container's
# restart policy starts the command again with the new settings. The file holds secrets: this
# script prints its path and setting names at most, never a value.
#
# Environment:
#   CONVEX_ENTRYPOINT_POLL_SECONDS      how often to check the file (default 2)
#   CONVEX_ENTRYPOINT_WAIT_LOG_SECONDS  how often to log while waiting for it (default 10)
#   CONVEX_ENTRYPOINT_GRACE_SECONDS     how long a stopping command may take before SIGKILL (default 10)
#   CONVEX_ENTRYPOINT_STOP_SIGNAL       the signal that stops the command, on a change of the file and
#                                       when the container is stopped (TERM or INT; default TERM).
#                                       The backend shuts down gracefully on INT only: TERM kills it.
#   CONVEX_ENTRYPOINT_KEYS              space-separated names: pass only these to the command
#                                       (the dashboard needs NEXT_PUBLIC_DEPLOYMENT_URL only)
#
# Exit status: the command's own status when it exits by itself or after a forwarded signal;
# 75 when the file changed; 64 on a usage error.
#
# Internal names start with `_ce_` because sourcing the env file assigns shell variables.

set -u

_ce_log() { printf 'convex-entrypoint: %s\n' "$*" >&2; }

if [ "$#" -lt 2 ]; then
    _ce_log "usage: convex-entrypoint.sh <env-file> <command> [args...]"
    exit 64
fi

_ce_file=$1
shift
# `.` searches PATH for a name without a slash.
case $_ce_file in
*/*) ;;
*) _ce_file=./$_ce_file ;;
esac

_ce_poll=${CONVEX_ENTRYPOINT_POLL_SECONDS:-2}
_ce_wait_log=${CONVEX_ENTRYPOINT_WAIT_LOG_SECONDS:-10}
_ce_grace=${CONVEX_ENTRYPOINT_GRACE_SECONDS:-10}
_ce_keys=${CONVEX_ENTRYPOINT_KEYS:-}
_ce_stop_signal=${CONVEX_ENTRYPOINT_STOP_SIGNAL:-TERM}
_ce_stop_signal=${_ce_stop_signal#SIG}

case $_ce_stop_signal in
TERM | INT) ;;
*)
    _ce_log "CONVEX_ENTRYPOINT_STOP_SIGNAL: '$_ce_stop_signal' is not TERM or INT"
    exit 64
    ;;
esac

for _ce_key in $_ce_keys; do
    case $_ce_key in
    [!A-Za-z_]* | *[!A-Za-z0-9_]*)
        _ce_log "CONVEX_ENTRYPOINT_KEYS: '$_ce_key' is not a variable name"
        exit 64
        ;;
    esac
done

_ce_child=
_ce_watcher=
_ce_sleeper=
_ce_killer=
_ce_signal=
_ce_changed=0
_ce_trapped=0

# shellcheck disable=SC2317 # called from the EXIT trap
_ce_cleanup() {
    for _ce_pid in $_ce_watcher $_ce_sleeper $_ce_killer; do
        kill "$_ce_pid" 2>/dev/null
    done
}
trap _ce_cleanup EXIT

# Content fingerprint: a rewrite with identical content (an idempotent `coder-convex setup`)
# must not restart anything.
_ce_fingerprint() {
    if [ -r "$_ce_file" ]; then
        cksum <"$_ce_file" 2>/dev/null || echo unreadable
    else
        echo missing
    fi
}

# Sleep in the background so that a trapped signal interrupts `wait` at once.
_ce_nap() {
    sleep "$_ce_poll" >/dev/null 2>&1 &
    _ce_sleeper=$!
    wait "$_ce_sleeper" 2>/dev/null
    _ce_sleeper=
}

# Load the file into this shell's environment. Output of the file is discarded: a shell error
# message can quote a value. `set +u`: a user's line may refer to an unset variable.
_ce_load() {
    if ! (
        set +u
        # shellcheck disable=SC1090 # the path is only known at run time
        . "$_ce_file"
    ) >/dev/null 2>&1; then
        return 1
    fi
    if [ -z "$_ce_keys" ]; then
        set +u -a
        # shellcheck disable=SC1090
        . "$_ce_file" >/dev/null 2>&1
        set -u +a
        _ce_loaded="$(_ce_names | wc -l | tr -d ' ') settings"
        return 0
    fi
    # Only the named keys: read the file in a subshell and carry those over, quoted for eval.
    _ce_exports=$(
        set +u
        # shellcheck disable=SC1090
        . "$_ce_file" >/dev/null 2>&1
        for _ce_key in $_ce_keys; do
            if eval "[ -n \"\${$_ce_key+set}\" ]"; then
                eval "_ce_value=\${$_ce_key}"
                # shellcheck disable=SC2154 # assigned by the eval above
                printf 'export %s=%s\n' "$_ce_key" "$(_ce_quote "$_ce_value")"
            fi
        done
    ) || return 1
    eval "$_ce_exports"
    _ce_loaded="$(printf '%s\n' "$_ce_exports" | grep -c '^export ') of $_ce_keys"
    unset _ce_exports
}

# Names assigned in the env file, for the log line (never values).
_ce_names() {
    sed -n -e 's/^[[:space:]]*//' -e 's/^export[[:space:]][[:space:]]*//' \
        -e 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$_ce_file"
}

# Single-quote a value for `eval`.
_ce_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# --- wait for the file ------------------------------------------------------------------------

trap 'exit 143' TERM
trap 'exit 130' INT

_ce_since=$(date +%s)
_ce_last_log=$_ce_since
if [ ! -r "$_ce_file" ]; then
    _ce_log "waiting for $_ce_file (written by \`coder-convex setup\` or \`coder-convex configure\`)"
fi
while :; do
    if [ -r "$_ce_file" ]; then
        _ce_seen=$(_ce_fingerprint)
        if _ce_load; then
            break
        fi
        _ce_log "cannot load $_ce_file (expected KEY='value' lines); waiting for it to change"
        while [ "$(_ce_fingerprint)" = "$_ce_seen" ]; do
            _ce_nap
        done
        continue
    fi
    _ce_now=$(date +%s)
    if [ $((_ce_now - _ce_last_log)) -ge "$_ce_wait_log" ]; then
        if [ -e "$_ce_file" ]; then
            _ce_log "$_ce_file exists but user $(id -u) cannot read it"
        else
            _ce_log "still waiting for $_ce_file ($((_ce_now - _ce_since))s); run \`coder-convex setup\` in the project"
        fi
        _ce_last_log=$_ce_now
    fi
    _ce_nap
done

# --- run the command --------------------------------------------------------------------------

# From here on, a TERM or INT (`docker stop`) is passed on to the command at once, as the stop
# signal, by the trap itself: a flag alone could be set just before a `wait` starts and then
# wait forever. A change of the file is a flag; the watcher repeats its signal every poll.
# shellcheck disable=SC2317 # called from the traps
_ce_on_signal() {
    _ce_signal=$1
    _ce_trapped=1
    if [ -n "$_ce_child" ]; then
        kill -s "$_ce_stop_signal" "$_ce_child" 2>/dev/null
        _ce_forwarded=1
    fi
}
_ce_forwarded=0
trap '_ce_on_signal TERM' TERM
trap '_ce_on_signal INT' INT
trap '_ce_changed=1; _ce_trapped=1' USR1

_ce_log "loaded $_ce_loaded from $_ce_file; starting $1"
# A background command of a non-interactive shell starts with SIGINT ignored. A program that
# installs its own handler still gets it (the backend's Rust runtime and Node do); a shell script
# cannot trap it, so use INT only for such programs. The grace period bounds a command that
# ignores the signal it is sent.
"$@" &
_ce_child=$!
# A signal that came before the command existed.
if [ -n "$_ce_signal" ] && [ "$_ce_forwarded" = 0 ]; then
    kill -s "$_ce_stop_signal" "$_ce_child" 2>/dev/null
fi

# The watcher signals this shell (`$$` in a subshell) while the file differs from what was
# loaded; repeating the signal every poll closes the race with a `wait` that starts just after.
(
    while kill -0 "$$" 2>/dev/null; do
        sleep "$_ce_poll"
        if [ "$(_ce_fingerprint)" != "$_ce_seen" ]; then
            kill -USR1 "$$" 2>/dev/null
        fi
    done
) >/dev/null 2>&1 &
_ce_watcher=$!

# Wait for the command; false when a trapped signal interrupted the wait instead.
_ce_wait_child() {
    _ce_trapped=0
    wait "$_ce_child"
    _ce_status=$?
    [ "$_ce_trapped" = 0 ]
}

# Wait for the command, which has been sent the stop signal, to exit; SIGKILL after the grace
# period. A signal received meanwhile reaches it through the trap (the backend takes a second
# SIGINT as "stop now").
_ce_finish() {
    (
        sleep "$_ce_grace"
        kill -s KILL "$_ce_child"
    ) >/dev/null 2>&1 &
    _ce_killer=$!
    until _ce_wait_child; do
        :
    done
    kill "$_ce_killer" 2>/dev/null
    _ce_killer=
}

until _ce_wait_child; do
    if [ -n "$_ce_signal" ]; then
        _ce_log "received SIG$_ce_signal; stopping $1 (SIG$_ce_stop_signal)"
        _ce_finish
        _ce_log "$1 exited with status $_ce_status"
        exit "$_ce_status"
    fi
    if [ "$_ce_changed" = 1 ]; then
        kill "$_ce_watcher" 2>/dev/null
        _ce_watcher=
        _ce_log "$_ce_file changed; stopping $1 (SIG$_ce_stop_signal) so that the container restarts with the new settings"
        kill -s "$_ce_stop_signal" "$_ce_child" 2>/dev/null
        _ce_finish
        exit 75
    fi
done
_ce_log "$1 exited with status $_ce_status"
exit "$_ce_status"
