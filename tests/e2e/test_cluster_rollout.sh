#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Declarative cluster rollouts (#18): the two-node lab (scripts/lab.sh lab2_up), each node
# with its own agent and pin directory, the API-server stand-in, and clients entering both
# nodes (the lab's client through A, a second client namespace, 10.200.0.4, through B).
# `l4split rollout default/web --to new ...` writes l4split.io/rollout; the leading agent
# drives it: a healthy canary goes to 100% on both nodes; a canary that resets only the
# connections of B's clients is rolled back (health is pooled over the nodes: A alone sees
# none fail); a canary that blackholes SYNs is rolled back once the answer timeout passed;
# --abort restores the starting weights; the leader SIGKILLed mid-rollout: the other agent
# takes the Lease and finishes it, every step judged exactly once (the status' history and
# the Events); health from a real Prometheus (1 s scrapes), which stopped mid-rollout
# pauses it with the reason (no promotion) until it is back; deploy/examples' Argo and
# Flagger queries evaluated on that Prometheus. Detection and convergence times printed.
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-cr$$
. scripts/lab.sh
. tests/lib/e2e.sh

FIX=tests/fixtures/k8s
PY=/usr/bin/python3
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
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
# Node B's clients: a namespace on the LAN whose way to the VIP is B.
ip netns add "$LAB-d"
ip -n "$LAB-c" link add pd type veth peer name eth0 netns "$LAB-d"
ip -n "$LAB-c" link set pd master br0 up
ip -n "$LAB-d" link set lo up
ip -n "$LAB-d" addr add 10.200.0.4/24 dev eth0
ip -n "$LAB-d" link set eth0 up
ip -n "$LAB-d" route add default via 10.200.0.3
lab_steer_flows "$LAB-d" eth0

APIPORT=$(lab_client "$PY" -c 'import socket; s = socket.socket(); s.bind(("10.200.0.2", 0)); print(s.getsockname()[1])')
nsenter --net="/run/netns/$LAB-c" "$PY" tests/tools/k8s-apiserver.py --slice-controller --listen 10.200.0.2 --port "$APIPORT" \
	--state "$LAB_ROOT/api.state" --timeout 900 --verbose 2>>"$LAB_ROOT/api.log" &
LAB_PIDS+=($!)
wait_listen "$LAB-c" "$APIPORT" 10 || { not_ok "API stand-in listens"; finish; exit 1; }
KC=$LAB_ROOT/kubeconfig
lab_kubeconfig "http://10.200.0.2:$APIPORT" >"$KC"
api() { lab_client curl -sf "http://10.200.0.2:$APIPORT/$1"; }
ctl() { lab_client curl -sf -X POST -H 'Content-Type: application/json' --data @- \
	"http://10.200.0.2:$APIPORT/_ctl/$1" >/dev/null; }
svc_field() { api _ctl/state | jq -c ".objs.services[\"default/web\"] | $1"; }
ann() { svc_field ".metadata.annotations[\"l4split.io/$1\"]" | jq -r '. // ""'; }
rstatus() { ann rollout-status; }
phase() { rstatus | jq -r '.phase // ""' 2>/dev/null; }
events() { api _ctl/state | jq -r '[.objs.events // {} | .[] | select(.reason | startswith("L4splitRollout"))] | sort_by(.firstTimestamp) | .[] | "\(.reason) \(.message)"'; }
pod() { # NAME TRACK ADDR
	jq -c --arg n "$1" --arg t "$2" --arg ip "$3" '
		.metadata = {name: $n, namespace: "default", labels: {app: "web", run: $t}}
		| .spec.containers[0].ports = [{name: "http", containerPort: 80, protocol: "TCP"}]
		| .status.podIP = $ip | .status.podIPs = [{ip: $ip}]' \
		$FIX/podlist/pod-dualstack-kubectl-get-o-yaml.json
}
agent_pod() { # NAME NODE ADDR
	jq -nc --arg n "$1" --arg node "$2" --arg ip "$3" '{kind: "Pod", apiVersion: "v1",
		metadata: {name: $n, namespace: "kube-system",
			   labels: {"app.kubernetes.io/name": "l4split"}},
		spec: {nodeName: $node, hostNetwork: true, containers: [{name: "l4split"}]},
		status: {phase: "Running", podIP: $ip, podIPs: [{ip: $ip}]}}'
}
jq -c --arg vip "$VIP4" '
	.metadata.namespace = "default" | .metadata.name = "web" | .metadata.uid = "uid-web"
	| .metadata.annotations = {"l4split.io/weights": "old=1,new=0", "l4split.io/track-label": "run"}
	| .spec.type = "ClusterIP" | del(.spec.externalIPs)
	| .spec.clusterIP = $vip | .spec.clusterIPs = [$vip] | .status = {}
	| .spec.ports = [{name: "http", port: 80, protocol: "TCP", targetPort: "http"}]' \
	$FIX/kubectl-generated/service-loadbalancer-web-annotated-udp.kubectl.json | ctl apply
