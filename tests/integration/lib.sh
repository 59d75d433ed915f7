# shellcheck shell=bash
# Shared by the shell tests (source it): counted checks, a free loopback
# port for a ketend of their own, its temporary directory, and its start.

fails=0 checks=0
fail() {
	echo "CHECK failed: $*" >&2
	fails=$((fails + 1))
}
check() { # check DESCRIPTION EXPECTED ACTUAL
	checks=$((checks + 1))
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}
# free_port: prints a port nothing listens on, below the kernel's
# ephemeral range (32768-60999 on Linux), where a client connection's
# local port could make ketend's bind fail.
free_port() {
	local port=$((20000 + RANDOM % 12000))
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# lib_tmp NAME: a new temporary directory in $tmp (/tmp/NAME.XXXXXX),
# removed on exit, with the ketend of $pid stopped first. A test that
# leaves more behind defines before_cleanup, which runs before that.
lib_tmp() {
	tmp=$(mktemp -d "/tmp/$1.XXXXXX")
	pid=""
	trap lib_cleanup EXIT
}
lib_cleanup() {
	if declare -F before_cleanup >/dev/null; then
		before_cleanup || true
	fi
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
# has DESCRIPTION FILE STRING: FILE holds STRING (its text on failure).
has() {
	checks=$((checks + 1))
	grep -qF -- "$3" "$2" || fail "$1: '$3' not in: $(cat "$2")"
}
# ketend_up PING...: starts "$ketend" -c "$config" in the background
# ($pid, its log appended to $tmp/ketend.log) and waits until the
# command PING (e.g. "$keten" ping -c ... -k ..., or a shell function
# such as "as lt-almere ping") answers, first with
# --timeout 1 added, up to 50 times while ketend lives, then once as
# given; if it never does, prints ketend's log and exits the test.
ketend_up() {
	# shellcheck disable=SC2154 # the test sets ketend and config
	"$ketend" -c "$config" 2>>"$tmp/ketend.log" &
	pid=$!
	for _ in $(seq 50); do
		"$@" --timeout 1 >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	"$@" >/dev/null 2>&1 && return 0
	echo "ketend did not come up; its log:" >&2
	cat "$tmp/ketend.log" >&2
	exit 1
}
