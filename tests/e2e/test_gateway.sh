#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Gateway API in the agent (issue 17), against the API stand-in serving the Gateway API
# CRDs (TCPRoute/UDPRoute under v1 and v1alpha2, status subresource, Leases) and two
# agents ("nodes" a and b: two pin directories; a's is attached to the lab's node).
# Fixtures in the real schema. Checked with real traffic: a Gateway with a TCP and a UDP
# listener, a v1 TCPRoute 90/10 and a v1alpha2 UDPRoute; a weight update in the exact
# shape Argo Rollouts' gatewayAPI plugin sends (GET v1alpha2, weights and a label changed,
# PUT v1alpha2) in force on both nodes within 1 s (measured), held connections staying,
# status staying Accepted; 0/100; a route refused by allowedRoutes; a missing backend
# Service; a cross-namespace backendRef without and with a ReferenceGrant; a GAMMA route
# from a client in a cgroup on the node (socket path) and from outside (node path); only
# the leader writes status, and the other agent does once the leader is killed.
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-gw$$
. scripts/lab.sh
. tests/lib/e2e.sh

PY=/usr/bin/python3
GW=gateway.networking.k8s.io
lab_start v1 v2 other
# A cgroup v2 of our own for the GAMMA client (as tests/e2e/test_socket_lb.sh).
CG2=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
CG=""
cg_down() {
	[ -n "$CG" ] && [ -d "$CG" ] || return 0
	for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null; done
	lab_node "$L4SPLIT" detach --cgroup "$CG" >/dev/null 2>&1
	rmdir "$CG" 2>/dev/null
}
trap 'cg_down; lab_down' EXIT
if [ -z "$CG2" ]; then
	CG2=$LAB_ROOT/cg2
	mkdir -p "$CG2" && mount -t cgroup2 none "$CG2" || { not_ok "mount cgroup2"; finish; exit 1; }
fi
CG=$CG2/$LAB
mkdir "$CG" || { not_ok "create a test cgroup in $CG2"; finish; exit 1; }
# in_cg CMD...: CMD as a process of the test cgroup, in the node's namespace (a pod or host
# process on the node).
in_cg() { sh -c 'echo $$ >"$0/cgroup.procs" && ns=$1 && shift && exec nsenter --net="$ns" "$@"' \
	"$CG" "/run/netns/$LAB-n" "$@"; }
l4s attach n0 --flows 262144 >/dev/null
l4s attach --cgroup "$CG" >/dev/null || { not_ok "attach --cgroup"; finish; exit 1; }

node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
free_port() { node "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nsenter --net="/run/netns/$LAB-n" "$PY" tests/tools/k8s-apiserver.py --port 0 --port-file "$LAB_ROOT/api.port" --timeout 900 \
	--user tok-a=node-a --user tok-b=node-b 2>"$LAB_ROOT/api.log" &
LAB_PIDS+=($!)
wait_for "$LAB_ROOT/api.port" . 10 >/dev/null || { not_ok "API stand-in starts"; finish; exit 1; }
API=http://127.0.0.1:$(cat "$LAB_ROOT/api.port")
for n in a b; do
	lab_kubeconfig "$API" "tok-$n" >"$LAB_ROOT/kubeconfig-$n"
done
ctl() { node curl -sf -X POST -H 'Content-Type: application/json' --data @- "$API/_ctl/$1" >/dev/null; }
apply() { ctl apply; }
get() { node curl -sf -H 'Authorization: Bearer tok-a' "$API$1"; }
until_ok() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}

# --- Fixtures: namespaces, backend Services and their EndpointSlices ---------------------------
for ns in default other; do
	jq -nc --arg ns "$ns" '{kind: "Namespace", apiVersion: "v1",
		metadata: {name: $ns, labels: {"kubernetes.io/metadata.name": $ns}}}' | apply
