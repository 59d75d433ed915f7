#!/bin/bash
# Installs what is missing, builds with warnings as errors, runs every test
# with ctest, then builds and runs them all again under AddressSanitizer and
# UndefinedBehaviorSanitizer, then builds the libFuzzer targets with clang
# and replays every committed corpus file through them. Exits non-zero if
# anything fails, a fuzz target that no longer compiles included.
#
#   tests/run.sh                          everything
#   KETEN_TEST_LABEL=unit tests/run.sh    only tests with that ctest label
#                                         (unit, integration, slow, fuzz)
#   KETEN_TEST_SKIP=slow tests/run.sh     all but the tests with that label
#                                         (the 100,000-record ones)
#   KETEN_TEST_SKIP=package tests/run.sh  all but the Debian package stage,
#                                         which installs keten on this
#                                         machine (root or sudo)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/deps.sh"
keten_install_deps clang-format clang

# Formatting: .clang-format (STYLE.md) over every C source we own.
echo "== format check"
cd "$root"
if git rev-parse --git-dir >/dev/null 2>&1; then
	sources=$(git ls-files '*.c' '*.h')
else
	sources=$(find common daemon client tests -name '*.[ch]')
fi
# shellcheck disable=SC2086
clang-format --dry-run --Werror $sources

jobs=$(nproc)
# For the sanitized builds (ASan + UBSan, and the fuzz targets).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
label=()
[ -n "${KETEN_TEST_LABEL:-}" ] && label+=(-L "$KETEN_TEST_LABEL")
[ -n "${KETEN_TEST_SKIP:-}" ] && label+=(-LE "$KETEN_TEST_SKIP")

build_and_test() {
	local dir=$1
	shift
	echo "== build $dir ($*)"
	cmake -S "$root" -B "$dir" -DKETEN_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j"$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
	# A failed build must fail the run, not just print.
	cmake --build "$dir" -j"$jobs" >/dev/null
	echo "== test $dir"
	(cd "$dir" && ctest --output-on-failure "${label[@]}")
}

# The fuzz targets (tests/fuzz/README.md), each run once over its committed
# corpus (ctest label fuzz). Only the targets are built: the rest of the
# tree was built and tested twice above.
fuzz_replay() {
	local dir=$root/build-fuzz
	echo "== build $dir (clang, libFuzzer, ASan + UBSan)"
	CC=clang cmake -S "$root" -B "$dir" -DKETEN_WERROR=ON \
		-DKETEN_FUZZ=ON -DKETEN_SANITIZE=ON >/dev/null
	cmake --build "$dir" -j"$jobs" --target keten_fuzz >/dev/null
	echo "== test $dir (corpus replay)"
	(cd "$dir" && ctest --output-on-failure -L fuzz --no-tests=error)
}

if [ "${KETEN_TEST_LABEL:-}" = fuzz ]; then
	fuzz_replay
	exit 0
fi

# Optimised, so that -O2-only warnings (maybe-uninitialized) count too.
# Prefix /usr, as Debian's: the package below is made from this build, so
# ketend has /etc/keten/ketend.yaml compiled in as its default config and
# libketen goes to the multiarch directory. (test_install installs it
# elsewhere with cmake --install --prefix; keten.pc is relocatable.)
build_and_test "$root/build-test" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_INSTALL_PREFIX=/usr

# The Debian package of that build, installed on this machine and run as
# the keten user, then removed and purged (tests/package/test_package.sh).
# Not a ctest test: it installs a system package. KETEN_TEST_LABEL=package
# runs only this stage after the build.
if [ -z "${KETEN_TEST_LABEL:-}" ] || [ "$KETEN_TEST_LABEL" = package ]; then
	if [[ "|${KETEN_TEST_SKIP:-}|" == *"|package|"* ]]; then
		echo "== package (skipped: KETEN_TEST_SKIP)"
	else
		echo "== package"
		"$root/tests/package/test_package.sh" "$root" "$root/build-test"
	fi
	if [ "${KETEN_TEST_LABEL:-}" = package ]; then
		echo "== all passed"
		exit 0
	fi
fi

# The same suite under ASan + UBSan; ketend started by the tests is the
# sanitized build, and a leak at its exit fails the test that stopped it.
# test_replay's 100,000 records ran in the optimised build above; here a
# fifth of them checks the same code paths for memory errors in less time.
export KETEN_TEST_RECORDS=20000
build_and_test "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DKETEN_SANITIZE=ON

if [ -z "${KETEN_TEST_LABEL:-}" ] && [ "${KETEN_TEST_SKIP:-}" != fuzz ]; then
	fuzz_replay
fi
echo "== all passed"
