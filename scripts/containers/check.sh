#!/usr/bin/env bash
# What can be checked of the container files without a Docker engine:
# docker-compose.yml against the Compose schema and best practices (dclint),
# the Dockerfile's syntax (dockerfile-utils), and a dry build that replays the
# Dockerfile's steps and runs the result (dry-build.mjs).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "--- dclint docker-compose.yml"
npx --no-install dclint docker-compose.yml
echo "--- dockerfile-utils lint Dockerfile"
npx --no-install dockerfile-utils lint Dockerfile
echo "--- dry build of the Dockerfile"
node scripts/containers/dry-build.mjs