done
# backend NS NAME BACKEND_INDEX: a Service (80/TCP http, 53/UDP dns) and its slice.
backend() {
	jq -nc --arg ns "$1" --arg n "$2" '{kind: "Service", apiVersion: "v1",
		metadata: {name: $n, namespace: $ns},
		spec: {type: "ClusterIP", clusterIP: "10.96.7.\($n | length)", selector: {app: $n},
		       ports: [{name: "http", port: 80, protocol: "TCP", targetPort: 80},
		               {name: "dns", port: 53, protocol: "UDP", targetPort: 53}]}}' | apply
	jq -nc --arg ns "$1" --arg n "$2" --arg a "$(lab_be_addr "$3")" '{kind: "EndpointSlice",
		apiVersion: "discovery.k8s.io/v1",
		metadata: {name: "\($n)-ipv4", namespace: $ns,
		           labels: {"kubernetes.io/service-name": $n,
		                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
		addressType: "IPv4",
		ports: [{name: "http", port: 80, protocol: "TCP"}, {name: "dns", port: 53, protocol: "UDP"}],
		endpoints: [{addresses: [$a], conditions: {ready: true, serving: true, terminating: false},
		             targetRef: {kind: "Pod", namespace: $ns, name: "\($n)-pod"}}]}' | apply
}
backend default app-v1 1
backend default app-v2 2
backend other app-other 3
# The Service GAMMA routes attach to (no l4split annotation: the route alone splits it).
jq -nc '{kind: "Service", apiVersion: "v1", metadata: {name: "app", namespace: "default"},
	spec: {type: "ClusterIP", clusterIP: "10.96.0.20", clusterIPs: ["10.96.0.20"],
	       selector: {app: "app"}, ports: [{name: "http", port: 80, protocol: "TCP", targetPort: 80}]}}' | apply

# --- GatewayClass, Gateway (a TCP and a UDP listener), a v1 TCPRoute, a v1alpha2 UDPRoute ------
apply <<EOT
{"apiVersion": "$GW/v1", "kind": "GatewayClass", "metadata": {"name": "l4split"},
 "spec": {"controllerName": "l4split.io/gateway-controller"}}
EOT
apply <<EOT
{"apiVersion": "$GW/v1", "kind": "Gateway", "metadata": {"name": "edge", "namespace": "default"},
 "spec": {"gatewayClassName": "l4split",
  "addresses": [{"type": "IPAddress", "value": "$VIP4"}],
  "listeners": [
   {"name": "tcp", "port": 8080, "protocol": "TCP"},
   {"name": "udp", "port": 5353, "protocol": "UDP", "allowedRoutes": {"namespaces": {"from": "All"}}},
   {"name": "cross", "port": 9090, "protocol": "TCP"}]}}
EOT
# tcproute VERSION NS NAME SECTION REFS_JSON
tcproute() {
	jq -nc --arg v "$GW/$1" --arg ns "$2" --arg n "$3" --arg s "$4" --argjson refs "$5" '
	{apiVersion: $v, kind: "TCPRoute", metadata: {name: $n, namespace: $ns},
	 spec: {parentRefs: [{group: "gateway.networking.k8s.io", kind: "Gateway", name: "edge",
	                      namespace: "default", sectionName: $s}],
	        rules: [{backendRefs: $refs}]}}'
}
tcproute v1 default app tcp '[{"name": "app-v1", "port": 80, "weight": 90}, {"name": "app-v2", "port": 80, "weight": 10}]' | apply
apply <<EOT
{"apiVersion": "$GW/v1alpha2", "kind": "UDPRoute", "metadata": {"name": "dns", "namespace": "default"},
 "spec": {"parentRefs": [{"name": "edge", "sectionName": "udp"}],
  "rules": [{"backendRefs": [{"kind": "Service", "name": "app-v1", "port": 53},
                             {"kind": "Service", "name": "app-v2", "port": 53}]}]}}
EOT

