#!/bin/bash
# keten demo: installs what is missing, builds, generates the Flevoland
# region, runs the broker on loopback and walks one case down the whole
# chain: local team Almere refers to Veilig Thuis Flevoland, which
# acknowledges, accepts, gives feedback to Almere and hands over to SAVE;
# SAVE asks for information and accepts; SAVE hands over to the Raad voor
# de Kinderbescherming, which declines once and accepts a second offer; the
# Raad closes the case. After every step the demo checks who holds the case.
# Veilig Thuis's desk is subscribed (keten watch) before the referral is
# sent and must show it as soon as it is recorded.
# Then two witnesses, one run by lt-almere and one by the auditor, cosign
# the broker's checkpoint; it prints the verified case history (reads
# that move the checkpoint on); the auditor verifies the chain with both
# cosignatures and the quorum, stops the broker and writes the referral's
# offline proof against the checkpoint the witnesses cosigned, which
# carries their cosignatures. Exits 0 only if every step did what it
# should.
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
watch_pid=""
cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
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

step "two witnesses: lt-almere's and the auditor's, both needed (quorum 2)"
witness_almere=lt-almere.flevoland.example/witness
witness_auditor=audit-inspectie.flevoland.example/witness
{
	echo "witness_quorum: 2"
	echo "witnesses:"
	"$keten" keygen --witness "$witness_almere" \
		--out "$work/keys/lt-almere.witness.key"
	"$keten" keygen --witness "$witness_auditor" \
		--out "$work/keys/audit-inspectie.witness.key"
} >>"$config"
tail -n 8 "$config"
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

export KETEN_CONFIG=$config
# as AGENCY VERB ...: run keten as that agency (its key file).
as() {
	local who=$1
	shift
	KETEN_KEY=$(key "$who") "$keten" "$@"
}

# prints PATTERN CMD...: CMD succeeds and its output holds PATTERN. Not
# `CMD | grep -q`: under pipefail, grep leaving at the first match can
# kill CMD with SIGPIPE and fail the step on a race.
prints() {
	local pat=$1 out
	shift
	out=$("$@") || return 1
	grep -q -- "$pat" <<<"$out"
}

# expect_case STATUS HOLDER: the case, as the auditor reads it from the
# broker, is in that state and held by that agency.
expect_case() {
	local got
	got=$(as audit-inspectie case show "$case" --json) ||
		fail "cannot read case $case"
	grep -q "\"status\":\"$1\",\"holder\":\"$2\"" <<<"$got" ||
		fail "case $case should be $1 and held by $2: $(head -c 300 <<<"$got")"
	echo "   -> case is $1, held by $2"
}

# refused WHY CMD...: the broker must refuse the step (exit 1).
refused() {
	local why=$1 rc=0
	shift
	"$@" 2>"$work/refusal" || rc=$?
	[ "$rc" -eq 1 ] || fail "expected a refusal ($why), got exit $rc"
	echo "   refused as it should be ($why): $(cat "$work/refusal")"
}

step "vt-flevoland's desk subscribes: keten watch waits for its next message"
KETEN_KEY=$(key vt-flevoland) \
	"$keten" watch --count 1 --wait 10 >"$work/watch.out" 2>&1 &
watch_pid=$!

step "lt-almere refers a child to vt-flevoland"
out=$(as lt-almere send referral --json \
	--to vt-flevoland --urgency urgent \
	--child-name "Noor de Vries" --child-dob 2016-04-12 --child-bsn 111222333 \
	--household "Sanne de Vries;1988-09-30;" --gezag "moeder (Sanne de Vries)" \
	--concern "huiselijk geweld" --concern "schoolverzuim" \
	--safety "acute onveiligheid niet uitgesloten" \
	--request "veiligheidsbeoordeling en onderzoek" \
	--legal-basis "art. 5.2.6 Jeugdwet" --family-informed) ||
	fail "the referral was not recorded"
case=$(sed -n 's/.*"case":"\([0-9a-f]\{32\}\)".*/\1/p' <<<"$out")
[ -n "$case" ] || fail "no case id in: $out"
referral_seq=$(sed -n 's/.*"seq":\([0-9]*\).*/\1/p' <<<"$out")
[ -n "$referral_seq" ] || fail "no record number in: $out"
echo "case $case"
expect_case offered lt-almere

