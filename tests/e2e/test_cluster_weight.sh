#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Cluster mode of `weight` and `status` (#18): two nodes of the two-node lab
# (scripts/lab.sh lab2_up), each with its own agent and pin directory, and the API-server
# stand-in (tests/tools/k8s-apiserver.py) in the client's namespace serving the Service,
# its pods and the agents' pods (podIP: each node's address, where its /metrics listens).
# `l4split weight default/web old=9 new=1` from the client's namespace writes the Service
# annotation and exits 0 only once both agents show the weights (checked at once in both
# nodes' maps, and in the traffic entering A); a concurrent edit between its GET and its
# PUT is a 409, re-read and retried, and the edit is kept; a bad weight writes nothing
# (exit 2); an agent that cannot be reached is named, exit 1 after --timeout; `status
# default/web` lists every node.
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-cw$$
. scripts/lab.sh
. tests/lib/e2e.sh

FIX=tests/fixtures/k8s
PY=/usr/bin/python3
SVC=default.web.http
lab_traps
lab2_up || { not_ok "two-node lab setup"; finish; exit 1; }
A() { lab2_a "$L4SPLIT" "$@"; }
B() { lab2_b "$L4SPLIT" "$@"; }
for N in A B; do
	quiet $N attach ext0 --flows 65536 && quiet $N attach cl0 || { not_ok "node $N: attach"; finish; exit 1; }
done
A node set --snat-addr 10.210.0.1 >/dev/null
B node set --snat-addr 10.210.0.2 >/dev/null

APIPORT=$(lab_client "$PY" -c 'import socket; s = socket.socket(); s.bind(("10.200.0.2", 0)); print(s.getsockname()[1])')
lab_client "$PY" tests/tools/k8s-apiserver.py --slice-controller --listen 10.200.0.2 --port "$APIPORT" \
	--state "$LAB_ROOT/api.state" --timeout 600 --verbose 2>>"$LAB_ROOT/api.log" &
LAB_PIDS+=($!)
wait_listen "$LAB-c" "$APIPORT" 10 || { not_ok "API stand-in listens"; finish; exit 1; }
KC=$LAB_ROOT/kubeconfig
lab_kubeconfig "http://10.200.0.2:$APIPORT" >"$KC"
api() { lab_client curl -sf "http://10.200.0.2:$APIPORT/$1"; }
ctl() { lab_client curl -sf -X POST -H 'Content-Type: application/json' --data @- \
	"http://10.200.0.2:$APIPORT/_ctl/$1" >/dev/null; }
svc_field() { api _ctl/state | jq -c ".objs.services[\"default/web\"] | $1"; }
pod() { # NAME TRACK ADDR
	jq -c --arg n "$1" --arg t "$2" --arg ip "$3" '
		.metadata = {name: $n, namespace: "default", labels: {app: "web", run: $t}}
		| .spec.containers[0].ports = [{name: "http", containerPort: 80, protocol: "TCP"}]
		| .status.podIP = $ip | .status.podIPs = [{ip: $ip}]' \
		$FIX/podlist/pod-dualstack-kubectl-get-o-yaml.json
}
agent_pod() { # NAME NODE ADDR: a pod of the DaemonSet (hostNetwork: its IP is the node's)
	jq -nc --arg n "$1" --arg node "$2" --arg ip "$3" '{kind: "Pod", apiVersion: "v1",
		metadata: {name: $n, namespace: "kube-system",
			   labels: {"app.kubernetes.io/name": "l4split"}},
		spec: {nodeName: $node, hostNetwork: true, containers: [{name: "l4split"}]},
		status: {phase: "Running", podIP: $ip, podIPs: [{ip: $ip}]}}'
}
jq -c --arg vip "$VIP4" '
	.metadata.namespace = "default" | .metadata.name = "web" | .metadata.uid = "uid-web"
	| .metadata.annotations = {"l4split.io/weights": "old=1,new=1", "l4split.io/track-label": "run"}
	| .spec.type = "ClusterIP" | del(.spec.externalIPs)
	| .spec.clusterIP = $vip | .spec.clusterIPs = [$vip] | .status = {}
	| .spec.ports = [{name: "http", port: 80, protocol: "TCP", targetPort: "http"}]' \
	$FIX/kubectl-generated/service-loadbalancer-web-annotated-udp.kubectl.json | ctl apply