# --- Two agents ---------------------------------------------------------------------------------
declare -A PID PIN
PIN[a]=$LAB_PIN
PIN[b]=$LAB_ROOT/pin-b
mkdir -p "${PIN[b]}"
start() { # NODE
	L4SPLIT_PIN_DIR=${PIN[$1]} nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent \
		--kubeconfig "$LAB_ROOT/kubeconfig-$1" --node-name "node-$1" \
		--metrics-addr "127.0.0.1:$(free_port)" --lease-namespace l4split-system \
		2>>"$LAB_ROOT/agent-$1.log" &
	PID[$1]=$!
	LAB_PIDS+=($!)
}
start a
start b
SVC=gw_default.edge.tcp
USVC=gw_default.edge.udp
# tracks NODE SERVICE: {"track": weight, ...} in that node's maps
tracks() { L4SPLIT_PIN_DIR=${PIN[$1]} node "$L4SPLIT" status "$2" --json 2>/dev/null | jq -cS '.services[0].tracks'; }
is_tracks() { [ "$(tracks "$1" "$2")" = "$3" ]; }
cond() { # PATH TYPE: "status reason" of that condition of our parent entry
	get "$1" | jq -r --arg t "$2" '[.status.parents[]? | select(.controllerName == "l4split.io/gateway-controller")
		| .conditions[] | select(.type == $t) | "\(.status) \(.reason)"] | first // "none"'
}
is_cond() { [ "$(cond "$1" "$2")" = "$3" ]; }
R=/apis/$GW/v1/namespaces/default/tcproutes
R2=/apis/$GW/v1alpha2/namespaces/default
check "TCPRoute (v1) 90/10: gw service $SVC with tracks app-v1=90 app-v2=10 on node a" \
	until_ok 15 is_tracks a $SVC '{"app-v1":90,"app-v2":10}'
check "... and on node b" until_ok 5 is_tracks b $SVC '{"app-v1":90,"app-v2":10}'
check "... frontend: the Gateway's address and the listener's port" \
	eq "$(l4s status $SVC --json | jq -c '.services[0].frontends')" "[\"$VIP4:8080/tcp\"]"
out=$(lab_client "$TRAFFIC" tcp $VIP4 8080 --count 2000)
check "90/10 by real traffic: app-v2 10% +- 3, none failed" \
	eval 'share_within "$out" v2 10 3 && [ "$(tv "$out" failed)" = 0 ]'
check "UDPRoute (v1alpha2) 1:1 (weight default 1): $USVC" until_ok 5 is_tracks a $USVC '{"app-v1":1,"app-v2":1}'
out=$(lab_client "$TRAFFIC" udp $VIP4 5353 --count 1000)
check "UDP 1:1 by real traffic: app-v2 50% +- 6, answered from the VIP" \
	eval 'share_within "$out" v2 50 6 && [ "$(tv "$out" failed) $(tv "$out" bad_source)" = "0 0" ]'

# --- Status, by the leader only -------------------------------------------------------------------
lease() { get /apis/coordination.k8s.io/v1/namespaces/l4split-system/leases/l4split-agent | jq -r '.spec.holderIdentity // ""'; }
check "one agent leads (the Lease names it)" until_ok 15 eval '[ -n "$(lease)" ]'
L=$(lease)
F=$([ "$L" = node-a ] && echo node-b || echo node-a)
echo "#   leader $L, follower $F"
check "TCPRoute status: Accepted True Accepted" until_ok 10 is_cond $R/app Accepted "True Accepted"
check "TCPRoute status: ResolvedRefs True ResolvedRefs" is_cond $R/app ResolvedRefs "True ResolvedRefs"
check "UDPRoute (read through v1alpha2): Accepted True" until_ok 5 is_cond "$R2/udproutes/dns" Accepted "True Accepted"
check "Gateway: Programmed True, its address in status.addresses" until_ok 5 eval \
	'[ "$(get /apis/$GW/v1/namespaces/default/gateways/edge | jq -r "[(.status.conditions[] | select(.type == \"Programmed\") | .status), .status.addresses[0].value] | join(\" \")")" = "True $VIP4" ]'
check "GatewayClass: Accepted True" until_ok 5 eval \
	'[ "$(get /apis/$GW/v1/gatewayclasses/l4split | jq -r ".status.conditions[] | select(.type == \"Accepted\") | .status")" = True ]'
