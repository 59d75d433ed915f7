#!/bin/bash
# Installs keten into a temporary prefix, builds
# client/examples/accept_referrals.c against it with pkg-config only, and
# runs the installed ketend, keten and the example against each other: a
# referral is sent, the example receives, acknowledges and accepts it, and
# the case is then held by Veilig Thuis. Also checks the CLI's exit codes.
# usage: test_install.sh SOURCE_DIR BUILD_DIR [SANITIZE]
set -euo pipefail
src=$1 build=$2
# A sanitized libketen needs its runtime in the program that links it.
san=()
[ "${3:-OFF}" = "ON" ] && san=(-fsanitize=address,undefined)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-install

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# lib/ or, configured for /usr, the multiarch lib/x86_64-linux-gnu/.
libdir=$(find "$tmp/prefix" -type d -name pkgconfig -path "*/lib*" | head -1)
export PKG_CONFIG_PATH=$libdir
export LD_LIBRARY_PATH=$(dirname "$libdir")
check "keten.h installed" yes "$([ -f "$tmp/prefix/include/keten.h" ] && echo yes)"
check "only keten.h installed" 1 "$(ls "$tmp/prefix/include" | wc -l)"
cc -std=c11 -Wall -Wextra -Werror "${san[@]}" \
	"$src/client/examples/accept_referrals.c" \
	$(pkg-config --cflags --libs keten) -o "$tmp/accept"
check "example built" yes "$([ -x "$tmp/accept" ] && echo yes)"
check "example is short" yes "$([ "$(wc -l <"$src/client/examples/accept_referrals.c")" -lt 150 ] && echo yes)"

keten=$tmp/prefix/bin/keten
ketend=$tmp/prefix/sbin/ketend
port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
key() { echo "$tmp/region/keys/$1.key"; }
check "key mode" 600 "$(stat -c %a "$(key lt-almere)")"

# Broker not running yet: exit 3.
set +e
"$keten" ping -c "$config" -k "$(key lt-almere)" --timeout 1 >/dev/null 2>&1
check "ping without broker exits 3" 3 $?
"$keten" send referral --to vt-flevoland >/dev/null 2>&1
check "usage error exits 2" 2 $?
"$keten" keygen --id lt-almere --name "Lokaal team Almere" --kind local_team \
    --out "$(key lt-almere)" >/dev/null 2>&1
check "keygen refuses to overwrite" 2 $?
# Key files know who they are: --show prints each kind and name back.
for kind in local_team veilig_thuis gi raad auditor; do
	"$keten" keygen --id "k-${kind//_/-}" --name "Naam $kind" \
	    --kind "$kind" --out "$tmp/$kind.key" >/dev/null
	check "keygen --show kind $kind" "    kind: $kind" \
	    "$("$keten" keygen --show "$tmp/$kind.key" | grep '^    kind:')"
	check "keygen --show name $kind" "    name: \"Naam $kind\"" \
	    "$("$keten" keygen --show "$tmp/$kind.key" | grep '^    name:')"
done
"$keten" keygen --id k-x --out "$tmp/nokind.key" >/dev/null 2>&1
check "keygen without --kind is a usage error" 2 $?
set -e

ketend_up "$keten" ping -c "$config" -k "$(key lt-almere)"
# A fresh region's log opens with its roster record (PROTOCOL.md 22):
# the agencies' records follow it, so their seqs count from after it.
json=$("$keten" audit verify -c "$config" --json "$tmp/region/data")
check "the log holds only its roster record" "1 1" \
	"$(jq -r '"\(.records) \([.roster[].seq] | max)"' <<<"$json")"
r=$(jq -r .records <<<"$json")
"$keten" send referral -c "$config" -k "$(key lt-almere)" --to vt-flevoland \
	--child-name "Installed Example" --concern "zorgen" --request "beoordeling" >/dev/null
set +e
"$keten" send referral -c "$config" -k "$(key lt-almere)" --to gi-save \
	--child-name X --concern y --request z >/dev/null 2>&1
check "forbidden route exits 1" 1 $?
set -e
out=$("$tmp/accept" "$config" "$(key vt-flevoland)")
check "example received and accepted the referral" \
	"#$((r + 1)) referral from lt-almere: Installed Example, accepted (record $((r + 3)))" "$out"
out=$("$tmp/accept" "$config" "$(key vt-flevoland)")
check "example moved its cursor past it" "" "$out"
# A colleague accepted the next one by hand before the desk ran: the desk
# finds the offer no longer open, says so, and moves on.
out=$("$keten" send referral -c "$config" -k "$(key lt-almere)" --to vt-flevoland \
	--child-name "Second" --concern "zorgen" --request "beoordeling" --json)
case2=$(jq -r .case <<<"$out")
"$keten" accept "$case2" -c "$config" -k "$(key vt-flevoland)" >/dev/null
out=$("$tmp/accept" "$config" "$(key vt-flevoland)")
check "example skips an offer already answered" \
	"#$((r + 4)) referral from lt-almere: no longer open" "$out"
json=$("$keten" cases -c "$config" -k "$(key lt-almere)" --json)
check "the case is held by Veilig Thuis" '"held" "vt-flevoland"' \
	"$(jq -r '"\"\(.status)\" \"\(.holder)\""' <<<"$json" | head -1)"
# Subscribed (--follow), the desk takes a referral as it is recorded.
"$tmp/accept" "$config" "$(key vt-flevoland)" --follow >"$tmp/follow.out" 2>&1 &
fpid=$!
"$keten" send referral -c "$config" -k "$(key lt-almere)" --to vt-flevoland \
	--child-name "Live" --concern "zorgen" --request "beoordeling" >/dev/null
for _ in $(seq 100); do
	grep -q accepted "$tmp/follow.out" && break
	sleep 0.1
done
kill -TERM "$fpid"
wait "$fpid" || true
check "the following desk accepted the new referral" \
	"#$((r + 6)) referral from lt-almere: Live, accepted (record $((r + 8)))" "$(cat "$tmp/follow.out")"
json=$("$keten" audit verify -c "$config" --json "$tmp/region/data")
check "audit json parses" $((r + 8)) "$(jq -r .records <<<"$json")"
kill -TERM "$pid"
wait "$pid"
check "ketend stops cleanly" 0 $?
pid=""
echo "test_install: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
