#!/bin/bash
# The Debian package, as an operator gets it: builds keten_VERSION_amd64.deb
# with cpack from BUILD_DIR, installs it on this machine with apt-get, and
# runs the installed ketend and keten as the keten user; then removes and
# purges it. Must never remove /var/lib/keten or /etc/keten/broker.key
# itself: the package promises to keep them, and this checks that it does.
# usage: test_package.sh SOURCE_DIR BUILD_DIR   (root, or sudo for the
# install part; tests/run.sh's `== package` stage)
set -euo pipefail
src=$(cd "$1" && pwd) build=$(cd "$2" && pwd)

# The package is built as the caller, so that the build directory stays
# theirs; the rest needs root.
if [ "${3:-}" != --installed-part ]; then
	version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' \
		"$build/CMakeCache.txt")
	arch=$(dpkg --print-architecture)
	echo "building the package: cpack in $build"
	rm -f "$build"/keten_*.deb
	(cd "$build" && cpack -G DEB >/dev/null)
	deb=$build/keten_${version}_${arch}.deb
	if [ ! -f "$deb" ]; then
		echo "CHECK failed: cpack made no $deb; it made:" \
			"$(ls "$build"/*.deb 2>/dev/null)" >&2
		exit 1
	fi
	[ "$(id -u)" -eq 0 ] || exec sudo -- "$0" "$src" "$build" --installed-part
	exec "$0" "$src" "$build" --installed-part
fi

# shellcheck source=tests/integration/lib.sh
. "$src/tests/integration/lib.sh"
lib_tmp keten-package
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
deb=$build/keten_${version}_$(dpkg --print-architecture).deb
echo "package: $deb"
export DEBIAN_FRONTEND=noninteractive
keten=/usr/bin/keten
ketend=/usr/sbin/ketend
example=/usr/share/doc/keten/examples/ketend.yaml
alerts=/usr/share/doc/keten/examples/keten-alerts.yml
key=/etc/keten/broker.key

# What the keten user runs: setpriv execs, so $pid is ketend's own.
as_keten() {
	setpriv --reuid=keten --regid=keten --init-groups -- "$@"
}
status() { # the package's dpkg status, or "not-installed"
	local s
	s=$(dpkg-query -W -f='${Status}' keten 2>/dev/null || true)
	case "$s" in
	"" | *not-installed) echo not-installed ;;
	*) echo "$s" ;;
	esac
}
mode() { stat -c '%a %U %G' "$1" 2>/dev/null || echo missing; }
sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# A machine that runs a region of its own (its config is in place, or a
# ketend.service is active, from the package or a source install) is not
# this test's to install over: refused, not touched. A package left by an
# earlier run of this test (it never writes that config) is purged.
if [ -e /etc/keten/ketend.yaml ] ||
	systemctl is-active --quiet ketend 2>/dev/null; then
	echo "test_package: this machine runs keten (/etc/keten/ketend.yaml" \
		"or an active ketend.service): this stage would install over" \
		"it; run elsewhere, or KETEN_TEST_SKIP=package" >&2
	exit 1
fi
if [ "$(status)" != not-installed ]; then
	echo "a keten package is already installed ($(status)), with no" \
		"region config: purging it first (its key and log stay)"
	dpkg --purge keten >/dev/null
fi

echo "installing: apt-get install -y $deb"
(cd "$build" && apt-get install -y -qq "./$(basename "$deb")" \
	>"$tmp/install.log" 2>&1) || {
	cat "$tmp/install.log" >&2
	exit 1
}
check "package installed" "install ok installed" "$(status)"
check "package version" "$version" \
	"$(dpkg-query -W -f='${Version}' keten 2>/dev/null)"

echo "checking the user, its directories and the broker's key"
check "keten user: home and shell" "/var/lib/keten /usr/sbin/nologin" \
	"$(getent passwd keten | cut -d: -f6,7 | tr : ' ')"
check "/var/lib/keten" "700 keten keten" "$(mode /var/lib/keten)"
check "/etc/keten" "750 root keten" "$(mode /etc/keten)"
check "$key" "600 keten keten" "$(mode $key)"
check "no half key left" missing "$(mode $key.new)"
keysum=$(sum $key)
check "the key loads" yes \
	"$(as_keten $keten keygen --show $key | grep -q '^  sign_key: ' && echo yes)"

echo "checking the library, versions and manual pages"
check "libketen.so.0 in ld.so's cache" 1 \
	"$(ldconfig -p | grep -c 'libketen\.so\.0 ')"
check "pkg-config keten" "$version" \
	"$(pkg-config --modversion keten 2>&1)"
check "keten.h installed" yes "$([ -f /usr/include/keten.h ] && echo yes)"
set +e
$ketend --version >"$tmp/version" 2>&1
check "ketend --version exits 0" 0 $?
has "ketend --version" "$tmp/version" "$version"
$keten --version >"$tmp/version" 2>&1
check "keten --version exits 0" 0 $?
has "keten --version" "$tmp/version" "$version"
# man-db finds each; the pages come with the man-page rules.
# Minimal images (Debian's -slim, for one) tell dpkg to leave man pages
# out: then the check below fails, and this says why.
if grep -rqs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/; then
	echo "test_package: dpkg here excludes /usr/share/man" \
		"($(grep -rls '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/ | head -1)):" \
		"the package's man pages are not installed" >&2
