#!/bin/bash
# The man pages built from the docs: each renders without a warning, has
# the NAME and SYNOPSIS sections whatis(1) and readers need, and
# `cmake --install` puts all four where man(1) finds them. Reads only.
# usage: test_man.sh BUILD
set -uo pipefail
build=$1
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp test_man

for page in ketend.8 keten.1 keten.yaml.5 libketen.3; do
	f=$build/docs/$page
	name=${page%.*}
	check "$page was built" 1 "$([ -s "$f" ] && echo 1)"
	[ -s "$f" ] || continue
	# every warning but 'break' (a long word that cannot be justified at
	# the page's width, such as a JSON line or a key in base64)
	preconv -e utf-8 "$f" | groff -man -z -ww -Wbreak >"$tmp/warn" 2>&1
	check "$page renders without warnings: $(cat "$tmp/warn")" "" "$(cat "$tmp/warn")"
	# man -l as a reader gets it (its layout at 80 columns may not be
	# justified everywhere: that is the 'break' left out above)
	LC_ALL=C.UTF-8 MANWIDTH=80 man -E UTF-8 -l "$f" >"$tmp/page" 2>"$tmp/warn"
	check "man -l $page exit status: $(cat "$tmp/warn")" 0 $?
	has "man -l $page: NAME" "$tmp/page" "NAME"
	has "man -l $page: SYNOPSIS" "$tmp/page" "SYNOPSIS"
	check "$page: NAME says its name and what it is" 1 \
		"$(lexgrog "$f" | grep -q ": \"$name - ..*\"$" && echo 1)"
	check "$page: SYNOPSIS is the second section" "NAME SYNOPSIS" \
		"$(grep -A1 '^\.SH' "$f" | grep -v '^\.SH\|^--' | head -2 | tr '\n' ' ' | sed 's/ $//')"
done

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install" 2>&1
check "cmake --install: $(tail -3 "$tmp/install")" 0 $?
for p in "8 ketend" "1 keten" "5 keten.yaml" "3 libketen"; do
	# shellcheck disable=SC2086 # section and name
	found=$(MANPATH="$tmp/prefix/share/man" man -w $p 2>&1)
	check "man -w $p finds the installed page" \
		"$tmp/prefix/share/man/man${p%% *}/${p#* }.${p%% *}" "$found"
done

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
