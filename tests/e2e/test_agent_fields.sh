#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The Service fields through the agent (issue 16), against the API stand-in with real
# traffic: node ports on this node's address (from its Node object), externalTrafficPolicy
# Local (only this node's endpoints on the external frontends, the healthCheckNodePort
# answering 200/503 with the local endpoint count; the cluster IP still reaches all),
# sessionAffinity ClientIP with a timeout that expires, and reject on no backend (every
# endpoint of a Service not ready: TCP refused at once, UDP gets ICMP).
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-af$$
. scripts/lab.sh
. tests/lib/e2e.sh

APISERVER=tests/tools/k8s-apiserver.py
PY=/usr/bin/python3
NODE_IP=10.200.0.1
lab_start v1 v2 v3
l4s attach n0 --flows 262144 >/dev/null
# XDP_TX on a veth (the reject's RST and ICMP) reaches the peer only when the peer runs XDP
# too (test_reject.sh): the client's c0 gets l4split's program of an empty state of its own.
env L4SPLIT_PIN_DIR="$LAB_ROOT/cpin" nsenter --net="/run/netns/$LAB-c" "$L4SPLIT" attach c0 >/dev/null
# A second client address.
ip -n "$LAB-c" addr add 10.200.0.3/24 dev c0

node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
nsenter --net="/run/netns/$LAB-n" "$PY" "$APISERVER" --port 0 --port-file "$LAB_ROOT/api.port" --timeout 900 &
LAB_PIDS+=($!)
wait_for "$LAB_ROOT/api.port" . 10 >/dev/null || { not_ok "API stand-in starts"; finish; exit 1; }
API=http://127.0.0.1:$(cat "$LAB_ROOT/api.port")
lab_kubeconfig "$API" >"$LAB_ROOT/kubeconfig"
ctl() { node curl -sf -X POST -H 'Content-Type: application/json' --data @- "$API/_ctl/$1" >/dev/null; }
del() { echo "{\"kind\":\"$1\",\"namespace\":\"default\",\"name\":\"$2\"}" | ctl delete; }