pod old-web-1 old "$OLD" | ctl apply
pod new-web-1 new "$NEW" | ctl apply
agent_pod l4split-a node-a 10.200.0.1 | ctl apply
agent_pod l4split-b node-b 10.200.0.3 | ctl apply

declare -A APID
start_agent() { # NODE [agent options]
	local n=$1
	shift
	# nsenter execs the agent: $! is the agent itself (a function in the background
	# would be a subshell, and killing it would leave the agent running).
	L4SPLIT_PIN_DIR=$LAB_ROOT/pin${n^^} nsenter --net="/run/netns/$LAB-$n" "$L4SPLIT" agent \
		--kubeconfig "$KC" --node-name "node-$n" --metrics-addr :9477 "$@" 2>>"$LAB_ROOT/agent-$n.log" &
	APID[$n]=$!
	LAB_PIDS+=($!)
}
start_agent a
start_agent b
tracks() { $1 status "$SVC" --json 2>/dev/null | jq -cS '.services[0].tracks'; }
until_true() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
is() { [ "$("${@:2}")" = "$1" ]; }
check "both agents apply web: old=1 new=0" until_true 15 eval \
	'is "{\"new\":0,\"old\":1}" tracks A && is "{\"new\":0,\"old\":1}" tracks B'
wait_listen "$LAB-a" 9477 5 && wait_listen "$LAB-b" 9477 5
lease_holder() { api apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l4split-agent | jq -r '.spec.holderIdentity // ""'; }
check "one agent leads" until_true 20 eval '[ -n "$(lease_holder)" ]'
cli() { lab_client "$L4SPLIT" "$@" --kubeconfig "$KC"; }

# Clients on both nodes for the whole test (nsenter execs them: $! is the client, which
# the teardown kills): 40 new connections a second through each.
nsenter --net="/run/netns/$LAB-c" "$TRAFFIC" tcp "$VIP4" 80 --count 100000 --rate 40 --conn-timeout 1 --timeout 800 >/dev/null 2>&1 &
LAB_PIDS+=($!)
nsenter --net="/run/netns/$LAB-d" "$TRAFFIC" tcp "$VIP4" 80 --count 100000 --rate 40 --conn-timeout 1 --timeout 800 >"$LAB_ROOT/clientB.out" 2>&1 &
LAB_PIDS+=($!)
sleep 2
js=$(cli status default/web --json)
check "traffic enters both nodes (flows counted on A and on B)" \
	eq "$(jq -c '[.nodes[] | (.services["default.web.http"].tracks | [.[].flows] | add) > 0]' <<<"$js")" '[true,true]'

# steps_judged: "1:passed 2:passed ..." from the status' history.
steps_judged() { rstatus | jq -r '[.history[] | "\(.step):\(.result)"] | join(" ")'; }
# Back to old=1 new=0 on both nodes (each case starts there, whatever the one before did).
reset_weights() {
	cli weight default/web old=1 new=0 >/dev/null 2>&1
	until_true 10 eval 'is "{\"new\":0,\"old\":1} {\"new\":0,\"old\":1}" echo "$(tracks A) $(tracks B)"'
}
elapsed_ms() { rstatus | jq -r '((.history[-1].at - .stepStart) * 1000 | round)'; }

