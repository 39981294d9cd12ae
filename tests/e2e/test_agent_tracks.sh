#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The agent's tracks from backend Services (l4split.io/tracks, issue 16): EndpointSlices
# written as a controller writes them, against the API stand-in; shares measured with real
# traffic. Two backend Services, a weight change, a backend Service scaled, one deleted, a
# bad combination of annotations; both families of a dual-stack Service; the terminating
# fallback of KEP-1669 (a terminating pod takes new flows only when no pod is ready).
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-at$$
. scripts/lab.sh
. tests/lib/e2e.sh

APISERVER=tests/tools/k8s-apiserver.py
PY=/usr/bin/python3
lab_start v1a v1b v2
l4s attach n0 --flows 262144 >/dev/null

node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
nsenter --net="/run/netns/$LAB-n" "$PY" "$APISERVER" --port 0 --port-file "$LAB_ROOT/api.port" --timeout 900 &
LAB_PIDS+=($!)
wait_for "$LAB_ROOT/api.port" . 10 >/dev/null || { not_ok "API stand-in starts"; finish; exit 1; }
API=http://127.0.0.1:$(cat "$LAB_ROOT/api.port")
lab_kubeconfig "$API" >"$LAB_ROOT/kubeconfig"
ctl() { node curl -sf -X POST -H 'Content-Type: application/json' --data @- "$API/_ctl/$1" >/dev/null; }
del() { echo "{\"kind\":\"$1\",\"namespace\":\"default\",\"name\":\"$2\"}" | ctl delete; }

