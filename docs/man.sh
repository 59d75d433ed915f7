#!/bin/sh
# Makes a man page from one of the docs with lowdown (the build's `man`
# target runs it); it must never change the doc itself.
# usage: man.sh LOWDOWN DOC.md OUT TITLE SECTION VERSION
# The doc's first line, "# NAME(S) — what it is", becomes the NAME section
# ("NAME - what it is", as whatis(1) reads it), its "## " headings the
# page's sections in capitals, and its "### " headings subsections.
set -eu
lowdown=$1 doc=$2 out=$3 title=$4 section=$5 version=$6
sed -e '1s/^# \([^ (]*\)([0-9])  *— \(.*\)$/# NAME\n\n\1 - \2/' \
	-e '1!s/^## \(.*\)$/## \U\1/' "$doc" |
	"$lowdown" -s -Tman -M "title=$title" -M "section=$section" \
		-M "source=keten $version" -M "volume=keten" \
		-M shiftheadinglevelby=-1 -o "$out.tmp" -
head -n 8 "$out.tmp" | grep -q '^NAME$' || {
	echo "$doc: its first line must be '# NAME(S) — what it is'" >&2
	rm -f "$out.tmp"
	exit 1
}
mv "$out.tmp" "$out"
