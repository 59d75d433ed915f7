#!/bin/bash
# Errors that name the cause (issue 17, points 6 and 8), against a real
# ketend: a host that does not resolve, a request above the region's limit
# (refused before sending), a connection the broker drops for a frame above
# its hard limit, and ages under a clock behind the broker's (never negative).
# usage: test_cli_words.sh SOURCE_DIR KETEN KETEND
set -euo pipefail
src=$1 keten=$2 ketend=$3
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-cli-words
lacks() { # lacks DESCRIPTION FILE STRING
	checks=$((checks + 1))
	! grep -qF -- "$3" "$2" || fail "$1: '$3' in: $(cat "$2")"
}
# run DESCRIPTION STATUS -- KETEN ARGS: the exit status, stderr in err.txt
run() {
	local what=$1 want=$2 rc=0
	shift 3
	"$@" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
	check "$what: exit status" "$want" "$rc"
}

port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
export KETEN_CONFIG=$config KETEN_KEY=$tmp/region/keys/lt-almere.key
head_seq() { "$keten" ping --json | jq -r .head_seq; }

ketend_up "$keten" ping

# A host that does not resolve (.invalid never does, RFC 6761): the config's
# mistake, exit 2, at once rather than after the timeout.
sed "s|^listen: .*|&\nconnect: tcp://nosuch.invalid:$port|" "$config" \
	>"$tmp/region/nohost.yaml"
run "unresolvable host" 2 -- "$keten" ping -c "$tmp/region/nohost.yaml"
has "unresolvable host" "$tmp/err.txt" "cannot resolve host nosuch.invalid ("
has "unresolvable host" "$tmp/err.txt" \
	"check \`connect:\` in $tmp/region/nohost.yaml"
lacks "unresolvable host" "$tmp/err.txt" "is ketend running?"

# A name server that never answers (a UDP socket that reads nothing, in a
# network and mount namespace of our own, so no packet leaves this test):
# the lookup ends with --timeout and names the host, exit 3, and the
# client's end does not wait for libzmq's own lookup (glibc's would take
# 5 s per attempt). timeout 8 catches a regression; no time is asserted.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null &&
	command -v python3 >/dev/null && command -v ip >/dev/null; then
	echo "nameserver 127.0.0.1" >"$tmp/resolv.conf"
	rc=0
	timeout 8 unshare -m -n sh -c '
		ip link set lo up &&
		mount --bind "$1/resolv.conf" /etc/resolv.conf || exit 99
		python3 -c "import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((\"127.0.0.1\", 53)); open(\"$1/ns-up\", \"w\").close()
time.sleep(30)" &
		# Until it is bound: before, a query meets a closed port.
		for _ in $(seq 50); do
			[ -e "$1/ns-up" ] && break
			sleep 0.1
		done
		"$2" ping -c "$3" --timeout 1; rc=$?
		kill $!
		exit $rc' sh "$tmp" "$keten" "$tmp/region/nohost.yaml" \
		>"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
	check "silent name server: exit status" 3 "$rc"
	has "silent name server" "$tmp/err.txt" \
		"cannot resolve host nosuch.invalid: the name service did not answer within 1000 ms (--timeout); retry, or check \`connect:\` in $tmp/region/nohost.yaml"
else
	echo "test_cli_words: silent name server NOT checked: needs root, unshare, ip and python3"
fi

# A request above limits.max_message_bytes (1 MiB): refused by libketen
# with both sizes, nothing sent, code 101 and exit 1 as the broker's own.
head -c 3000000 /dev/zero | tr '\0' x >"$tmp/big.txt"
before=$(head_seq)
refer() { # refer [-c CONFIG]: a referral with a 3 MB note
	"$keten" send referral "$@" --to vt-flevoland --child-name Anna \
		--concern c --request r --notes @"$tmp/big.txt"
}
run "too big" 1 -- refer
has "too big" "$tmp/err.txt" "the request is 3000"
has "too big" "$tmp/err.txt" \
	"bytes; this client's config allows at most 1048576 (limits.max_message_bytes in $config; give it the broker's value)"
has "too big" "$tmp/err.txt" "nothing was sent (request too big, code 101)"
check "too big: nothing recorded" "$before" "$(head_seq)"

# A config that allows more than the broker (8 MiB against 1 MiB): the
# frame is above the broker's hard limit (2 * 1 MiB + 64 KiB), it drops the
# connection, and keten says so instead of timing out.
sed 's/max_message_bytes: 1048576/max_message_bytes: 8388608/' "$config" \
	>"$tmp/region/stale.yaml"
run "dropped" 3 -- refer -c "$tmp/region/stale.yaml"
has "dropped" "$tmp/err.txt" \
	"closed the connection during a request of 3000"
has "dropped" "$tmp/err.txt" \
	"bytes; a broker whose limits.max_message_bytes is below $tmp/region/stale.yaml's 8388608 drops such requests: give both the same value"
lacks "dropped" "$tmp/err.txt" "probably"
lacks "dropped" "$tmp/err.txt" "did not answer"
check "dropped: nothing recorded" "$before" "$(head_seq)"

# Ages with this machine's clock two days behind the broker's: never
# negative. `keten cases` prints 0s and "in the future (clock behind?)",
# `keten case show` the same; a due time still counts forward.
if command -v faketime >/dev/null; then
	"$keten" send referral --to vt-flevoland --child-name Anna \
		--concern c --request r >/dev/null
	# Under AddressSanitizer libfaketime comes first in the library
	# list, which ASan refuses unless told not to check.
	behind() {
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
			faketime -f -2d "$@"
	}
	run "cases, clock behind" 0 -- behind "$keten" cases
	case=$(awk 'NR == 2 { print $1 }' "$tmp/out.txt")
	check "cases, clock behind: AGE" 0s "$(awk 'NR == 2 { print $NF }' \
		"$tmp/out.txt")"
	has "cases, clock behind" "$tmp/out.txt" \
		"sent in the future (clock behind?)"
	lacks "cases, clock behind" "$tmp/out.txt" "-1d"
	run "case show, clock behind" 0 -- behind "$keten" case show "$case"
	has "case show, clock behind" "$tmp/out.txt" \
		"(record $((before + 1))), in the future (clock behind?)"
	has "case show, clock behind" "$tmp/out.txt" ", in 3d"
	lacks "case show, clock behind" "$tmp/out.txt" ", -"
	# With the clocks agreeing, an age as before.
	run "cases" 0 -- "$keten" cases
	check "cases: AGE, seconds" yes "$(awk 'NR == 2 && $NF ~ /^(<1s|[0-9]+s)$/ {
		print "yes" }' "$tmp/out.txt")"
else
	echo "faketime is not installed: the ages are not checked" >&2
	fail "faketime missing (apt-get install faketime)"
fi

echo "test_cli_words: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
