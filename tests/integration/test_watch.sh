#!/bin/bash
# Following the broker live, as a script would, through a real ketend:
# 'keten watch --ack --json --count 3' prints three referrals as they are
# committed, in order, opened, and acknowledges them (the inbox is empty
# after); without --ack a second watch gets the same message again (at
# least once); --from skips ahead; a waiting watch stops at once on
# SIGTERM with status 0, one writing a message finishes and acknowledges
# it first; a watch survives a broker restart. Then 'keten audit
# replay --follow' prints a record committed after it caught up, within
# 10 s, and stops cleanly on SIGTERM (--jsonl) and SIGINT (for a person).
# usage: test_watch.sh SOURCE_DIR KETEN KETEND
set -euo pipefail
src=$1 keten=$2 ketend=$3
bg=() # watches and follows still running
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-watch
before_cleanup() {
	for p in "${bg[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
}
forget() { # forget PID: it has been waited for
	local keep=() p
	for p in "${bg[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	bg=("${keep[@]}")
}
# wait_exit PID SECONDS: sets rc to PID's exit status, or to 124 (and
# kills it) if it has not ended within SECONDS.
wait_exit() {
	local p=$1 n=$(($2 * 10))
	while kill -0 "$p" 2>/dev/null && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$p" 2>/dev/null; then
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		forget "$p"
		rc=124
		return
	fi
	rc=0
	wait "$p" || rc=$?
	forget "$p"
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds; 0, or 1 if it
# never did.
wait_for() {
	local n=$(($1 * 10))
	shift
	until "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
at_least() { [ "$(lines "$1")" -ge "$2" ]; }

port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
export KETEN_CONFIG=$config
as() { # as AGENCY VERB ...: keten as that agency
	local who=$1
	shift
	KETEN_KEY=$tmp/region/keys/$who.key "$keten" "$@"
}
# In the background keten must be the process $! names (not a subshell
# running 'as'), for the signals sent to it: KETEN_KEY=$(key AGENCY).
key() { printf '%s' "$tmp/region/keys/$1.key"; }
start_broker() { ketend_up as lt-almere ping; }
# refer MARKER: a referral from lt-almere to vt-flevoland whose concern
# is MARKER; prints its record's seq.
refer() {
	as lt-almere send referral --to vt-flevoland --json \
		--child-name "Kind $1" --concern "$1" --request beoordeling |
		jq -r .seq
}

start_broker

# Usage.
rc=0
as vt-flevoland watch --help >"$tmp/help.txt" || rc=$?
check "watch --help exits 0" 0 "$rc"
check "watch --help shows the usage" yes \
	"$(grep -q '^usage: keten watch' "$tmp/help.txt" && echo yes)"
for bad in --bogus "--wait 0" "--wait 61" "--count 0" "--from x" extra; do
	rc=0
	# shellcheck disable=SC2086 # each is one or two words
	as vt-flevoland watch $bad >/dev/null 2>"$tmp/bad.txt" || rc=$?
	check "watch $bad exits 2" 2 "$rc"
	check "watch $bad says why" 1 "$(wc -l <"$tmp/bad.txt")"
done
rc=0
as audit-inspectie audit replay --follow --json >/dev/null 2>&1 || rc=$?
check "audit replay --follow --json exits 2" 2 "$rc"
rc=0
as audit-inspectie audit replay --wait 5 >/dev/null 2>&1 || rc=$?
check "audit replay --wait without --follow exits 2" 2 "$rc"

# A script follows the inbox: three referrals, acknowledged as they come.
KETEN_KEY=$(key vt-flevoland) "$keten" watch --ack --json --count 3 \
	--wait 2 >"$tmp/watch.jsonl" 2>"$tmp/watch.err" &
w=$!
bg+=("$w")
sleep 1
check "watch waits while there is nothing" "yes 0" \
	"$(kill -0 "$w" 2>/dev/null && echo yes) $(lines "$tmp/watch.jsonl")"
seqs=()
for i in 1 2 3; do
	seqs+=("$(refer "marker-$i")")
	# each one is printed as it is committed, before the next is sent
	wait_for 10 at_least "$tmp/watch.jsonl" "$i" ||
		fail "watch did not print referral $i within 10 s"
done
wait_exit "$w" 30
check "watch --count 3 exits 0" 0 "$rc"
check "watch printed three lines" 3 "$(lines "$tmp/watch.jsonl")"
check "each line is one JSON object" 3 \
	"$(jq -c . "$tmp/watch.jsonl" | wc -l)"
check "the three referrals in order" "${seqs[*]}" \
	"$(jq -r .seq "$tmp/watch.jsonl" | paste -sd' ')"
check "seqs increase" yes \
	"$(jq -rs 'if .[0].seq < .[1].seq and .[1].seq < .[2].seq
	           then "yes" else "no" end' "$tmp/watch.jsonl")"
check "all referrals from lt-almere to vt-flevoland" \
	"referral lt-almere vt-flevoland true" \
	"$(jq -r '"\(.type) \(.sender) \(.recipient) \(.verified)"' \
		"$tmp/watch.jsonl" | sort -u)"
check "the content was opened" "marker-1 marker-2 marker-3" \
	"$(jq -r '.content.concerns[0]' "$tmp/watch.jsonl" | paste -sd' ')"
check "watch wrote nothing on stderr" "" "$(cat "$tmp/watch.err")"
# acknowledged: the durable cursor moved past them
check "inbox after watch --ack is empty" "no new messages for vt-flevoland" \
	"$(as vt-flevoland inbox)"

# At least once: without --ack the next watch gets the same message.
s4=$(refer marker-4)
as vt-flevoland watch --json --count 1 >"$tmp/w1.jsonl"
as vt-flevoland watch --json --count 1 >"$tmp/w2.jsonl"
check "watch without --ack sees the new referral" "$s4 marker-4" \
	"$(jq -r '"\(.seq) \(.content.concerns[0])"' "$tmp/w1.jsonl")"
check "a second watch gets it again" "$(cat "$tmp/w1.jsonl")" \
	"$(cat "$tmp/w2.jsonl")"
# --from skips ahead of the cursor; --ack then acknowledges the skipped.
s5=$(refer marker-5)
as vt-flevoland watch --json --ack --count 1 --from "$s4" >"$tmp/w3.jsonl"
check "watch --from SEQ starts after SEQ" "$s5 marker-5" \
	"$(jq -r '"\(.seq) \(.content.concerns[0])"' "$tmp/w3.jsonl")"
check "nothing left after acknowledging past it" \
	"no new messages for vt-flevoland" "$(as vt-flevoland inbox)"

# A person's view is inbox's; a waiting watch stops at once on SIGTERM.
s6=$(refer marker-6)
as vt-flevoland watch --count 1 >"$tmp/w4.txt"
check "watch shows a person what inbox shows" "$(as vt-flevoland inbox |
	grep -v '^no new')" "$(cat "$tmp/w4.txt")"
as vt-flevoland ack "$s6" >/dev/null
KETEN_KEY=$(key vt-flevoland) "$keten" watch --json --wait 30 \
	>"$tmp/w5.jsonl" 2>&1 &
w=$!
bg+=("$w")
sleep 1
kill -TERM "$w"
wait_exit "$w" 2
check "a waiting watch stops within 2 s of SIGTERM, status 0" 0 "$rc"
check "and prints nothing" "" "$(cat "$tmp/w5.jsonl")"

# A stop while a message is being written out waits for it: the watch
# finishes that message, acknowledges it and exits 0; the next one in the
# same batch is neither shown nor acknowledged. The first is too big for
# the pipe (64 KiB), so the watch blocks writing it until we read.
s7=$(refer "big-$(head -c 100000 /dev/zero | tr '\0' x)")
s8=$(refer after-big)
mkfifo "$tmp/fifo"
KETEN_KEY=$(key vt-flevoland) "$keten" watch --ack --json >"$tmp/fifo" &
w=$!
bg+=("$w")
exec 7<"$tmp/fifo"
wait_for 10 grep -q pipe_write "/proc/$w/wchan" 2>/dev/null || sleep 2
kill -TERM "$w"
sleep 0.5
check "a watch writing a message goes on after SIGTERM" yes \
	"$(kill -0 "$w" 2>/dev/null && echo yes)"
cat <&7 >"$tmp/w7.jsonl"
exec 7<&-
wait_exit "$w" 10
check "and then exits 0" 0 "$rc"
check "having written that message whole" "$s7 big-xxx" \
	"$(jq -r '"\(.seq) \(.content.concerns[0][:7])"' "$tmp/w7.jsonl")"
check "acknowledged it, and not the next" "$s8 after-big" \
	"$(as vt-flevoland inbox --json |
		jq -r '"\(.seq) \(.content.concerns[0])"')"
