#!/usr/bin/env bash
# Fails when src/gen is not what proto/ generates (someone edited a .proto and
# did not run `npm run codegen`, or edited generated code by hand).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/codegen/generate.sh
if ! git diff --quiet --exit-code -- src/gen clients/node/src/gen || [ -n "$(git status --porcelain -- src/gen clients/node/src/gen)" ]; then
  echo "src/gen is stale: run 'npm run codegen' and commit the result" >&2
  git status --short -- src/gen clients/node/src/gen >&2
  exit 1
fi
echo "src/gen is up to date"
