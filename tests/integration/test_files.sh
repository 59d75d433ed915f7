#!/bin/bash
# Files keten trusts (issue 17, points 3, 4 and 6): what is not a regular
# file is refused at once (a FIFO as config or key must not block ketend
# or keten), configs, key files and the data directory that others may
# write are refused with the chmod that fixes them, also through a
# symbolic link or in a parent others may write, --check-config checks
# the broker key and data directory as the start does, a config given as
# a key is called a config, keygen never overwrites, and a hostile YAML
# (100,000 deep, over 1 MiB, 95,000 anchors, a 500,000-item list) is
# refused with its words (the time is printed, not asserted: no test
# asserts a duration; the 10 s timeout catches a regression to the 46 s
# an anchor file once cost). Every command runs under timeout: a
# regression fails instead of hanging.
# usage: test_files.sh SOURCE_DIR KETEN KETEND
set -euo pipefail
export LC_ALL=C
src=$1 keten=$2 ketend=$3
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-files

out=$tmp/out
# try DESCRIPTION EXPECTED_STATUS WORDS COMMAND...: runs COMMAND under
# timeout 10 with stdin closed; checks its exit status and that its
# output (stdout and stderr) holds WORDS. 124 would be the timeout's.
try() {
	local what=$1 want=$2 words=$3 rc=0 t0 t1
	shift 3
	t0=$(date +%s%N)
	timeout 10 "$@" </dev/null >"$out" 2>&1 || rc=$?
	t1=$(date +%s%N)
	echo "$what: exit $rc in $(((t1 - t0) / 1000000)) ms: $(tail -n 1 "$out")"
	check "$what: exit status" "$want" "$rc"
	checks=$((checks + 1))
	grep -qF -- "$words" "$out" || fail "$what: '$words' not in: $(cat "$out")"
}

port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
cd "$tmp/region"
config=flevoland.yaml
key=keys/lt-almere.key
check "region.sh: config mode" 644 "$(stat -c %a "$config")"
check "region.sh: key mode" 600 "$(stat -c %a "$key")"
check "region.sh: keys dir mode" 700 "$(stat -c %a keys)"

# A valid region passes --check-config, which names the broker key.
try "check-config valid" 0 "(matches broker.sign_key and transport_key)" \
	"$ketend" --check-config "$config"

# ketend -c DIRECTORY: what it is, not ':1: input error'.
try "ketend -c DIR" 1 "keys: is a directory, not a config file" \
	"$ketend" -c keys
try "check-config DIR" 1 "keys: is a directory, not a config file" \
	"$ketend" --check-config keys
try "keten -c DIR" 2 "keys: is a directory, not a config file" \
	"$keten" ping -c keys -k "$key"

# A FIFO as config and as key file: refused at once, never waited on.
mkfifo fifo.yaml fifo.key
chmod 600 fifo.key
try "ketend -c FIFO" 1 "fifo.yaml: is a FIFO, not a regular file" \
	"$ketend" -c fifo.yaml
try "check-config FIFO" 1 "fifo.yaml: is a FIFO, not a regular file" \
	"$ketend" --check-config fifo.yaml
try "keten -c FIFO" 2 "fifo.yaml: is a FIFO, not a regular file" \
	"$keten" ping -c fifo.yaml -k "$key"
try "keten -k FIFO" 2 "fifo.key: is a FIFO, not a regular file" \
	"$keten" ping -c "$config" -k fifo.key
try "keten --old-key FIFO" 2 "fifo.key: is a FIFO, not a regular file" \
	"$keten" ping -c "$config" -k "$key" --old-key fifo.key
try "keygen --rotate FIFO" 2 "fifo.key: is a FIFO, not a regular file" \
	"$keten" keygen --rotate fifo.key --out new.key -c "$config"
try "keygen --show FIFO" 2 "fifo.key: is a FIFO, not a regular file" \
	"$keten" keygen --show fifo.key
cp "$config" fifo-broker.yaml
sed -i 's|key_file: .*|key_file: fifo.key|' fifo-broker.yaml
try "broker key FIFO: check-config" 1 \
	"fifo.key: is a FIFO, not a regular file" \
	"$ketend" --check-config fifo-broker.yaml
try "broker key FIFO: ketend" 1 "fifo.key: is a FIFO, not a regular file" \
	"$ketend" -c fifo-broker.yaml