as vt-flevoland ack "$s8" >/dev/null

# Across a broker restart: the watch says so, retries and goes on.
KETEN_KEY=$(key vt-flevoland) "$keten" watch --ack --json --count 2 \
	--wait 2 --timeout 1 >"$tmp/w6.jsonl" 2>"$tmp/w6.err" &
w=$!
bg+=("$w")
s9=$(refer marker-7)
wait_for 10 at_least "$tmp/w6.jsonl" 1 || fail "no first message"
kill -TERM "$pid"
wait "$pid" || true
pid=""
wait_for 15 grep -q '^keten watch: broker unreachable (.*); retrying$' \
	"$tmp/w6.err" || fail "watch did not say the broker is unreachable"
start_broker
s10=$(refer marker-8)
wait_exit "$w" 30
check "watch across a restart exits 0" 0 "$rc"
check "watch across a restart got both" "$s9 $s10" \
	"$(jq -r .seq "$tmp/w6.jsonl" | paste -sd' ')"
check "only retry lines on stderr" 0 \
	"$(grep -cv 'broker unreachable (.*); retrying$' "$tmp/w6.err" || true)"
check "both acknowledged" "no new messages for vt-flevoland" \
	"$(as vt-flevoland inbox)"

# The auditor follows the log: a record committed later shows up.
head=$(as lt-almere ping --json | jq -r .head_seq)
KETEN_KEY=$(key audit-inspectie) "$keten" audit replay --follow \
	--jsonl --wait 2 >"$tmp/follow.jsonl" 2>"$tmp/follow.err" &
