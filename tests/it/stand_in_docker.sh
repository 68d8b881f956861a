#!/usr/bin/env bash
# A stand-in for `docker` (and `podman`) in tests/it/up.rs: records every call (argv and
# environment) in $STAND_IN_STATE, answers like Docker Compose v2, and "starts" the stand-in
# backend (the integration test binary, test `up::stand_in_backend`) on `compose up`, with the
# settings of the env file and the ports compose is handed. STAND_IN_MODE injects a fault.
set -u
state="$STAND_IN_STATE"
n=$(( $(cat "$state/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$state/count"
printf '%s\n' "$@" >"$state/call-$n.argv"
env >"$state/call-$n.env"
mode="${STAND_IN_MODE:-}"

if [ "${1:-}" != compose ]; then echo "stand-in docker: only compose" >&2; exit 1; fi
shift
if [ "$mode" = no-compose ]; then
  echo "docker: 'compose' is not a docker command." >&2
  echo "See 'docker --help'" >&2
  exit 1
fi
if [ "${1:-}" = version ]; then echo "${STAND_IN_COMPOSE_VERSION:-2.29.1}"; exit 0; fi
project='' file=''
while [ $# -gt 0 ]; do
  case "$1" in
    --project-name) project=$2; shift 2 ;;
    --file) file=$2; shift 2 ;;
    *) break ;;
  esac
done
if [ "$mode" = engine-down ]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
fi
[ -f "$file" ] || { echo "open $file: no such file or directory" >&2; exit 1; }
: "${CODER_CONVEX_ENV_FILE:?required variable CODER_CONVEX_ENV_FILE is missing a value}"

pidfile="$state/backend.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
start() {
  (
    set -a
    # shellcheck disable=SC1090
    . "$CODER_CONVEX_ENV_FILE"
    set +a
    STAND_IN_BACKEND=1 exec "$STAND_IN_EXE" --exact up::stand_in_backend --nocapture --test-threads=1
  ) >>"$state/backend.log" 2>&1 &
  echo $! >"$pidfile"
  echo "$CODER_CONVEX_ENV_HASH" >"$state/hash"
}
stop() {
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid"
    # Like a container stop: the ports are free when it returns (bounded: 10 s).
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 200 ]; do
      sleep 0.05
      i=$((i + 1))
    done
  fi
  rm -f "$pidfile" "$state/hash"
}

case "${1:-}" in
  ps)
    if running; then
      for service in backend dashboard; do
        printf '{"Name":"%s-%s-1","Service":"%s","State":"running","Status":"Up 1 second"}\n' "$project" "$service" "$service"
      done
    fi
    ;;
  up)
    if [ "$mode" = pull-fails ]; then
      echo " backend Pulling" >&2
      echo " backend Error manifest unknown" >&2
      echo "Error response from daemon: manifest unknown" >&2
      exit 18
    fi
    if running && [ "$(cat "$state/hash")" = "$CODER_CONVEX_ENV_HASH" ]; then
      echo " Container $project-backend-1  Running" >&2
      echo running >>"$state/events"
    elif running; then
      stop
      start
      echo " Container $project-backend-1  Recreated" >&2
      echo recreated >>"$state/events"
    else
      start
      echo " Container $project-backend-1  Started" >&2
      echo started >>"$state/events"
    fi
    ;;
  down)
    stop
    echo " Container $project-backend-1  Removed" >&2
    echo "$*" >>"$state/events"
    ;;
  logs)
    echo "backend-1  | stand-in log line"
    echo "$*" >>"$state/events"
    ;;
  *) echo "stand-in docker: unexpected $*" >&2; exit 1 ;;
esac
