#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The agent's API load and convergence (issue 16), against the API stand-in holding a
# generated cluster: PODS pods (the fixture Pod of tests/fixtures/k8s, 10 per Service),
# SERVICES Services, one EndpointSlice per Service, ANNOTATED of the Services annotated.
#   - bytes the agent receives for the initial sync (its l4split_agent_api_bytes_total),
#     against the old full-Pod list (the same pods listed through the stand-in with curl);
#   - bytes per endpoint change: one EndpointSlice event (the agent's counter) against the
#     full-Pod watch event the old agent received for the same change (a curl watch);
#   - convergence: CHANGES endpoint readiness flips, each timed from the write to the API
#     server until `l4split status` shows the backend's new weight; p50/p99.
# Output: one line per figure, "NAME VALUE UNIT [BASELINE_NAME BASELINE_VALUE] [TARGET]"
# (scripts/bench.sh records them). Runs in its own netns and pin directory. The generated
# Pod is the 3 KB fixture: real Pods (10-20 KB with managedFields) make the old figures
# larger still.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
L4SPLIT=${L4SPLIT:-$PWD/$BUILD/l4split}
PODS=${PODS:-10000}
SERVICES=${SERVICES:-1000}
ANNOTATED=${ANNOTATED:-100}
CHANGES=${CHANGES:-100}
NS=l4bapi$$
ROOT=/run/l4s-bapi$$
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	findmnt -rn -o TARGET | grep "^$ROOT/" | sort -r | while read -r m; do umount "$m"; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$ROOT/pin"
ip netns add "$NS" && ip -n "$NS" link set lo up || exit 1
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

