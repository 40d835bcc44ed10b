#!/usr/bin/env bash
# Regenerates clients/node/src/gen from the repository's proto/ with
# clients/node/buf.gen.yaml; buf runs from the repository root (its workspace).
set -euo pipefail
cd "$(dirname "$0")/../../.."
node_modules/.bin/buf generate --template clients/node/buf.gen.yaml