f=$!
bg+=("$f")
wait_for 10 at_least "$tmp/follow.jsonl" "$head" ||
	fail "the follow did not replay the $head records to the head"
s11=$(refer marker-9)
wait_for 10 grep -q "\"seq\":$s11," "$tmp/follow.jsonl" ||
	fail "record $s11 not in the follow within 10 s"
check "the new record as the follow printed it" \
	"referral lt-almere vt-flevoland ok" \
	"$(jq -r "select(.seq == $s11) |
	   \"\(.type) \(.sender) \(.recipient) \(.signature)\"" \
		"$tmp/follow.jsonl")"
check "the follow printed every record once, in order" \
	"$(seq 1 "$s11" | paste -sd' ')" \
	"$(jq -r .seq "$tmp/follow.jsonl" | paste -sd' ')"
kill -TERM "$f"
wait_exit "$f" 5
check "audit replay --follow stops on SIGTERM with 0" 0 "$rc"
check "audit replay --follow: nothing on stderr" "" \
	"$(cat "$tmp/follow.err")"

# The same for a person, stopped with SIGINT.
KETEN_KEY=$(key audit-inspectie) "$keten" audit replay --follow \
	--wait 2 >"$tmp/follow.txt" &
f=$!
bg+=("$f")
wait_for 10 at_least "$tmp/follow.txt" "$s11" ||
	fail "the human follow did not reach record $s11"
check "the human follow's line for a record" \
	"#$s11 referral lt-almere -> vt-flevoland, case" \
	"$(grep "^#$s11 " "$tmp/follow.txt" | sed 's/ [^ ]*Z / /; s/ [0-9a-f]*$//')"
kill -INT "$f"
wait_exit "$f" 5
check "audit replay --follow stops on SIGINT with 0" 0 "$rc"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
check "ketend stops cleanly" 0 "$rc"
pid=""
echo "test_watch: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
