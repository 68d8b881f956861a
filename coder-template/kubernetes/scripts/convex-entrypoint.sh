#!/bin/sh
# Entrypoint for the Convex backend and dashboard containers.
#
#   convex-entrypoint.sh <env-file> <command> [args...]
#
# Waits for <env-file> (`.env.convex.local`, written by `coder-convex`) to hold a value for each
# name in CONVEX_ENTRYPOINT_REQUIRE, reads it as data (never as shell: nothing in it runs),
# runs <command> with those settings, and exits non-zero when the file changes so the
# container's restart policy starts the command again with the new settings. The file holds
# secrets: this script prints its path and setting names at most, never a value, and the
# command's output passes through a filter that hides the file's secret values.
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
#   CONVEX_ENTRYPOINT_REQUIRE           names that must have a value before the command starts
#                                       (default "INSTANCE_NAME INSTANCE_SECRET"; empty: none)
#   CONVEX_ENTRYPOINT_EXTRA_FILE        a second env file, read after <env-file> so its values win:
#                                       the database settings `coder-convex db provision` wrote
#                                       where only this container can read them. Waited for and
#                                       watched like <env-file>.
#
# Exit status: the command's own status when it exits by itself or after a forwarded signal;
# 75 when the file changed; 64 on a usage error; 127 when the command is not found.
#
# Internal names start with `_ce_`; the file's settings never become this shell's variables.

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
# awk takes `NAME=value` as an assignment: a path with a slash never is one.
_ce_extra=${CONVEX_ENTRYPOINT_EXTRA_FILE:-}
case $_ce_extra in
'' | */*) ;;
*) _ce_extra=./$_ce_extra ;;
esac

_ce_poll=${CONVEX_ENTRYPOINT_POLL_SECONDS:-2}
_ce_wait_log=${CONVEX_ENTRYPOINT_WAIT_LOG_SECONDS:-10}
_ce_grace=${CONVEX_ENTRYPOINT_GRACE_SECONDS:-10}
_ce_keys=${CONVEX_ENTRYPOINT_KEYS:-}
_ce_stop_signal=${CONVEX_ENTRYPOINT_STOP_SIGNAL:-TERM}
_ce_stop_signal=${_ce_stop_signal#SIG}
_ce_required=${CONVEX_ENTRYPOINT_REQUIRE-INSTANCE_NAME INSTANCE_SECRET}

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
_ce_filter_out=
_ce_filter_err=
_ce_pipes=
_ce_signal=
_ce_changed=0
_ce_trapped=0

# shellcheck disable=SC2317 # called from the EXIT trap
_ce_cleanup() {
    for _ce_pid in $_ce_watcher $_ce_sleeper $_ce_killer; do
        kill "$_ce_pid" 2>/dev/null
    done
    if [ -n "$_ce_pipes" ]; then
        rm -rf "$_ce_pipes"
    fi
}
trap _ce_cleanup EXIT

# Content fingerprint: a rewrite with identical content (an idempotent `coder-convex setup`)
# must not restart anything.
_ce_fingerprint() {
    for _ce_f in "$_ce_file" ${_ce_extra:+"$_ce_extra"}; do
        if [ -r "$_ce_f" ]; then
            cksum <"$_ce_f" 2>/dev/null || echo unreadable
        else
            echo missing
        fi
    done
}

# The files' inodes: `coder-convex` renames a new file over the old one, so a rewrite changes it.
_ce_inode() {
    # shellcheck disable=SC2012 # ls -i is the portable way to an inode number
    ls -di "$_ce_file" ${_ce_extra:+"$_ce_extra"} 2>/dev/null | awk '{ print $1 }'
}

# The first file that cannot be read yet, if any.
_ce_unreadable() {
    for _ce_f in "$_ce_file" ${_ce_extra:+"$_ce_extra"}; do
        if [ ! -r "$_ce_f" ]; then
            printf '%s\n' "$_ce_f"
            return
        fi
    done
}

# Sleep in the background so that a trapped signal interrupts `wait` at once.
_ce_nap() {
    sleep "$_ce_poll" >/dev/null 2>&1 &
    _ce_sleeper=$!
    wait "$_ce_sleeper" 2>/dev/null
    _ce_sleeper=
}

# The env file is data, never shell: one awk program reads it with the rules `coder-convex`
# itself uses for the lines it writes (dotenv, `KEY='value'`), and nothing in it is ever
# evaluated. Accepted: blank lines, `#` comments, `KEY='value'` (literal), `KEY="value"`
# without `$`, `` ` `` or `\`, and unquoted values without quotes, `$`, `` ` `` or `\` (up to a
# ` #` comment); an optional `export `; CRLF line ends. Any other line is skipped with a log line
# naming its key, never its value. With CONVEX_ENTRYPOINT_EXTRA_FILE it reads both files, that
# one last. The program prints, one per line:
#   A 'KEY=value'       an assignment to pass on (quoted for `eval`; the last one of a key wins)
#   R '_CE_REDACT_n=v'  a secret value, hidden in the command's output
#   S <file>: <line>: <why>  a skipped line (no value in it)
#   M <names>           required names that are missing or empty
#   N <count>           how many assignments are passed on
# The file's own `PATH`, `IFS`, `HOME`… reach the command only: this script's shell never sees
# them.
# shellcheck disable=SC2016 # awk's program, not shell
_ce_parser='
function q(s,    r, i) {
    r = ""
    while ((i = index(s, SQ)) > 0) { r = r substr(s, 1, i - 1) SQ "\\" SQ SQ; s = substr(s, i + 1) }
    return SQ r s SQ
}
function skip(why) { print "S " FILENAME ": skipped line " FNR (key == "" ? "" : " (" key ")") ": " why }
BEGIN {
    SQ = sprintf("%c", 39)
    nk = split(ENVIRON["_CE_KEYS"], keys, " "); for (i = 1; i <= nk; i++) wanted[keys[i]] = 1
    nr = split(ENVIRON["_CE_REQUIRED"], required, " ")
    open = ""; n = 0
}
FNR == 1 { open = "" }
{
    sub(/\r$/, "")
    key = ""
    if (open != "") { if (index($0, open) > 0) open = ""; next }
    line = $0
    sub(/^[ \t]+/, "", line)
    if (line == "" || substr(line, 1, 1) == "#") next
    sub(/^export[ \t]+/, "", line)
    if (!match(line, /^[A-Za-z_][A-Za-z0-9_]*=/)) { skip("not an assignment"); next }
    key = substr(line, 1, RLENGTH - 1)
    rest = substr(line, RLENGTH + 1)
    first = substr(rest, 1, 1)
    hint = " (write it as " key "=" SQ "value" SQ ")"
    if (first == SQ || first == "\"") {
        body = substr(rest, 2)
        end = index(body, first)
        if (end == 0) { open = first; skip("a value over several lines is not supported"); next }
        value = substr(body, 1, end - 1)
        if (substr(body, end + 1) !~ /^([ \t]*|[ \t]+#.*)$/) { skip("text after the closing quote" hint); next }
        if (first == "\"" && value ~ /[$`\\]/) { skip("$, ` or \\ in double quotes" hint); next }
    } else {
        value = rest
        sub(/[ \t]+#.*$/, "", value)
        sub(/[ \t]+$/, "", value)
        if (value ~ /[$`\\"]/ || index(value, SQ)) { skip("a quote, $, ` or \\ in an unquoted value" hint); next }
    }
    seen[key] = value
    if (!(key in order)) { order[key] = ++n; names[n] = key }
}
END {
    missing = ""
    for (i = 1; i <= nr; i++) if (seen[required[i]] == "") missing = missing " " required[i]
    if (missing != "") print "M" missing
    count = 0
    for (i = 1; i <= n; i++) {
        k = names[i]
        if (nk > 0 && !(k in wanted)) continue
        print "A " q(k "=" seen[k]); count++
        if (seen[k] != "" && (k ~ /SECRET|PASSWORD|TOKEN|_KEY$/ || (k ~ /_URL$/ && seen[k] ~ /@/)))
            print "R " q("_CE_REDACT_" count "=" seen[k])
    }
    print "N " count
}'

# Parse the file (see above) into `_ce_parsed`; false when it cannot be read.
_ce_parse() {
    _ce_parsed=$(_CE_KEYS=$_ce_keys _CE_REQUIRED=$_ce_required awk "$_ce_parser" "$_ce_file" ${_ce_extra:+"$_ce_extra"} 2>/dev/null) || return 1
}

# The lines of `_ce_parsed` of one kind, without their tag.
_ce_tagged() {
    printf '%s\n' "$_ce_parsed" | sed -n "s/^$1 //p"
}

# Copies the command's output, with every secret value of the file replaced: upstream's
# run_backend.sh traces its commands (`set -x`), the instance secret among them.
# shellcheck disable=SC2016 # awk's program, not shell
_ce_filter='
BEGIN { for (k in ENVIRON) if (k ~ /^_CE_REDACT_/ && ENVIRON[k] != "") s[++n] = ENVIRON[k] }
{
    line = $0
    for (i = 1; i <= n; i++) {
        out = ""
        while ((j = index(line, s[i])) > 0) {
            out = out substr(line, 1, j - 1) "[redacted]"
            line = substr(line, j + length(s[i]))
        }
        line = out line
    }
    print line
    fflush()
}'

# --- wait for the file ------------------------------------------------------------------------

trap 'exit 143' TERM
trap 'exit 130' INT

_ce_since=$(date +%s)
_ce_last_log=$_ce_since
if [ ! -r "$_ce_file" ]; then
    _ce_log "waiting for $_ce_file (written by \`coder-convex setup\` or \`coder-convex configure\`)"
fi
if [ -n "$_ce_extra" ] && [ ! -r "$_ce_extra" ]; then
    _ce_log "waiting for $_ce_extra (written by the template's provisioner, \`coder-convex db provision\`)"
fi
while :; do
    _ce_waiting=$(_ce_unreadable)
    if [ -z "$_ce_waiting" ]; then
        _ce_seen=$(_ce_fingerprint)
        _ce_seen_inode=$(_ce_inode)
        if ! _ce_parse; then
            _ce_log "cannot read $_ce_file; waiting for it to change"
        elif _ce_missing=$(_ce_tagged M) && [ -n "$_ce_missing" ]; then
            # A writer that truncates and then writes, or a file from another tool.
            _ce_log "$_ce_file has no value for $_ce_missing yet; waiting for \`coder-convex setup\` to finish writing it"
        else
            break
        fi
        while [ "$(_ce_fingerprint)" = "$_ce_seen" ]; do
            _ce_nap
        done
        continue
    fi
    _ce_now=$(date +%s)
    if [ $((_ce_now - _ce_last_log)) -ge "$_ce_wait_log" ]; then
        if [ -e "$_ce_waiting" ]; then
            _ce_log "$_ce_waiting exists but user $(id -u) cannot read it"
        elif [ "$_ce_waiting" = "$_ce_file" ]; then
            _ce_log "still waiting for $_ce_file ($((_ce_now - _ce_since))s); run \`coder-convex setup\` in the project"
        else
            _ce_log "still waiting for $_ce_waiting ($((_ce_now - _ce_since))s); the template's provisioner writes it"
        fi
        _ce_last_log=$_ce_now
    fi
    _ce_nap
done
_ce_tagged S | while IFS= read -r _ce_line; do
    _ce_log "$_ce_line"
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

_ce_name=$1
_ce_path=$(command -v -- "$1") || {
    _ce_log "$1: command not found"
    exit 127
}
shift
_ce_count=$(_ce_tagged N)
if [ -n "$_ce_keys" ]; then
    _ce_log "loaded $_ce_count of $_ce_keys from $_ce_file${_ce_extra:+ and $_ce_extra}; starting $_ce_name"
else
    _ce_log "loaded $_ce_count settings from $_ce_file${_ce_extra:+ and $_ce_extra}; starting $_ce_name"
fi
# The command gets the file's settings through `env`, on top of the container's environment.
# Each `A` line is one single-quoted word: `eval` only puts the words back together.
eval "set -- $(_ce_tagged A | tr '\n' ' ') \"\$_ce_path\" \"\$@\""
# A background command of a non-interactive shell starts with SIGINT ignored. A program that
# installs its own handler still gets it (the backend's Rust runtime and Node do); a shell script
# cannot trap it, so use INT only for such programs. The grace period bounds a command that
# ignores the signal it is sent.
_ce_redact=$(_ce_tagged R | tr '\n' ' ')
if [ -n "$_ce_redact" ]; then
    # Its output passes through a filter that hides the file's secret values (two named pipes:
    # `$!` stays the command's own pid, so signals reach it directly).
    if ! _ce_pipes=$(mktemp -d "${TMPDIR:-/tmp}/convex-entrypoint.XXXXXX") ||
        ! mkfifo "$_ce_pipes/out" "$_ce_pipes/err"; then
        _ce_log "cannot create the pipes that filter the command's output"
        exit 1
    fi
    (
        eval "set -- $_ce_redact"
        exec env "$@" awk "$_ce_filter" <"$_ce_pipes/out"
    ) &
    _ce_filter_out=$!
    (
        eval "set -- $_ce_redact"
        exec env "$@" awk "$_ce_filter" <"$_ce_pipes/err" >&2
    ) &
    _ce_filter_err=$!
    env "$@" >"$_ce_pipes/out" 2>"$_ce_pipes/err" &
else
    env "$@" &
fi
_ce_child=$!
unset _ce_parsed _ce_redact
set -- "$_ce_name"
# A signal that came before the command existed.
if [ -n "$_ce_signal" ] && [ "$_ce_forwarded" = 0 ]; then
    kill -s "$_ce_stop_signal" "$_ce_child" 2>/dev/null
fi

# The watcher signals this shell (`$$` in a subshell) while the file differs from what was
# loaded and is complete; repeating the signal every poll closes the race with a `wait` that
# starts just after. A rewrite with the same content is logged once and restarts nothing.
(
    while kill -0 "$$" 2>/dev/null; do
        sleep "$_ce_poll"
        _ce_now=$(_ce_fingerprint)
        if [ "$_ce_now" != "$_ce_seen" ]; then
            if _ce_parse && [ -z "$(_ce_tagged M)" ]; then
                kill -USR1 "$$" 2>/dev/null
            elif [ "$_ce_now" != "${_ce_told:-}" ]; then
                _ce_told=$_ce_now
                _ce_log "$_ce_file changed but is not complete yet; the command keeps running until it is"
            fi
        elif [ "$(_ce_inode)" != "$_ce_seen_inode" ]; then
            _ce_seen_inode=$(_ce_inode)
            _ce_log "$_ce_file was rewritten with the same content; nothing to restart"
        fi
    done
) >/dev/null &
_ce_watcher=$!

# The output filters end when the command (and whatever it left running) closes the pipes.
_ce_drain() {
    for _ce_pid in $_ce_filter_out $_ce_filter_err; do
        wait "$_ce_pid" 2>/dev/null
    done
}

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
        _ce_drain
        _ce_log "$1 exited with status $_ce_status"
        exit "$_ce_status"
    fi
    if [ "$_ce_changed" = 1 ]; then
        kill "$_ce_watcher" 2>/dev/null
        _ce_watcher=
        _ce_log "$_ce_file changed; stopping $1 (SIG$_ce_stop_signal) so that the container restarts with the new settings"
        kill -s "$_ce_stop_signal" "$_ce_child" 2>/dev/null
        _ce_finish
        _ce_drain
        exit 75
    fi
done
_ce_drain
_ce_log "$1 exited with status $_ce_status"
exit "$_ce_status"
