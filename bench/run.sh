#!/usr/bin/env bash
# Benchmarks of the release binary, timed with hyperfine (installed from Debian if missing).
#
#   bench/run.sh          all sections
#   bench/run.sh offline  configure/env only (no backend, no npm)
#   bench/run.sh backend  setup --no-deploy / env-set / doctor against the fake backend
#   bench/run.sh deploy   setup with a deploy: skipped, full, and the script flow
#   bench/run.sh shared   200 workspaces' preflights at once on one Postgres (bench/shared_start.py)
#   bench/run.sh shared-mariadb   the same on one MariaDB
#   bench/run.sh shared-provision   200 `db provision` (the templates' provisioner) at once on one Postgres
#
# The backend section runs against the fake backend (examples/fake_backend.rs) and compares
# with the script baseline, one `npx convex env set` per variable, in the same run. The deploy
# section runs the real `convex` CLI (tests/node) against the fake's push protocol: `setup` on
# an unchanged project (the deploy skipped), `setup --force-deploy` (a full push), and the
# script flow (seven `npx convex env set`, then `npx convex deploy --yes`), in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
section="${1:-all}"

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --locked --quiet --bin coder-convex --example fake_backend
# Where cargo builds (CARGO_TARGET_DIR, a config file, or ./target): ask it.
target="$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target/release/coder-convex"
fake="$target/release/examples/fake_backend"
work="$(mktemp -d)"
results="$work/results"
mkdir -p "$results"
cleanup() {
  [ -f "$work/fake.pid" ] && kill "$(cat "$work/fake.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mean_ms() { # NAME: the mean of a hyperfine JSON export, in milliseconds
  python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$results/$1.json"
}
below() { python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))' "$1" "$2"; }
verdict() { if below "$1" "$2"; then echo ok; else echo MISSED; fi; }
row() { # NAME TARGET_MS
  local mean
  mean="$(mean_ms "$1")"
  printf '| %-34s | %10s ms | < %8s ms | %-6s |\n' "$1" "$mean" "$2" "$(verdict "$mean" "$2")"
}
header() {
  echo "| benchmark                          |          mean | target        |        |"
  echo "|------------------------------------|---------------|---------------|--------|"
}

offline() {
  local project="$work/offline"
  mkdir -p "$project"
  (
    export CODER=true CODER_WORKSPACE_AGENT_NAME=main CODER_WORKSPACE_NAME=ws CODER_WORKSPACE_OWNER_NAME=alice
    export VSCODE_PROXY_URI='https://{{port}}--main--ws--alice.apps.example.com/'
    hyperfine -N --style none --warmup 1 --runs 15 --prepare "find $project -mindepth 1 -delete" \
      --export-json "$results/configure-first-run.json" "$bin --project-dir $project -q configure" >/dev/null
    "$bin" --project-dir "$project" -q configure
    hyperfine -N --style none --warmup 5 --runs 100 \
      --export-json "$results/configure-re-run.json" "$bin --project-dir $project -q configure" >/dev/null
    hyperfine -N --style none --warmup 5 --runs 100 \
      --export-json "$results/env.json" "$bin --project-dir $project env" >/dev/null
  ) 2>/dev/null
  row configure-first-run 1000
  row configure-re-run 20
  row env 10
}

# Start (or restart, with an empty deployment) the fake backend on fixed ports.
cat >"$work/restart-fake.sh" <<SCRIPT
#!/usr/bin/env bash
set -eu
[ -f "$work/fake.pid" ] && kill "\$(cat "$work/fake.pid")" 2>/dev/null && sleep 0.05
INSTANCE_SECRET="\$(cat "$work/secret")" "$fake" convex-self-hosted 43210 43211 >"$work/fake.out" 2>&1 &
echo \$! >"$work/fake.pid"
for _ in \$(seq 1 100); do grep -q ready "$work/fake.out" 2>/dev/null && exit 0; sleep 0.02; done
echo "fake backend did not start" >&2; exit 1
SCRIPT
chmod +x "$work/restart-fake.sh"

