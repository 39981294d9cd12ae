#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The agent against an API-server stand-in over TLS (tests/tools/k8s-apiserver.py: real list and
# watch semantics, chunked streams, bookmarks, 410) fed with the fixture documents:
# add, scale, weight change by annotation, pod termination and deletion, a bad
# annotation, 410 Gone, an API server restart, an agent restart that must not rebuild
# anything, /metrics checked with a Prometheus parser, and two agents that agree.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-ag$$
. scripts/lab.sh
. tests/lib/e2e.sh

FIX=tests/fixtures/k8s
APISERVER=tests/tools/k8s-apiserver.py
PY=/usr/bin/python3 # Debian's, with python3-prometheus-client (scripts/deps.sh)
TOKEN=t0ken-$$
lab_start old old2 new
# TLS as a cluster has it: a CA, a server certificate for 127.0.0.1, and another CA
# that must not be trusted.
tls() {
	local d=$LAB_ROOT/tls
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 1 \
		-subj /CN=l4e-test-ca &&
		openssl req -newkey rsa:2048 -nodes -keyout "$d/srv.key" -out "$d/srv.csr" \
			-subj /CN=127.0.0.1 &&
		printf 'subjectAltName=IP:127.0.0.1\n' >"$d/san.ext" &&
		openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
			-CAcreateserial -out "$d/srv.crt" -days 1 -extfile "$d/san.ext" &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/other.key" \
			-out "$d/other.crt" -days 1 -subj /CN=l4e-other-ca
} >/dev/null 2>&1
check "test CA and server certificate made with openssl" tls
l4s attach n0 --flows 262144 >/dev/null

node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
api_start() {
	rm -f "$LAB_ROOT/api.port"
	nsenter --net="/run/netns/$LAB-n" "$PY" "$APISERVER" --slice-controller --port "${1:-0}" --port-file "$LAB_ROOT/api.port" \
		--state "$LAB_ROOT/api.state" --token "$TOKEN" --timeout 900 \
		--cert "$LAB_ROOT/tls/srv.crt" --key "$LAB_ROOT/tls/srv.key" &
	API_PID=$!
	LAB_PIDS+=($API_PID)
	wait_for "$LAB_ROOT/api.port" . 10 >/dev/null && APIPORT=$(cat "$LAB_ROOT/api.port")
}
ctl() {
	node curl -sf --cacert "$LAB_ROOT/tls/ca.crt" -X POST -H 'Content-Type: application/json' \
		--data @- "https://127.0.0.1:$APIPORT/_ctl/$1" >/dev/null
}
api_start || { not_ok "API stand-in starts"; finish; exit 1; }
kubeconfig() { # CA_FILE
	cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://127.0.0.1:$APIPORT
    certificate-authority-data: $(base64 -w0 "$1")
users:
- name: agent
  user:
    token: $TOKEN
contexts:
- name: lab
  context:
    cluster: lab
    user: agent
current-context: lab
EOF
}
kubeconfig "$LAB_ROOT/tls/ca.crt" >"$LAB_ROOT/kubeconfig"