pod old-web-1 old "$OLD" | ctl apply
pod new-web-1 new "$NEW" | ctl apply
agent_pod l4split-a node-a 10.200.0.1 | ctl apply
agent_pod l4split-b node-b 10.200.0.3 | ctl apply
for n in a b; do
	lab2_$n "$L4SPLIT" agent --kubeconfig "$KC" --node-name "node-$n" --metrics-addr :9477 \
		2>"$LAB_ROOT/agent-$n.log" &
	LAB_PIDS+=($!)
done
tracks() { $1 status "$SVC" --json 2>/dev/null | jq -cS '.services[0].tracks'; }
until_true() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}
is() { [ "$("${@:2}")" = "$1" ]; }
check "both agents apply web: old=1 new=1" until_true 15 eval \
	'is "{\"new\":1,\"old\":1}" tracks A && is "{\"new\":1,\"old\":1}" tracks B'
wait_listen "$LAB-a" 9477 5 && wait_listen "$LAB-b" 9477 5
cli() { lab_client "$L4SPLIT" "$@"; }
puts() { grep -c '"PUT /api/v1/namespaces/default/services/web' "$LAB_ROOT/api.log"; }

# --- weight NS/NAME: written, then in force on both nodes before it exits ------------------------
t0=$(date +%s.%N)
out=$(cli weight default/web old=9 new=1 --kubeconfig "$KC" 2>&1)
rc=$?
t1=$(date +%s.%N)
echo "$out" | sed 's/^/#   /'
# Read at once: the command exits only when both agents have them.
ta=$(tracks A) tb=$(tracks B)
check "weight default/web old=9 new=1: exit 0" eq "$rc" 0
check "  node A has old=9 new=1 the moment it exits" eq "$ta" '{"new":1,"old":9}'
check "  node B too" eq "$tb" '{"new":1,"old":9}'
check "  the Service's annotation is old=9,new=1 (the existing order kept)" \
	eq "$(svc_field '.metadata.annotations["l4split.io/weights"]')" '"old=9,new=1"'
check "  its other annotation is kept" eq "$(svc_field '.metadata.annotations["l4split.io/track-label"]')" '"run"'
check "  it says so per node and in total" eq "$(grep -cE '^  node-[ab]: in force after|in force on all 2 nodes' <<<"$out")" 3
echo "#   convergence: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s from the command's start"
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000 --timeout 120)
check "traffic entering node A: 10% new +- 3 of 2000 connections" share_within "$out" new 10 3
check "  none failed" eq "$(tv "$out" failed)" 0

# --- a concurrent edit between the GET and the PUT -------------------------------------------------
echo '{"namespace": "default", "name": "web", "patch": {"metadata": {"labels": {"team": "blue"}}}}' | ctl before-put
p0=$(puts)
out=$(cli weight default/web new=3 --kubeconfig "$KC" 2>&1)
rc=$?
echo "$out" | sed 's/^/#   /'
check "a concurrent edit: weight exits 0" eq "$rc" 0
check "  the first PUT got 409 Conflict, the second went through" \
	eq "$(grep '"PUT /api/v1/namespaces/default/services/web' "$LAB_ROOT/api.log" | tail -n 2 | grep -oE '" [0-9]{3}' | tr -d '" ' | tr '\n' ' ')" "409 200 "
check "  two PUTs in all" eq "$(($(puts) - p0))" 2
check "  the other edit is kept (label team=blue)" eq "$(svc_field .metadata.labels.team)" '"blue"'
check "  new=3 written, old kept at 9 (only the named track changes)" \
	eq "$(svc_field '.metadata.annotations["l4split.io/weights"]')" '"old=9,new=3"'
check "  and in force on both nodes" eq "$(tracks A) $(tracks B)" '{"new":3,"old":9} {"new":3,"old":9}'
check "  the output says the change was re-read" grep -q "after a conflicting change was re-read" <<<"$out"

