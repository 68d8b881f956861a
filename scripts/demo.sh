#!/usr/bin/env bash
# The main job, `coder-convex setup`, end to end with the embedded defaults (no Coder, no
# external database) on a machine that cannot run the backend image: the stand-in backend
# (tests/support/fake_backend.rs) plays the backend. Usage: scripts/demo.sh [PROJECT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

# Cargo says where it put each executable (CARGO_TARGET_DIR or not); its progress goes to
# the terminal, so a first build (minutes) is not silent.
echo "building coder-convex and the stand-in backend (release; the first build takes a while)…" >&2
artifacts="$(cargo build --release --locked --bin coder-convex --example fake_backend \
  --message-format=json-render-diagnostics)"
executable() {
  printf '%s\n' "$artifacts" |
    sed -n "s/.*\"target\":{[^}]*\"name\":\"$1\".*\"executable\":\"\([^\"]*\)\".*/\1/p" | tail -n 1
}
bin="$(executable coder-convex)"
fake="$(executable fake_backend)"
if [ ! -x "$bin" ] || [ ! -x "$fake" ]; then
  echo "demo: cargo did not report the built executables" >&2
  exit 1
fi
project="${1:-$(mktemp -d)}"
mkdir -p "$project"

"$bin" --project-dir "$project" configure
secret="$(sed -n "s/^INSTANCE_SECRET='\(.*\)'$/\1/p" "$project/.env.convex.local")"
log="$(mktemp)"
INSTANCE_SECRET="$secret" "$fake" convex-self-hosted 0 0 >"$log" 2>&1 &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q '^ready' "$log" && break; sleep 0.05; done
read -r _ api site <"$log"

echo
echo "stand-in backend on $api (site proxy $site); running setup:"
CODER_CONVEX_BACKEND_URL="$api" CODER_CONVEX_SITE_PROXY_URL="$site" "$bin" --project-dir "$project" setup
echo
echo "project files are in $project"
