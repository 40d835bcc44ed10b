#!/usr/bin/env bash
# Installs promtool (Debian's prometheus package) for CI when it is missing and
# can be installed: apt-get exists and we are root or have password-less sudo.
# Never fails: when it cannot install, it says why, and check-prometheus.sh
# then reports the promtool checks as skipped.
set -uo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool not installed: no apt-get on this machine"
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "promtool not installed: installing the prometheus package needs root"
    exit 0
  fi
fi
log=$(mktemp)
echo "installing promtool: apt-get install prometheus (log: $log)"
# Without recommends: the package would pull in node exporter and more.
if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >"$log" 2>&1 \
  || { "${as_root[@]}" apt-get update -q >>"$log" 2>&1 \
       && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >>"$log" 2>&1; }; then
  command -v promtool >/dev/null 2>&1 && echo "installed $(promtool --version 2>&1 | head -n 1)"
else
  echo "promtool not installed: apt-get install prometheus failed (last lines of $log):"
  tail -n 5 "$log"
fi
exit 0
