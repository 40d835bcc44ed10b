#!/usr/bin/env bash
# Checks the operations files: the alert rules (with their runbook links) and
# the Grafana dashboards against the metrics the server exports (needs dist/,
# which `npm ci` builds), every link of the documentation,
# then the Prometheus configuration, rules and rule tests with promtool
# (skipped, saying why, when promtool is not installed). Runs every check and
# exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
echo "--- alert rules: names, annotations, runbooks, test coverage"
node scripts/ops/check-alert-rules.mjs || status=1
echo "--- documentation links and anchors (README.md, CONTRIBUTING.md, docs/)"
node scripts/ops/check-doc-links.mjs || status=1
echo "--- Grafana dashboards and provisioning"
node scripts/ops/check-dashboard.mjs || status=1
scripts/ops/check-prometheus.sh || status=1
exit $status