writers() { node curl -sf "$API/_ctl/requests" | jq -r '[.requests[] | select(.method == "PUT" and (.path | endswith("/status"))) | .user] | unique | join(" ")'; }
check "status PUTs (to .../status) came from the leader only" eq "$(writers)" "$L"

# --- Argo Rollouts' plugin: GET v1alpha2, set weights, add a label, PUT v1alpha2 -----------------
# argo W: canary (app-v2) W, stable (app-v1) 100-W, as the plugin writes it.
argo() {
	local obj
	obj=$(get "$R2/tcproutes/app") || return 1
	obj=$(jq -c --argjson w "$1" '.spec.rules[0].backendRefs |= map(if .name == "app-v2" then .weight = $w else .weight = (100 - $w) end)
		| .metadata.labels["rollouts-pod-template-hash"] = "abc\($w)"' <<<"$obj")
	node curl -sf -X PUT -H 'Authorization: Bearer tok-a' -H 'Content-Type: application/json' \
		--data "$obj" "$API$R2/tcproutes/app" >/dev/null
}
lab_client "$TRAFFIC" hold $VIP4 8080 --conns 40 --duration 6 --interval-ms 20 >"$LAB_ROOT/hold.out" &
hold=$!
wait_for "$LAB_ROOT/hold.out" '^opened' 10 >/dev/null
# weigh W TRACKS: the plugin's update to canary weight W; the ms from the PUT's start until
# each node's maps hold TRACKS (polled: the figure includes one status read, ~10 ms).
declare -A MS
weigh() {
	local t0 n
	t0=$(date +%s%N)
	argo "$1" || return 1
	for n in a b; do MS[$n]=""; done
	while [ $((($(date +%s%N) - t0) / 1000000)) -lt 5000 ] && { [ -z "${MS[a]}" ] || [ -z "${MS[b]}" ]; }; do
		for n in a b; do
			[ -z "${MS[$n]}" ] && is_tracks $n $SVC "$2" && MS[$n]=$((($(date +%s%N) - t0) / 1000000))
		done
	done
	echo "#   weight PUT (v1alpha2, canary $1) -> new split in the maps: node a ${MS[a]:-never} ms, node b ${MS[b]:-never} ms"
}
in_1s() { [ -n "${MS[$1]}" ] && [ "${MS[$1]}" -le 1000 ]; }
weigh 40 '{"app-v1":60,"app-v2":40}'
check "Argo-shaped update to 60/40: in force on node a within 1 s" in_1s a
check "... and on node b within 1 s" in_1s b
weigh 100 '{"app-v1":0,"app-v2":100}'
check "Argo-shaped update to 0/100: in force on node a within 1 s" in_1s a
check "... and on node b within 1 s" in_1s b
wait $hold
h=$(cat "$LAB_ROOT/hold.out")
check "40 held connections through two weight updates: 0 broken, 0 moved" \
	eq "$(tv "$h" opened) $(tv "$h" broken) $(tv "$h" moved)" "40 0 0"
out=$(lab_client "$TRAFFIC" tcp $VIP4 8080 --count 1000)
check "0/100 by real traffic: every connection to app-v2" eq "$(tv "$out" name:v2) $(tv "$out" failed)" "1000 0"
gen=$(get $R/app | jq .metadata.generation)
check "status stays Accepted, observedGeneration the route's new generation ($gen)" until_ok 5 eval \
	'[ "$(get $R/app | jq -r "[.status.parents[0].conditions[] | select(.type == \"Accepted\") | .status, .observedGeneration] | join(\" \")")" = "True $gen" ]'
check "the plugin's label stayed (a status write changes only .status)" \
	eq "$(get $R/app | jq -r '.metadata.labels["rollouts-pod-template-hash"]')" abc100

# --- A missing backend Service: condition, and no traffic change ---------------------------------
before=$(tracks a $SVC)
tcproute v1 default app tcp '[{"name": "app-v1", "port": 80, "weight": 0}, {"name": "app-v2", "port": 80, "weight": 100}, {"name": "ghost", "port": 80, "weight": 20}]' | apply
check "missing backend: ResolvedRefs False BackendNotFound" until_ok 5 is_cond $R/app ResolvedRefs "False BackendNotFound"
check "... the route stays Accepted" is_cond $R/app Accepted "True Accepted"
out=$(lab_client "$TRAFFIC" tcp $VIP4 8080 --count 500)
check "... traffic unchanged: every connection answered by app-v2" eq "$(tv "$out" name:v2) $(tv "$out" failed)" "500 0"
tcproute v1 default app tcp '[{"name": "app-v1", "port": 80, "weight": 0}, {"name": "app-v2", "port": 80, "weight": 100}]' | apply
check "the ref removed: ResolvedRefs True again, tracks as before" until_ok 5 eval \
	'is_cond $R/app ResolvedRefs "True ResolvedRefs" && [ "$(tracks a $SVC)" = "$before" ]'

# --- allowedRoutes: a route from another namespace on a Same-namespace listener ---------------------
tcproute v1 other intruder tcp '[{"name": "app-other", "port": 80}]' | apply
check "allowedRoutes (Same): a route of namespace other is refused: Accepted False NotAllowedByListeners" \
	until_ok 5 is_cond /apis/$GW/v1/namespaces/other/tcproutes/intruder Accepted "False NotAllowedByListeners"
out=$(lab_client "$TRAFFIC" tcp $VIP4 8080 --count 300)
check "... and the listener still serves its own route (app-v2 only)" eq "$(tv "$out" name:v2) $(tv "$out" name:other)" "300 0"

# --- Cross-namespace backendRef: refused, then allowed by a ReferenceGrant ---------------------------
tcproute v1 default cross cross '[{"name": "app-other", "namespace": "other", "port": 80}]' | apply
check "cross-namespace ref without a ReferenceGrant: ResolvedRefs False RefNotPermitted" \
	until_ok 5 is_cond $R/cross ResolvedRefs "False RefNotPermitted"
out=$(lab_client "$TRAFFIC" tcp $VIP4 9090 --count 50 --timeout 1)
check "... no connection reaches the other namespace's backend" eq "$(tv "$out" name:other)" 0
apply <<EOT
{"apiVersion": "$GW/v1beta1", "kind": "ReferenceGrant", "metadata": {"name": "from-default", "namespace": "other"},
 "spec": {"from": [{"group": "$GW", "kind": "TCPRoute", "namespace": "default"}],
          "to": [{"group": "", "kind": "Service"}]}}
EOT
check "with a ReferenceGrant: ResolvedRefs True" until_ok 5 is_cond $R/cross ResolvedRefs "True ResolvedRefs"
out=$(lab_client "$TRAFFIC" tcp $VIP4 9090 --count 300)
check "... and traffic reaches it" eq "$(tv "$out" name:other) $(tv "$out" failed)" "300 0"

echo '{"kind": "TCPRoute", "namespace": "default", "name": "cross"}' | ctl delete
check "the route deleted: the service it made (gw_default.edge.cross) goes on both nodes" until_ok 5 eval \
	'! l4s status gw_default.edge.cross >/dev/null 2>&1 && ! L4SPLIT_PIN_DIR=${PIN[b]} node "$L4SPLIT" status gw_default.edge.cross >/dev/null 2>&1'
out=$(lab_client "$TRAFFIC" tcp $VIP4 9090 --count 20 --timeout 1)
check "... and its port answers no more" eq "$(total_answers "$out")" 0

# --- GAMMA: a route whose parent is the Service app: its ClusterIP split, socket and node paths -----
apply <<EOT
{"apiVersion": "$GW/v1", "kind": "TCPRoute", "metadata": {"name": "mesh", "namespace": "default"},
 "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "app", "port": 80}],
  "rules": [{"backendRefs": [{"name": "app-v1", "port": 80, "weight": 1}, {"name": "app-v2", "port": 80, "weight": 3}]}]}}
