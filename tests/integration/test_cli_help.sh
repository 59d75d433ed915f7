#!/bin/bash
# Every help text of keten agrees with what the code accepts: the verbs
# come from the dispatch tables in the source, never from a copy here.
# usage: test_cli_help.sh SRC KETEN
set -uo pipefail
src=$1 keten=$(realpath "$2")
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp test_cli_help

# The dispatch tables: main.c's {"verb", cmd_..., and audit.c's
# {"verb", audit_...,
verbs=$(sed -n 's/^[[:space:]]*{"\([a-z-]*\)", cmd_[a-z_]*,.*/\1/p' \
	"$src/client/cli/main.c")
audit_verbs=$(sed -n 's/^[[:space:]]*{"\([a-z-]*\)", audit_[a-z_]*,.*/\1/p' \
	"$src/client/cli/audit.c")
check "verbs read from main.c's table" 1 "$([ "$(wc -w <<<"$verbs")" -ge 15 ] && echo 1)"
check "verbs read from audit.c's table" 1 "$([ "$(wc -w <<<"$audit_verbs")" -ge 6 ] && echo 1)"

"$keten" --help >"$tmp/help" 2>&1
check "keten --help exit status" 0 $?
"$keten" audit --help >"$tmp/audit-help" 2>&1
check "keten audit --help exit status" 0 $?

# The table and keten --help name the same verbs, both ways.
sed -n 's/^  \([a-z-][a-z-]*\)  .*/\1/p' "$tmp/help" | sort >"$tmp/listed"
sort <<<"$verbs" >"$tmp/table"
check "keten --help lists exactly main.c's verbs" "$(cat "$tmp/table")" "$(cat "$tmp/listed")"
for h in help audit-help; do
	sed -n 's/^ *audit \([a-z-][a-z-]*\)  .*/\1/p' "$tmp/$h" | sort >"$tmp/listed"
	sort <<<"$audit_verbs" >"$tmp/table"
	check "$h lists exactly audit.c's verbs" "$(cat "$tmp/table")" "$(cat "$tmp/listed")"
done

# verb_help VERB...: "keten VERB... --help" exits 0 with a usage line, and
# each long option its usage lines and option list name (not its prose,
# which may name another verb's) is one the verb accepts: given with a
# value or without, getopt_long knows it.
verb_help() {
	local o
	"$keten" "$@" --help >"$tmp/vh" 2>"$tmp/vh.err"
	check "keten $* --help exit status" 0 $?
	has "keten $* --help" "$tmp/vh" "usage: keten $1"
	grep -E '^(usage: | +keten |  +(-[a-zA-Z], )?--)' "$tmp/vh" |
		sed -E 's/^ +(-[a-zA-Z], )?(--[a-z][a-z-]*).*/\2/' |
		grep -o -- '--[a-z][a-z-]*' | sort -u >"$tmp/opts"
	while read -r o; do
		[ "$o" = --help ] && continue
		"$keten" "$@" "$o=1" --help >/dev/null 2>"$tmp/o1.err"
		"$keten" "$@" "$o" --help >/dev/null 2>"$tmp/o2.err"
		checks=$((checks + 1))
		if grep -q "unrecognized option" "$tmp/o1.err" &&
			grep -q "unrecognized option" "$tmp/o2.err"; then
			fail "keten $* --help names $o, which it does not accept"
		fi
	done <"$tmp/opts"
}
for v in $verbs; do
	case $v in
	send) verb_help send referral ;;
	case) verb_help case show ;;
	audit) ;;
	*) verb_help "$v" ;;
	esac
done
for v in $audit_verbs; do
	verb_help audit "$v"
done

# keygen --json, as its --help says: one JSON object for each kind of key.
cd "$tmp" || exit 1
"$keten" keygen --id lt-almere --name 'Lokaal "team"' --kind local_team \
	--out a.key --json >a.json
check "keygen --json exit status" 0 $?
check "keygen --json: the agency's fields" \
	'lt-almere|Lokaal "team"|local_team|a.key|44|44|44' \
	"$(jq -r '[.id, .name, .kind, .key_file, (.sign_key|length), (.box_key|length), (.transport_key|length)] | join("|")' a.json)"
"$keten" keygen --show a.key --json >show.json
check "keygen --show --json is the same object" "$(jq -S . a.json)" "$(jq -S . show.json)"
"$keten" keygen --broker --out b.key --json >b.json
check "keygen --broker --json" 'broker|b.key|null' \
	"$(jq -r '[.id, .key_file, (.box_key // "null")] | join("|")' b.json)"
"$keten" keygen --witness w.example/witness --out w.key --json >w.json
check "keygen --witness --json" 'w.example/witness|44' \
	"$(jq -r '[.witness, (.cosign_key|length)] | join("|")' w.json)"
"$keten" keygen --show a.key >show.yaml
has "keygen without --json prints the config's lines" show.yaml "  - id: lt-almere"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