step "the subscribed desk got it as it was recorded, verified and decrypted"
wait "$watch_pid" || fail "keten watch did not deliver the referral"
watch_pid=""
cat "$work/watch.out"
grep -q "Noor de Vries" "$work/watch.out" ||
	fail "keten watch did not show the decrypted referral"

step "vt-flevoland's inbox, verified and decrypted"
out=$(as vt-flevoland inbox)
echo "$out"
grep -q "Noor de Vries" <<<"$out" || fail "decrypted content not shown"
grep -q "signature of lt-almere ok" <<<"$out" || fail "signature not verified"
as vt-flevoland inbox --ack | tail -1
prints "no new messages" as vt-flevoland inbox ||
	fail "the message is still in the inbox after taking it"

step "nobody else sees it: lt-lelystad"
prints "no new messages" as lt-lelystad inbox ||
	fail "another agency saw the message"
refused "lt-lelystad is not part of the case" \
	as lt-lelystad case show "$case"

step "vt-flevoland acknowledges and accepts; the case moves to Veilig Thuis"
as vt-flevoland acknowledge "$case" || fail "acknowledge"
expect_case offered lt-almere
as vt-flevoland accept "$case" || fail "accept"
expect_case held vt-flevoland
refused "lt-almere no longer holds it" \
	as lt-almere close "$case" --outcome other

step "vt-flevoland tells lt-almere what it did (terugkoppeling aan melder)"
as vt-flevoland feedback "$case" --to lt-almere \
	--text "Melding in onderzoek genomen; veiligheidsplan opgesteld." ||
	fail "feedback"
prints "veiligheidsplan opgesteld" as lt-almere inbox ||
	fail "lt-almere did not get the feedback"

step "vt-flevoland hands over to gi-save; SAVE asks, then accepts"
as vt-flevoland handover "$case" --to gi-save --urgency urgent \
	--known "Onderzoek VT afgerond: structurele onveiligheid." \
	--safety "Geen contact met vader zonder toezicht." \
	--monitoring "Wekelijks huisbezoek." --family-informed || fail "handover"
expect_case offered vt-flevoland
as gi-save ask "$case" \
	--text "Is de school op de hoogte van het veiligheidsplan?" || fail "ask"
prints "Is de school op de hoogte" as vt-flevoland inbox ||
	fail "vt-flevoland did not get the question"
as vt-flevoland answer "$case" \
	--text "Ja, de intern begeleider is betrokken." || fail "answer"
expect_case offered vt-flevoland
as gi-save accept "$case" || fail "accept by SAVE"
expect_case held gi-save

step "gi-save hands over to the Raad, which declines once"
as gi-save handover "$case" --to raad-midden-nederland \
	--known "Maatregel nodig: ondertoezichtstelling." || fail "handover"
as raad-midden-nederland decline "$case" --reason insufficient_info \
	--note "Graag de concrete verzoekvraag aan de Raad." || fail "decline"
expect_case held gi-save

step "gi-save offers again with the question; the Raad accepts and closes"
as gi-save handover "$case" --to raad-midden-nederland \
	--known "Verzoek: raadsonderzoek naar een OTS." || fail "second handover"
as raad-midden-nederland accept "$case" || fail "accept by the Raad"
expect_case held raad-midden-nederland
as raad-midden-nederland close "$case" --outcome completed ||
	fail "close"
expect_case closed raad-midden-nederland
refused "nothing follows a close" \
	as raad-midden-nederland handover "$case" --to gi-save \
	--known "te laat"

# The reads after this round move the checkpoint on (each is an
# access-log entry); the proof at the end is still against the one the
# witnesses cosigned.
step "the witnesses check the log grew consistently and cosign its checkpoint"
for w in lt-almere audit-inspectie; do
	"$keten" witness -c "$config" -k "$work/keys/$w.witness.key" ||
		fail "$w's witness did not cosign"
done

step "the case history, as lt-almere sees it (verified against the chain)"
out=$(as lt-almere case show "$case") || fail "case show"
echo "$out"
grep -q "replayed holder = raad-midden-nederland" <<<"$out" ||
	fail "the history does not replay to the Raad"
[ "$(grep -c ' decline ' <<<"$out")" -eq 1 ] || fail "expected one decline"

step "lt-almere rotates its keys: the old key endorses the new ones, the broker records it on SIGHUP"
"$keten" keygen --rotate "$(key lt-almere)" --out "$(key lt-almere-2)" \
	--config "$config" >"$work/lt-almere-2.yaml" || fail "keygen --rotate"
