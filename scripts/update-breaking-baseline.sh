#!/usr/bin/env bash
# Records the current API as the baseline `buf breaking` compares against.
# Run it only when a release deliberately fixes the contract (additive changes
# pass the check without touching the baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf build --exclude-source-info -o proto/breaking-baseline.binpb
