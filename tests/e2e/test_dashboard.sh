#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The Grafana dashboard (deploy/grafana/l4split.json) against a real Prometheus
# (Debian's) scraping a real agent every second: the agent keeps a Service of two tracks
# (old-web=3, new-web=1; one new-web pod resets every connection) from the API-server
# stand-in, clients make flows through the datapath, and a hand-made service without
# backends drops its flows. Then every panel query of the dashboard, read from its JSON
# with $namespace, $service, $port and $__rate_interval substituted, is run against
# Prometheus' HTTP API (tests/tools/dashboard-check.py): one TAP line per query (at least
# one series, only metrics that exist), and the observed share per track within 5 pp of the
# configured one. The labels a canary tool queries (namespace, service = the Kubernetes
# Service, port, track, backend) and the query of issue #16 are checked too.
# L4S_RENDER_PNG=FILE also plots two panels' series into FILE (tests/tools/render-panels.py).
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-db$$
. scripts/lab.sh
. tests/lib/e2e.sh

DASH=deploy/grafana/l4split.json
FIX=tests/fixtures/k8s
PY=/usr/bin/python3
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
RATE_INTERVAL=10s
SVC=default.web.http # the l4split name of Service default/web, port http

if [ ! -x "$PROMETHEUS" ]; then
	not_ok "Prometheus is installed ($PROMETHEUS; scripts/deps.sh installs Debian's prometheus)"
	finish
	exit 1