# A key mix-up: the config given as the key is called a config, and no
# one is told to chmod 600 it; the key given as the config likewise.
try "keten -k config" 2 \
	"flevoland.yaml: is not a keten key file (it looks like a YAML region config; did you mean -c?)" \
	"$keten" ping -c "$config" -k "$config"
checks=$((checks + 1))
! grep -q chmod "$out" || fail "keten -k config: told to chmod: $(cat "$out")"
try "keten -c key" 2 "is a keten key file, not a region config" \
	"$keten" ping -c "$key" -k "$key"

# keygen over an existing file: exit 2, the file untouched.
sum=$(sha256sum "$key")
try "keygen over a key" 2 \
	"keys/lt-almere.key: already exists; a key file is never overwritten (remove it first or choose another path)" \
	"$keten" keygen --id lt-almere --name X --kind local_team --out "$key"
check "keygen over a key: file unchanged" "$sum" "$(sha256sum "$key")"
try "keygen over a config" 2 "flevoland.yaml: already exists" \
	"$keten" keygen --broker --out "$config"

# StrictModes: a world-writable config.
chmod 666 "$config"
try "0666 config: check-config" 1 \
	"flevoland.yaml: mode 0666 lets group or others write this config file, so they could change what keten trusts (chmod go-w flevoland.yaml)" \
	"$ketend" --check-config "$config"
try "0666 config: ketend" 1 "(chmod go-w flevoland.yaml)" \
	"$ketend" -c "$config"
try "0666 config: keten" 2 "(chmod go-w flevoland.yaml)" \
	"$keten" ping -c "$config" -k "$key"
chmod 644 "$config"

# A directory others may write, holding the config: they could replace it.
mkdir open
chmod 777 open
cp "$config" open/region.yaml
sed -i 's|key_file: .*|key_file: ../keys/broker.key|; s|data_dir: .*|data_dir: ../data|' \
	open/region.yaml
try "config in a 0777 directory" 1 "its directory open has mode 0777" \
	"$ketend" --check-config open/region.yaml
# A symbolic link to it from a safe directory: the link's target sits in
# the open directory, where anyone could swap it, so it is refused too.
ln -s open/region.yaml link.yaml
try "link to a config in a 0777 directory" 1 \
	"link.yaml: its directory ./open has mode 0777" \
	"$ketend" --check-config link.yaml
try "keten: link to a config in a 0777 directory" 2 \
	"link.yaml: its directory ./open has mode 0777" \
	"$keten" ping -c link.yaml -k "$key"
ln -s "$tmp/region/open" openlink
ln -s "openlink/region.yaml" link2.yaml
try "link through a linked 0777 directory" 1 \
	"link2.yaml: its directory ./openlink has mode 0777" \
	"$ketend" --check-config link2.yaml
rm link.yaml link2.yaml openlink
# A 0700 data directory inside the open one: whoever may write its parent
# may put another log (an older copy) in its place.
mkdir -m 700 open/data
cp "$config" dd.yaml
sed -i 's|data_dir: .*|data_dir: open/data|' dd.yaml
try "data dir in a 0777 directory: check-config" 1 \
	"$tmp/region/open/data: its directory $tmp/region/open has mode 0777" \
	"$ketend" --check-config dd.yaml
try "data dir in a 0777 directory: ketend" 1 \
	"$tmp/region/open/data: its directory $tmp/region/open has mode 0777" \
	"$ketend" -c dd.yaml
rmdir open/data
chmod 1777 open # sticky, as /tmp: others cannot rename it
try "config in a 1777 directory" 0 "open/region.yaml: valid" \
	"$ketend" --check-config open/region.yaml

# A 0644 broker key and a missing one: --check-config says what the
# start says.
chmod 644 keys/broker.key
try "0644 broker key: check-config" 1 \
	"has mode 644; it must not be readable by group or others (chmod 600 $tmp/region/keys/broker.key)" \
	"$ketend" --check-config "$config"
try "0644 broker key: ketend" 1 \
	"(chmod 600 $tmp/region/keys/broker.key)" "$ketend" -c "$config"
chmod 600 keys/broker.key
mv keys/broker.key keys/broker.away
try "missing broker key: check-config" 1 \
	"$tmp/region/keys/broker.key: cannot open key file: No such file or directory" \
	"$ketend" --check-config "$config"