fi
man -w ketend keten keten.yaml libketen >"$tmp/man" 2>&1
check "man -w ketend keten keten.yaml libketen exits 0" 0 $?
check "man -w finds four pages" 4 "$(grep -c '^/usr/share/man/' "$tmp/man")"
check "the example alert rules are installed" yes \
	"$([ -s "$alerts" ] && grep -q 'alert: KetenBrokerDown' "$alerts" && echo yes)"
set -e

echo "checking the example config: ketend --check-config $example"
# As an operator checks it by hand, as keten: its data_dir is in the
# state directory the package made, and its broker keys come from the
# key postinst made.
set +e
as_keten $ketend --check-config $example >"$tmp/check" 2>&1
rc=$?
set -e
check "installed ketend --check-config on the example exits 0" 0 $rc
has "the example's keys come from the key file" "$tmp/check" \
	"broker key_file $key (broker.sign_key and transport_key read from it"
[ $rc -eq 0 ] || cat "$tmp/check" >&2

echo "checking the installed ketend, as keten, on a temporary region"
chmod 0711 "$tmp"
install -d -o keten -g keten -m 0700 "$tmp/region"
port=$(free_port)
# deploy/region.sh makes the agencies' keys; the broker's is the one the
# package made, named without its public keys (as in the example).
as_keten bash -s -- $keten "$tmp/region" "$port" \
	<"$src/deploy/region.sh" >/dev/null
region=$tmp/region/flevoland.yaml
config=$tmp/region/ketend.yaml
client=$tmp/region/client.yaml
sed -e '/^  sign_key: /d' -e '/^  transport_key: /d' \
	-e "s|^  key_file: .*|  key_file: $key|" "$region" >"$config"
# keten cannot read the broker's key: it needs the public keys in its
# copy, and its refusal says which command prints them.
set +e
as_keten $keten ping -c "$config" -k "$tmp/region/keys/lt-almere.key" \
	--timeout 1 >"$tmp/refused" 2>&1
check "keten refuses a config without the broker's public keys" 2 $?
set -e
has "the refusal names the fix" "$tmp/refused" \
	"'keten keygen --show $key' prints the lines to add"
{
	sed -n '/^broker:/q;p' "$config"
	as_keten $keten keygen --show $key
	sed -n '/^agencies:/,$p' "$config"
} >"$client"
k() { echo "$tmp/region/keys/$1.key"; }
# ketend_up starts "$ketend" -c "$config": here ketend as keten.
printf '#!/bin/sh\nexec setpriv --reuid=keten --regid=keten --init-groups \\\n\t-- %s "$@"\n' \
	"$ketend" >"$tmp/ketend-as-keten"
chmod 0755 "$tmp/ketend-as-keten"
ketend=$tmp/ketend-as-keten
ketend_up as_keten $keten ping -c "$client" -k "$(k lt-almere)"
check "ketend runs as keten" keten "$(ps -o user= -p "$pid")"
as_keten $keten send referral -c "$client" -k "$(k lt-almere)" \
	--to vt-flevoland --child-name "Pakket Proef" --concern "zorgen" \
	--request "beoordeling" >/dev/null
as_keten $keten inbox -c "$client" -k "$(k vt-flevoland)" --ack --json \
	>"$tmp/inbox"
check "vt-flevoland fetched one message" 1 "$(wc -l <"$tmp/inbox")"
has "it is the referral from lt-almere" "$tmp/inbox" '"lt-almere"'
has "its content opened" "$tmp/inbox" '"Pakket Proef"'
check "the log is keten's" keten "$(stat -c %U "$tmp/region/data/data.mdb")"
kill "$pid"
wait "$pid" || true
pid=""

echo "checking that a reinstall keeps the key"
apt-get install -y -qq --reinstall "$deb" >/dev/null 2>&1
check "reinstalled" "install ok installed" "$(status)"
check "the key is the same after a reinstall" "$keysum" "$(sum $key)"

# Every file the package installed, to be gone after dpkg -r.
dpkg -L keten | while read -r f; do [ -d "$f" ] || echo "$f"; done \
	>"$tmp/files"
echo "removing: dpkg -r keten ($(wc -l <"$tmp/files") files)"
dpkg -r keten >"$tmp/remove.log" 2>&1 || cat "$tmp/remove.log" >&2
check "removed" "deinstall ok config-files" "$(status)"
left=$(while read -r f; do
	if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi
done <"$tmp/files")
check "no package file left after dpkg -r" "" "$left"
check "/usr/share/doc/keten gone" missing "$(mode /usr/share/doc/keten)"
check "libketen.so.0 gone from ld.so's cache" 0 \
	"$(ldconfig -p | grep -c 'libketen\.so\.0 ' || true)"
check "/var/lib/keten kept after dpkg -r" "700 keten keten" \
	"$(mode /var/lib/keten)"
check "$key kept after dpkg -r" "600 keten keten" "$(mode $key)"
check "$key unchanged after dpkg -r" "$keysum" "$(sum $key)"

echo "purging: dpkg --purge keten"
dpkg --purge keten >"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log" >&2
check "purged" not-installed "$(status)"
check "/var/lib/keten kept after purge" "700 keten keten" \
	"$(mode /var/lib/keten)"
check "$key kept after purge" "600 keten keten" "$(mode $key)"
check "$key unchanged after purge" "$keysum" "$(sum $key)"
has "purge says what it kept" "$tmp/purge.log" \
	"keten: $key is kept"
check "the keten user kept" keten "$(getent passwd keten | cut -d: -f1)"
check "no ketend.service link left in /etc/systemd" "" \
	"$(find /etc/systemd/system -name 'ketend*' 2>/dev/null)"

echo "test_package: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
