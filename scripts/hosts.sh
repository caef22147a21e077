#!/usr/bin/env bash
# Test hosts as network namespaces on this machine (docs/hosts.md). Needs root (ip netns).
#   scripts/hosts.sh up [N]    N instance hosts (default 3) + the load-balancer host, all running
#   scripts/hosts.sh down [N]  removes namespaces, links, processes and the dev server
# ZERODOWN_HOSTS_SUBNET=10.213.0 (a private /24), ZERODOWN_HOSTS_DIR=.state/hosts
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx src/fleet/hosts-cli.ts "$@"
