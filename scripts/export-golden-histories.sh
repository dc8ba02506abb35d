#!/usr/bin/env bash
# Exports the history of every example orchestration to examples/tests/golden/, which the
# `golden` test replays against the current code (cache on and off). Run it after adding an
# example; after changing one, a diff here means running instances would see a different
# history: keep the old fixture unless old instances may not exist (see README, Versioning).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf examples/tests/golden
cargo run --quiet -p durable-examples --bin golden-histories -- examples/tests/golden
