#!/bin/bash
# Text another agency chose reaches a person's terminal and a script's JSON
# reader safely: a referral and a note carrying ESC sequences, BEL, a C1
# control, an invalid UTF-8 byte and Dutch names go through a real ketend;
# 'keten inbox' must show no raw control byte and keep the names, and
# 'keten inbox --json' must be valid JSON (jq) in valid UTF-8 (iconv) that
# gives back what was sent. Also checks cli_fail on a refusal sentence,
# and the duration grammar's refusal of the CLI's old spellings.
# usage: test_cli_text.sh SOURCE_DIR KETEN KETEND
set -euo pipefail
export LC_ALL=C # strings are bytes here; UTF-8 is checked with iconv
src=$1 keten=$2 ketend=$3
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-cli-text
has() { # as lib.sh's, but names FILE, which may hold raw control bytes
	checks=$((checks + 1))
	grep -qF -- "$3" "$2" || fail "$1: '$3' not in $(basename "$2")"
}
has_line() { # has_line DESCRIPTION FILE LINE: FILE holds that whole line
	checks=$((checks + 1))
	grep -qxF -- "$3" "$2" || fail "$1: line '$3' not in $(basename "$2")"
}
# Bytes a terminal acts on: C0 controls but LF, DEL, and C1 controls
# (U+0080-U+009F, C2 80-C2 9F in UTF-8).
raw_controls() {
	local c0 c1
	c0=$(tr -d '\n\040-\176\200-\377' <"$1" | wc -c)
	c1=$(od -An -v -tx1 "$1" | tr -s ' \n' '  ' |
		{ grep -o ' c2 [89][0-9a-f]' || true; } | wc -l)
	echo $((c0 + c1))
}
utf8_ok() { iconv -f UTF-8 -t UTF-8 <"$1" >/dev/null 2>&1 && echo yes || echo no; }

port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
export KETEN_CONFIG=$config
as() { # as AGENCY VERB ...: keten as that agency
	local who=$1
	shift
	KETEN_KEY=$tmp/region/keys/$who.key "$keten" "$@"
}

ketend_up as lt-almere ping

name=$'Noé ĳs\e[31mRED\e[0m'
concern=$'zorgen\a over Zoë'
notes=$'eerste regel\r\ntweede\xc2\x9b[2Jregel\nx\xffy\x7f'
case_json=$(as lt-almere send referral --to vt-flevoland --json \
	--child-name "$name" --concern "$concern" --request beoordeling \
	--notes "$notes")
case_id=$(jq -r .case <<<"$case_json")
check "referral recorded" 32 "${#case_id}"

# A person reads it.
as vt-flevoland inbox >"$tmp/inbox.txt"
check "inbox: no raw control bytes" 0 "$(raw_controls "$tmp/inbox.txt")"
check "inbox: valid UTF-8" yes "$(utf8_ok "$tmp/inbox.txt")"
has "inbox keeps the name" "$tmp/inbox.txt" "Noé ĳs"
has "inbox shows ESC" "$tmp/inbox.txt" 'Noé ĳs\x1b[31mRED\x1b[0m'
has "inbox shows BEL" "$tmp/inbox.txt" 'zorgen\x07 over Zoë'
has "inbox shows C1" "$tmp/inbox.txt" 'tweede\xc2\x9b[2Jregel'
has "inbox shows the bad byte and DEL" "$tmp/inbox.txt" 'x\xffy\x7f'
has_line "inbox: notes start" "$tmp/inbox.txt" \
	"$(printf '    %-18s eerste regel' notes)"
has_line "inbox: CRLF is a line break" "$tmp/inbox.txt" \
	"$(printf '%23s' '')"'tweede\xc2\x9b[2Jregel'

# A script reads it.
as vt-flevoland inbox --json >"$tmp/inbox.json"
check "inbox --json: no raw control bytes" 0 \
	"$(raw_controls "$tmp/inbox.json")"
check "inbox --json: valid UTF-8" yes "$(utf8_ok "$tmp/inbox.json")"
check "inbox --json: jq parses it" yes \
	"$(jq . <"$tmp/inbox.json" >/dev/null 2>&1 && echo yes)"
check "inbox --json: the name comes back" "$name" \
	"$(jq -r .content.child.name <"$tmp/inbox.json")"
check "inbox --json: the concern comes back" "$concern" \
	"$(jq -r '.content.concerns[0]' <"$tmp/inbox.json")"
check "inbox --json: the bad byte is U+FFFD" \
	"${notes/$'\xff'/$'\xef\xbf\xbd'}" \
	"$(jq -r .content.notes <"$tmp/inbox.json")"
has "inbox --json: escapes" "$tmp/inbox.json" \
	'"Noé ĳs\u001b[31mRED\u001b[0m"'

# A sealed note back: the recipient asks, the sender reads.
question=$'evil\e[31mRED\e[0m\a\e]0;title\a ĳ?'
as vt-flevoland acknowledge "$case_id" >/dev/null
as vt-flevoland ask "$case_id" --text "$question" >/dev/null
as lt-almere inbox >"$tmp/note.txt"
check "note: no raw control bytes" 0 "$(raw_controls "$tmp/note.txt")"
has "note shown with placeholders" "$tmp/note.txt" \
	'evil\x1b[31mRED\x1b[0m\x07\x1b]0;title\x07 ĳ?'
as lt-almere inbox --json >"$tmp/note.json"
check "note --json: jq parses it" yes \
	"$(jq . <"$tmp/note.json" >/dev/null 2>&1 && echo yes)"
check "note --json: comes back" "$question" \
	"$(jq -r 'select(.note != null) | .note' <"$tmp/note.json")"

# A refusal sentence that quotes what was typed (cli_fail).
set +e
as lt-almere handover "$case_id" --to $'x\e[2Jy' --known k \
	>/dev/null 2>"$tmp/err.txt"
rc=$?
set -e
check "refusal exits non-zero" yes "$([ "$rc" -ne 0 ] && echo yes)"
check "refusal: no raw control bytes" 0 "$(raw_controls "$tmp/err.txt")"
has "refusal names it" "$tmp/err.txt" 'x\x1b[2Jy'

# Spans from now take keten's one duration grammar (docs/keten.md,
# "Durations"): working days too, and the CLI's old weeks and sums are
# refused with a sentence naming the value and the units, as are a zero,
# more than 3650 days and an unknown unit.
as lt-almere cases --at +2wd >/dev/null
as lt-almere cases --at -1wd >/dev/null
for old in 1h30m 2w 0s 3651d 5x; do
	set +e
	as lt-almere cases --at "+$old" >/dev/null 2>"$tmp/err.txt"
	rc=$?
	set -e
	check "--at +$old: usage error" 2 "$rc"
	has "--at +$old: names the value" "$tmp/err.txt" "not '$old'"
	has "--at +$old: names the units" "$tmp/err.txt" \
		"45s, 30m, 12h, 3d or 5wd (working days)"
done

# What is neither a time nor a span gets the forms, working days among them.
set +e
as lt-almere cases --at tomorrow >/dev/null 2>"$tmp/err.txt"
rc=$?
set -e
check "--at tomorrow: usage error" 2 "$rc"
has "--at tomorrow: names the forms" "$tmp/err.txt" "+DURATION (+2d, +3h, +90s, +2wd), not 'tomorrow'"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
check "ketend stops cleanly" 0 "$rc"
pid=""
echo "test_cli_text: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
