#!/usr/bin/env bash
# Regenerates docs/dashboard-timeline.png, the README's picture of the dashboard: the
# timeline of a finished HelloCities, taken by the dashboard's browser test (needs Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs
DURABLE_DASHBOARD_SCREENSHOT="$PWD/docs/dashboard-timeline.png" \
    cargo test -p durable-tests --test e2e -- --exact \
    dashboard::the_dashboard_shows_instances_timelines_and_actions_in_a_browser
echo "wrote docs/dashboard-timeline.png"
