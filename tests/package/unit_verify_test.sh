#!/usr/bin/env bash
# systemd-analyze verify accepts packaging/ringproxy.service.in. verify also checks that the
# Exec binaries and the man page exist, so the copy it reads runs BINARY (the build's ringproxy)
# where the package has /usr/bin/ringproxy. Works without a running systemd (containers, CI).
# Usage: unit_verify_test.sh SOURCE_DIR BINARY. Exits 77 (skipped) without systemd-analyze.
set -euo pipefail
source_dir=$1
binary=$2
command -v systemd-analyze >/dev/null ||
  { echo "SKIP: systemd-analyze is not installed (scripts/deps installs systemd)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s|@RINGPROXY_BIN@|$binary|g" -e "s|@RINGPROXY_CONFIG_DIR@|/etc/ringproxy|g" \
  "$source_dir/packaging/ringproxy.service.in" >"$tmp/ringproxy.service"
if grep -n '@[A-Z_]*@' "$tmp/ringproxy.service"; then
  echo "FAIL: unknown @VARIABLE@ in the unit template"
  exit 1
fi
# verify also looks up the Documentation= man page: the one from packaging/, through MANPATH.
mkdir -p "$tmp/man/man8"
cp "$source_dir/packaging/ringproxy.8" "$tmp/man/man8/"
# Warnings (an unknown key, a bad value) do not change the exit code: any output fails.
status=0
out=$(cd "$tmp" && MANPATH="$tmp/man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify ./ringproxy.service 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
  echo "FAIL: systemd-analyze verify (exit $status):"
  echo "$out"
  exit 1
fi
echo "ok: $(systemd-analyze --version | head -1)"
