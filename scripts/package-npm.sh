#!/usr/bin/env bash
# Build the npm packages of coder-convex: one .tgz per package in OUT_DIR.
#
#   scripts/package-npm.sh OUT_DIR                      build linux-x64 here and package it
#   scripts/package-npm.sh OUT_DIR PLATFORM=BINARY...   package prebuilt binaries (release CI)
#
# Packages (all at the crate version from Cargo.toml, the only place it is written):
#   coder-convex             the launcher (bin), exact-pinned optionalDependencies on the
#                            platform packages made in this run; no install scripts
#   coder-convex-<platform>  one native binary, with os/cpu (and libc) so npm and pnpm only
#                            install the one that fits; PLATFORM is linux-x64, linux-arm64,
#                            darwin-x64 or darwin-arm64
#
# The linux binaries link against glibc 2.28 at most (cargo-zigbuild with `ziglang` from PyPI),
# so they run on every glibc distribution since 2018 (Debian 10, Ubuntu 18.10, RHEL 8).
set -euo pipefail

if [ "$#" -lt 1 ] || [ "${1#-}" != "$1" ]; then
  sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
out=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The crate's metadata, read once: version, license, repository, description.
metadata=$(cargo metadata --manifest-path "$root/Cargo.toml" --no-deps --format-version 1 --locked)
crate_field() {
  node -e 'const m = JSON.parse(process.argv[1]); const p = m.packages.find((p) => p.name === "coder-convex"); process.stdout.write(String(p[process.argv[2]] ?? ""))' "$metadata" "$1"
}
version=$(crate_field version)
license=$(crate_field license)
repository=$(crate_field repository)
description=$(crate_field description)
[ -n "$version" ] || { echo "package-npm: no version in Cargo.toml" >&2; exit 1; }

# npm os/cpu/libc of each platform, and the Rust target that builds it.
platform_fields() {
  case $1 in
  linux-x64) echo 'linux x64 glibc x86_64-unknown-linux-gnu' ;;
  linux-arm64) echo 'linux arm64 glibc aarch64-unknown-linux-gnu' ;;
  darwin-x64) echo 'darwin x64 - x86_64-apple-darwin' ;;
  darwin-arm64) echo 'darwin arm64 - aarch64-apple-darwin' ;;
  *) return 1 ;;
  esac
}

# PLATFORM=BINARY pairs; none given: build linux-x64 on this machine.
pairs=("$@")
if [ "${#pairs[@]}" -eq 0 ]; then
  [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || {
    echo "package-npm: this builds linux-x64 on a linux x86_64 host; elsewhere pass PLATFORM=BINARY" >&2
    exit 2
  }
  command -v cargo-zigbuild >/dev/null || {
    echo "package-npm: cargo-zigbuild is missing: cargo install --locked cargo-zigbuild" >&2
    exit 1
  }
  python3 -m ziglang version >/dev/null 2>&1 || command -v zig >/dev/null || {
    echo "package-npm: zig is missing: pip install ziglang" >&2
    exit 1
  }
  echo "package-npm: building coder-convex $version for linux-x64 (glibc 2.28)" >&2
  # A target dir of its own: host builds in the shared one (tests, clippy) would otherwise
  # invalidate the zig-linked artifacts and force a full rebuild each time.
  zig_target=${CARGO_TARGET_DIR:-$root/target}/zigbuild
  cargo zigbuild --manifest-path "$root/Cargo.toml" --release --locked --quiet \
    --target-dir "$zig_target" --target x86_64-unknown-linux-gnu.2.28 --bin coder-convex
  pairs=("linux-x64=$zig_target/x86_64-unknown-linux-gnu/release/coder-convex")
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/coder-convex-npm.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Write package.json from key=value arguments (values that are arrays, objects or booleans
# are JSON).
write_manifest() {
  local file=$1
  shift
  node -e '
    const pkg = {};
    for (const arg of process.argv.slice(1)) {
      const i = arg.indexOf("=");
      const [k, v] = [arg.slice(0, i), arg.slice(i + 1)];
      pkg[k] = /^([[{]|true$|false$)/.test(v) ? JSON.parse(v) : v;
    }
    process.stdout.write(JSON.stringify(pkg, null, 2) + "\n");
  ' -- "$@" >"$file"
}

pack() {
  (cd "$1" && npm pack --silent --pack-destination "$out" >/dev/null) ||
    { echo "package-npm: npm pack failed in $1" >&2; exit 1; }
}

optional='{}'
for pair in "${pairs[@]}"; do
  platform=${pair%%=*}
  binary=${pair#*=}
  line=$(platform_fields "$platform") || {
    echo "package-npm: unknown platform $platform (linux-x64, linux-arm64, darwin-x64, darwin-arm64)" >&2
    exit 2
  }
  read -r os cpu libc target <<<"$line"
  [ -x "$binary" ] || { echo "package-npm: $binary is not an executable file" >&2; exit 1; }
  name=coder-convex-$platform
  dir=$stage/$name
  mkdir -p "$dir/bin"
  cp "$binary" "$dir/bin/coder-convex"
  chmod 0755 "$dir/bin/coder-convex"
  fields=(
    "name=$name" "version=$version"
    "description=The $platform binary of coder-convex ($target). Install coder-convex, which picks it."
    "license=$license" "repository={\"type\":\"git\",\"url\":\"git+$repository.git\"}"
    "os=[\"$os\"]" "cpu=[\"$cpu\"]"
  )
  [ "$libc" = - ] || fields+=("libc=[\"$libc\"]")
  fields+=('files=["bin/coder-convex"]' 'preferUnplugged=true')
  write_manifest "$dir/package.json" "${fields[@]}"
  # shellcheck disable=SC2016 # the backquotes are Markdown
  printf '# %s\n\nThe %s binary of [coder-convex](%s), version %s.\nInstall `coder-convex` instead: it depends on this package.\n' \
    "$name" "$platform" "$repository" "$version" >"$dir/README.md"
  pack "$dir"
  optional=$(node -e 'const o = JSON.parse(process.argv[1]); o[process.argv[2]] = process.argv[3]; process.stdout.write(JSON.stringify(o))' \
    "$optional" "$name" "$version")
done

dir=$stage/coder-convex
mkdir -p "$dir/bin"
cp "$root/npm/coder-convex.js" "$dir/bin/coder-convex.js"
chmod 0755 "$dir/bin/coder-convex.js"
cp "$root/npm/README.md" "$dir/README.md"
write_manifest "$dir/package.json" \
  "name=coder-convex" "version=$version" "description=$description" \
  "license=$license" "repository={\"type\":\"git\",\"url\":\"git+$repository.git\"}" \
  "homepage=$repository#readme" \
  'keywords=["convex","coder","self-hosted","cli"]' \
  'bin={"coder-convex":"bin/coder-convex.js"}' \
  'files=["bin/coder-convex.js"]' \
  'engines={"node":">=18"}' \
  "optionalDependencies=$optional"
pack "$dir"

(cd "$out" && ls -1 -- *"-$version.tgz")