# service NAME CLUSTER_IP ANNOTATIONS_JSON [JQ]: an IPv4 Service with ports http (80/TCP)
# and dns (53/UDP), no selector (its EndpointSlices are written by slice).
service() {
	jq -nc --arg n "$1" --arg cip "$2" --argjson ann "$3" "
	{kind: \"Service\", apiVersion: \"v1\",
	 metadata: {name: \$n, namespace: \"default\", annotations: \$ann},
	 spec: {type: \"ClusterIP\", clusterIP: \$cip, clusterIPs: [\$cip], ipFamilies: [\"IPv4\"],
	        ports: [{name: \"http\", port: 80, protocol: \"TCP\", targetPort: 80},
	                {name: \"dns\", port: 53, protocol: \"UDP\", targetPort: 53}]}} ${4:-}"
}
# slice SERVICE ENDPOINT...: its IPv4 EndpointSlice; an ENDPOINT is
# BACKEND_INDEX[:STATE[:NODE]], STATE r (ready) or n (not ready), NODE its nodeName
# (default lab-node, the agent's).
slice() {
	local svc=$1 eps="" e i st nn rest
	shift
	for e in "$@"; do
		IFS=: read -r i st nn rest <<<"$e"
		eps+=$(jq -nc --arg a "$(lab_be_addr "$i")" --arg st "${st:-r}" --arg nn "${nn:-lab-node}" \
			--arg pod "$svc-pod-$i" '
			{addresses: [$a], nodeName: $nn,
			 targetRef: {kind: "Pod", namespace: "default", name: $pod},
			 conditions: {ready: ($st == "r"), serving: ($st == "r"), terminating: false}}'),
	done
	jq -nc --arg svc "$svc" --argjson eps "[${eps%,}]" '
	{kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1",
	 metadata: {name: "\($svc)-ipv4", namespace: "default",
	            labels: {"kubernetes.io/service-name": $svc}},
	 addressType: "IPv4",
	 ports: [{name: "http", port: 80, protocol: "TCP"}, {name: "dns", port: 53, protocol: "UDP"}],
	 endpoints: $eps}'
}
until_ok() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}
st() { l4s status "$1" --json 2>/dev/null | jq -c "$2"; }
fes() { st "$1" '.services[0].frontends'; }
has_svc() { l4s status "$1" >/dev/null 2>&1; }
# probe tcp|udp ADDR PORT: how a client's new flow ends: "answered NAME", "refused",
# "timeout" or another errno name.
probe() {
	lab_client "$PY" - "$@" <<'EOF'
import errno, socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(2)
try:
    s.connect((addr, port))
    s.send(b"x\n")
    print("answered", s.recv(100).decode().strip())
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}
# conn SRC ADDR [N]: N TCP connections from SRC to ADDR:80, one after another; the
# backend names that answered, one per line ("fail" for a failed one).
conn() {
	lab_client "$PY" - "$@" <<'EOF'
import socket, sys
src, addr, n = sys.argv[1], sys.argv[2], int(sys.argv[3] if len(sys.argv) > 3 else 1)
for _ in range(n):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.bind((src, 0))
        s.connect((addr, 80))
        s.sendall(b"x\n")
        print(s.recv(100).decode().strip() or "fail")
    except OSError:
        print("fail")
    finally:
        s.close()
EOF
}

# This node, as the kubelet registers it.
jq -nc --arg ip "$NODE_IP" '{kind: "Node", apiVersion: "v1", metadata: {name: "lab-node"},
	status: {addresses: [{type: "Hostname", address: "lab-node"}, {type: "InternalIP", address: $ip},
	                     {type: "InternalIP", address: "fd00:200::1"}]}}' | ctl apply
jq -nc '{kind: "Node", apiVersion: "v1", metadata: {name: "other-node"},
	status: {addresses: [{type: "InternalIP", address: "10.200.0.99"}]}}' | ctl apply

# --- NodePort: the weighted split on NODE_IP:nodePort ------------------------------------------
service np-v1 10.96.7.1 '{}' | ctl apply
service np-v2 10.96.7.2 '{}' | ctl apply
slice np-v1 1 | ctl apply
slice np-v2 2 | ctl apply
service np 10.96.7.10 '{"l4split.io/tracks": "old=np-v1,new=np-v2", "l4split.io/weights": "old=3,new=1"}' \
	'| .spec.type = "NodePort" | .spec.ports[0].nodePort = 30080 | .spec.ports[1].nodePort = 30053' | ctl apply

L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent --kubeconfig "$LAB_ROOT/kubeconfig" \
	--node-name lab-node --metrics-addr 127.0.0.1:9481 2>"$LAB_ROOT/agent.log" &
LAB_PIDS+=($!)

check "nodeport: the node's InternalIP on the nodePort is a frontend, beside the cluster IP" \
	until_ok 10 eval '[ "$(fes default.np.http)" = "[\"10.96.7.10:80/tcp\",\"$NODE_IP:30080/tcp\"]" ]'
check "nodeport: UDP too" eq "$(fes default.np.dns)" "[\"10.96.7.10:53/udp\",\"$NODE_IP:30053/udp\"]"
check "nodeport: only this node's address (not other-node's), only IPv4 (an IPv4 Service)" \
	eq "$(l4s status --json | jq '[.services[].frontends[] | select(test("10.200.0.99|fd00:200"))] | length')" 0
check "nodeport: the agent asked for its own Node only (fieldSelector metadata.name=lab-node)" \
	eval "node curl -sf '$API/_ctl/requests' | jq -e '[.requests[] | select(.path | startswith(\"/api/v1/nodes\"))] | length > 0 and all(.path | test(\"fieldSelector=metadata.name(%3D|=)lab-node\"))' >/dev/null"
out=$(lab_client "$TRAFFIC" tcp $NODE_IP 30080 --count 2000)
check "nodeport: $NODE_IP:30080 answers, old=3 new=1: new (v2) 25% +- 4" share_within "$out" v2 25 4
check "nodeport: ... every connection answered" eq "$(total_answers "$out")" 2000
out=$(lab_client "$TRAFFIC" udp $NODE_IP 30053 --count 300)
check "nodeport: UDP $NODE_IP:30053 answered from the node port, all 300" \
	eq "$(tv "$out" failed) $(tv "$out" bad_source) $(total_answers "$out")" "0 0 300"
del Service np
check "nodeport: the Service deleted: its l4split services go" until_ok 5 eval '! has_svc default.np.http'
check "nodeport: ... and $NODE_IP:30080 no longer reaches a backend" \
	eval '[ "$(probe tcp $NODE_IP 30080)" != "answered v1" ] && [ "$(probe tcp $NODE_IP 30080)" != "answered v2" ]'

# --- externalTrafficPolicy Local and the health check node port ----------------------------------
# v1 and v3 run on this node, v2 on other-node.
service loc 10.96.7.20 '{"l4split.io/enabled": "true"}' \
	'| .spec.type = "LoadBalancer" | .spec.externalTrafficPolicy = "Local" | .spec.healthCheckNodePort = 32100
	 | .spec.ports[0].nodePort = 30081 | .spec.ports[1].nodePort = 30054
	 | .status = {loadBalancer: {ingress: [{ip: "10.96.7.21"}]}}' | ctl apply
slice loc 1 2:r:other-node 3 | ctl apply
check "local: the external frontends are a service of their own, default.loc.http.local" \
	until_ok 5 eval '[ "$(fes default.loc.http.local)" = "[\"10.96.7.21:80/tcp\",\"$NODE_IP:30081/tcp\"]" ]'
check "local: ... with this node's endpoints only (v1, v3)" \
	until_ok 5 eval '[ "$(st default.loc.http.local "[.services[0].backends[].addr] | sort")" = "[\"$(lab_be_addr 1):80\",\"$(lab_be_addr 3):80\"]" ]'
check "local: the cluster IP keeps every endpoint (default.loc.http)" \
	until_ok 5 eval '[ "$(st default.loc.http "[.services[0].frontends, (.services[0].backends | length)]")" = "[[\"10.96.7.20:80/tcp\"],3]" ]'
out=$(lab_client "$TRAFFIC" tcp 10.96.7.21 80 --count 1000)
check "local: the LoadBalancer IP never reaches other-node's endpoint (v2)" \
	eq "$(total_answers "$out") $(tv "$out" name:v2)" "1000 0"
out=$(lab_client "$TRAFFIC" tcp $NODE_IP 30081 --count 500)
check "local: nor does the node port" eq "$(total_answers "$out") $(tv "$out" name:v2)" "500 0"
out=$(lab_client "$TRAFFIC" tcp 10.96.7.20 80 --count 1500)
check "local: the cluster IP reaches all three (v2 33% +- 6)" share_within "$out" v2 33.3 6
hc() { lab_client curl -s -o "$LAB_ROOT/hc.body" -w '%{http_code}' "http://$NODE_IP:32100/healthz"; }
check "local: healthCheckNodePort 32100 answers 200" until_ok 5 eval '[ "$(hc)" = 200 ]'
check "local: ... with localEndpoints 2, the Service named" \
	eq "$(jq -c '[.service.namespace, .service.name, .localEndpoints]' "$LAB_ROOT/hc.body")" '["default","loc",2]'
slice loc 1:r:other-node 2:r:other-node 3:n | ctl apply
check "local: no ready endpoint on this node: 503" until_ok 5 eval '[ "$(hc)" = 503 ]'
check "local: ... localEndpoints 0" eq "$(jq -c .localEndpoints "$LAB_ROOT/hc.body")" 0
check "local: the LoadBalancer IP refuses at once (no local backend: RST)" \
	until_ok 5 eval '[ "$(probe tcp 10.96.7.21 80)" = refused ]'
out=$(lab_client "$TRAFFIC" tcp 10.96.7.20 80 --count 500)
check "local: the cluster IP still reaches the other node's endpoints" \
	eq "$(total_answers "$out") $(tv "$out" name:v3)" "500 0"
del Service loc
check "local: the Service deleted: the health port closes" \
	until_ok 5 eval '[ "$(hc)" = 000 ]'

# A health port the agent cannot open (taken): said once, not on every reconcile pass.
nsenter --net="/run/netns/$LAB-n" "$PY" -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 32101)); s.listen(); time.sleep(900)' &
LAB_PIDS+=($!)
sleep 0.3
service busy 10.96.7.25 '{"l4split.io/enabled": "true"}' \
	'| .spec.type = "LoadBalancer" | .spec.externalTrafficPolicy = "Local" | .spec.healthCheckNodePort = 32101
	 | .spec.ports[0].nodePort = 30082 | .spec.ports[1].nodePort = 30055' | ctl apply
slice busy 1 | ctl apply
check "health port taken: the log says it is not served" \
	wait_for "$LAB_ROOT/agent.log" "service default/busy: healthCheckNodePort 32101 not served: Address already in use" 5
for i in 1 2 3; do slice busy 1:r $((i % 2 + 2)):r | ctl apply; sleep 0.3; done
check "health port taken: ... once, over several reconcile passes" \
	eq "$(grep -c 'healthCheckNodePort 32101 not served' "$LAB_ROOT/agent.log")" 1
del Service busy

# --- sessionAffinity ClientIP with a timeout that expires ---------------------------------------------
TMO=3
service aff-v1 10.96.7.31 '{}' | ctl apply
service aff-v2 10.96.7.32 '{}' | ctl apply
slice aff-v1 1 | ctl apply
slice aff-v2 2 | ctl apply
affsvc() {
	service aff 10.96.7.30 "{\"l4split.io/tracks\": \"v1=aff-v1,v2=aff-v2\", \"l4split.io/weights\": \"$1\"}" \
		"| .spec.sessionAffinity = \"ClientIP\" | .spec.sessionAffinityConfig = {clientIP: {timeoutSeconds: $TMO}}"
}
affsvc "v1=1,v2=1" | ctl apply
check "affinity: spec.sessionAffinity ClientIP: client-ip with timeoutSeconds $TMO in the maps" \
	until_ok 5 eval '[ "$(st default.aff.http "[.services[0].affinity, .services[0].affinity_timeout]")" = "[\"client-ip\",$TMO]" ]'
a=$(conn 10.200.0.2 10.96.7.30)
check "affinity: client A's first connection is answered ($a)" test "$a" = v1 -o "$a" = v2
o=$([ "$a" = v1 ] && echo v2 || echo v1)
affsvc "$a=1,$o=999" | ctl apply
check "affinity: a weight change by annotation sends everyone else to $o" \
	until_ok 5 eval '[ "$(st default.aff.http ".services[0].tracks.$o")" = 999 ]'
out=$(conn 10.200.0.2 10.96.7.30 10 | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
check "affinity: A's 10 new connections all keep $a" eq "$out" "$a:10 "
check "affinity: client B, never seen, follows the weights ($o)" eq "$(conn 10.200.0.3 10.96.7.30 3 | sort -u | tr '\n' ' ')" "$o "
sleep $((TMO + 1))
check "affinity: A idle longer than timeoutSeconds: its next connection follows the weights ($o)" \
	eq "$(conn 10.200.0.2 10.96.7.30)" "$o"
service aff 10.96.7.30 '{"l4split.io/tracks": "v1=aff-v1,v2=aff-v2", "l4split.io/affinity": "client-ip"}' | ctl apply
check "affinity: the annotation alone: client-ip, hash-only (no timeout), as documented" \
	until_ok 5 eval '[ "$(st default.aff.http "[.services[0].affinity, .services[0].affinity_timeout]")" = "[\"client-ip\",null]" ]'

# --- Reject on no backend: every endpoint goes not ready ----------------------------------------------
service rj 10.96.7.40 '{"l4split.io/enabled": "true"}' | ctl apply
slice rj 1 2 | ctl apply
check "reject: the Service answers while its endpoints are ready" \
	until_ok 5 eval '[[ "$(probe tcp 10.96.7.40 80)" = "answered v"* ]]'
slice rj 1:n 2:n | ctl apply
check "reject: all endpoints not ready: no backend takes new flows" \
	until_ok 5 eval '[ "$(st default.rj.http "[.services[0].backends[] | select(.weight > 0)] | length")" = 0 ]'
t0=$(date +%s%N)
r=$(probe tcp 10.96.7.40 80)
ms=$((($(date +%s%N) - t0) / 1000000))
check "reject: a new TCP connect is refused (ECONNREFUSED), at once (${ms} ms)" \
	eval '[ "$r" = refused ] && [ $ms -lt 1500 ]'
check "reject: UDP gets ICMP port unreachable (connected socket: ECONNREFUSED)" \
	eq "$(probe udp 10.96.7.40 53)" refused

env L4SPLIT_PIN_DIR="$LAB_ROOT/cpin" nsenter --net="/run/netns/$LAB-c" "$L4SPLIT" detach c0 >/dev/null
finish
