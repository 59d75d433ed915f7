#!/bin/bash
# Metrics and health (issue 18, point 3), against a real ketend: without a
# metrics section nothing listens; with one, /metrics parses with the
# Prometheus client's own parser, holds every metric with its type, and its
# counters move after a referral, a fetch and a refusal; /healthz says ok;
# other paths and methods are refused; a malformed address is refused at
# load; and the example alert rules are valid YAML naming real metrics.
# usage: test_metrics.sh SOURCE_DIR KETEN KETEND
set -euo pipefail
src=$1 keten=$2 ketend=$3
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
lib_tmp keten-metrics
# Debian's python3 has Debian's modules; another one first in PATH (pyenv)
# may not.
py=""
for p in /usr/bin/python3 python3; do
	if "$p" -c "import prometheus_client.parser, yaml" 2>/dev/null; then
		py=$p
		break
	fi
done
if [ -z "$py" ] || ! command -v curl >/dev/null; then
	echo "test_metrics: needs curl, python3-prometheus-client and" \
		"python3-yaml (deploy/deps.sh)" >&2
	exit 1
fi

port=$(free_port)
config=$("$src/deploy/region.sh" "$keten" "$tmp/region" "$port")
export KETEN_CONFIG=$config KETEN_KEY=$tmp/region/keys/lt-almere.key
mport=$((port + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null; do
	mport=$((mport + 1))
done
listening() { # listening PORT: 0 if something accepts on it
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
stop() {
	kill "$pid"
	wait "$pid" || true
	pid=""
}

# Without the section: no listener, and not a word about metrics.
ketend_up "$keten" ping
rc=0
listening "$mport" || rc=$?
check "no metrics section: nothing listens on $mport" 1 "$rc"
checks=$((checks + 1))
if grep -qi metrics "$tmp/ketend.log"; then
	fail "no metrics section, yet the log speaks of metrics:" \
		"$(cat "$tmp/ketend.log")"
fi
stop

# A malformed address: refused by --check-config and by the start, with a
# sentence naming it.
for bad in "127.0.0.1" "localhost:9474" "127.0.0.1:0" "[::1]9474" \
	"tcp://127.0.0.1:9474"; do
	cp "$config" "$tmp/bad.yaml"
	printf 'metrics:\n  listen: "%s"\n' "$bad" >>"$tmp/bad.yaml"
	rc=0
	"$ketend" --check-config "$tmp/bad.yaml" >"$tmp/out.txt" \
		2>"$tmp/err.txt" || rc=$?
	check "check-config, metrics.listen $bad: exit status" 1 "$rc"
	has "check-config, metrics.listen $bad" "$tmp/err.txt" \
		"metrics.listen '$bad' is not an address and port"
done
rc=0
"$ketend" -c "$tmp/bad.yaml" 2>"$tmp/err.txt" || rc=$?
check "start with a bad metrics.listen: exit status" 1 "$rc"
has "start with a bad metrics.listen" "$tmp/err.txt" \
	"metrics.listen 'tcp://127.0.0.1:9474' is not an address and port"

printf 'metrics:\n  listen: 127.0.0.1:%s\n' "$mport" >>"$config"
"$ketend" --check-config "$config" >"$tmp/out.txt"
has "check-config prints the listener" "$tmp/out.txt" \
	"metrics listen 127.0.0.1:$mport"
: >"$tmp/ketend.log"
ketend_up "$keten" ping
has "the start names the listener" "$tmp/ketend.log" \
	"event=metrics_listening address=127.0.0.1:$mport"
base=http://127.0.0.1:$mport

# /healthz: ready.
code=$(curl -s -o "$tmp/health.txt" -w '%{http_code}' "$base/healthz")
check "/healthz status" 200 "$code"
check "/healthz body" ok "$(cat "$tmp/health.txt")"

# Other paths and methods.
check "GET /: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$base/")"
check "GET /metrics/x: 404" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics/x")"
check "POST /metrics: 405" 405 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$base/metrics")"
check "DELETE /healthz: 405" 405 \
	"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$base/healthz")"
curl -s -D "$tmp/headers.txt" -o /dev/null -X PUT "$base/metrics"
has "405 says what is allowed" "$tmp/headers.txt" "Allow: GET"

# scrape NAME: /metrics into $tmp/NAME.txt, parsed by prometheus_client's
# parser into $tmp/NAME.json: {"family": [type, {"sample{labels}": value}]}.
cat >"$tmp/parse.py" <<'EOF'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    samples = {}
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        samples["%s{%s}" % (s.name, labels)] = s.value
    out[fam.name] = [fam.type, samples]
json.dump(out, open(sys.argv[2], "w"))
EOF
scrape() {
	curl -s -D "$tmp/$1.headers" -o "$tmp/$1.txt" "$base/metrics"
	"$py" "$tmp/parse.py" "$tmp/$1.txt" "$tmp/$1.json"
}
# value NAME SAMPLE: a sample's value in scrape NAME, as an integer
value() {
	"$py" -c 'import json, sys
fams = json.load(open(sys.argv[1]))
for t, samples in fams.values():
    if sys.argv[2] in samples:
        print(int(samples[sys.argv[2]])); break
else:
    print("missing")' "$tmp/$1.json" "$2"
}

scrape before
has "Content-Type" "$tmp/before.headers" \
	"Content-Type: text/plain; version=0.0.4"
# The parser drops _total from a counter's family name.
for want in records:counter commits:counter commit_seconds:histogram \
	verify_queue_depth:gauge connections:gauge waiting_reads:gauge \
	refusals:counter deliveries:counter access_entries:counter \
	map_used_bytes:gauge map_size_bytes:gauge map_max_bytes:gauge \
	checkpoint_size:gauge \
	checkpoint_age_seconds:gauge witness_cosignature_age_seconds:gauge \
	offers_overdue:gauge; do
	name=keten_${want%%:*} type=${want#*:}
	got=$("$py" -c 'import json, sys
f = json.load(open(sys.argv[1])).get(sys.argv[2])
print(f[0] if f else "missing")' "$tmp/before.json" "$name")
	check "$name: type" "$type" "$got"
done
for s in 'keten_refusals_total{code=100}' 'keten_refusals_total{code=124}' \
	'keten_offers_overdue{kind=referral}' \
	'keten_offers_overdue{kind=handover}'; do
	[ "$(value before "$s")" != missing ] || fail "$s is not exposed"
	checks=$((checks + 1))
done
has "no witness: NaN" "$tmp/before.txt" \
	"keten_witness_cosignature_age_seconds NaN"
map_size=$(value before 'keten_map_size_bytes{}')
map_used=$(value before 'keten_map_used_bytes{}')
checks=$((checks + 1))
if [ "$map_used" -le 0 ] || [ "$map_used" -gt "$map_size" ]; then
	fail "map used $map_used, size $map_size"
fi

# A referral, its recipient's fetch, and a refusal (an ack of a record
# never delivered, code 112).
"$keten" send referral --to vt-flevoland --child-name Anna --concern c \
	--request r >/dev/null
KETEN_KEY=$tmp/region/keys/vt-flevoland.key "$keten" inbox >/dev/null
rc=0
"$keten" ack 999 >/dev/null 2>&1 || rc=$?
check "ack 999: refused" 1 "$rc"
scrape after
# grew NAME SAMPLE BY: the sample grew by exactly BY (or, with "+", by any)
grew() {
	local b a
	b=$(value before "$1") a=$(value after "$1")
	checks=$((checks + 1))
	if [ "$2" = + ]; then
		[ "$a" -gt "$b" ] || fail "$1 did not grow: $b -> $a"
	else
		[ "$((a - b))" -eq "$2" ] || fail "$1: $b -> $a, not +$2"
	fi
}
grew 'keten_records_total{}' 1
grew 'keten_commits_total{}' +
grew 'keten_commit_seconds_count{}' +
grew 'keten_commit_seconds_bucket{le=+Inf}' +
grew 'keten_deliveries_total{}' 1
grew 'keten_access_entries_total{}' 1
grew 'keten_refusals_total{code=112}' 1
grew 'keten_refusals_total{code=111}' 0
grew 'keten_checkpoint_size{}' 1
check "histogram count is the commits" \
	"$(value after 'keten_commits_total{}')" \
	"$(value after 'keten_commit_seconds_count{}')"

# The example alert rules: YAML with a summary each, naming only metrics
# the broker exposes (and up).
"$py" - "$src/deploy/prometheus/keten-alerts.yml" "$tmp/after.txt" \
	>"$tmp/rules.txt" 2>&1 <<'EOF' || fail "alert rules: $(cat "$tmp/rules.txt")"
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
exposed = set(re.findall(r"^(keten_\w+?)(?:_bucket|_sum|_count)?[ {]",
                         open(sys.argv[2]).read(), re.M))
names = set()
for g in doc["groups"]:
    for r in g["rules"]:
        assert r["annotations"]["summary"], r["alert"]
        assert r["annotations"]["description"], r["alert"]
        names.add(r["alert"])
        for m in re.findall(r"\bketen_\w+", r["expr"]):
            assert m in exposed, "%s: %s is not exposed" % (r["alert"], m)
want = {"KetenBrokerDown", "KetenOffersOverdue", "KetenStorageRefusals",
        "KetenMapNearlyFull", "KetenNoWitnessCosignature"}
assert want <= names, want - names
print(len(names), "rules")
EOF
checks=$((checks + 1))

stop
check "after the stop, nothing listens" 1 "$(listening "$mport" || echo 1)"
echo "test_metrics: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
