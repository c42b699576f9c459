#!/usr/bin/env bash
# The .deb made from a build dir's ringproxy (cpack there, no other build): its files, control
# data and maintainer scripts, and the unpacked binary checks the config the package installs.
# Usage: deb_test.sh BUILD_DIR. Exits 77 (skipped) without dpkg-deb, dpkg-shlibdeps or file.
set -euo pipefail
build=$(cd "$1" && pwd)
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/deps)"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1; then
  cat "$tmp/cpack.log"
  fail "cpack failed"
fi
debs=("$tmp"/out/*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then fail "cpack made no single .deb: ${debs[*]}"; fi
deb=${debs[0]}
echo "package: $(basename "$deb")"

dpkg-deb -c "$deb" | awk '{print $6}' >"$tmp/files"
for f in ./usr/bin/ringproxy ./etc/ringproxy/ringproxy.toml \
  ./usr/lib/systemd/system/ringproxy.service ./etc/logrotate.d/ringproxy \
  ./usr/share/man/man8/ringproxy.8; do
  grep -qx -- "$f" "$tmp/files" || fail "$f is not in the package: $(cat "$tmp/files")"
done

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libc6 libstdc++6 passwd; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib"
done
dpkg-deb -e "$deb" "$tmp/control"
diff <(sort "$tmp/control/conffiles") <(printf '%s\n' /etc/logrotate.d/ringproxy \
  /etc/ringproxy/ringproxy.toml) || fail "conffiles differ"
for script in postinst prerm postrm; do
  [ -x "$tmp/control/$script" ] || fail "$script missing or not executable"
  sh -n "$tmp/control/$script" || fail "$script is not valid sh"
done

dpkg -x "$deb" "$tmp/root"
config="$tmp/root/etc/ringproxy/ringproxy.toml"
out=$("$tmp/root/usr/bin/ringproxy" --check --config "$config" 2>&1) ||
  fail "the packaged config does not pass --check: $out"
[ "$out" = "$config: ok" ] || fail "unexpected --check output: $out"
"$tmp/root/usr/bin/ringproxy" --version | grep -q '^ringproxy ' || fail "--version"

unit="$tmp/root/usr/lib/systemd/system/ringproxy.service"
grep -qx 'ExecStart=/usr/bin/ringproxy --config /etc/ringproxy/ringproxy.toml' "$unit" ||
  fail "the unit does not run the installed binary: $(grep '^Exec' "$unit")"
! grep -q '@[A-Z_]*@' "$unit" || fail "unreplaced @VARIABLE@ in the unit"
grep -q 'kill.*SIGUSR1' "$tmp/root/etc/logrotate.d/ringproxy" || fail "logrotate sends no SIGUSR1"
if command -v groff >/dev/null; then
  warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$tmp/root/usr/share/man/man8/ringproxy.8" 2>&1)
  [ -z "$warnings" ] || fail "man page warnings: $warnings"
fi
echo "ok"
