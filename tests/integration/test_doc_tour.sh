#!/bin/bash
# Runs a document's example commands as written, in order, so the document
# cannot drift from the programs; it must never edit what it runs beyond
# the three substitutions listed below.
#
# usage: test_doc_tour.sh SRC BUILD DOC SECTION
#
# The commands are those of the ```sh blocks in DOC's section SECTION (from
# its heading to the next heading of the same or a higher level). In them:
#  - a line beginning with "$ " is a command; a line ending in "\" continues
#    it on the next line;
#  - the lines after a command, up to the next command, are what it prints:
#    each must match a line of its output (standard output and error
#    together), in order, where "..." stands for anything; a line that is
#    only "..." matches nothing in particular;
#  - a command meant to fail ends in a comment "# exit status N"; every
#    other command must exit 0;
#  - a command ending in "&" runs in the background: its shown lines are
#    awaited (up to 10 s) in its output, and it is stopped at the end.
# They run in one bash, in a fresh temporary directory that stands for the
# top of a fresh clone: deploy/ links to SRC's, build/ to BUILD. The
# substitutions: "cmake" commands are not run (BUILD is built); the port
# 7400 becomes a free one; PATH starts with BUILD's keten and ketend.
set -uo pipefail
src=$1 build=$2 doc=$3 section=$4
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp test_doc_tour
before_cleanup() {
	local p
	[ -f "$tmp/out/pids" ] || return 0
	while read -r p; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done <"$tmp/out/pids"
	return 0
}

port=$(free_port)
mkdir -p "$tmp/clone" "$tmp/out"
ln -s "$src/deploy" "$tmp/clone/deploy"
ln -s "$build" "$tmp/clone/build"

# The script: one block per command, its shown lines in out/N.expect.
awk -v section="$section" -v out="$tmp/out" -v port="$port" '
function flush() {
	if (cmd == "")
		return
	n++
	gsub(/7400/, port, cmd)
	status = 0
	if (match(cmd, /# exit status [0-9]+[^\n]*$/)) {
		s = substr(cmd, RSTART + 14)
		sub(/[^0-9].*$/, "", s)
		status = s + 0
	}
	bg = (cmd ~ /&[ \t]*$/)
	printf "%s\n", cmd > (out "/" n ".cmd")
	close(out "/" n ".cmd")
	printf "" > (out "/" n ".expect")
	for (i = 1; i <= nshown; i++) {
		gsub(/7400/, port, shown[i])
		printf "%s\n", shown[i] > (out "/" n ".expect")
	}
	close(out "/" n ".expect")
	if (cmd ~ /^cmake /)
		printf "tour_skip %d\n", n
	else if (bg)
		printf "tour_begin %d\n{ %s\n} >\"$tour_out/%d\" 2>&1\ntour_bg %d $!\n", n, cmd, n, n
	else
		printf "tour_begin %d\n{ %s\n} >\"$tour_out/%d\" 2>&1\ntour_end %d $? %d\n", n, cmd, n, n, status
	cmd = ""
	nshown = 0
}
/^#+ / && !fence {
	level = index($0, " ") - 1
	if (in_section && level <= slevel)
		in_section = 0
	if (substr($0, level + 2) == section) {
		in_section = 1
		slevel = level
		found = 1
	}
	next
}
!in_section { next }
/^```/ {
	if (!fence) {
		fence = 1
		run = ($0 == "```sh")
	} else {
		flush()
		fence = 0
		run = 0
	}
	next
}
!run { next }
cont { cmd = cmd "\n" $0; cont = ($0 ~ /\\$/); next }
/^\$ / { flush(); cmd = substr($0, 3); cont = ($0 ~ /\\$/); next }
/^[ \t]*$/ { next }
{ shown[++nshown] = $0 }
END {
	if (!found)
		print "echo \"no section \\\"" section "\\\" in the document\"; exit 1"
	else if (n == 0)
		print "echo \"no commands in the section\"; exit 1"
}
' "$src/$doc" >"$tmp/tour.sh" || exit 1

# tour_match EXPECT OUTPUT: every line of EXPECT matches a line of OUTPUT,
# in order, "..." standing for anything; prints the first that does not.
cat >"$tmp/lib.sh" <<'EOF'
tour_match() {
	awk '
	FILENAME == ARGV[1] { e[++ne] = $0; next }
	{ o[++no] = $0 }
	END {
		j = 1
		for (i = 1; i <= ne; i++) {
			if (e[i] == "...")
				continue
			np = split(e[i], part, /\.\.\./)
			for (; j <= no; j++) {
				line = o[j]; ok = 1
				for (k = 1; k <= np; k++) {
					if (part[k] == "")
						continue
					at = index(line, part[k])
					if (!at) { ok = 0; break }
					line = substr(line, at + length(part[k]))
				}
				if (ok)
					break
			}
			if (j > no) { print e[i]; exit 1 }
			j++
		}
	}' "$1" "$2"
}
tour_begin() { printf '$ %s\n' "$(cat "$tour_out/$1.cmd")"; }
tour_skip() { printf '$ %s\n  (not run: the test runs on the build it is given)\n' "$(cat "$tour_out/$1.cmd")"; }
tour_fail() {
	echo "CHECK failed: command $1: $2; its output:" >&2
	sed 's/^/  | /' "$tour_out/$1" >&2
	exit 1
}
tour_end() {
	local missing
	[ "$2" = "$3" ] || tour_fail "$1" "exit status $2, the document says $3"
	missing=$(tour_match "$tour_out/$1.expect" "$tour_out/$1") ||
		tour_fail "$1" "the document shows '$missing', not in the output"
	echo ok >>"$tour_out/passed"
}
tour_bg() {
	local missing
	echo "$2" >>"$tour_out/pids"
	for _ in $(seq 100); do
		tour_match "$tour_out/$1.expect" "$tour_out/$1" >/dev/null && break
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	missing=$(tour_match "$tour_out/$1.expect" "$tour_out/$1") ||
		tour_fail "$1" "the document shows '$missing', not in the output"
	echo ok >>"$tour_out/passed"
}
EOF

(
	cd "$tmp/clone" || exit 1
	export tour_out=$tmp/out
	export PATH=$build/client/cli:$build/daemon:$PATH
	unset KETEN_CONFIG KETEN_KEY
	# shellcheck disable=SC1091 # written above
	. "$tmp/lib.sh"
	# shellcheck disable=SC1091
	. "$tmp/tour.sh"
)
rc=$?
passed=0
# shellcheck disable=SC2031 # the subshell changed its own tmp, not ours
[ -f "$tmp/out/passed" ] && passed=$(wc -l <"$tmp/out/passed")
if [ "$rc" -ne 0 ]; then
	echo "$doc, \"$section\": stopped after $passed commands as written" >&2
	exit 1
fi
echo "$doc, \"$section\": $passed commands as written"
[ "$passed" -gt 0 ]