fi
lab_start old new new
node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
# A free TCP port on the node namespace's loopback.
free_port() { node "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The third backend (a second new-web pod) resets every connection: a failing canary pod.
kill "${LAB_PIDS[2]}" && wait "${LAB_PIDS[2]}" 2>/dev/null
nsenter --net="/run/netns/$LAB-b3" "$TRAFFIC" serve new --tcp 80 --rst --timeout 600 &
LAB_PIDS+=($!)
l4s attach n0 >/dev/null || { not_ok "attach"; finish; exit 1; }

# --- The API-server stand-in and the agent -------------------------------------------------------
APIPORT=$(free_port)
# nsenter execs each server below: $! is the server's own PID, killed by the lab's trap.
nsenter --net="/run/netns/$LAB-n" "$PY" tests/tools/k8s-apiserver.py --slice-controller --listen 127.0.0.1 --port "$APIPORT" \
	--state "$LAB_ROOT/api.state" --timeout 600 &
LAB_PIDS+=($!)
lab_kubeconfig "http://127.0.0.1:$APIPORT" >"$LAB_ROOT/kubeconfig"
wait_listen "$LAB-n" "$APIPORT" 10 || { not_ok "API stand-in listens"; finish; exit 1; }
ctl() { node curl -sf -X POST -H 'Content-Type: application/json' --data @- \
	"http://127.0.0.1:$APIPORT/_ctl/$1" >/dev/null; }
pod() { # NAME TRACK BACKEND_INDEX
	jq -c --arg n "$1" --arg t "$2" --arg ip "$(lab_be_addr "$3")" '
		.metadata = {name: $n, namespace: "default", labels: {app: "web", run: $t}}
		| .spec.containers[0].ports = [{name: "http", containerPort: 80, protocol: "TCP"}]
		| .status.podIP = $ip | .status.podIPs = [{ip: $ip}]' \
		$FIX/podlist/pod-dualstack-kubectl-get-o-yaml.json
}
service() { # NAME CLUSTER_IP WEIGHTS TOUCH
	jq -c --arg n "$1" --arg vip "$2" --arg w "$3" --arg touch "$4" '
		.metadata.namespace = "default" | .metadata.name = $n | .metadata.labels.touched = $touch
		| .metadata.annotations += {"l4split.io/weights": $w, "l4split.io/track-label": "run"}
		| .spec.clusterIP = $vip | .spec.clusterIPs = [$vip] | .status = {}
		| .spec.ports = [{name: "http", port: 80, protocol: "TCP", targetPort: "http"}]' \
		$FIX/kubectl-generated/service-loadbalancer-web-annotated-udp.kubectl.json
}
pod old-web-1 old-web 1 | ctl apply
pod new-web-1 new-web 2 | ctl apply
pod new-web-2 new-web 3 | ctl apply
service web "$VIP4" "old-web=3,new-web=1" 0 | ctl apply
# A Service whose weights annotation is wrong: a reconcile error on every pass.
service broken 10.96.0.33 "old-web=lots" 0 | ctl apply
MPORT=$(free_port)
L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent --kubeconfig "$LAB_ROOT/kubeconfig" \
	--node-name lab-node --metrics-addr "127.0.0.1:$MPORT" 2>"$LAB_ROOT/agent.log" &
LAB_PIDS+=($!)
end=$((SECONDS + 15))
until [ "$(l4s status "$SVC" --json 2>/dev/null | jq -cS '.services[0].tracks')" = '{"new-web":1,"old-web":3}' ] ||
	[ $SECONDS -ge $end ]; do sleep 0.1; done
check "the agent keeps $SVC from the Service: old-web=3, new-web=1" \
	eq "$(l4s status "$SVC" --json 2>/dev/null | jq -cS '.services[0].tracks')" '{"new-web":1,"old-web":3}'
# A service without backends: its new flows are dropped (drop_no_backend).
l4s service add manual 10.96.0.20:80/tcp >/dev/null

# --- Prometheus, scraping the agent every second --------------------------------------------------
PPORT=$(free_port)
PROM=http://127.0.0.1:$PPORT
cat >"$LAB_ROOT/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: l4split
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
nsenter --net="/run/netns/$LAB-n" "$PROMETHEUS" --config.file="$LAB_ROOT/prometheus.yml" --storage.tsdb.path="$LAB_ROOT/prom" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$LAB_ROOT/prometheus.log" 2>&1 &
LAB_PIDS+=($!)
promq() { node curl -sf --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=$1"; }
end=$((SECONDS + 30))
until [ "$(promq 'up{job="l4split"}' 2>/dev/null | jq -r '.data.result[0].value[1]')" = 1 ] ||
	[ $SECONDS -ge $end ]; do sleep 0.2; done
if ! check "Prometheus scrapes the agent (up == 1)" \
	eq "$(promq 'up{job="l4split"}' 2>/dev/null | jq -r '.data.result[0].value[1]')" 1; then
	sed 's/^/#   /' "$LAB_ROOT/prometheus.log" | tail -20
	finish
	exit 1
fi

# --- Traffic: 200 new flows/s through both tracks for 25 s; drops; reconcile passes --------------
nsenter --net="/run/netns/$LAB-c" "$TRAFFIC" tcp "$VIP4" 80 --count 5000 --rate 200 --conn-timeout 2 --timeout 40 \
	>"$LAB_ROOT/traffic.out" &
traffic=$!
LAB_PIDS+=("$traffic")
nsenter --net="/run/netns/$LAB-c" "$TRAFFIC" tcp 10.96.0.20 80 --count 25 --conn-timeout 1 --timeout 30 >/dev/null &
drops=$!
LAB_PIDS+=("$drops")
# The Service touched once a second (same weights): the agent reconciles, the bad one errs.
(for i in $(seq 1 25); do
	service web "$VIP4" "old-web=3,new-web=1" "$i" | ctl apply
	sleep 1
done) &
toucher=$!
LAB_PIDS+=("$toucher")
# Enough samples for a $__rate_interval window and a bit: bounded by the traffic's own
# duration (it runs 25 s).
t0=$SECONDS
end=$((SECONDS + 40))
until [ $((SECONDS - t0)) -ge 15 ] || [ $SECONDS -ge $end ]; do
	kill -0 $traffic 2>/dev/null || break
	sleep 0.5
done
check "traffic still flowing while the panels are queried" kill -0 $traffic

# --- The labels a canary tool queries ------------------------------------------------------------
jqr() { jq -cS "$1" 2>/dev/null; }
check "the query of issue #16 (sum by track of flows, namespace=default, service=web): both tracks, flows on each" \
	eq "$(promq 'sum by (track) (rate(l4split_backend_flows_total{namespace="default",service="web"}[1m]))' |
		jqr '[.data.result[] | {(.metric.track): ((.value[1] | tonumber) > 0)}] | add')" '{"new-web":true,"old-web":true}'
check "a backend series of web: namespace, service, port, family, track, backend and the l4split name" \
	eq "$(promq "l4split_backend_flows_total{service=\"web\",backend=\"$(lab_be_addr 1):80\"}" |
		jqr '.data.result[0].metric | del(.__name__, .instance, .job)')" \
	"{\"backend\":\"$(lab_be_addr 1):80\",\"family\":\"ipv4\",\"l4split_service\":\"$SVC\",\"namespace\":\"default\",\"port\":\"http\",\"service\":\"web\",\"track\":\"old-web\"}"
# (Prometheus keeps no empty label: namespace="" selects a series without one.)
check "a service made by hand: namespace \"\", service = its l4split name" \
	eq "$(promq 'l4split_service_flows_total{namespace="",l4split_service="manual"}' |
		jqr '.data.result[] | [.metric.namespace // "", .metric.service, .metric.port // ""]')" '["","manual",""]'

# --- Every panel query of the dashboard -------------------------------------------------------------
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done < <(node timeout 60 "$PY" tests/tools/dashboard-check.py "$DASH" --prom "$PROM" \
	--namespace default --service web --rate-interval "$RATE_INTERVAL" --share-tolerance 0.05 2>&1)

if [ -n "${L4S_RENDER_PNG:-}" ]; then
	rm -f "$L4S_RENDER_PNG"
	node timeout 60 "$PY" tests/tools/render-panels.py "$DASH" --prom "$PROM" --namespace default --service web \
		--rate-interval "$RATE_INTERVAL" --seconds $((SECONDS - t0 + 5)) --out "$L4S_RENDER_PNG" \
		--panel "Share per track: configured vs observed" --panel "Failure ratio per track"
	check "two panels' series plotted into $L4S_RENDER_PNG (a PNG)" \
		eq "$(head -c 8 "$L4S_RENDER_PNG" 2>/dev/null | od -An -tx1 | tr -d ' \n')" 89504e470d0a1a0a
fi

wait $traffic
out=$(cat "$LAB_ROOT/traffic.out")
echo "#   clients: $(tr '\n' ' ' <<<"$out")"
check "the clients' own count: both tracks answered" test "$(tv "$out" name:old)" -gt 0 -a "$(tv "$out" name:new)" -gt 0
kill $toucher $drops 2>/dev/null
wait $toucher $drops 2>/dev/null
finish