# --- a healthy canary to 100% on every node ------------------------------------------------------
t0=$(date +%s.%N)
out=$(cli rollout default/web --to new --steps 20,50,100 --interval 3s --min-flows 20 --watch --timeout 60 2>&1)
rc=$?
t1=$(date +%s.%N)
echo "$out" | tail -n 8 | sed 's/^/#   /'
check "a healthy rollout: --watch exits 0 (Succeeded)" eq "$rc $(phase)" "0 Succeeded"
check "  each step judged once, in order" eq "$(steps_judged)" "1:passed 2:passed 3:passed"
check "  the Service's weights are old=0,new=100" eq "$(ann weights)" "old=0,new=100"
check "  in force on both nodes" until_true 10 eval 'is "{\"new\":100,\"old\":0} {\"new\":100,\"old\":0}" echo "$(tracks A) $(tracks B)"'
check "  Events: started, a step each, two passes, succeeded" \
	eq "$(events | awk '{print $1}' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')" \
	"L4splitRolloutStarted=1 L4splitRolloutStep=3 L4splitRolloutStepPassed=2 L4splitRolloutSucceeded=1 "
check "  the 100% step counts only its own window: the others' flows in it are the few before the weights applied (< 40: $(rstatus | jq .others.flows))" \
	test "$(rstatus | jq .others.flows)" -lt 40
check "  the health of both nodes is in the judgement (the last step's flows: from A's and B's clients, > 40 in 3 s)" \
	test "$(rstatus | jq '.history[-1].flows')" -gt 40
echo "#   healthy rollout of 3 steps of 3 s: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s from the command to Succeeded"
st=$(cli rollout default/web --status)
check "--status from any shell: phase, steps, history" eval \
	'grep -q "^default/web: Succeeded, step 3 of 3 (new 100%), weights old=0,new=100" <<<"$st" && [ "$(grep -c "passed: " <<<"$st")" = 3 ]'

# --- a canary that resets only node B's clients: rolled back on pooled health -------------------
reset_weights
check "weights back to old=1 new=0 on both nodes" until_true 10 eval 'is "{\"new\":0,\"old\":1} {\"new\":0,\"old\":1}" echo "$(tracks A) $(tracks B)"'
nsenter --net="/run/netns/$LAB-pb" nft -f - <<'NFT'
table inet l4e {
	chain input {
		type filter hook input priority 0
		ip saddr 10.200.0.4 tcp dport 80 reject with tcp reset
	}
}
NFT
out=$(cli rollout default/web --to new --steps 20,50,100 --interval 5s --min-flows 20 --watch --timeout 60 2>&1)
rc=$?
echo "$out" | tail -n 4 | sed 's/^/#   /'
check "new resets B's clients only: --watch exits 3 (RolledBack)" eq "$rc $(phase)" "3 RolledBack"
check "  at step 1, judged once" eq "$(steps_judged)" "1:failed"
check "  the starting weights are back: old=1,new=0" eq "$(ann weights)" "old=1,new=0"
check "  on both nodes" until_true 10 eval 'is "{\"new\":0,\"old\":1} {\"new\":0,\"old\":1}" echo "$(tracks A) $(tracks B)"'
check "  the reason gives the ratios over every node" eval 'rstatus | jq -r .reason | grep -q "failed .* flows over every node"'
check "  a Warning Event L4splitRolloutRolledBack" eval 'events | grep -q "^L4splitRolloutRolledBack step 1"'
echo "#   detection (reset on B's clients): $(elapsed_ms) ms from the step's start to the rollback"
nsenter --net="/run/netns/$LAB-pb" nft delete table inet l4e

