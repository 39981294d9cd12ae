#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Kubernetes Events from the agent, against the API-server stand-in
# (tests/tools/k8s-apiserver.py), with two agents as two nodes on one API state:
# a configuration applied (Normal L4splitApplied), a backend drained (Normal
# L4splitBackendDrained, naming the pod), a bad annotation (Warning L4splitConfigError),
# each one Event for both nodes; an identical Event repeated is a PATCH of count on the
# existing one; the per-Service token bucket (burst 25) stops the posts; and a 403 on
# events does not stop the agent (counted, logged once).
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-ev$$
. scripts/lab.sh
. tests/lib/e2e.sh

FIX=tests/fixtures/k8s
PY=/usr/bin/python3
SVC=default.web.http
lab_start old new
node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
free_port() { node "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

APIPORT=$(free_port)
api_start() { # [--forbid-events]
	nsenter --net="/run/netns/$LAB-n" "$PY" tests/tools/k8s-apiserver.py --slice-controller --listen 127.0.0.1 --port "$APIPORT" \
		--state "$LAB_ROOT/api.state" --timeout 600 --verbose "$@" 2>>"$LAB_ROOT/api.log" &
	API_PID=$!
	LAB_PIDS+=($API_PID)
	wait_listen "$LAB-n" "$APIPORT" 10
}
api_start || { not_ok "API stand-in listens"; finish; exit 1; }
lab_kubeconfig "http://127.0.0.1:$APIPORT" >"$LAB_ROOT/kubeconfig"
ctl() { node curl -sf -X POST -H 'Content-Type: application/json' --data @- \
	"http://127.0.0.1:$APIPORT/_ctl/$1" >/dev/null; }
# The Events the stand-in holds, as a JSON array.
events() { node curl -sf "http://127.0.0.1:$APIPORT/_ctl/state" | jq -c '[.objs.events[]]'; }
# ev_count SERVICE REASON: how many Event objects; ev_field SERVICE REASON JQ: a field of them.
ev_count() { events | jq --arg s "$1" --arg r "$2" '[.[] | select(.involvedObject.name == $s and .reason == $r)] | length'; }
ev_field() { events | jq -c --arg s "$1" --arg r "$2" "[.[] | select(.involvedObject.name == \$s and .reason == \$r)] | map($3)"; }
pod() { # NAME TRACK BACKEND_INDEX [JQ]
	jq -c --arg n "$1" --arg t "$2" --arg ip "$(lab_be_addr "$3")" "
		.metadata = {name: \$n, namespace: \"default\", labels: {app: \"web\", run: \$t}}
		| .spec.containers[0].ports = [{name: \"http\", containerPort: 80, protocol: \"TCP\"}]
		| .status.podIP = \$ip | .status.podIPs = [{ip: \$ip}] ${4:-}" \
		$FIX/podlist/pod-dualstack-kubectl-get-o-yaml.json
}
service() { # NAME UID WEIGHTS [VIP]
	jq -c --arg n "$1" --arg uid "$2" --arg w "$3" --arg vip "${4:-$VIP4}" '
		.metadata.namespace = "default" | .metadata.name = $n | .metadata.uid = $uid
		| .metadata.annotations += {"l4split.io/weights": $w, "l4split.io/track-label": "run"}
		| .spec.clusterIP = $vip | .spec.clusterIPs = [$vip] | .status = {}
		| .spec.ports = [{name: "http", port: 80, protocol: "TCP", targetPort: "http"}]' \
		$FIX/kubectl-generated/service-loadbalancer-web-annotated-udp.kubectl.json
}
until_true() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}
is() { [ "$("${@:2}")" = "$1" ]; }
tracks() { L4SPLIT_PIN_DIR=$1 nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" status "$SVC" --json 2>/dev/null | jq -cS '.services[0].tracks'; }
# An identical Event within its 10-minute window is bumped, in the next one it is new:
# keep this test's repeats inside one window.
if [ $(($(date +%s) % 600)) -gt 540 ]; then
	echo "#   waiting $((600 - $(date +%s) % 600)) s for a fresh 10-minute Event window"
	sleep $((600 - $(date +%s) % 600))
fi

pod old-web-1 old-web 1 | ctl apply
pod new-web-1 new-web 2 | ctl apply
service web uid-web "old-web=3,new-web=1" | ctl apply
service broken uid-broken "old-web=lots" | ctl apply
MPORT=$(free_port)
PIN2=$LAB_ROOT/pin2
mkdir -p "$PIN2"
for n in a b; do
	pin=$LAB_PIN maddr=127.0.0.1:$MPORT
	[ $n = b ] && pin=$PIN2 maddr=off
	L4SPLIT_PIN_DIR=$pin nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent --kubeconfig "$LAB_ROOT/kubeconfig" \
		--node-name "node-$n" --metrics-addr "$maddr" 2>"$LAB_ROOT/agent-$n.log" &
	LAB_PIDS+=($!)
	eval "AGENT_$n=$!"
done
metric() { node curl -sf "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
check "both agents apply web: old-web=3, new-web=1" until_true 15 eval \
	'is "{\"new-web\":1,\"old-web\":3}" tracks "$LAB_PIN" && is "{\"new-web\":1,\"old-web\":3}" tracks "$PIN2"'
check "an Event L4splitApplied is posted for web" until_true 10 is 1 ev_count web L4splitApplied
sleep 1 # the other node's post, if it were to make a second Event
check "two nodes, one change: one L4splitApplied Event (count 1)" \
	eq "$(ev_field web L4splitApplied '[.type, .count, .involvedObject.kind, .involvedObject.namespace, .involvedObject.uid]')" \
	'[["Normal",1,"Service","default","uid-web"]]'
check "L4splitApplied says what changed: created, weights, backends +2 -0" \
	eq "$(ev_field web L4splitApplied .message)" '["default.web.http: created; weights new-web=1 old-web=3; backends +2 -0"]'
check "the bad annotation: one Warning L4splitConfigError on Service broken, naming it" \
	eq "$(ev_field broken L4splitConfigError '[.type, .count, (.message | test("l4split.io/weights \"old-web=lots\" is wrong"))]')" \
	'[["Warning",1,true]]'

# --- A backend drained (its pod terminating), restored, drained again: a repeat ------------------
drain() { pod new-web-1 new-web 2 '| .metadata.deletionTimestamp = "2026-01-01T00:00:00Z"' | ctl apply; }
drain
check "a drained backend: one L4splitBackendDrained Event naming the pod and its address" until_true 10 eval \
	"is '[[\"Normal\",1,\"default.web.http: backend pod new-web-1 at $NEW:80 (track new-web) drained: no new flows, established ones go on\"]]' ev_field web L4splitBackendDrained '[.type, .count, .message]'"
ev_field web L4splitBackendDrained '[.type, .count, .message]' | sed 's/^/#   /'
npatch0=$(grep -c '"PATCH /api/v1/namespaces/default/events/' "$LAB_ROOT/api.log")
pod new-web-1 new-web 2 | ctl apply
check "restored: both agents give new-web its backend again" until_true 10 eval \
	'[ "$(l4s status "$SVC" --json | jq "[.services[0].backends[] | select(.weight > 0)] | length")" = 2 ]'
sleep 0.5
drain
check "drained again within the window: the same Event, count 2 (not a second Event)" until_true 10 eval \
	"is '[[1,2]]' ev_field web L4splitBackendDrained '[1, .count]'"
check "... and its L4splitApplied (1 backend drained) too" \
	eq "$(events | jq -c '[.[] | select(.message == "default.web.http: 1 backend drained") | .count]')" '[2]'
check "the count went up by PATCH (the stand-in saw PATCHes of events)" \
	test "$(grep -c '"PATCH /api/v1/namespaces/default/events/' "$LAB_ROOT/api.log")" -gt "$npatch0"
check "no Event write was refused so far (l4split_agent_event_errors_total 0)" eq "$(metric l4split_agent_event_errors_total)" 0

# --- The token bucket: 25 Events per Service, then none (refill: one per 5 minutes) ---------------
posted0=$(ev_count web L4splitApplied)
for i in $(seq 11 40); do
	service web uid-web "old-web=$i,new-web=1" | ctl apply
	until_true 5 is "{\"new-web\":1,\"old-web\":$i}" tracks "$LAB_PIN"
done
check "30 weight changes: every one applied" is '{"new-web":1,"old-web":40}' tracks "$LAB_PIN"
sleep 1
n_web=$(events | jq '[.[] | select(.involvedObject.name == "web")] | map(.count) | add')
echo "#   Events about web: $n_web posts (counts summed); limited on node a: $(metric l4split_agent_events_limited_total)"
check "the bucket ran dry: at most 25 Events posts about web from a node" test "$n_web" -le 25
check "... and the limited ones are counted (l4split_agent_events_limited_total > 0)" \
	test "$(metric l4split_agent_events_limited_total)" -gt 0
events | jq -r ".[] | select(.involvedObject.name == \"web\") | \"#   \\(.count) \\(.message)\"" | head -30
check "the first of the 30 changes has its Event, the last none" eval \
	'[ "$(events | jq "[.[] | select(.message | endswith(\"weights new-web=1 old-web=11\"))] | length")" = 1 ] &&
	 [ "$(events | jq "[.[] | select(.message | endswith(\"weights new-web=1 old-web=40\"))] | length")" = 0 ]'
check "Service broken has its own bucket: it was not limited" eq "$(ev_count broken L4splitConfigError)" 1

# --- Events forbidden (RBAC without create/patch on events): the agent goes on --------------------
kill "$API_PID"
wait "$API_PID" 2>/dev/null
api_start --forbid-events || not_ok "API stand-in restarts with --forbid-events"
service other uid-other "old-web=1,new-web=1" 10.96.0.44 | ctl apply
service other uid-other "old-web=2,new-web=1" 10.96.0.44 | ctl apply
check "events forbidden (403): the agent still applies a new Service" until_true 20 eval \
	'[ "$(l4s status default.other.http --json 2>/dev/null | jq -cS ".services[0].tracks")" = "{\"new-web\":1,\"old-web\":2}" ]'
check "... the refusals are counted (l4split_agent_event_errors_total > 0)" until_true 5 eval \
	'[ "$(metric l4split_agent_event_errors_total)" -gt 0 ]'
service other uid-other "old-web=3,new-web=1" 10.96.0.44 | ctl apply
check "... and it keeps applying changes" until_true 10 eval \
	'[ "$(l4s status default.other.http --json 2>/dev/null | jq -cS ".services[0].tracks")" = "{\"new-web\":1,\"old-web\":3}" ]'
check "... logged once, not once per Event" eq "$(grep -c 'cannot post an Event' "$LAB_ROOT/agent-a.log")" 1
grep 'cannot post an Event' "$LAB_ROOT/agent-a.log" | sed 's/^/#   /'
check "... no Event was written while forbidden" eq "$(events | jq '[.[] | select(.involvedObject.name == "other")] | length')" 0
check "both agents still run" kill -0 "$AGENT_a" "$AGENT_b"
finish
