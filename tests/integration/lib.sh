# shellcheck shell=bash
# Shared by the shell tests (source it): counted checks, and a free
# loopback port for a ketend of their own.

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
