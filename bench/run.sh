#!/usr/bin/env bash
# Benchmarks of the release binary, timed with hyperfine (installed from Debian if missing).
# Usage: bench/run.sh            prints a table of mean times against the targets.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --locked --quiet
bin="$PWD/target/release/coder-convex"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
results="$work/results"
mkdir -p "$results"

# mean_ms NAME: the mean of a hyperfine JSON export, in milliseconds.
mean_ms() {
  python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$results/$1.json"
}

row() { # NAME TARGET_MS
  local mean
  mean="$(mean_ms "$1")"
  local verdict=ok
  python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))' "$mean" "$2" || verdict=MISSED
  printf '| %-28s | %9s ms | < %6s ms | %s |\n' "$1" "$mean" "$2" "$verdict"
}

project="$work/project"
export CODER=true CODER_WORKSPACE_AGENT_NAME=main CODER_WORKSPACE_NAME=ws CODER_WORKSPACE_OWNER_NAME=alice
export VSCODE_PROXY_URI='https://{{port}}--main--ws--alice.apps.example.com/'

mkdir -p "$project"
hyperfine -N --style none --warmup 1 --runs 15 \
  --prepare "find $project -mindepth 1 -delete" \
  --export-json "$results/configure-first-run.json" \
  "$bin --project-dir $project -q configure" >/dev/null

mkdir -p "$project" && "$bin" --project-dir "$project" -q configure
hyperfine -N --style none --warmup 5 --runs 100 \
  --export-json "$results/configure-re-run.json" \
  "$bin --project-dir $project -q configure" >/dev/null

hyperfine -N --style none --warmup 5 --runs 100 \
  --export-json "$results/env.json" \
  "$bin --project-dir $project env" >/dev/null

echo "| benchmark                    |      mean    | target    |    |"
echo "|------------------------------|--------------|-----------|----|"
row configure-first-run 1000
row configure-re-run 20
row env 10