# --- a bad weight: refused before anything is written ----------------------------------------------
rv0=$(svc_field .metadata.resourceVersion)
p0=$(puts)
err=$(cli weight default/web old=lots --kubeconfig "$KC" 2>&1 >/dev/null)
rc=$?
echo "$err" | sed 's/^/#   /'
check "old=lots: exit 2" eq "$rc" 2
check "  the error names the argument" grep -q 'argument "old=lots" is wrong' <<<"$err"
check "  nothing written: no PUT, same resourceVersion" eq "$(($(puts) - p0)) $(svc_field .metadata.resourceVersion)" "0 $rv0"
err=$(cli weight default/web "$OLD:80=2" --kubeconfig "$KC" 2>&1 >/dev/null)
check "a backend weight on a cluster: exit 2, nothing written" eq "$? $(($(puts) - p0))" "2 0"
err=$(cli weight default/nothere old=1 --kubeconfig "$KC" 2>&1 >/dev/null)
check "a Service that does not exist: exit 1, named" eq "$? $(grep -c 'Service default/nothere not found' <<<"$err")" "1 1"

# --- an agent that cannot be reached ---------------------------------------------------------------
agent_pod l4split-c node-c 10.200.0.9 | ctl apply
t0=$SECONDS
err=$(cli weight default/web old=3 new=1 --kubeconfig "$KC" --timeout 3 2>&1 >/dev/null)
rc=$?
echo "$err" | sed 's/^/#   /'
check "an unreachable agent: exit 1 after the timeout" eq "$rc" 1
check "  within the timeout and a scrape (3 to 7 s: $((SECONDS - t0)) s)" \
	test $((SECONDS - t0)) -ge 3 -a $((SECONDS - t0)) -le 7
check "  the error names node-c as unreachable, and only it" \
	eq "$(grep -c 'not in force on 1 of 3 nodes after 3 s: node-c unreachable (10.200.0.9:9477' <<<"$err")" 1
check "  the reachable nodes have the weights" eq "$(tracks A) $(tracks B)" '{"new":1,"old":3} {"new":1,"old":3}'
check "--no-wait: exit 0 at once, written" eq "$(cli weight default/web old=4 --no-wait --kubeconfig "$KC" >/dev/null; echo $?) $(svc_field '.metadata.annotations["l4split.io/weights"]')" '0 "old=4,new=1"'
check "  (the agents follow)" until_true 10 eval 'is "{\"new\":1,\"old\":4} {\"new\":1,\"old\":4}" echo "$(tracks A) $(tracks B)"'

# --- status NS/NAME -------------------------------------------------------------------------------
out=$(cli status default/web --kubeconfig "$KC" 2>&1)
rc=$?
echo "$out" | sed 's/^/#   /'
check "status default/web: exit 0, a line per node" eq "$rc $(grep -c '^node node-[abc] ' <<<"$out")" "0 3"
check "  node-c unreachable" grep -q '^node node-c (pod l4split-c, 10.200.0.9): unreachable' <<<"$out"
js=$(cli status default/web --kubeconfig "$KC" --json)
check "  --json: nodes, reachable, the weights in force per node" \
	eq "$(jq -c '[.nodes[] | [.node, .reachable, .services["default.web.http"].tracks.old.weight, .services["default.web.http"].tracks.new.weight]]' <<<"$js")" \
	'[["node-a",true,4,1],["node-b",true,4,1],["node-c",false,null,null]]'
check "  the flows that entered A are counted on A: 2000, 200 +- 60 to new" \
	eq "$(jq '[.nodes[0].services["default.web.http"].tracks[].flows] | add' <<<"$js") $(jq '.nodes[0].services["default.web.http"].tracks.new.flows | (. >= 140 and . <= 260)' <<<"$js")" "2000 true"
check "  and none on B" eq "$(jq '[.nodes[1].services["default.web.http"].tracks[].flows] | add' <<<"$js")" 0
check "  the configured share on A: new 20% (old=4 new=1)" eq "$(jq '.nodes[0].services["default.web.http"].tracks.new.share | round' <<<"$js")" 20
lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000 --timeout 120 >/dev/null &
LAB_PIDS+=($!)
js=$(cli status default/web --kubeconfig "$KC" --json --window 2s)
check "  --window 2s: the flows of the window only (some, fewer than 1000+2000), new 20% +- 8" \
	eq "$(jq '.flows, (.nodes[0].services["default.web.http"].tracks | ([.[].flows] | add) as $t | ($t > 0 and $t <= 1000 and .new.seen >= 12 and .new.seen <= 28))' <<<"$js" | tr '\n' ' ')" '"window" true '
check "node-local commands are unchanged: weight web on node A names no Kubernetes Service" \
	eq "$(A weight "$SVC" old=4 new=1 --json | jq -c .tracks.new.weight)" 1
finish