# --- a canary that blackholes SYNs ---------------------------------------------------------------
reset_weights
nsenter --net="/run/netns/$LAB-pb" nft -f - <<'NFT'
table inet l4e {
	chain input {
		type filter hook input priority 0
		tcp dport 80 drop
	}
}
NFT
out=$(cli rollout default/web --to new --steps 20,50,100 --interval 5s --min-flows 20 --watch --timeout 60 2>&1)
rc=$?
echo "$out" | tail -n 4 | sed 's/^/#   /'
check "new blackholes SYNs: --watch exits 3 (RolledBack) at step 1" eq "$rc $(phase) $(steps_judged)" "3 RolledBack 1:failed"
check "  the starting weights are back" eq "$(ann weights)" "old=1,new=0"
echo "#   detection (blackholed SYNs, answer timeout 1 s): $(elapsed_ms) ms from the step's start to the rollback"
nsenter --net="/run/netns/$LAB-pb" nft delete table inet l4e

# --- --abort ----------------------------------------------------------------------------------------
reset_weights
cli rollout default/web --to new --steps 20,50,100 --interval 60s >/dev/null
check "a long rollout is at step 1 (new=20)" until_true 10 eval '[ "$(phase)" = Progressing ] && [ "$(ann weights)" = "old=80,new=20" ]'
out=$(cli rollout default/web --abort)
check "--abort: exit 0, says so" eq "$? $(grep -c 'l4split.io/rollout aborted' <<<"$out")" "0 1"
check "  the leader restores old=1,new=0, phase Aborted" until_true 10 eval '[ "$(phase)" = Aborted ] && [ "$(ann weights)" = "old=1,new=0" ]'
check "  --watch of an aborted rollout exits 1" eq "$(cli rollout default/web --watch --timeout 5 >/dev/null 2>&1; echo $?)" 1

# --- --pause / --resume ------------------------------------------------------------------------------
reset_weights
cli rollout default/web --to new --steps 20,100 --interval 2s --min-flows 20 >/dev/null
check "a rollout at step 1" until_true 10 eval '[ "$(phase)" = Progressing ] && [ "$(ann weights)" = "old=80,new=20" ]'
cli rollout default/web --pause >/dev/null
check "--pause: phase Paused (by the user)" until_true 10 eval '[ "$(phase)" = Paused ] && [ "$(rstatus | jq -r .pausedBy)" = user ]'
sleep 4
check "  paused for 4 s (two intervals): no step judged, weights kept" eq "$(steps_judged) $(ann weights)" " old=80,new=20"
cli rollout default/web --resume >/dev/null
check "--resume: it goes on and succeeds" eq "$(cli rollout default/web --watch --timeout 30 >/dev/null 2>&1; echo $?) $(steps_judged)" "0 1:passed 2:passed"
reset_weights

# --- the leader SIGKILLed mid-rollout: the other takes over, no step judged twice or skipped ----------
ev_before=$(events | sort)
new_events() { comm -13 <(echo "$ev_before") <(events | sort); }
cli rollout default/web --to new --steps 10,20,40,60,80,100 --interval 4s --min-flows 20 >/dev/null
check "--watch started before the leader took the new run up does not report the last run's end" \
	eq "$(cli rollout default/web --watch --timeout 1 >/dev/null 2>&1; echo $?)" 1