EOT
check "GAMMA: mesh_default.app.80 with tracks app-v1=1 app-v2=3" \
	until_ok 5 is_tracks a mesh_default.app.80 '{"app-v1":1,"app-v2":3}'
check "GAMMA: route Accepted" until_ok 5 is_cond $R/mesh Accepted "True Accepted"
out=$(in_cg "$TRAFFIC" tcp 10.96.0.20 80 --count 1000)
check "GAMMA, a client in a cgroup on the node (socket path): app-v2 75% +- 5, none failed" \
	eval 'share_within "$out" v2 75 5 && [ "$(tv "$out" failed)" = 0 ]'
out=$(lab_client "$TRAFFIC" tcp 10.96.0.20 80 --count 1000)
check "GAMMA, a client outside (node path): app-v2 75% +- 5" share_within "$out" v2 75 5

# --- The leader killed: the other agent takes over and writes status -----------------------------------
x=${L#node-}
kill -KILL "${PID[$x]}"
wait "${PID[$x]}" 2>/dev/null
check "leader killed: $F leads within 25 s (lease duration 15 s)" until_ok 25 eval '[ "$(lease)" = "$F" ]'
n0=$(node curl -sf "$API/_ctl/requests" | jq '.requests | length')
tcproute v1 default mesh2 tcp '[{"name": "app-v1", "port": 80}]' | apply
check "a new route's status is written (by $F): NotAllowedByListeners (the listener has a route)" \
	until_ok 10 is_cond $R/mesh2 Accepted "False NotAllowedByListeners"
check "... the status PUTs since came from $F only" eq "$(node curl -sf "$API/_ctl/requests" |
	jq -r --argjson n "$n0" '[.requests[$n:][] | select(.method == "PUT" and (.path | endswith("/status"))) | .user] | unique | join(" ")')" "$F"