try "missing broker key: ketend" 1 \
	"$tmp/region/keys/broker.key: cannot open key file: No such file or directory" \
	"$ketend" -c "$config"
mv keys/broker.away keys/broker.key

# The owner rule run as root: a broker key the service user (here nobody)
# owns is refused with the advice to check as that user, never to chown
# it to root's uid (which would lock the real ketend out of a 0600 key).
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 keys/broker.key
	nobody=$(getent passwd 65534 | cut -d: -f1)
	try "root, key owned by nobody: check-config" 1 \
		"$tmp/region/keys/broker.key: this key file belongs to $nobody (uid 65534), and root runs this: if ketend runs as $nobody, run this as $nobody (sudo -u $nobody ...), else chown it to root" \
		"$ketend" --check-config "$config"
	chown 0 keys/broker.key
else
	echo "test_files: owner rule under root NOT checked: this runs as uid $(id -u)"
fi

# A world-writable data directory, and one that is a FIFO.
mkdir data
chmod 777 data
try "0777 data dir: check-config" 1 \
	"$tmp/region/data: mode 0777 lets group or others write this data directory, so they could replace the files in it (chmod go-w $tmp/region/data)" \
	"$ketend" --check-config "$config"
try "0777 data dir: ketend" 1 "(chmod go-w $tmp/region/data)" \
	"$ketend" -c "$config"
rmdir data
mkfifo data
try "FIFO data dir: check-config" 1 \
	"$tmp/region/data: is a FIFO, not a data directory" \
	"$ketend" --check-config "$config"
try "FIFO data dir: ketend" 1 "$tmp/region/data: is a FIFO, not a data directory" \
	"$ketend" -c "$config"
rm data

# Hostile YAML: 200 KB nested 100,000 deep, and 1.5 MB.
{
	printf 'region: '
	head -c 100000 /dev/zero | tr '\0' '['
	head -c 100000 /dev/zero | tr '\0' ']'
	echo
} >deep.yaml
try "deep YAML: check-config" 1 "deep.yaml:1: nested more than 32 levels deep" \
	"$ketend" --check-config deep.yaml
try "deep YAML: keten" 2 "deep.yaml:1: nested more than 32 levels deep" \
	"$keten" ping -c deep.yaml -k "$key"
{
	cat "$config"
	for i in $(seq 60000); do echo "# padding line $i of a config too big"; done
} >big.yaml
try "oversized YAML: check-config" 1 \
	"a region config may be at most 1048576 bytes (1 MiB)" \
	"$ketend" --check-config big.yaml

# 0.95 MB of anchors (libyaml registers each by a search of all before it:
# quadratic) and a 1 MB flat list (500,000 values): both refused at the
# first anchor or the 65,537th value, before the document is built.
{
	printf 'region: flevoland\nx: ['
	awk 'BEGIN { for (i = 1; i <= 95000; i++) printf "&a%d 1,", i }'
	echo '1]'
} >anchors.yaml
[ "$(stat -c %s anchors.yaml)" -le 1048576 ] ||
	fail "anchors.yaml is over 1 MiB: it would test the size bound"
try "anchor YAML: check-config" 1 \
	"anchors.yaml:2: &a1: anchors and aliases (&x, *x) are not allowed in a region config" \
	"$ketend" --check-config anchors.yaml
try "anchor YAML: keten" 2 "anchors.yaml:2: &a1: anchors and aliases" \
	"$keten" ping -c anchors.yaml -k "$key"
{
	printf 'region: flevoland\nx: ['
	head -c 500000 /dev/zero | sed 's/\x0/1,/g'
	echo '1]'
} >flat.yaml
try "flat YAML: check-config" 1 \
	"flat.yaml:2: more than 65536 values in all; a region config may have at most 65536" \
	"$ketend" --check-config flat.yaml

# After all that, the real ketend starts on the region, makes its data
# directory 0700, and serves an agency.
ketend_up "$keten" ping -c "$config" -k "$key"
try "ketend serves" 0 "" "$keten" ping -c "$config" -k "$key"
check "data dir made 0700" 700 "$(stat -c %a data)"
# keten, with a FIFO, against a live broker: still refused at once.
try "keten -k FIFO, broker up" 2 "fifo.key: is a FIFO, not a regular file" \
	"$keten" ping -c "$config" -k fifo.key

echo "test_files: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
