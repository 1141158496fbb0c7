#!/usr/bin/env bash
# Three replicas on one PostgreSQL database behind HAProxy, on loopback (scripts/replicas-demo.ts says more).
# Needs: PostgreSQL reachable at $1 (default postgres://postgres@127.0.0.1:5432/postgres) and haproxy
# (apt-get install haproxy).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
exec npx tsx --conditions=source scripts/replicas-demo.ts "$@"