# --- An older install: routes served under v1alpha2 only; then no Gateway API at all --------------
y=${F#node-}
ctl serve <<<'{"routes": ["v1alpha2"]}'
kill -TERM "${PID[$y]}"
wait "${PID[$y]}" 2>/dev/null
n0=$(node curl -sf "$API/_ctl/requests" | jq '.requests | length')
start "$y"
check "routes under v1alpha2 only: discovery finds them there" wait_for "$LAB_ROOT/agent-$y.log" \
	"watching gateways \($GW/v1\), tcproutes \($GW/v1alpha2\), udproutes \($GW/v1alpha2\)" 10
check "... the agent lists and watches tcproutes through v1alpha2, never v1" eq "$(node curl -sf "$API/_ctl/requests" |
	jq -r --argjson n "$n0" '[.requests[$n:][] | select(.method == "GET" and (.path | test("/tcproutes"))) | .path | split("/")[3]] | unique | join(" ")')" v1alpha2
argo 70
check "... an update through v1alpha2 is in force" until_ok 5 is_tracks $y $SVC '{"app-v1":30,"app-v2":70}'
check "... and status is written through v1alpha2" until_ok 10 eval '[ "$(node curl -sf "$API/_ctl/requests" |
	jq -r --argjson n "$n0" "[.requests[\$n:][] | select(.method == \"PUT\" and (.path | test(\"/tcproutes/app/status\"))) | .path | split(\"/\")[3]] | unique | join(\" \")")" = v1alpha2 ]'
ctl serve <<<'{"gateway": false}'
kill -TERM "${PID[$y]}"
wait "${PID[$y]}" 2>/dev/null
start "$y"
check "no Gateway API served: the agent says so" wait_for "$LAB_ROOT/agent-$y.log" "gateway api: not served by the API server" 10
check "... and the services it made from routes go" until_ok 5 eval \
	'! L4SPLIT_PIN_DIR=${PIN[$y]} node "$L4SPLIT" status $SVC >/dev/null 2>&1 && ! L4SPLIT_PIN_DIR=${PIN[$y]} node "$L4SPLIT" status mesh_default.app.80 >/dev/null 2>&1'
finish