# service NAME [ANNOTATIONS_JSON [JQ]]: a dual-stack ClusterIP Service with ports http
# (80/TCP) and dns (53/UDP); the front one gets the VIPs.
service() {
	jq -nc --arg n "$1" --argjson ann "${2:-{\}}" --arg v4 "$VIP4" --arg v6 "$VIP6" "
	{kind: \"Service\", apiVersion: \"v1\",
	 metadata: {name: \$n, namespace: \"default\", annotations: \$ann},
	 spec: {type: \"ClusterIP\", clusterIP: \"10.96.9.\(\$n | length)\",
	        clusterIPs: [\"10.96.9.\(\$n | length)\"], ipFamilies: [\"IPv4\"],
	        selector: {app: \$n},
	        ports: [{name: \"http\", port: 80, protocol: \"TCP\", targetPort: 80},
	                {name: \"dns\", port: 53, protocol: \"UDP\", targetPort: 53}]}}
	| if \$n == \"web\" then .spec.clusterIP = \$v4 | .spec.clusterIPs = [\$v4, \$v6]
	    | .spec.ipFamilies = [\"IPv4\", \"IPv6\"] | .spec.ipFamilyPolicy = \"RequireDualStack\"
	    | del(.spec.selector) else . end ${3:-}"
}
# slice SERVICE FAMILY ENDPOINT...: the EndpointSlice the controller writes for the pods
# of SERVICE; an ENDPOINT is BACKEND_INDEX[:STATE], STATE r (ready, the default), t
# (terminating, still serving), x (terminating, not serving), n (not ready).
slice() {
	local svc=$1 fam=$2 eps="" e i st addr
	shift 2
	for e in "$@"; do
		i=${e%%:*}
		st=r
		[ "$e" != "$i" ] && st=${e#*:}
		addr=$(lab_be_addr "$i" "$([ "$fam" = IPv6 ] && echo 6)")
		eps+=$(jq -nc --arg a "$addr" --arg st "$st" --arg pod "$svc-pod-$i" '
			{addresses: [$a], targetRef: {kind: "Pod", namespace: "default", name: $pod},
			 conditions: (if $st == "r" then {ready: true, serving: true, terminating: false}
			  elif $st == "t" then {ready: false, serving: true, terminating: true}
			  elif $st == "x" then {ready: false, serving: false, terminating: true}
			  else {ready: false, serving: false, terminating: false} end)}'),
	done
	jq -nc --arg svc "$svc" --arg fam "$fam" --argjson eps "[${eps%,}]" '
	{kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1",
	 metadata: {name: "\($svc)-\($fam | ascii_downcase)", namespace: "default",
	            labels: {"kubernetes.io/service-name": $svc,
	                     "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
	 addressType: $fam,
	 ports: [{name: "http", port: 80, protocol: "TCP"}, {name: "dns", port: 53, protocol: "UDP"}],
	 endpoints: $eps}'
}
SVC=default.web.http
SVC6=default.web.http.v6
tracks() { l4s status "${1:-$SVC}" --json 2>/dev/null | jq -cS '.services[0].tracks'; }
nready() { l4s status "${1:-$SVC}" --json 2>/dev/null | jq '[.services[0].backends[] | select(.weight > 0)] | length'; }
until_ok() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}
is() { [ "$($1 "${3:-}")" = "$2" ]; }

# --- Two backend Services ---------------------------------------------------------------
service web-v1 | ctl apply
service web-v2 | ctl apply
slice web-v1 IPv4 1 2 | ctl apply
slice web-v1 IPv6 1 2 | ctl apply
slice web-v2 IPv4 3 | ctl apply
slice web-v2 IPv6 3 | ctl apply
service web '{"l4split.io/tracks": "old=web-v1,new=web-v2", "l4split.io/weights": "old=1,new=1"}' | ctl apply
L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent --kubeconfig "$LAB_ROOT/kubeconfig" \
	--node-name lab-node --metrics-addr 127.0.0.1:9479 2>"$LAB_ROOT/agent.log" &
LAB_PIDS+=($!)
check "tracks: the Service's tracks are its backend Services' (old=web-v1, new=web-v2)" \
	until_ok 10 is tracks '{"new":1,"old":1}'
check "tracks: one backend per endpoint of the two backend Services" eq "$(nready)" 3
check "tracks: the backend Services themselves are not split (no annotations)" \
	eval '! l4s status default.web-v1.http >/dev/null 2>&1'
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "tracks: 1:1 over 2000 connections: new (web-v2) 50% +- 5" share_within "$out" v2 50 5

# --- Both families of the dual-stack Service ----------------------------------------------
check "dual-stack: the second family is $SVC6, with the IPv6 VIP" \
	eq "$(l4s status "$SVC6" --json 2>/dev/null | jq -c '.services[0].frontends')" "[\"[$VIP6]:80/tcp\"]"
check "dual-stack: ... and the IPv6 endpoints" eq "$(nready "$SVC6")" 3
check "dual-stack: the first family keeps the name $SVC (IPv4 VIP only)" \
	eq "$(l4s status "$SVC" --json | jq -c '.services[0].frontends')" "[\"$VIP4:80/tcp\"]"
out=$(lab_client "$TRAFFIC" tcp $VIP6 80 --count 2000)
check "dual-stack: IPv6 traffic answered, none failed" eq "$(tv "$out" failed) $(total_answers "$out")" "0 2000"
check "dual-stack: IPv6 1:1: new 50% +- 5" share_within "$out" v2 50 5
out=$(lab_client "$TRAFFIC" udp $VIP6 53 --count 500)
check "dual-stack: IPv6 UDP answered from the VIP" eq "$(tv "$out" failed) $(tv "$out" bad_source)" "0 0"

# --- A weight change ------------------------------------------------------------------------
service web '{"l4split.io/tracks": "old=web-v1,new=web-v2", "l4split.io/weights": "old=3,new=1"}' | ctl apply
check "weight change: old=3 new=1 in the maps" until_ok 5 is tracks '{"new":1,"old":3}'
check "weight change: ... on both families" until_ok 5 is tracks '{"new":1,"old":3}' "$SVC6"
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 3000)
check "weight change: new 25% +- 4" share_within "$out" v2 25 4

# --- A backend Service scaled ---------------------------------------------------------------------
slice web-v1 IPv4 1 | ctl apply
check "scaled: web-v1 down to one endpoint: 2 backends with weight" until_ok 5 is nready 2
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "scaled: no new flow to the removed endpoint" eq "$(tv "$out" name:v1b)" 0
check "scaled: still new 25% +- 4 (weights, not replica counts)" share_within "$out" v2 25 4
slice web-v1 IPv4 1 2 | ctl apply
check "scaled: back to two" until_ok 5 is nready 3

# --- A backend Service deleted -------------------------------------------------------------------
del Service web-v2
del EndpointSlice web-v2-ipv4
del EndpointSlice web-v2-ipv6
check "deleted: the log says track new has no backends and why" \
	wait_for "$LAB_ROOT/agent.log" "track new: Service default/web-v2 \(l4split.io/tracks\) does not exist" 5
check "deleted: ... the other track keeps serving (2 backends)" until_ok 5 is nready 2
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000)
check "deleted: every connection answered, none by web-v2" eq "$(total_answers "$out") $(tv "$out" name:v2)" "1000 0"
service web-v2 | ctl apply
slice web-v2 IPv4 3 | ctl apply
check "re-created: the track is back" until_ok 5 is nready 3

# --- Bad combination: last good configuration stays ---------------------------------------------
before=$(l4s status --json)
service web '{"l4split.io/tracks": "old=web-v1,new=web-v2", "l4split.io/track-label": "run"}' | ctl apply
check "tracks and track-label both: the log says the two annotations conflict" \
	wait_for "$LAB_ROOT/agent.log" "annotations l4split.io/tracks and l4split.io/track-label are both set" 5
check "... and the maps are untouched" eq "$(l4s status --json)" "$before"
service web '{"l4split.io/tracks": "old=web-v1,old=web-v2"}' | ctl apply
check "a track named twice: said" wait_for "$LAB_ROOT/agent.log" 'l4split.io/tracks "old=web-v1,old=web-v2" is wrong: track "old" is given twice' 5
check "... and the maps are untouched" eq "$(l4s status --json)" "$before"

# --- Terminating fallback (KEP-1669) ----------------------------------------------------------------
service solo '{"l4split.io/enabled": "true"}' '| .spec.clusterIP = "10.96.0.40" | .spec.clusterIPs = ["10.96.0.40"]' | ctl apply
slice solo IPv4 1:t 3 | ctl apply
check "fallback: a terminating pod beside a ready one drains" until_ok 5 is nready 1 default.solo.http
out=$(lab_client "$TRAFFIC" tcp 10.96.0.40 80 --count 500)
check "fallback: ... no new flow reaches it while a pod is ready" eq "$(tv "$out" name:v1a) $(total_answers "$out")" "0 500"
slice solo IPv4 1:t 3:n | ctl apply
check "fallback: no ready pod: the serving terminating one takes new flows" \
	until_ok 5 eval '[ "$(l4s status default.solo.http --json | jq -c "[.services[0].backends[] | select(.weight > 0) | .addr]")" = "[\"$(lab_be_addr 1):80\"]" ]'
out=$(lab_client "$TRAFFIC" tcp 10.96.0.40 80 --count 500)
check "fallback: ... and answers every connection" eq "$(tv "$out" name:v1a)" 500
slice solo IPv4 1:x 3:n | ctl apply
check "fallback: terminating and no longer serving: no backend" until_ok 5 is nready 0 default.solo.http
slice solo IPv4 1:t 3 | ctl apply
check "fallback: a ready pod again: the terminating one drains" \
	until_ok 5 eval '[ "$(l4s status default.solo.http --json | jq -c "[.services[0].backends[] | select(.weight > 0) | .addr]")" = "[\"$(lab_be_addr 3):80\"]" ]'

check "API load: tracks from Services need no pods: no pod list or watch at all" \
	eq "$(node curl -sf "$API/_ctl/requests" | jq '[.requests[] | select(.path | test("/pods"))] | length')" 0
check "API load: bytes received per resource on /metrics" \
	eval "[ \"\$(node curl -sf http://127.0.0.1:9479/metrics | awk '\$1 == \"l4split_agent_api_bytes_total{resource=\\\"endpointslices\\\"}\" { print (\$2 > 0) }')\" = 1 ]"
finish
