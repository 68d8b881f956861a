#!/bin/sh
# Process mode: stops the backend process when the workspace stops (`coder-convex down` sends
# SIGINT and gives it 10 s to drain; the data stays). Nothing to do before the first start.
set -eu
dir=${CODER_CONVEX_PROJECT_DIR:?CODER_CONVEX_PROJECT_DIR is not set (the module sets it in the agent env)}
cd "$dir" 2>/dev/null || exit 0
PATH="$dir/node_modules/.bin:${CODER_CONVEX_INSTALL_DIR:-$HOME/.local/bin}:$HOME/.local/share/coder-convex/node/bin:$PATH"
export PATH
if ! command -v coder-convex >/dev/null 2>&1; then
  echo "coder-convex is not installed: no backend process to stop"
  exit 0
fi
exec coder-convex down
