#!/usr/bin/env bash
# Sets up, builds (release) and trains a 64-32-10 network on the bundled digits dataset, printing its history.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product mlpdemo
exec .build/release/mlpdemo --data fixtures/data/digits.csv "$@"