# The cluster: pod i belongs to Service i % SERVICES; its slice lists its 10 pods.
python3 - "$PODS" "$SERVICES" "$ANNOTATED" >"$ROOT/cluster.json" <<'EOF'
import json, sys
pods, svcs, ann = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tpl = json.load(open("tests/fixtures/k8s/podlist/pod-dualstack-kubectl-get-o-yaml.json"))
items = []
def ip(i):
    return "10.%d.%d.%d" % (64 + i // 65536, (i // 256) % 256, i % 256)
for s in range(svcs):
    md = {"name": "svc-%d" % s, "namespace": "default"}
    if s < ann:
        md["annotations"] = {"l4split.io/enabled": "true"}
    items.append({"kind": "Service", "apiVersion": "v1", "metadata": md,
                  "spec": {"clusterIP": "10.96.%d.%d" % (s // 250, s % 250 + 1),
                           "clusterIPs": ["10.96.%d.%d" % (s // 250, s % 250 + 1)],
                           "selector": {"app": "svc-%d" % s},
                           "ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                      "targetPort": 8080}]}})
eps = {s: [] for s in range(svcs)}
for i in range(pods):
    s = i % svcs
    p = json.loads(json.dumps(tpl))
    p["metadata"]["name"] = "svc-%d-pod-%d" % (s, i)
    p["metadata"]["namespace"] = "default"
    p["metadata"]["labels"] = {"app": "svc-%d" % s, "run": "v1"}
    p["status"]["podIP"] = ip(i)
    p["status"]["podIPs"] = [{"ip": ip(i)}]
    items.append(p)
    eps[s].append({"addresses": [ip(i)], "conditions": {"ready": True, "serving": True,
                   "terminating": False},
                   "targetRef": {"kind": "Pod", "namespace": "default", "name": p["metadata"]["name"]}})
for s in range(svcs):
    items.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                  "metadata": {"name": "svc-%d-abcde" % s, "namespace": "default",
                               "labels": {"kubernetes.io/service-name": "svc-%d" % s}},
                  "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                  "endpoints": eps[s]})
json.dump({"kind": "List", "items": items}, sys.stdout)
EOF
nsenter --net="/run/netns/$NS" python3 tests/tools/k8s-apiserver.py --port 0 --port-file "$ROOT/api.port" --timeout 1800 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$ROOT/api.port" ] && break; sleep 0.1; done
API=http://127.0.0.1:$(cat "$ROOT/api.port")
in_ns curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$ROOT/cluster.json" "$API/_ctl/apply" >/dev/null ||
	{ echo "error: cannot load the cluster into the stand-in" >&2; exit 1; }
printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: %s\nusers:\n- name: a\n  user: {}\ncontexts:\n- name: b\n  context:\n    cluster: b\n    user: a\ncurrent-context: b\n' "$API" >"$ROOT/kubeconfig"

# --- initial sync ---------------------------------------------------------------------------
L4SPLIT_PIN_DIR=$ROOT/pin nsenter --net="/run/netns/$NS" "$L4SPLIT" agent --kubeconfig "$ROOT/kubeconfig" --node-name bench \
	--metrics-addr 127.0.0.1:9481 2>"$ROOT/agent.log" &
PIDS+=($!)
metric() { in_ns curl -sf http://127.0.0.1:9481/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
for _ in $(seq 600); do [ "$(metric l4split_agent_managed_services 2>/dev/null)" = "$ANNOTATED" ] && break; sleep 0.1; done
svc_b=$(metric 'l4split_agent_api_bytes_total{resource="services"}')
eps_b=$(metric 'l4split_agent_api_bytes_total{resource="endpointslices"}')
pod_b=$(metric 'l4split_agent_api_bytes_total{resource="pods"}')
old_pods=$(in_ns curl -sf "$API/api/v1/pods" | wc -c)
echo "initial_sync_bytes_endpointslices $((svc_b + eps_b + pod_b)) B initial_sync_bytes_full_pods $((svc_b + old_pods))"
echo "initial_sync_bytes_full_pods $((svc_b + old_pods)) B"

# --- one endpoint change: the slice event vs the Pod event the old agent got ------------------
nsenter --net="/run/netns/$NS" curl -sfN "$API/api/v1/pods?watch=1&resourceVersion=$(in_ns curl -sf "$API/api/v1/pods?limit=1" | jq -r .metadata.resourceVersion)" >"$ROOT/podwatch" &
PIDS+=($!)
sleep 0.5
slice_of() {
	in_ns curl -sf "$API/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?fieldSelector=metadata.name%3Dsvc-$1-abcde" |
		jq -c '.items[0] + {kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1"}'
}
pod_of() {
	in_ns curl -sf "$API/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dsvc-$1-pod-$1" |
		jq -c '.items[0] + {kind: "Pod", apiVersion: "v1"}'
}
e0=$(metric 'l4split_agent_api_bytes_total{resource="endpointslices"}')
# Pod svc-0-pod-0 turns unready: its Pod changes (status), and so does its slice.
pod_of 0 | jq -c '.status.conditions = [.status.conditions[]? | if .type == "Ready" then .status = "False" else . end]' |
	in_ns curl -sf -X POST -H 'Content-Type: application/json' --data @- "$API/_ctl/apply" >/dev/null
slice_of 0 | jq -c '.endpoints[0].conditions.ready = false' |
	in_ns curl -sf -X POST -H 'Content-Type: application/json' --data @- "$API/_ctl/apply" >/dev/null
sleep 1
e1=$(metric 'l4split_agent_api_bytes_total{resource="endpointslices"}')
echo "bytes_per_endpoint_change_endpointslices $((e1 - e0)) B bytes_per_endpoint_change_full_pods $(wc -c <"$ROOT/podwatch")"
echo "bytes_per_endpoint_change_full_pods $(wc -c <"$ROOT/podwatch") B"

# --- convergence: CHANGES readiness flips of endpoint 0 in annotated Services --------------------
: >"$ROOT/conv"
for c in $(seq 0 $((CHANGES - 1))); do
	s=$((c % ANNOTATED))
	l4n=default.svc-$s.http
	want=$(L4SPLIT_PIN_DIR=$ROOT/pin "$L4SPLIT" status "$l4n" --json | jq '[.services[0].backends[] | select(.weight > 0)] | length')
	sl=$(slice_of "$s")
	if [ "$(jq '.endpoints[0].conditions.ready' <<<"$sl")" = true ]; then
		sl=$(jq -c '.endpoints[0].conditions.ready = false' <<<"$sl")
		want=$((want - 1))
	else
		sl=$(jq -c '.endpoints[0].conditions.ready = true' <<<"$sl")
		want=$((want + 1))
	fi
	t0=$(date +%s%N)
	in_ns curl -sf -X POST -H 'Content-Type: application/json' --data "$sl" "$API/_ctl/apply" >/dev/null
	while :; do
		n=$(L4SPLIT_PIN_DIR=$ROOT/pin "$L4SPLIT" status "$l4n" --json 2>/dev/null | jq '[.services[0].backends[] | select(.weight > 0)] | length')
		[ "$n" = "$want" ] && break
		[ $((($(date +%s%N) - t0) / 1000000)) -gt 10000 ] && break
		sleep 0.005
	done
	echo $((($(date +%s%N) - t0) / 1000000)) >>"$ROOT/conv"
done
sort -n "$ROOT/conv" | awk '{ v[NR] = $1 } END {
	p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
	printf "convergence_p50_ms %d ms\n", p50
	printf "convergence_p99_ms %d ms - - <=1000\n", p99 }'
