#!/bin/bash
# Installs the Debian 12 packages keten needs to build, test and run, if
# any are missing. Sourced by deploy/demo.sh and tests/run.sh.
KETEN_PACKAGES=(
	build-essential cmake pkg-config
	libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
	liblmdb-dev lmdb-utils libsodium-dev libyaml-dev
	jq
	faketime # tests/integration/test_clock_back.c: libfaketime
	lowdown # docs/CMakeLists.txt: the man pages from the docs
	man-db groff-base # tests/integration/test_man.sh: man -l, lexgrog, groff
	dpkg-dev file # cpack's DEB generator: dpkg-shlibdeps finds the Depends
	libmicrohttpd-dev # ketend's metrics and health listener (daemon/metrics.c)
	curl python3-prometheus-client # tests/integration/test_metrics.sh
	python3-yaml # test_metrics.sh: the alert rules' YAML
	libsystemd-dev # ketend: sd_notify (readiness, reload, watchdog)
	systemd        # tests/integration/test_unit.sh: systemd-analyze
)

keten_install_deps() {
	local missing=() p
	for p in "${KETEN_PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}"
}
