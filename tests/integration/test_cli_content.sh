#!/bin/bash
# Referral content is checked where it is written (issue 17): against a
# real ketend, 'keten send referral' and 'keten handover' refuse each bad
# value with exit 2 and a sentence naming the field and the rule, and the
# broker's log does not grow; good values still go through. @FILE means the
# same for every TEXT option: a missing file is refused with its name.
# usage: test_cli_content.sh SOURCE_DIR KETEN KETEND
set -euo pipefail
src=$1 keten=$2 ketend=$3
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-cli-content

port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
export KETEN_CONFIG=$config
as() { # as AGENCY VERB ...: keten as that agency
	local who=$1
	shift
	KETEN_KEY=$tmp/region/keys/$who.key "$keten" "$@"
}
head_seq() { as lt-almere ping --json | jq -r .head_seq; }

ketend_up as lt-almere ping

# refused DESCRIPTION WORDS... -- KETEN ARGS: exit 2, stderr holds every
# one of WORDS, and the log's head did not move.
refused() {
	local what=$1 words=() rc=0 before
	shift
	while [ "$1" != "--" ]; do
		words+=("$1")
		shift
	done
	shift
	before=$(head_seq)
	"$@" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
	check "$what: exit status" 2 "$rc"
	for w in "${words[@]}"; do
		has "$what" "$tmp/err.txt" "$w"
	done
	check "$what: nothing recorded" "$before" "$(head_seq)"
}
referral() { # the required options, then "$@"
	as lt-almere send referral --to vt-flevoland --concern zorg \
		--request hulp "$@"
}

# The values issue 17 lists, each alone.
refused "dob in the future" "child's date of birth" \
	"child.date_of_birth" "in the future" -- \
	referral --child-name Kind --child-dob 2031-01-01
refused "dob 30 February" "child.date_of_birth" \
	"not a calendar date" -- \
	referral --child-name Kind --child-dob 2016-02-30
refused "dob not YYYY-MM-DD" "child.date_of_birth" \
	"not in the form YYYY-MM-DD" -- \
	referral --child-name Kind --child-dob 12-04-2016
refused "dob before the bound" "child.date_of_birth" \
	"before 1900-01-01" -- \
	referral --child-name Kind --child-dob 1890-01-01
refused "bsn eleven-test" "child's BSN" "child.bsn" "eleven-test" -- \
	referral --child-name Kind --child-bsn 123456789
refused "bsn five digits" "child.bsn" "not nine digits" -- \
	referral --child-name Kind --child-bsn 12345
refused "household entry" "household member 1's date of birth" \
	"household[0].date_of_birth" "not a calendar date" -- \
	referral --child-name Kind --household 'Jan;1980-13-01;x'
refused "household bsn" "household member 2's BSN" \
	"household[1].bsn" "not nine digits" -- \
	referral --child-name Kind --household 'Sanne;1988-09-30;' \
	--household 'Jan;1980-12-01;x'
refused "household without a name" "household member 1's name" \
	"is empty" -- \
	referral --child-name Kind --household ';1980-12-01;'
refused "empty child name" "child's name (child.name) is empty" -- \
	referral --child-name ''
refused "blank child name" "child.name" -- referral --child-name '   '
# The values never appear in the sentence (systems log these).
refused "bsn not echoed" "child.bsn" -- \
	referral --child-name Kind --child-bsn 123456789
checks=$((checks + 1))
! grep -qF 123456789 "$tmp/err.txt" || fail "the BSN was echoed"

# @FILE, the same in send referral as in handover.
cd "$tmp"
refused "send --notes @missing" "--notes @nosuch.txt: cannot open nosuch.txt" \
	-- referral --child-name Kind --notes @nosuch.txt
refused "send --concern @missing" "--concern @nosuch.txt" -- \
	as lt-almere send referral --to vt-flevoland --concern @nosuch.txt \
	--request hulp --child-name Kind
refused "send --request empty file" "--request is empty" -- \
	referral --child-name Kind --request @/dev/null

# Good values go through, one record each; @FILE is read, @@ is literal.
printf 'notitie uit een bestand' >"$tmp/notes.txt"
before=$(head_seq)
out=$(referral --json --child-name 'Noor de Vries' --child-dob 2016-02-29 \
	--child-bsn 111222333 --household 'Sanne de Vries;1988-09-30;' \
	--household 'Jan;;999999990' --notes @notes.txt --gezag @@moeder)
case_id=$(jq -r .case <<<"$out")
check "good referral recorded" 32 "${#case_id}"
check "good referral: one record" $((before + 1)) "$(head_seq)"
as vt-flevoland inbox >"$tmp/inbox.txt"
has "@FILE read for --notes" "$tmp/inbox.txt" "notitie uit een bestand"
has "@@ is a literal @" "$tmp/inbox.txt" "@moeder"

# handover: --respond-by within 366 days, --known's @FILE as before.
as vt-flevoland acknowledge "$case_id" >/dev/null
as vt-flevoland accept "$case_id" >/dev/null
handover() { as vt-flevoland handover "$case_id" --to gi-save "$@"; }
refused "respond-by a century ahead" "respond_by" \
	"more than 366 days ahead" -- \
	handover --known dossier --respond-by 2126-01-01
refused "respond-by +400d" "more than 366 days ahead" -- \
	handover --known dossier --respond-by +400d
refused "respond-by passed" "has passed already" -- \
	handover --known dossier --respond-by 2020-01-01
refused "handover --known @missing" "--known @nosuch.txt: cannot open" -- \
	handover --known @nosuch.txt
refused "handover --notes @missing" "--notes @nosuch.txt: cannot open" -- \
	handover --known dossier --notes @nosuch.txt
before=$(head_seq)
handover --known @notes.txt --respond-by +30d >/dev/null
check "handover within the horizon recorded" $((before + 1)) "$(head_seq)"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
check "ketend stops cleanly" 0 "$rc"
pid=""
echo "test_cli_content: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
