#!/usr/bin/env bash
# Debian packages the tests need: chromium (headless browser for the HTML report and webview
# tests). Installs only what is missing; needs root (as on the dev and CI machines).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