check "a 6-step rollout reaches step 2" until_true 20 eval '[ "$(rstatus | jq -c "[.of, .step]")" = "[6,2]" ]'
L1=$(lease_holder)
x=${L1#node-}
y=$([ "$x" = a ] && echo b || echo a)
kill -KILL "${APID[$x]}"
wait "${APID[$x]}" 2>/dev/null
t0=$SECONDS
check "$L1 SIGKILLed: node-$y takes the Lease once it ran out (within 25 s)" until_true 25 eval '[ "$(lease_holder)" = "node-$y" ]'
echo "#   take-over: node-$y leads $((SECONDS - t0)) s after $L1 was killed"
# The killed agent's metrics cannot be read: the new leader does not judge blind.
check "  node-$y pauses the rollout: $L1's metrics cannot be read" until_true 10 eval \
	'[ "$(phase)" = Paused ] && rstatus | jq -r .reason | grep -q "metrics of $L1 (.*) cannot be read"'
# The DaemonSet restarts it (its pin directory, the datapath and counters are still there);
# a candidate again, it does not take the Lease from node-$y.
start_agent "$x"
out=$(cli rollout default/web --watch --timeout 90 2>&1)
rc=$?
echo "$out" | tail -n 9 | sed 's/^/#   /'
check "leader $L1 killed at step 2: the rollout ends Succeeded" eq "$rc $(phase)" "0 Succeeded"
check "  every step judged exactly once, in order" eq "$(steps_judged)" "1:passed 2:passed 3:passed 4:passed 5:passed 6:passed"
check "  Events: one per step (6), per pass (5), one success: none twice" \
	eq "$(new_events | grep -c '^L4splitRolloutStep ') $(new_events | grep -c '^L4splitRolloutStepPassed') $(new_events | grep -c '^L4splitRolloutSucceeded')" "6 5 1"
check "  steps judged by $L1 before and by node-$y after" \
	eval 'rstatus | jq -r ".history[0].by, .history[-1].by" | tr "\n" " " | grep -q "^$L1 node-$y $"'
echo "#   leader killed: the rollout ended $((SECONDS - t0)) s later (lease 15 s, the pause, the remaining steps); judged by: $(rstatus | jq -r '[.history[].by] | join(",")')"

# --- health from Prometheus; Prometheus stopped mid-rollout ----------------------------------------
if [ ! -x "$PROMETHEUS" ]; then
	not_ok "Prometheus is installed ($PROMETHEUS; scripts/deps.sh installs Debian's prometheus)"
	finish
	exit 1
fi
PPORT=$(lab_client "$PY" -c 'import socket; s = socket.socket(); s.bind(("10.200.0.2", 0)); print(s.getsockname()[1])')
PROM=http://10.200.0.2:$PPORT
cat >"$LAB_ROOT/prometheus.yml" <<EOT
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: l4split
    static_configs:
      - targets: ['10.200.0.1:9477', '10.200.0.3:9477']
EOT
start_prom() {
	nsenter --net="/run/netns/$LAB-c" "$PROMETHEUS" --config.file="$LAB_ROOT/prometheus.yml" --storage.tsdb.path="$LAB_ROOT/prom" \
		--web.listen-address="10.200.0.2:$PPORT" --log.level=warn >>"$LAB_ROOT/prometheus.log" 2>&1 &
	PROM_PID=$!
	LAB_PIDS+=($!)
}
promq() { lab_client curl -sf --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=$1"; }
start_prom
check "Prometheus scrapes both agents (up == 1, twice)" until_true 30 eval \
	'[ "$(promq "sum(up{job=\"l4split\"})" 2>/dev/null | jq -r ".data.result[0].value[1]")" = 2 ]'
# Both agents with --prometheus-url now.
for n in a b; do kill -TERM "${APID[$n]}"; wait "${APID[$n]}" 2>/dev/null; done
start_agent a --prometheus-url "$PROM"
start_agent b --prometheus-url "$PROM"
check "an agent leads again" until_true 20 eval '[ -n "$(lease_holder)" ]'
sleep 3
reset_weights
cli rollout default/web --to new --steps 20,50,100 --interval 5s --min-flows 20 >/dev/null
check "a rollout judged from Prometheus reaches step 2" until_true 30 eval \
	'[ "$(rstatus | jq -r .source)" = prometheus ] && [ "$(rstatus | jq -c "[.of, .step]")" = "[3,2]" ]'
kill -TERM "$PROM_PID"
wait "$PROM_PID" 2>/dev/null
t0=$(date +%s%N)
check "Prometheus stopped: the rollout pauses within 5 s" until_true 5 eval '[ "$(phase)" = Paused ]'
echo "#   paused $((($(date +%s%N) - t0) / 1000000)) ms after Prometheus stopped"
check "  and says why: $(rstatus | jq -r .reason)" eval 'rstatus | jq -r .reason | grep -q "^health unknown: cannot query Prometheus at $PROM: "'
check "  a Warning Event L4splitRolloutPaused" eval 'events | grep -q "^L4splitRolloutPaused .*health unknown"'
sleep 8
check "  8 s later (beyond the step's interval): not promoted, step 2 (50%) still" \
	eq "$(phase) $(rstatus | jq .step) $(ann weights)" "Paused 2 old=50,new=50"
start_prom
out=$(cli rollout default/web --watch --timeout 60 2>&1)
rc=$?
echo "$out" | tail -n 5 | sed 's/^/#   /'
check "Prometheus back: it resumes and succeeds" eq "$rc $(steps_judged)" "0 1:passed 2:passed 3:passed"
check "  a Normal Event L4splitRolloutResumed" eval 'events | grep -q "^L4splitRolloutResumed .*health is known again"'

# --- deploy/examples: the Argo and Flagger queries on the same Prometheus -------------------------
# QUERY N of FILE (placeholders filled as Argo and Flagger fill them) over WINDOW: its value.
example_q() { # FILE N WINDOW
	local q
	q=$("$PY" tests/tools/example-queries.py "$1" --namespace default --service web --canary new --window "$3" | sed -n "${2}p")
	[ -n "$q" ] || { echo none; return; }
	promq "$q" | jq -r '.data.result[0].value[1] // "none"'
}
num() { [[ "$1" =~ ^[0-9.e+-]+$ ]]; }
EX="deploy/examples/argo-analysistemplate.yaml deploy/examples/flagger-metrictemplate.yaml"
for f in $EX; do
	n=$("$PY" tests/tools/example-queries.py "$f" --namespace default --service web --canary new --window 1m | wc -l)
	check "$(basename "$f"): two queries (failure ratio, connect p99 ratio)" eq "$n" 2
	v=$(example_q "$f" 1 20s)
	check "  the healthy canary at 100%: L4 failure ratio $v, passes (<= 0.05)" eval 'num "$v" && awk -v v="$v" "BEGIN { exit !(v <= 0.05) }"'
	v=$(example_q "$f" 2 3m)
	check "  connect-time p99 of new over old's: a number ($v)" num "$v"
done
# A canary resetting B's clients, judged from Prometheus: rolled back, and the templates'
# failure ratio over the same seconds says fail too (new at 0 for 10 s before: the window
# holds the failing step's flows only).
reset_weights
sleep 10
nsenter --net="/run/netns/$LAB-pb" nft -f - <<'NFT'
table inet l4e {
	chain input {
		type filter hook input priority 0
		ip saddr 10.200.0.4 tcp dport 80 reject with tcp reset
	}
}
NFT
out=$(cli rollout default/web --to new --steps 20,50,100 --interval 5s --min-flows 20 --watch --timeout 60 2>&1)
rc=$?
check "from Prometheus: new resetting B's clients is rolled back at step 1" eq "$rc $(rstatus | jq -r .source) $(steps_judged)" "3 prometheus 1:failed"
echo "#   detection from Prometheus (1 s scrapes): $(elapsed_ms) ms from the step's start to the rollback; $(rstatus | jq -r .reason)"
nsenter --net="/run/netns/$LAB-pb" nft delete table inet l4e
sleep 2
for f in $EX; do
	v=$(example_q "$f" 1 8s)
	check "$(basename "$f"): the failing canary's L4 failure ratio over 8 s is $v: fails (> 0.05)" \
		eval 'num "$v" && awk -v v="$v" "BEGIN { exit !(v > 0.05) }"'
done

# --- usage errors: exit 2, nothing written -------------------------------------------------------
rv0=$(svc_field .metadata.resourceVersion)
for a in "" "--to new --abort" "--to bad! --steps 5" "--to new --steps 5,1" "--to new --speed 3" \
	"--to new --interval" "--to new --steps 1;state=aborted"; do
	# shellcheck disable=SC2086
	err=$(cli rollout default/web $a 2>&1 >/dev/null)
	rc=$?
	check "rollout default/web $a: exit 2 ($(head -n 1 <<<"$err"))" eq "$rc" 2
done
check "  nothing written (same resourceVersion)" eq "$(svc_field .metadata.resourceVersion)" "$rv0"
finish
