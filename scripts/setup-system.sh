#!/usr/bin/env bash
# Debian packages the tests need: chromium (headless browser for the HTML report and webview
# tests) and a C compiler (gcc, for tensorpeek's fused reduction kernel). Installs only what
# is missing; needs root (as on the dev and CI machines).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