# Documents: the fixture Pod and Service, given lab addresses, labels and annotations.
pod() { # NAME TRACK BACKEND_INDEX [JQ]
	jq -c --arg n "$1" --arg t "$2" --arg ip "$(lab_be_addr "$3")" "
		.metadata = {name: \$n, namespace: \"default\", labels: {app: \"web\", run: \$t}}
		| .spec.containers[0].ports = [{name: \"http\", containerPort: 80, protocol: \"TCP\"},
		                              {name: \"dns\", containerPort: 53, protocol: \"UDP\"}]
		| .status.podIP = \$ip | .status.podIPs = [{ip: \$ip}] ${4:-}" \
		$FIX/podlist/pod-dualstack-kubectl-get-o-yaml.json
}
service() { # WEIGHTS [JQ]
	jq -c --arg w "$1" --arg vip "$VIP4" "
		.metadata.namespace = \"default\"
		| .metadata.annotations += {\"l4split.io/weights\": \$w, \"l4split.io/track-label\": \"run\"}
		| .spec.clusterIP = \$vip | .spec.clusterIPs = [\$vip]
		| .spec.ports = [{name: \"http\", port: 80, protocol: \"TCP\", targetPort: \"http\"},
		                 {name: \"dns\", port: 53, protocol: \"UDP\", targetPort: \"dns\"}]
		| .status.loadBalancer = {ingress: [{ip: \"10.96.0.11\"}]} ${2:-}" \
		$FIX/kubectl-generated/service-loadbalancer-web-annotated-udp.kubectl.json
}
SVC=default.web.http
agent_start() { # PIN_DIR METRICS_ADDR LOG
	L4SPLIT_PIN_DIR=$1 nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent \
		--kubeconfig "$LAB_ROOT/kubeconfig" --node-name lab-node --metrics-addr "$2" 2>>"$3" &
	AGENT_PID=$!
	LAB_PIDS+=($!)
}
tracks() { l4s status "$SVC" --json 2>/dev/null | jq -cS '.services[0].tracks'; }
nbackends() { l4s status "$SVC" --json 2>/dev/null | jq '[.services[0].backends[] | select(.weight > 0)] | length'; }
# until_ms SECONDS CMD...: until CMD succeeds; prints the milliseconds it took.
until_ms() {
	local limit=$1 t0 t
	shift
	t0=$(date +%s%N)
	until "$@"; do
		t=$((($(date +%s%N) - t0) / 1000000))
		[ $t -ge $((limit * 1000)) ] && { echo "timeout"; return 1; }
		sleep 0.02
	done
	echo $((($(date +%s%N) - t0) / 1000000))
}
is() { [ "$("$1")" = "$2" ]; }
metrics() { node curl -sf "http://127.0.0.1:9477/metrics"; }
metric() { metrics | awk -v m="$1" '$1 == m { print $2 }'; }

# --- TLS: an API server whose certificate the CA does not vouch for is refused ------------
kubeconfig "$LAB_ROOT/tls/other.crt" >"$LAB_ROOT/kubeconfig.other"
mkdir -p "$LAB_ROOT/pin-other"
L4SPLIT_PIN_DIR=$LAB_ROOT/pin-other nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent \
	--kubeconfig "$LAB_ROOT/kubeconfig.other" --metrics-addr off 2>"$LAB_ROOT/agent-other.log" &
other=$!
LAB_PIDS+=($other)

# --- Add -------------------------------------------------------------------------------
pod old-web-1 old-web 1 | ctl apply
pod new-web-1 new-web 3 | ctl apply
service "old-web=1,new-web=1" | ctl apply
agent_start "$LAB_PIN" 127.0.0.1:9477 "$LAB_ROOT/agent.log"
ms=$(until_ms 10 is tracks '{"new-web":1,"old-web":1}')
check "add: the agent creates $SVC from the annotated Service (${ms} ms)" test "$ms" != timeout
check "add: one backend per ready pod" eq "$(nbackends)" 2
check "add: frontends are the clusterIP and the LoadBalancer IP" \
	eq "$(l4s status "$SVC" --json | jq -c '.services[0].frontends | sort')" '["10.96.0.10:80/tcp","10.96.0.11:80/tcp"]'
check "add: the UDP port is a service of its own" eq "$(l4s status default.web.dns --json | jq '.services[0].backends | length')" 2
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000)
check "add: 1:1 by annotation over 1000 connections is 50% +- 7" share_within "$out" new 50 7
out=$(lab_client "$TRAFFIC" tcp 10.96.0.11 80 --count 200)
check "add: the LoadBalancer IP answers too" eq "$(total_answers "$out")" 200
# The agent reads EndpointSlices, and pods only as metadata, only those with the track label.
reqs() { node curl -sf --cacert "$LAB_ROOT/tls/ca.crt" "https://127.0.0.1:$APIPORT/_ctl/requests"; }
check "API load: EndpointSlices listed and watched" \
	eq "$(reqs | jq '[.requests[] | select(.path | startswith("/apis/discovery.k8s.io/v1/endpointslices"))] | length >= 2')" true
check "API load: pods listed and watched as PartialObjectMetadata, selected on the label run" \
	eq "$(reqs | jq -c '[.requests[] | select(.path | startswith("/api/v1/pods")) | [(.path | test("labelSelector=run(&|$)")), (.accept | test("as=PartialObjectMetadata(List)?;g=meta.k8s.io;v=v1"))]] | unique')" '[[true,true]]'
check "API load: no full Pod list or watch" \
	eq "$(reqs | jq '[.requests[] | select((.path | test("/pods")) and (.accept | test("PartialObjectMetadata") | not))] | length')" 0
check "TLS: an agent that does not trust the server's CA says why" \
	wait_for "$LAB_ROOT/agent-other.log" "listing services failed: .*(certificate|SSL)" 20
check "TLS: ... and writes nothing" eq "$(L4SPLIT_PIN_DIR=$LAB_ROOT/pin-other "$L4SPLIT" status --json | jq '.services | length')" 0
kill "$other"
wait "$other" 2>/dev/null

# --- Scale: a second old pod -------------------------------------------------------------
pod old-web-2 old-web 2 | ctl apply
ms=$(until_ms 5 is nbackends 3)
check "scale: a new ready pod becomes a backend within 1 s (${ms} ms)" test "$ms" != timeout -a "${ms/timeout/9999}" -lt 1000
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "scale: still 50% new with two old pods (weights, not replica counts)" share_within "$out" new 50 5

# --- Weight change by annotation -----------------------------------------------------------
service "old-web=99,new-web=1" | ctl apply
ms=$(until_ms 5 is tracks '{"new-web":1,"old-web":99}')
check "weight: kubectl annotate reaches the maps within 1 s (${ms} ms)" test "$ms" != timeout -a "${ms/timeout/9999}" -lt 1000
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 4000)
check "weight: 99:1 over 4000 connections is 1% +- 0.7" share_within "$out" new 1 0.7

# --- Pod termination and deletion -------------------------------------------------------------
pod old-web-2 old-web 2 '| .metadata.deletionTimestamp = "2026-11-27T10:00:00Z" | .metadata.deletionGracePeriodSeconds = 30' | ctl apply
ms=$(until_ms 5 is nbackends 2)
check "terminating pod: drained (weight 0) within 1 s (${ms} ms)" test "$ms" != timeout
check "terminating pod: still a backend (its connections finish)" \
	eq "$(l4s status "$SVC" --json | jq '.services[0].backends | length')" 3
echo '{"kind":"Pod","namespace":"default","name":"old-web-2"}' | ctl delete
ms=$(until_ms 5 eval '[ "$(l4s status "$SVC" --json | jq ".services[0].backends | length")" = 2 ]')
check "deleted pod: the backend is gone (${ms} ms)" test "$ms" != timeout
# ... from every port's service (one reconcile pass writes them one after the other)
until_ms 5 eval '[ "$(l4s status --json | jq "[.services[].backends | length] | unique")" = "[2]" ]' >/dev/null

# --- Bad annotation: the last good configuration stays ------------------------------------------
# Every port of web done with the deletion (http and dns are written one after the other
# in a pass: a snapshot between the two would differ from the next one).
until_ms 5 eval '[ "$(l4s status --json | jq -c "[.services[].backends | length] | unique")" = "[2]" ]' >/dev/null
before=$(l4s status --json)
errs0=$(metric l4split_agent_reconcile_errors_total)
service "old-web=lots,new-web=1" | ctl apply
ms=$(until_ms 5 grep -q 'annotation l4split.io/weights "old-web=lots,new-web=1" is wrong' "$LAB_ROOT/agent.log")
check "bad annotation: a log line says which annotation and why (${ms} ms)" test "$ms" != timeout
check "bad annotation: the maps are untouched" eq "$(l4s status --json)" "$before"
check "bad annotation: counted in l4split_agent_reconcile_errors_total" \
	test "$(metric l4split_agent_reconcile_errors_total)" -gt "$errs0"
service "old-web=3,new-web=1" | ctl apply
ms=$(until_ms 5 is tracks '{"new-web":1,"old-web":3}')
check "a good annotation after a bad one applies (${ms} ms)" test "$ms" != timeout

# --- An annotation value cannot forge log lines or drive a terminal ---------------------------------
service $'old-web=1\n2026-01-01T00:00:00Z l4split-agent: FORGED\033[2J,new-web=1' | ctl apply
ms=$(until_ms 5 grep -qF 'old-web=1\n2026-01-01T00:00:00Z l4split-agent: FORGED\e[2J,new-web=1' "$LAB_ROOT/agent.log")
check "an annotation's newline and ESC are logged escaped, on the line that quotes it (${ms} ms)" \
	test "$ms" != timeout
check "  no forged log line, no raw ESC in the log" \
	eq "$(grep -c '^2026-01-01T00:00:00Z l4split-agent: FORGED' "$LAB_ROOT/agent.log") $(tr -d -c '\033' <"$LAB_ROOT/agent.log" | wc -c)" "0 0"
service "old-web=3,new-web=1" | ctl apply

# --- 410 Gone: compaction ends the watches; the agent lists again ---------------------------------
relists0=$(metrics | awk '$1 == "l4split_agent_relists_total{resource=\"services\"}" { print $2 }')
ctl compact </dev/null
service "old-web=4,new-web=1" | ctl apply
ms=$(until_ms 10 is tracks '{"new-web":1,"old-web":4}')
check "after 410 Gone: the agent lists again and converges (${ms} ms)" test "$ms" != timeout
check "after 410 Gone: l4split_agent_relists_total went up" \
	test "$(metrics | awk '$1 == "l4split_agent_relists_total{resource=\"services\"}" { print $2 }')" -gt "$relists0"

# --- API server restart --------------------------------------------------------------------------
kill "$API_PID"
wait "$API_PID" 2>/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
check "API server down: the datapath keeps forwarding" eq "$(total_answers "$out")" 200
api_start "$APIPORT"
check "API server restarted on the same port, with its state" test -n "${APIPORT:-}"
service "old-web=5,new-web=1" | ctl apply
ms=$(until_ms 40 is tracks '{"new-web":1,"old-web":5}')
check "API server restart: the agent reconnects and converges (${ms} ms)" test "$ms" != timeout

# --- /metrics, checked with a Prometheus parser; /healthz -----------------------------------------
check "/healthz says ok" eq "$(node curl -sf http://127.0.0.1:9477/healthz)" ok
metrics >"$LAB_ROOT/metrics.txt"
check "/metrics parses as Prometheus text exposition" "$PY" -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
need = ["l4split_backend_flows", "l4split_service_flows", "l4split_track_weight",
        "l4split_backend_share_ratio", "l4split_datapath_verdicts", "l4split_agent_reconciles",
        "l4split_agent_reconcile_duration_seconds", "l4split_backend_active_flows",
        "l4split_backend_resets", "l4split_backend_answered_flows"]
missing = [n for n in need if n not in fams]
if missing:
    sys.exit("missing families: %s" % missing)
' "$LAB_ROOT/metrics.txt"
flows=$(l4s stats "$SVC" --json | jq '.services[0].flows')
check "/metrics: service flows equal 'l4split stats'" \
	eq "$(awk -v m="l4split_service_flows_total{namespace=\"default\",service=\"web\",port=\"http\",family=\"ipv4\",l4split_service=\"$SVC\"}" '$1 == m { print $2 }' "$LAB_ROOT/metrics.txt")" "$flows"
check "/metrics: the service flows count every connection the clients made (7400)" test "$flows" -ge 7400
check "/metrics: configured weight of new-web is 1" \
	grep -q "^l4split_track_weight{namespace=\"default\",service=\"web\",port=\"http\",family=\"ipv4\",l4split_service=\"$SVC\",track=\"new-web\"} 1.000000$" "$LAB_ROOT/metrics.txt"

# --- Agent restart: adopts the state, rebuilds nothing ----------------------------------------------
table0=$(l4s status "$SVC" --table --json | jq -c '.services[0].table' | md5sum)
gen0=$(l4s status "$SVC" --json | jq '.services[0].backends | map(.id) | sort')
lab_client "$TRAFFIC" hold $VIP4 80 --conns 20 --duration 4 --interval-ms 20 >"$LAB_ROOT/hold.out" &
hold=$!
wait_for "$LAB_ROOT/hold.out" '^opened' 10
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
check "agent: SIGTERM ends it cleanly (exit 0)" eq "$?" 0
agent_start "$LAB_PIN" 127.0.0.1:9477 "$LAB_ROOT/agent2.log"
ms=$(until_ms 10 eval '[ "$(metric l4split_agent_reconciles_total)" -ge 1 ] 2>/dev/null')
check "restarted agent reconciles (${ms} ms)" test "$ms" != timeout
check "restarted agent: nothing to write (0 commits)" eq "$(metric l4split_agent_commits_total)" 0
check "restarted agent: the same table" eq "$(l4s status "$SVC" --table --json | jq -c '.services[0].table' | md5sum)" "$table0"
check "restarted agent: the same backend ids" eq "$(l4s status "$SVC" --json | jq '.services[0].backends | map(.id) | sort')" "$gen0"
wait $hold
check "agent restart: 0 broken long-lived connections" eq "$(tv "$(cat "$LAB_ROOT/hold.out")" broken)" 0

# --- Two agents (two nodes) agree ---------------------------------------------------------------------
PIN2=$LAB_ROOT/pin2
mkdir -p "$PIN2"
agent_start "$PIN2" off "$LAB_ROOT/agent-b.log"
l2() { L4SPLIT_PIN_DIR=$PIN2 nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" "$@"; }
ms=$(until_ms 10 eval '[ "$(l2 status "$SVC" --json 2>/dev/null | jq -cS ".services[0].tracks")" = "{\"new-web\":1,\"old-web\":5}" ]')
check "second agent (another node) converges (${ms} ms)" test "$ms" != timeout
check "two agents, same API state: byte-identical lookup tables" \
	eq "$(l2 status "$SVC" --table --json | jq -c '.services[0].table' | md5sum)" "$(l4s status "$SVC" --table --json | jq -c '.services[0].table' | md5sum)"
ROUTE=${TRAFFIC%/*}/l4s-route
L4SPLIT_PIN_DIR=$LAB_PIN "$ROUTE" $VIP4 80 tcp 1000 >"$LAB_ROOT/route.a"
L4SPLIT_PIN_DIR=$PIN2 "$ROUTE" $VIP4 80 tcp 1000 >"$LAB_ROOT/route.b"
echo "#   1000 flows on node a: $(sort "$LAB_ROOT/route.a" | uniq -c | tr -s ' ' | tr '\n' ';')"
check "two agents: the same 1000 new flows go to the same backends on both nodes" \
	cmp -s "$LAB_ROOT/route.a" "$LAB_ROOT/route.b"
check "... and they are spread over both tracks (old-web=5 new-web=1)" \
	test "$(sort -u "$LAB_ROOT/route.a" | grep -vc drop)" -eq 2

# --- Long track label values; a terminating pod with a ready pod's IP (issue 21 16, 4) ---------------
LONG=release-2026-12-05-abcdef0123456789-canary
pod long-web-1 "$LONG" 2 | ctl apply
service "old-web=5,new-web=1,$LONG=3" | ctl apply
ms=$(until_ms 10 eval '[ "$(tracks | jq "[.[]] | sort")" = "$(jq -n "[1, 3, 5]")" ]')
check "a pod whose track label has 42 characters is a backend (was dropped) (${ms} ms)" test "$ms" != timeout
short=$(tracks | jq -r 'keys[] | select(startswith("release-"))')
check "... on a shortened track, weighted by the annotation naming the long value" \
	eq "$(tracks | jq -c --arg s "$short" '.[$s]') ${#short}" "3 31"
check "... said in the agent's log" grep -q "$SVC: label run=\"$LONG\" is longer than 31 characters: its track is \"$short\"" "$LAB_ROOT/agent2.log"
n0=$(metric l4split_agent_reconciles_total)
pod old-web-9 old-web 2 '| .metadata.deletionTimestamp = "2026-11-27T10:00:00Z"' | ctl apply
ms=$(until_ms 5 eval '[ "$(metric l4split_agent_reconciles_total)" -gt "$n0" ]')
check "terminating pod with the IP of a ready one: reconciled (${ms} ms)" test "$ms" != timeout
check "... the ready pod keeps the address: its track, weight 1" \
	eq "$(l4s status "$SVC" --json | jq -r ".services[0].backends[] | select(.addr == \"$(lab_be_addr 2):80\") | \"\\(.track) \\(.weight)\"")" "$short 1"

# --- A Service port out of range; a targetPort name no pod has (issue 21 items 2, 1) -----------------
service "old-web=1" '| .metadata.name = "badport" | .spec.ports = [{name: "http", port: 70000, protocol: "TCP", targetPort: "http"}]' | ctl apply
ms=$(until_ms 5 grep -q 'service default/badport: spec.ports\[0\].port: 70000 is not a port number' "$LAB_ROOT/agent2.log")
check "Service port 70000: logged, naming the field (${ms} ms)" test "$ms" != timeout
check "... and no l4split service for it" eval '! l4s status default.badport.http >/dev/null 2>&1'
service "old-web=1" '| .metadata.name = "badname" | .spec.ports = [{name: "http", port: 8080, protocol: "TCP", targetPort: "htpp"}]' | ctl apply
ms=$(until_ms 5 grep -q 'service default/badname: port http: port "http": none of the 1 EndpointSlices with endpoints has a TCP port of that name' "$LAB_ROOT/agent2.log")
check "targetPort htpp (the pods have http): logged (${ms} ms)" test "$ms" != timeout
check "... and no l4split service without backends for it" eval '! l4s status default.badname.http >/dev/null 2>&1'
for n in badport badname; do echo "{\"kind\":\"Service\",\"namespace\":\"default\",\"name\":\"$n\"}" | ctl delete; done

# --- Services that can get no traffic: logged, and an Event on the Service (issue 21 items 15, 26) --------
events() { node curl -sf --cacert "$LAB_ROOT/tls/ca.crt" -H "Authorization: Bearer $TOKEN" \
	"https://127.0.0.1:$APIPORT/api/v1/namespaces/default/events"; }
ev_of() { # SERVICE: "REASON: MESSAGE" of the Events about it
	events | jq -r --arg n "$1" '.items[] | select(.involvedObject.kind == "Service" and .involvedObject.name == $n)
		| "\(.type) \(.reason) \(.source.component)@\(.source.host): \(.message)"'
}
service "old-web=1" '| .metadata.name = "nosel" | del(.spec.selector) | .spec.clusterIP = "10.96.0.31" | .spec.clusterIPs = ["10.96.0.31"] | .status = {}' | ctl apply
ms=$(until_ms 5 eval 'ev_of nosel | grep -q "spec.selector is empty"')
check "no selector: an Event on the Service says it gets no backends (${ms} ms)" test "$ms" != timeout
check "... a Warning from l4split-agent on this node" grep -q '^Warning L4splitNoTraffic l4split-agent@lab-node: ' <<<"$(ev_of nosel)"
check "... and the log says it" grep -q 'service default/nosel: spec.selector is empty' "$LAB_ROOT/agent2.log"
service "old-web=1,ghost=1" '| .metadata.name = "ghost" | .spec.clusterIP = "10.96.0.32" | .spec.clusterIPs = ["10.96.0.32"] | .status = {}' | ctl apply
ms=$(until_ms 5 eval 'ev_of ghost | grep -q "gives track ghost weight, but no ready pod is on it"')
check "weights naming a track no pod has: an Event says so (${ms} ms)" test "$ms" != timeout
service "old-web=1" '| .metadata.name = "hl" | .spec.clusterIP = "None" | .spec.clusterIPs = ["None"] | .status = {}' | ctl apply
ms=$(until_ms 5 eval 'ev_of hl | grep -q "headless (clusterIP None): no VIP"')
check "a headless Service: said to be headless, not 'no VIP yet' (${ms} ms)" test "$ms" != timeout
service "old-web=1" '| .metadata.name = "xn" | .spec = {type: "ExternalName", externalName: "db.example.com"} | .status = {}' | ctl apply
ms=$(until_ms 5 eval 'ev_of xn | grep -q "ExternalName is a DNS alias"')
check "an ExternalName Service: said to be a DNS alias (${ms} ms)" test "$ms" != timeout
n_ev=$(events | jq '.items | length')
n0=$(metric l4split_agent_reconciles_total)
service "" '| .metadata.annotations = {} | .metadata.labels.touched = "again"' | ctl apply
until_ms 5 eval '[ "$(metric l4split_agent_reconciles_total)" -gt "$n0" ]' >/dev/null
check "the same reasons on the next pass: no new Events ($n_ev)" eq "$(events | jq '.items | length')" "$n_ev"
for n in nosel ghost hl xn; do echo "{\"kind\":\"Service\",\"namespace\":\"default\",\"name\":\"$n\"}" | ctl delete; done

# --- The annotations go: so does the l4split service ------------------------------------------------------
service "" '| .metadata.annotations = {}' | ctl apply
ms=$(until_ms 5 eval '! l4s status "$SVC" >/dev/null 2>&1')
check "annotations removed: the agent deletes what it made (${ms} ms)" test "$ms" != timeout
check "... and stops watching pod metadata: no Service uses a track label" \
	wait_for "$LAB_ROOT/agent2.log" "no Service uses track label run any more: pod metadata watch stopped" 5
l4s service add manual 10.96.0.20:80/tcp >/dev/null
# Make the agent reconcile once more (any Service event), and wait for that pass.
n0=$(metric l4split_agent_reconciles_total)
service "" '| .metadata.annotations = {} | .metadata.labels.touched = "yes"' | ctl apply
ms=$(until_ms 5 eval '[ "$(metric l4split_agent_reconciles_total)" -gt "$n0" ]')
check "the agent reconciled after the hand-made service appeared (${ms} ms)" test "$ms" != timeout
check "a service made by hand is left alone" quiet l4s status manual
finish
