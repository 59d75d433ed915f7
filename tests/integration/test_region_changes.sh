#!/bin/bash
# A region that changes, on one region and one log, as its operator
# would change it (issue 16): referrals and handovers flow; lt-almere
# rotates its keys; lt-urk joins while a watcher of vt-flevoland runs
# with the config from before; gi-save leaves once its case is handed
# on (refused while it still holds it); vt-flevoland's key is revoked
# after a stated compromise and re-keyed; the broker's key rotates.
# After every step 'keten audit verify' must pass with the current
# config, with a config that holds nothing but the region and the
# broker's keys, and with the config of the first day (the first broker
# key), and list the roster history.
# usage: test_region_changes.sh SOURCE_DIR KETEN KETEND
set -euo pipefail
src=$1 keten=$2 ketend=$3
watch_pid=""
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-changes
before_cleanup() {
	[ -z "$watch_pid" ] || kill -KILL "$watch_pid" 2>/dev/null
}
die() {
	echo "FATAL: $*" >&2
	echo "--- ketend log (tail)" >&2
	tail -n 20 "$tmp/ketend.log" >&2 || true
	exit 1
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds; 0, or 1 if never.
wait_for() {
	local n=$(($1 * 10))
	shift
	until "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
keys=$tmp/region/keys
data=$tmp/region/data
key() { printf '%s' "$keys/$1.key"; }
as() { # as KEYFILE-NAME VERB ...: keten with that key file and the config
	local who=$1
	shift
	KETEN_CONFIG=$config KETEN_KEY=$(key "$who") "$keten" "$@"
}

# The agency blocks of the generated config are regular: "  - id: X"
# and the indented lines after it. block FILE ID prints X's block;
# replace FILE ID FRAGMENT puts FRAGMENT's lines in its place ("" to
# remove it); broker_replace FILE FRAGMENT does the same for broker:.
block() {
	awk -v id="$2" '
		/^  - id: / { on = ($3 == id) }
		/^[^ ]/ { on = 0 }
		on' "$1"
}
replace() {
	awk -v id="$2" -v frag="$3" '
		/^  - id: / {
			if (on) on = 0
			if ($3 == id) {
				on = 1
				if (frag != "") while ((getline l < frag) > 0) print l
				next
			}
		}
		/^[^ ]/ { on = 0 }
		!on' "$1" >"$1.new"
	mv "$1.new" "$1"
}
append_agency() { # append_agency FILE FRAGMENT: at the end of agencies:
	awk -v frag="$2" '
		/^[^ ]/ && inag { while ((getline l < frag) > 0) print l; inag = 0 }
		/^agencies:/ { inag = 1 }
		{ print }
		END { if (inag) while ((getline l < frag) > 0) print l }' \
		"$1" >"$1.new"
	mv "$1.new" "$1"
}
broker_replace() {
	awk -v frag="$2" '
		/^broker:/ { on = 1; while ((getline l < frag) > 0) print l; next }
		/^[^ ]/ { on = 0 }
		!on' "$1" >"$1.new"
	mv "$1.new" "$1"
}
# minimal FILE: the region, where to connect and the broker's public
# keys, and nothing else (no agencies, no data_dir).
minimal() {
	awk '/^agencies:/ { exit }
		/^region:|^broker:|^  sign_key:|^  transport_key:/' \
		"$config" >"$1"
}

pinger=lt-lelystad # an agency whose keys never change
start_broker() {
	"$ketend" -c "$config" 2>>"$tmp/ketend.log" &
	pid=$!
	wait_for 20 as "$pinger" ping --timeout 1 >/dev/null 2>&1 ||
		die "ketend did not answer"
}
stop_broker() {
	kill "$pid"
	wait "$pid" || die "ketend did not stop cleanly"
	pid=""
}
inbox_empty() { as "$1" inbox 2>/dev/null | grep -q "no new messages"; }
reloads() { grep -c "event=reload result=ok" "$tmp/ketend.log" || true; }
refusals() { grep -c "event=reload result=refused" "$tmp/ketend.log" || true; }
more_than() { [ "$($2)" -gt "$1" ]; } # more_than N COUNTER
# hup ok|refused: SIGHUP, and wait until the broker logged the outcome.
hup() {
	local before_ok before_no
	before_ok=$(reloads) before_no=$(refusals)
	kill -HUP "$pid"
	if [ "$1" = ok ]; then
		wait_for 20 more_than "$before_ok" reloads ||
			die "the reload was not applied"
	else
		wait_for 20 more_than "$before_no" refusals ||
			die "the reload was not refused"
	fi
	kill -0 "$pid" || die "ketend died on SIGHUP"
}

# verify STEP PATTERN...: the audit passes with the current config, a
# minimal one and the first day's, and its output holds each PATTERN.
verify() {
	local step=$1 out rc c
	shift
	minimal "$tmp/minimal.yaml"
	for c in "$config" "$tmp/minimal.yaml" "$tmp/first.yaml"; do
		rc=0
		out=$("$keten" audit verify -c "$c" "$data" 2>&1) || rc=$?
		check "$step: audit verify with $(basename "$c") exits 0" 0 "$rc"
		[ "$rc" = 0 ] || echo "$out" >&2
		for p in "$@"; do
			checks=$((checks + 1))
			grep -q -- "$p" <<<"$out" ||
				fail "$step: audit output with $(basename "$c") lacks '$p'"
		done
		# The access log's readers and checkpoint, by the chain's roster.
		rc=0
		"$keten" audit access -c "$c" "$data" >/dev/null 2>"$tmp/access.err" ||
			rc=$?
		check "$step: audit access with $(basename "$c") exits 0" 0 "$rc"
		[ "$rc" = 0 ] || cat "$tmp/access.err" >&2
	done
	printf '%s\n' "$out" >"$tmp/audit.$step"
}

# Day one: lt-urk is not yet in the region.
block "$config" lt-urk >"$tmp/urk.frag"
replace "$config" lt-urk ""
cp "$config" "$tmp/first.yaml"
start_broker

echo "== 1. referrals and handovers flow"
out=$(as lt-almere send referral --json --to vt-flevoland \
	--child-name "Kind Een" --child-dob 2016-04-12 --concern "zorg" --request "hulp") ||
	die "referral"
case1=$(sed -n 's/.*"case":"\([0-9a-f]\{32\}\)".*/\1/p' <<<"$out")
as vt-flevoland acknowledge "$case1" >/dev/null || die "acknowledge"
as vt-flevoland accept "$case1" >/dev/null || die "accept"
as vt-flevoland handover "$case1" --to gi-save --known "dossier" \
	>/dev/null || die "handover"
as gi-save accept "$case1" >/dev/null || die "accept by gi-save"
verify 1 "^roster: record 1: broker key " "^roster: record 1: join lt-almere (local_team) "

echo "== 2. lt-almere rotates its keys"
as lt-almere keygen --rotate "$(key lt-almere)" --out "$(key lt-almere-2)" \
	--config "$config" >"$tmp/almere2.frag" || die "keygen --rotate"
replace "$config" lt-almere "$tmp/almere2.frag"
hup ok
# The old keys, with the config lt-almere's system had before: its old
# transport key no longer gets past the handshake (logged by ketend).
rc=0
KETEN_CONFIG=$tmp/first.yaml KETEN_KEY=$(key lt-almere) "$keten" send referral \
	--to vt-flevoland --child-name "Kind Oud" --child-dob 2015-01-01 \
	--concern "zorg" --request "hulp" >/dev/null 2>"$tmp/err" || rc=$?
checks=$((checks + 1))
[ "$rc" != 0 ] || fail "2: the rotated-out key signed something new"
checks=$((checks + 1))
grep -q "refused lt-almere's transport key" "$tmp/err" ||
	fail "2: the refusal does not say why: $(cat "$tmp/err")"
old_transport=$(block "$tmp/first.yaml" lt-almere | sed -n 's/^ *transport_key: //p')
checks=$((checks + 1))
grep "event=auth_refused" "$tmp/ketend.log" | grep -qF "$old_transport" ||
	fail "2: ketend did not log the refused old transport key"
out=$(as lt-almere-2 send referral --json --to vt-flevoland \
	--child-name "Kind Twee" --child-dob 2015-01-01 --concern "zorg" --request "hulp") ||
	die "referral with the new key"
verify 2 "^roster: record [0-9]*: rotate lt-almere "

echo "== 3. lt-urk joins while vt-flevoland's watcher runs on the old config"
cp "$config" "$tmp/vt-old.yaml"
as vt-flevoland inbox --ack >/dev/null || die "vt inbox"
KETEN_CONFIG=$tmp/vt-old.yaml KETEN_KEY=$(key vt-flevoland) \
	"$keten" watch --ack >"$tmp/watch.out" 2>"$tmp/watch.err" &
watch_pid=$!
append_agency "$config" "$tmp/urk.frag"
hup ok
as lt-urk send referral --to vt-flevoland --child-name "Kind Urk" \
	--child-dob 2017-02-03 --concern "zorg" --request "hulp" >/dev/null ||
	die "lt-urk's referral"
wait_for 60 grep -q "Kind Urk" "$tmp/watch.out" ||
	fail "3: the watcher did not show lt-urk's referral"
checks=$((checks + 1))
wait_for 30 inbox_empty vt-flevoland ||
	fail "3: the watcher did not acknowledge lt-urk's referral"
checks=$((checks + 1))
kill "$watch_pid"
wait "$watch_pid" || true
watch_pid=""
# It learnt lt-urk from the chain: nothing failed on its way.
checks=$((checks + 1))
! grep -q "could not be verified" "$tmp/watch.err" ||
	fail "3: the watcher failed to verify: $(cat "$tmp/watch.err")"
verify 3 "^roster: record [0-9]*: join lt-urk (local_team) "

echo "== 4. gi-save leaves once its case is handed on"
cp "$config" "$tmp/with-save.yaml"
replace "$config" gi-save ""
hup refused
checks=$((checks + 1))
grep "event=reload result=refused" "$tmp/ketend.log" | tail -1 |
	grep -q "gi-save" || fail "4: the refusal does not name gi-save"
as gi-save handover "$case1" --to raad-midden-nederland --known "OTS" \
	>/dev/null || die "handover to the Raad"
as raad-midden-nederland accept "$case1" >/dev/null || die "accept by the Raad"
hup ok
rc=0
as gi-save inbox >/dev/null 2>&1 || rc=$?
checks=$((checks + 1))
[ "$rc" != 0 ] || fail "4: gi-save is still served after it left"
verify 4 "^roster: record [0-9]*: leave gi-save$"
rc=0
"$keten" audit cases -c "$config" "$data" >/dev/null 2>&1 || rc=$?
check "4: audit cases after gi-save left" 0 "$rc"

echo "== 5. vt-flevoland's key is revoked after a stated compromise"
sleep 1.1 # the stated time must come after record 1's
compromised=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1.1
out=$(as lt-almere-2 send referral --json --to vt-flevoland \
	--child-name "Kind Drie" --child-dob 2014-01-01 --concern "zorg" --request "hulp") ||
	die "referral before the revocation"
case3=$(sed -n 's/.*"case":"\([0-9a-f]\{32\}\)".*/\1/p' <<<"$out")
as vt-flevoland acknowledge "$case3" >/dev/null || die "vt acknowledge"
late_seq=$(as vt-flevoland case show "$case3" --json |
	sed -n 's/.*"last_seq":\([0-9]*\).*/\1/p')
vt_sign=$(block "$config" vt-flevoland | sed -n 's/^ *sign_key: //p')
cat >>"$config" <<EOF
revoked:
  - agency: vt-flevoland
    sign_key: $vt_sign
    compromised_at: $compromised
    reason: "laptop stolen"
EOF
hup ok
rc=0
as vt-flevoland accept "$case3" >/dev/null 2>&1 || rc=$?
checks=$((checks + 1))
[ "$rc" != 0 ] || fail "5: the revoked key was accepted"
verify 5 "^roster: record [0-9]*: revoke vt-flevoland .* (laptop stolen)$" "^review: "
checks=$((checks + 1))
grep "review:" "$tmp/audit.5" | grep -q "record $late_seq " ||
	fail "5: record $late_seq (signed after the compromise) is not listed"
# A new key for Veilig Thuis, without a statement: the old key cannot vouch.
"$keten" keygen --id vt-flevoland --name "Veilig Thuis Flevoland" \
	--kind veilig_thuis --out "$(key vt-flevoland-2)" >"$tmp/vt2.frag" ||
	die "keygen vt-flevoland-2"
replace "$config" vt-flevoland "$tmp/vt2.frag"
hup ok
# The referral of step 5 was sealed to the old box key: the new key file
# cannot open it, so it is not acknowledged; with the old key file given
# for opening, it is read and acknowledged.
rc=0
as vt-flevoland-2 inbox --ack >"$tmp/inbox.out" 2>"$tmp/inbox.err" || rc=$?
check "5: a message sealed to the replaced box key is not acknowledged" 1 "$rc"
checks=$((checks + 1))
grep -q -- "--old-key" "$tmp/inbox.err" ||
	fail "5: the refusal does not point to --old-key: $(cat "$tmp/inbox.err")"
rc=0
as vt-flevoland-2 inbox --ack --old-key "$(key vt-flevoland)" \
	>"$tmp/inbox.out" 2>"$tmp/inbox.err" || rc=$?
check "5: with the old key file it opens" 0 "$rc"
checks=$((checks + 1))
grep -q "Kind Drie" "$tmp/inbox.out" ||
	fail "5: the old key file did not open the referral: $(cat "$tmp/inbox.err")"
checks=$((checks + 1))
inbox_empty vt-flevoland-2 || fail "5: the referral was not acknowledged"
as vt-flevoland-2 accept "$case3" >/dev/null || die "accept with the new key"
verify 5b "^roster: record [0-9]*: rekey vt-flevoland "

echo "== 6. the broker's key rotates"
"$keten" keygen --rotate "$keys/broker.key" --out "$keys/broker-2.key" \
	--config "$config" >"$tmp/broker2.frag" || die "keygen --rotate broker"
broker_replace "$config" "$tmp/broker2.frag"
stop_broker
start_broker
out=$(as lt-almere-2 send referral --json --to vt-flevoland \
	--child-name "Kind Vier" --child-dob 2013-01-01 --concern "zorg" --request "hulp") ||
	die "referral after the broker's rotation"
as vt-flevoland-2 inbox --ack >/dev/null || die "vt inbox after the rotation"
verify 6 "^roster: record [1-9][0-9]*: broker key "
check "6: two broker keys in the history" 2 \
	"$(grep -c "^roster: record [0-9]*: broker key " "$tmp/audit.6")"
# A checkpoint saved with either era's config is the one signed by the
# key in force at its size, and either era's config checks it.
for save in first current; do
	[ "$save" = first ] && c=$tmp/first.yaml || c=$config
	rc=0
	"$keten" audit verify -c "$c" --save-checkpoint "$tmp/cp-$save.note" \
		"$data" >/dev/null 2>"$tmp/cp.err" || rc=$?
	check "6: --save-checkpoint with the $save config exits 0" 0 "$rc"
	[ "$rc" = 0 ] || cat "$tmp/cp.err" >&2
	for c in "$tmp/first.yaml" "$config"; do
		rc=0
		"$keten" audit verify -c "$c" --checkpoint "$tmp/cp-$save.note" \
			"$data" >/dev/null 2>"$tmp/cp.err" || rc=$?
		check "6: the $save config's checkpoint file with $(basename "$c")" 0 "$rc"
		[ "$rc" = 0 ] || cat "$tmp/cp.err" >&2
	done
done
checks=$((checks + 1))
cmp -s "$tmp/cp-first.note" "$tmp/cp-current.note" ||
	fail "6: the two eras' configs saved different checkpoint files"

echo "test_region_changes: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
