#!/usr/bin/env bash
# Checks deploy/prometheus with promtool: the configuration (which also checks
# the rule files it loads), the rules, and the rules' unit tests. Without
# promtool it prints why it skipped and exits 0; CI installs it when it can.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=deploy/prometheus

if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIPPED: promtool is not installed, so $dir was not checked."
  echo "  Install it with: apt-get install prometheus   (Debian/Ubuntu; promtool ships with it)"
  exit 0
fi

echo "--- $(promtool --version 2>&1 | head -n 1)"
echo "--- promtool check config $dir/prometheus.yml"
promtool check config "$dir/prometheus.yml"
echo "--- promtool check rules $dir/alerts.yml"
promtool check rules "$dir/alerts.yml"
echo "--- promtool test rules $dir/alerts.test.yml"
promtool test rules "$dir/alerts.test.yml"
