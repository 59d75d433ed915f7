#!/bin/bash
# deploy/systemd/ketend.service: `systemd-analyze verify` accepts it with
# nothing to say, and `systemd-analyze security --offline=true` rates its
# overall exposure at 2.0 or below ("OK"), where a unit without the
# sandboxing is rated above it. verify checks that ExecStart's binary
# exists, so it reads a copy whose ExecStart is the ketend built here
# (nothing else changed), with --man=no: the pages that Documentation=
# names are installed by the package, not present in a build tree.
# Usage: test_unit.sh SOURCE_DIR KETEND
set -euo pipefail
root=$1 ketend=$2
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-unit
if ! command -v systemd-analyze >/dev/null; then
	echo "systemd-analyze is missing (Debian's systemd; deploy/deps.sh)" >&2
	exit 1
fi

unit="$tmp/ketend.service"
sed "s|^ExecStart=/usr/sbin/ketend |ExecStart=$ketend |" \
	"$root/deploy/systemd/ketend.service" >"$unit"
check "ExecStart names the built ketend" 1 \
	"$(grep -c "^ExecStart=$ketend -c " "$unit")"

rc=0
systemd-analyze verify --man=no "$unit" >"$tmp/verify.out" 2>&1 || rc=$?
check "systemd-analyze verify: exit status" 0 "$rc"
check "systemd-analyze verify: says nothing" "" "$(cat "$tmp/verify.out")"

# exposure UNIT: the number after "Overall exposure level for NAME:".
exposure() {
	systemd-analyze security --offline=true --no-pager "$1" 2>&1 |
		sed -n 's/^.*Overall exposure level for [^:]*: \([0-9.]*\) .*$/\1/p'
}
# at_most A B: 1 if the decimal A <= B.
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }

level=$(exposure "$unit")
echo "ketend.service: overall exposure $level"
check "the exposure is printed" 1 "$([ -n "$level" ] && echo 1 || echo 0)"
check "ketend.service's exposure $level <= 2.0" 1 "$(at_most "${level:-99}" 2.0)"

# The same reading of a unit without the sandboxing: above 2.0, so the
# figure above says something.
printf '[Service]\nType=notify\nExecStart=%s\n' "$ketend" >"$tmp/bare.service"
bare=$(exposure "$tmp/bare.service")
check "an unsandboxed unit's exposure $bare > 2.0" 0 "$(at_most "${bare:-0}" 2.0)"

echo "test_unit: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
