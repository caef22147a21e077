#!/usr/bin/env bash
# Prepares a fresh Debian machine for zerodown, and does nothing that is already done:
#   1. Debian packages: haproxy (the load balancer), chromium (the Web UI test's browser) and
#      redis-server (the queue of the worker role's BullMQ services)
#   2. npm dependencies (npm ci) when node_modules is missing or older than package-lock.json
#   3. the compiled CLI and worker (dist/), so `zerodown` starts without compiling TypeScript
#   4. the Temporal CLI (dev server + Web UI), built with Go into .tools/bin when missing
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Go may be installed without being on PATH (e.g. /usr/local/go); the Temporal CLI build needs it.
if [ -d /usr/local/go/bin ] && [[ ":$PATH:" != *":/usr/local/go/bin:"* ]]; then
  export PATH="$PATH:/usr/local/go/bin"
fi

say() { printf '==> %s\n' "$*"; }

# --- 1. Debian packages -------------------------------------------------------------------------
# package name -> a command that proves it is installed
# iproute2: `ip netns` and `ss` for the test hosts as network namespaces (docs/hosts.md).
declare -A apt_commands=([haproxy]=haproxy [chromium]=chromium [redis-server]=redis-server [iproute2]=ip)
missing=()
for package in "${!apt_commands[@]}"; do
  if command -v "${apt_commands[$package]}" >/dev/null 2>&1 || dpkg -s "$package" >/dev/null 2>&1; then
    continue
  fi
  missing+=("$package")
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "Debian packages: haproxy, chromium, redis-server and iproute2 are installed"
elif [ "$(id -u)" -ne 0 ]; then
  say "Debian packages missing: ${missing[*]}"
  echo "    not running as root, so not installing them; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
else
  say "Debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- 2. npm dependencies ------------------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install: older than package-lock.json means stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm dependencies: npm ci"
  npm ci
else
  say "npm dependencies: node_modules is up to date with package-lock.json"
fi

# --- 3. The compiled CLI ------------------------------------------------------------------------
# bin/zerodown.js runs dist/ while it is newer than every source file, else the sources through tsx.
say "zerodown: compiling src/ into dist/"
npm run --silent build

# --- 4. Temporal CLI ----------------------------------------------------------------------------
say "Temporal CLI: building it unless one is found (the first build takes several minutes)"
node bin/zerodown.js server install

say "setup done"