sed 's/\(rotation: .\{32\}\).*/\1.../' "$work/lt-almere-2.yaml"
# The operator puts the new entry in place of the old one.
awk -v frag="$work/lt-almere-2.yaml" '
	/^  - id: / { on = ($3 == "lt-almere")
		if (on) while ((getline l < frag) > 0) print l }
	/^[^ ]/ { on = 0 }
	!on' "$config" >"$config.new" && mv "$config.new" "$config"
kill -HUP "$broker_pid"
for _ in $(seq 100); do
	grep -q "event=reload result=" "$work/ketend.log" && break
	sleep 0.1
done
grep "event=roster_changed\|event=reload result=" "$work/ketend.log" |
	sed 's/^ts=[^ ]* level=[a-z]* prog=ketend //' || true
grep -q "event=reload result=ok" "$work/ketend.log" ||
	fail "ketend did not apply the rotation: $(tail -3 "$work/ketend.log")"
as lt-almere-2 send referral --to vt-flevoland --urgency routine \
	--child-name "Sem Bakker" --child-dob 2018-02-14 \
	--concern "schoolverzuim" --request "gesprek met ouders" >/dev/null ||
	fail "lt-almere's new key could not send"
echo "   lt-almere sends with its new key; what its old key signed still verifies (below)"

step "no offer is overdue"
as vt-flevoland cases --overdue || fail "an offer is overdue"

step "the auditor verifies the chain and the cosignatures, keeps its checkpoint and replays every case from it"
out=$("$keten" audit verify -c "$config" --save-checkpoint "$work/audit.note" \
	"$work/data") || fail "audit failed: $out"
echo "$out"
for w in "$witness_almere" "$witness_auditor"; do
	grep -q "^cosigned: checkpoint of .* by $w at " <<<"$out" ||
		fail "the audit does not show $w's cosignature"
done
grep -q "^quorum: 2 of 2 witnesses cosigned the log up to" <<<"$out" ||
	fail "the audit does not find the quorum of 2 witnesses"
grep -q "^roster: record [0-9]*: rotate lt-almere " <<<"$out" ||
	fail "the audit does not show lt-almere's rotation in the roster history"
prints "$case  closed" "$keten" audit cases -c "$config" "$work/data" ||
	fail "the audit replay does not find the case closed"

step "the access log: every read of a message or a case, accounted (NEN 7513)"
"$keten" audit access -c "$config" "$work/data" | tail -n 6 ||
	fail "the access log does not verify"
prints '"kind":"fetch","agency":"vt-flevoland"' \
	"$keten" audit access -c "$config" --jsonl "$work/data" ||
	fail "VT's inbox reads are not in the access log"

step "stopping ketend"
kill -TERM "$broker_pid"
wait "$broker_pid" || fail "ketend did not stop cleanly"
broker_pid=""
grep -q "event=stopped" "$work/ketend.log" || fail "no clean stop in the log"

step "the referral's offline proof: a .tlog-proof, checked with the region config alone"
out=$("$keten" audit proof -c "$config" --seq "$referral_seq" \
	--out "$work/referral.tlog-proof" "$work/data") ||
	fail "cannot write the referral's proof: $out"
echo "$out"
grep -q "against the newest checkpoint the witness quorum cosigned\$" <<<"$out" ||
	fail "the proof is not against the checkpoint both witnesses cosigned"
out=$("$keten" audit check-proof -c "$config" "$work/referral.tlog-proof") ||
	fail "the referral's proof does not check: $out"
echo "$out"
grep -q "^cosigned by $witness_almere, $witness_auditor\$" <<<"$out" ||
	fail "the proof does not carry both witnesses' cosignatures"
prints "record $referral_seq: referral lt-almere -> vt-flevoland, case $case" \
	"$keten" audit check-proof -c "$config" "$work/referral.tlog-proof" ||
	fail "the proof does not show the referral"
prints "extends the checkpoint" "$keten" audit verify -c "$config" \
	--checkpoint "$work/audit.note" "$work/data" ||
	fail "the log does not extend the auditor's saved checkpoint"

printf '\nDEMO OK: case %s went from lt-almere through Veilig Thuis and SAVE to the Raad and was closed; every step checked, history and chain verified, cosigned by two witnesses, the proof of the referral checked offline with their cosignatures, lt-almere rotated its keys and what its old key signed still verified.\n' "$case"