backend() {
  local project="$work/backend" peers="$PWD/tests/node"
  [ -d "$peers/node_modules/convex" ] || npm ci --prefix "$peers" --no-audit --no-fund --loglevel=error
  mkdir -p "$project"
  printf '{"dependencies":{"convex":"1.48.0"}}\n' >"$project/package.json"
  ln -s "$peers/node_modules" "$project/node_modules"
  printf 'OPENAI_API_KEY=sk-bench\nRESEND_API_KEY=re_bench\nAUTH_GITHUB_ID=gh-bench\n' >"$project/.env.convex.deployment"
  export CODER_CONVEX_BACKEND_URL=http://127.0.0.1:43210 CODER_CONVEX_SITE_PROXY_URL=http://127.0.0.1:43211
  "$bin" --project-dir "$project" -q configure
  sed -n "s/^INSTANCE_SECRET='\(.*\)'$/\1/p" "$project/.env.convex.local" >"$work/secret"
  "$work/restart-fake.sh"

  # The script baseline: one CLI call per variable, values as the old scripts passed them.
  local key jwt jwks
  key="$("$bin" --project-dir "$project" admin-key)"
  # The values to push, as coder-convex computes them (read back from the deployment).
  "$bin" --project-dir "$project" -q env-set
  read_var() {
    curl -s -H "Authorization: Convex $key" http://127.0.0.1:43210/api/v1/list_environment_variables |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["environmentVariables"][sys.argv[1]])' "$1"
  }
  jwt="$(read_var JWT_PRIVATE_KEY)"
  jwks="$(read_var JWKS)"
  cat >"$work/baseline.sh" <<SCRIPT
#!/usr/bin/env bash
set -eu
cd "$project"
export CONVEX_SELF_HOSTED_URL=http://127.0.0.1:43210 CONVEX_SELF_HOSTED_ADMIN_KEY='$key'
set_var() { npx --no-install convex env set "\$1" -- "\$2" >/dev/null 2>&1; }
set_var JWT_PRIVATE_KEY '$jwt'
set_var JWKS '$jwks'
set_var CONVEX_SITE_ORIGIN http://127.0.0.1:3211
set_var JWT_ISSUER http://127.0.0.1:3211
set_var OPENAI_API_KEY sk-bench
set_var RESEND_API_KEY re_bench
set_var AUTH_GITHUB_ID gh-bench
SCRIPT
  chmod +x "$work/baseline.sh"

  hyperfine --style none --runs 3 --prepare "$work/restart-fake.sh" \
    --export-json "$results/baseline-7x-convex-env-set.json" "$work/baseline.sh" >/dev/null 2>&1
  hyperfine --style none --warmup 1 --runs 20 --prepare "$work/restart-fake.sh" \
    --export-json "$results/setup-no-deploy-first-run.json" "$bin --project-dir $project -q setup --no-deploy" >/dev/null 2>&1
  "$bin" --project-dir "$project" -q setup --no-deploy
  hyperfine -N --style none --warmup 5 --runs 50 \
    --export-json "$results/setup-no-deploy-re-run.json" "$bin --project-dir $project -q setup --no-deploy" >/dev/null 2>&1
  hyperfine -N --style none --warmup 5 --runs 50 \
    --export-json "$results/env-set-re-run.json" "$bin --project-dir $project -q env-set" >/dev/null 2>&1
  CODER_CONVEX_DASHBOARD_INTERNAL_URL=http://127.0.0.1:43211 hyperfine -N --style none --warmup 3 --runs 30 \
    --export-json "$results/doctor-healthy.json" "$bin --project-dir $project doctor" >/dev/null 2>&1
  # How soon a backend that comes up is seen: the fake's API port opens 1.5 s after it starts,
  # so the floor is 1500 ms and the health poll (at most 250 ms apart) adds the rest.
  hyperfine -N --style none --warmup 1 --runs 10 \
    --prepare "env FAKE_START_DELAY_MS=1500 $work/restart-fake.sh" \
    --export-json "$results/env-set-backend-up-after-1500ms.json" "$bin --project-dir $project -q env-set" >/dev/null 2>&1

  local base first ratio rss_ours rss_base
  base="$(mean_ms baseline-7x-convex-env-set)"
  first="$(mean_ms setup-no-deploy-first-run)"
  ratio="$(python3 -c 'import sys; print("%.0f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$base" "$first")"
  "$work/restart-fake.sh"
  rss_ours="$( { /usr/bin/time -f '%M' "$bin" --project-dir "$project" -q setup --no-deploy >/dev/null; } 2>&1 | tail -1)"
  rss_base="$( { /usr/bin/time -f '%M' "$work/baseline.sh"; } 2>&1 | tail -1)"
  printf '| %-34s | %10s ms |               |        |\n' baseline-7x-convex-env-set "$base"
  row setup-no-deploy-first-run 1000
  printf '| %-34s | %12sx | >= %9sx | %-6s |\n' "speed-up over the baseline" "$ratio" 50 "$(verdict 49.999 "$ratio")"
  row setup-no-deploy-re-run 50
  row env-set-re-run 50
  row doctor-healthy 1000
  row env-set-backend-up-after-1500ms 1800
  printf '| %-34s | %9s MiB | < %7s MiB | %-6s |\n' "peak RSS, setup --no-deploy" "$((rss_ours / 1024))" 20 "$(verdict "$rss_ours" 20480)"
  printf '| %-34s | %9s MiB |               |        |\n' "peak RSS, baseline (largest child)" "$((rss_base / 1024))"
}

