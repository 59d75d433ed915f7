#!/bin/bash
# keten demo: installs what is missing, builds, generates the Flevoland
# region, runs the broker on loopback, sends a referral from local team
# Almere to Veilig Thuis Flevoland, shows and acknowledges it, verifies the
# audit chain and stops the broker. Exits 0 only if every step succeeded.
#
# KETEN_DEMO_DIR=DIR keeps the region, keys and data there (default: a
# temporary directory, removed afterwards).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/deps.sh"

step() { printf '\n== %s\n' "$*"; }
fail() { printf '\nDEMO FAILED: %s\n' "$*" >&2; exit 1; }

step "installing missing packages"
keten_install_deps

step "building"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DKETEN_TESTS=OFF >/dev/null
cmake --build "$root/build" -j"$(nproc)" >/dev/null
keten=$root/build/client/cli/keten
ketend=$root/build/daemon/ketend

if [ -n "${KETEN_DEMO_DIR:-}" ]; then
	work=$KETEN_DEMO_DIR
	if [ -e "$work" ] && [ -n "$(ls -A "$work")" ]; then
		fail "KETEN_DEMO_DIR=$work is not empty; the demo makes new keys and a new log there: give an empty or new directory"
	fi
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/keten-demo.XXXXXX)
fi
broker_pid=""
cleanup() {
	if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
		kill "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	[ -z "${KETEN_DEMO_DIR:-}" ] && rm -rf "$work"
	return 0
}
trap cleanup EXIT

# A free loopback port: one nothing answers on.
port=7400
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
	port=$((port + 1))
done

step "generating keys and the Flevoland region config in $work"
config=$("$root/deploy/region.sh" "$keten" "$work" "$port")
"$ketend" --check-config "$config"

step "starting ketend on 127.0.0.1:$port"
"$ketend" -c "$config" 2>"$work/ketend.log" &
broker_pid=$!
key() { echo "$work/keys/$1.key"; }
for _ in $(seq 50); do
	"$keten" ping -c "$config" -k "$(key vt-flevoland)" --timeout 1 \
		>/dev/null 2>&1 && break
	kill -0 "$broker_pid" 2>/dev/null || fail "ketend exited: $(cat "$work/ketend.log")"
done
"$keten" ping -c "$config" -k "$(key vt-flevoland)" || fail "broker not answering"

step "lt-almere refers a child to vt-flevoland"
"$keten" send referral -c "$config" -k "$(key lt-almere)" \
	--to vt-flevoland --urgency urgent --respond-by-days 5 \
	--child-name "Noor de Vries" --child-dob 2016-04-12 --child-bsn 111222333 \
	--household "Sanne de Vries;1988-09-30;" --gezag "moeder (Sanne de Vries)" \
	--concern "huiselijk geweld" --concern "schoolverzuim" \
	--safety "acute onveiligheid niet uitgesloten" \
	--request "veiligheidsbeoordeling en onderzoek" \
	--legal-basis "art. 5.2.6 Jeugdwet" --family-informed ||
	fail "the referral was not recorded"

step "vt-flevoland's inbox, verified and decrypted"
out=$("$keten" inbox -c "$config" -k "$(key vt-flevoland)")
echo "$out"
grep -q "Noor de Vries" <<<"$out" || fail "decrypted content not shown"
grep -q "signature of lt-almere ok" <<<"$out" || fail "signature not verified"

step "vt-flevoland acknowledges it"
"$keten" inbox -c "$config" -k "$(key vt-flevoland)" --ack | tail -1
"$keten" inbox -c "$config" -k "$(key vt-flevoland)" | grep -q "no new messages" ||
	fail "the message is still in the inbox after acknowledging"

step "nobody else sees it: lt-lelystad's inbox"
"$keten" inbox -c "$config" -k "$(key lt-lelystad)" | grep -q "no new messages" ||
	fail "another agency saw the message"

step "the auditor verifies the chain"
"$keten" audit verify -c "$config" "$work/data" || fail "audit failed"

step "stopping ketend"
kill -TERM "$broker_pid"
wait "$broker_pid" || fail "ketend did not stop cleanly"
broker_pid=""
grep -q "event=stopped" "$work/ketend.log" || fail "no clean stop in the log"

printf '\nDEMO OK: referral sent, delivered, acknowledged and audited.\n'
