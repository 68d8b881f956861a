#!/usr/bin/env bash
# Fresh-workspace install time of coder-convex, in one run, with hyperfine (from Debian if
# missing):
#
#   npm:   `sh scripts/install.sh` with an empty HOME, from a local npm registry (verdaccio on
#          127.0.0.1, tests/registry) holding the packages of scripts/package-npm.sh; this is
#          what the Coder template does with no admin variable set
#   npm i: `npm install -D coder-convex` in a new project with an empty npm cache
#   cargo: `cargo install --locked --git file://<clone of this repo>`, the template's former
#          default; crates come from the local cargo cache, so this is compile time only and
#          flatters cargo (a real new workspace also downloads ~300 crates)
#
#   bench/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
[ -x tests/registry/node_modules/.bin/verdaccio ] ||
  npm ci --prefix tests/registry --no-audit --no-fund --loglevel=error

work=$(mktemp -d)
cleanup() {
  [ -f "$work/verdaccio.pid" ] && kill "$(cat "$work/verdaccio.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

scripts/package-npm.sh "$work/npm" >/dev/null

# A registry on a free loopback port with no uplinks: nothing leaves this machine.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry=http://127.0.0.1:$port/
cat >"$work/verdaccio.yaml" <<YAML
storage: $work/storage
auth: { htpasswd: { file: $work/htpasswd, max_users: -1 } }
uplinks: {}
packages: { '**': { access: \$all, publish: \$all } }
max_body_size: 200mb
log: { type: stdout, format: pretty, level: error }
YAML
tests/registry/node_modules/.bin/verdaccio --config "$work/verdaccio.yaml" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
echo $! >"$work/verdaccio.pid"
for _ in $(seq 1 300); do curl -fs "${registry}-/ping" >/dev/null && break; sleep 0.1; done
for tgz in "$work"/npm/coder-convex-linux-x64-*.tgz "$work"/npm/coder-convex-[0-9]*.tgz; do
  HOME=$work npm publish "$tgz" --registry "$registry" "--//127.0.0.1:$port/:_authToken=bench" --loglevel=error >/dev/null
done

git clone --quiet "$root" "$work/repo"
mkdir -p "$work/results"

cat >"$work/npm-fresh.sh" <<SCRIPT
#!/bin/sh
rm -rf "$work/home" && mkdir -p "$work/home"
SCRIPT
cat >"$work/npm-install.sh" <<SCRIPT
#!/bin/sh
HOME="$work/home" npm_config_registry="$registry" npm_config_cache="$work/home/.npm" \
  PATH="$(dirname "$(command -v npm)"):/usr/local/bin:/usr/bin:/bin" sh "$root/scripts/install.sh" 2>/dev/null
SCRIPT
cat >"$work/project-fresh.sh" <<SCRIPT
#!/bin/sh
rm -rf "$work/project" "$work/cache" && mkdir -p "$work/project"
echo '{"name":"sample","private":true}' >"$work/project/package.json"
SCRIPT
cat >"$work/project-install.sh" <<SCRIPT
#!/bin/sh
cd "$work/project" && npm install -D coder-convex --registry "$registry" --cache "$work/cache" \
  --no-audit --no-fund --loglevel=error >/dev/null
SCRIPT
cat >"$work/cargo-fresh.sh" <<SCRIPT
#!/bin/sh
rm -rf "$work/cargo-root" "$work/cargo-target"
SCRIPT
cat >"$work/cargo-install.sh" <<SCRIPT
#!/bin/sh
CARGO_TARGET_DIR="$work/cargo-target" cargo install --quiet --locked --git "file://$work/repo" \
  --root "$work/cargo-root" coder-convex 2>/dev/null
SCRIPT
chmod +x "$work"/*.sh

hyperfine --style none --runs 10 --prepare "$work/npm-fresh.sh" \
  --export-json "$work/results/npm.json" "$work/npm-install.sh" >/dev/null
hyperfine --style none --runs 5 --prepare "$work/project-fresh.sh" \
  --export-json "$work/results/npm-i.json" "$work/project-install.sh" >/dev/null
hyperfine --style none --runs 1 --prepare "$work/cargo-fresh.sh" \
  --export-json "$work/results/cargo.json" "$work/cargo-install.sh" >/dev/null

"$work/home/.local/bin/coder-convex" --version >/dev/null
"$work/cargo-root/bin/coder-convex" --version >/dev/null

mean() { python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$work/results/$1.json"; }
npm_s=$(mean npm)
npm_i_s=$(mean npm-i)
cargo_s=$(mean cargo)
ratio=$(python3 -c 'import sys; print("%.0f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$cargo_s" "$npm_s")
size=$(stat -c %s "$work/home/.local/bin/coder-convex")
echo "| install path                                         | mean     |"
echo "|------------------------------------------------------|----------|"
printf '| %-52s | %6s s |\n' "scripts/install.sh, npm registry (template default)" "$npm_s"
printf '| %-52s | %6s s |\n' "npm install -D coder-convex, empty cache" "$npm_i_s"
printf '| %-52s | %6s s |\n' "cargo install --git (warm crate cache, 1 run)" "$cargo_s"
printf '| %-52s | %7sx |\n' "cargo / install.sh npm" "$ratio"
printf 'binary: %s bytes\n' "$size"