# The fake's count of push-protocol writes (every push request but get_config_hashes) and of
# completed pushes, as `W C` (it prints them on SIGUSR1).
push_counts() {
  local before
  before="$(grep -c '^pushes ' "$work/fake.out" || true)"
  kill -USR1 "$(cat "$work/fake.pid")"
  for _ in $(seq 1 100); do
    [ "$(grep -c '^pushes ' "$work/fake.out" || true)" -gt "$before" ] && break
    sleep 0.02
  done
  grep '^pushes ' "$work/fake.out" | tail -1 | awk '{print $2, $4}'
}

deploy() {
  local project="$work/deploy" peers="$PWD/tests/node"
  [ -d "$peers/node_modules/convex" ] || npm ci --prefix "$peers" --no-audit --no-fund --loglevel=error
  # A project of its own (the deploy record lives in its node_modules/.cache): `convex` linked
  # from tests/node, two modules in convex/, three user variables (seven in all).
  mkdir -p "$project/node_modules/.bin" "$project/convex"
  printf '{"dependencies":{"convex":"1.48.0"}}\n' >"$project/package.json"
  ln -s "$peers/node_modules/convex" "$project/node_modules/convex"
  ln -s ../convex/bin/main.js "$project/node_modules/.bin/convex"
  cat >"$project/convex/messages.ts" <<'TS'
import { query, mutation } from "./_generated/server";
import { v } from "convex/values";
export const list = query({ args: {}, handler: async () => ["hello"] });
export const send = mutation({ args: { body: v.string() }, handler: async (_ctx, { body }) => body });
TS
  cat >"$project/convex/users.ts" <<'TS'
import { query } from "./_generated/server";
export const me = query({ args: {}, handler: async () => null });
TS
  printf 'OPENAI_API_KEY=sk-bench\nRESEND_API_KEY=re_bench\nAUTH_GITHUB_ID=gh-bench\n' >"$project/.env.convex.deployment"
  export CODER_CONVEX_BACKEND_URL=http://127.0.0.1:43210 CODER_CONVEX_SITE_PROXY_URL=http://127.0.0.1:43211
  "$bin" --project-dir "$project" -q configure
  sed -n "s/^INSTANCE_SECRET='\(.*\)'$/\1/p" "$project/.env.convex.local" >"$work/secret"
  "$work/restart-fake.sh"
  # The first setup pushes the env and deploys; the next one must find nothing to do.
  "$bin" --project-dir "$project" -q setup
  "$bin" --project-dir "$project" --json setup 2>/dev/null | grep -q '"deploy_skipped": *true' ||
    { echo "setup on an unchanged project did not skip the deploy" >&2; exit 1; }

  # The script flow: the seven variables one CLI call each, then the CLI's deploy.
  local key jwt jwks
  key="$("$bin" --project-dir "$project" admin-key)"
  read_var() {
    curl -s -H "Authorization: Convex $key" http://127.0.0.1:43210/api/v1/list_environment_variables |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["environmentVariables"][sys.argv[1]])' "$1"
  }
  jwt="$(read_var JWT_PRIVATE_KEY)"
  jwks="$(read_var JWKS)"
  cat >"$work/script-flow.sh" <<SCRIPT
#!/usr/bin/env bash
set -eu
cd "$project"
export CONVEX_SELF_HOSTED_URL=http://127.0.0.1:43210 CONVEX_SELF_HOSTED_ADMIN_KEY='$key'
set_var() { npx --no-install convex env set "\$1" -- "\$2" >/dev/null 2>&1; }
set_var JWT_PRIVATE_KEY '$jwt'
set_var JWKS '$jwks'
set_var CONVEX_SITE_ORIGIN http://127.0.0.1:3211
set_var JWT_ISSUER http://127.0.0.1:3211
set_var OPENAI_API_KEY sk-bench
set_var RESEND_API_KEY re_bench
set_var AUTH_GITHUB_ID gh-bench
npx --no-install convex deploy --yes >/dev/null 2>&1
SCRIPT
  chmod +x "$work/script-flow.sh"

  local skip_before skip_after full_before full_after
  skip_before="$(push_counts)"
  hyperfine -N --style none --warmup 3 --runs 30 \
    --export-json "$results/setup-deploy-skipped.json" "$bin --project-dir $project -q setup" >/dev/null 2>&1
  skip_after="$(push_counts)"
  [ "$skip_before" = "$skip_after" ] ||
    { echo "push requests during the skipped setups: $skip_before -> $skip_after" >&2; exit 1; }
  full_before="$(push_counts)"
  hyperfine -N --style none --warmup 1 --runs 5 \
    --export-json "$results/setup-force-deploy.json" "$bin --project-dir $project -q setup --force-deploy" >/dev/null 2>&1
  full_after="$(push_counts)"
  hyperfine --style none --warmup 1 --runs 3 \
    --export-json "$results/script-flow.json" "$work/script-flow.sh" >/dev/null 2>&1

  local skip full script
  skip="$(mean_ms setup-deploy-skipped)"
  full="$(mean_ms setup-force-deploy)"
  script="$(mean_ms script-flow)"
  ratio() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
  row setup-deploy-skipped 100
  printf '| %-34s | %10s ms |               |        |\n' setup-force-deploy "$full"
  printf '| %-34s | %10s ms |               |        |\n' "script flow (7 env set + deploy)" "$script"
  printf '| %-34s | %12sx |               |        |\n' "full deploy / skipped" "$(ratio "$full" "$skip")"
  printf '| %-34s | %12sx |               |        |\n' "script flow / skipped" "$(ratio "$script" "$skip")"
  printf '| %-34s | %12sx |               |        |\n' "script flow / full deploy" "$(ratio "$script" "$full")"
  echo "push counts (writes completed): skipped runs $skip_before -> $skip_after; full runs $full_before -> $full_after"
}

header
case "$section" in
  shared) python3 bench/shared_start.py "$bin" 200 postgres ;;
  shared-mariadb) python3 bench/shared_start.py "$bin" 200 mariadb ;;
  shared-provision) python3 bench/shared_start.py "$bin" 200 postgres provision ;;
  offline) offline ;;
  backend) backend ;;
  deploy) deploy ;;
  *) offline; backend; deploy ;;
esac
