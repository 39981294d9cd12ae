#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# What a build says it is: `l4split -V` (text and --json) names the version, the git
# commit it was built from, the libbpf it runs with and the map layout; a build outside
# a git checkout says "unknown"; the agent exports the same as l4split_build_info on
# /metrics, one family with one sample.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-vr$$
. scripts/lab.sh
. tests/lib/e2e.sh

APISERVER=tests/tools/k8s-apiserver.py
PY=/usr/bin/python3
MPORT=9477
VERSION=$(cat VERSION)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
LIBBPF=$(pkg-config --modversion libbpf | cut -d. -f1,2)
LAYOUT=$(awk '$2 == "L4S_LAYOUT_VERSION" { print $3 }' include/l4split.h)

# --- l4split -V / --version ----------------------------------------------------------------------
want="l4split $VERSION (commit $COMMIT, libbpf $LIBBPF, map layout $LAYOUT)"
check "-V: version, commit, libbpf and map layout on one line" eq "$("$L4SPLIT" -V)" "$want"
check "--version: the same" eq "$("$L4SPLIT" --version)" "$want"
check "-V anywhere on the line wins over an object (exit 0)" eq "$("$L4SPLIT" status -V; echo "rc=$?")" \
	"$want
rc=0"
out=$("$L4SPLIT" --json -V)
check "--json -V: one document with the four fields" eq "$(jq -c . <<<"$out")" \
	"{\"version\":\"$VERSION\",\"commit\":\"$COMMIT\",\"libbpf\":\"$LIBBPF\",\"layout\":$LAYOUT}"
check "-V --json (option after): the same" eq "$("$L4SPLIT" -V --json)" "$out"

# Built outside a git checkout (a release tarball): the commit is "unknown". Only the header
# that carries it is made, from a copy of the Makefile, VERSION and scripts.
lab_traps
tmp=$LAB_ROOT/src
mkdir -p "$tmp"
cp Makefile VERSION "$tmp/"
make -s -C "$tmp" BUILD=b b/build-info.h >/dev/null 2>&1
check "outside a git checkout the build's commit is \"unknown\"" grep -q '"unknown"' "$tmp/b/build-info.h"
make -s BUILD="$tmp/here" "$tmp/here/build-info.h" >/dev/null 2>&1
check "in the checkout it is HEAD's ($COMMIT)" grep -q "\"$COMMIT\"" "$tmp/here/build-info.h"

# --- l4split_build_info on the agent's /metrics ---------------------------------------------------
ip netns add "$LAB-n" || { not_ok "netns setup"; finish; exit 1; }
ip -n "$LAB-n" link set lo up
kubeconfig() { # SERVER
	printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: %s\n' "$1"
	printf 'users:\n- name: agent\n  user:\n    token: t0ken\ncontexts:\n- name: lab\n'
	printf '  context:\n    cluster: lab\n    user: agent\ncurrent-context: lab\n'
}
nsenter --net="/run/netns/$LAB-n" "$PY" "$APISERVER" --slice-controller --port 0 --port-file "$LAB_ROOT/api.port" \
	--token t0ken --timeout 120 &
LAB_PIDS+=($!)
wait_for "$LAB_ROOT/api.port" . 10 >/dev/null
kubeconfig "http://127.0.0.1:$(cat "$LAB_ROOT/api.port")" >"$LAB_ROOT/kubeconfig"
(L4SPLIT_PIN_DIR=$LAB_PIN exec nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent \
	--kubeconfig "$LAB_ROOT/kubeconfig" --node-name lab-node --metrics-addr ":$MPORT") \
	2>"$LAB_ROOT/agent.log" &
LAB_PIDS+=($!)
end=$((SECONDS + 10))
until lab_node curl -sf "http://127.0.0.1:$MPORT/metrics" >"$LAB_ROOT/metrics.txt" 2>/dev/null ||
	[ $SECONDS -ge $end ]; do sleep 0.1; done
check "/metrics: l4split_build_info names the version, commit, libbpf and layout, value 1" \
	eq "$(grep '^l4split_build_info' "$LAB_ROOT/metrics.txt")" \
	"l4split_build_info{version=\"$VERSION\",commit=\"$COMMIT\",libbpf=\"$LIBBPF\",layout=\"$LAYOUT\"} 1"
check "/metrics: ... declared once, as a gauge" eq \
	"$(grep -c '^# \(HELP\|TYPE\) l4split_build_info ' "$LAB_ROOT/metrics.txt"):$(grep -c '^# TYPE l4split_build_info gauge$' "$LAB_ROOT/metrics.txt")" \
	"2:1"
check "/metrics: ... and the Prometheus client's parser reads the same labels" "$PY" -c '
import json, sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
f = fams.get("l4split_build_info")
want = json.loads(sys.argv[2])
want["layout"] = str(want["layout"])
ok = f and f.type == "gauge" and len(f.samples) == 1 and f.samples[0].labels == want \
	and f.samples[0].value == 1
if not ok:
    print("#   got %s" % (f.samples if f else None))
sys.exit(not ok)
' "$LAB_ROOT/metrics.txt" "$out"

finish
