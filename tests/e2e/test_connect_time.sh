#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Connect time (issue #18's latency signal) through the real datapath: one backend of
# three drops the first SYN of every connection (nftables in its namespace: the client's
# SYN is answered only when TCP resends it, 1 s later), and the agent's /metrics shows
# each backend's histogram l4split_backend_connect_seconds in the right buckets (the slow
# one's flows all in (1 s, 2.5 s], the fast ones' all under 25 ms), with _count equal to
# the answered flows. (The kernel here has no netem to delay packets by a set time.) A node rollout with --max-connect-p99-ratio
# rolls the slow canary back (exit 3, starting weights back, the reason names the p99s),
# and takes a fast canary all the way.
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-ct$$
. scripts/lab.sh
. tests/lib/e2e.sh

PY=/usr/bin/python3
lab_start old slow fast
SLOW=$(lab_be_addr 2)
FAST=$(lab_be_addr 3)
# b2 answers a connection only at its second SYN (the first of each 5-tuple is dropped).
lab_be 2 nft -f - <<'EOF' || { not_ok "nftables on the slow backend"; finish; exit 1; }
table inet slow {
	set seen { type ipv4_addr . inet_service; flags dynamic; timeout 5m; }
	chain in {
		type filter hook input priority 0;
		tcp flags & (syn | ack) == syn ip saddr . tcp sport != @seen add @seen { ip saddr . tcp sport } drop
	}
}
EOF
l4s attach n0 --flows 65536 >/dev/null || { not_ok "attach"; finish; exit 1; }
check "attach made the connect-time maps" \
	test -e "$LAB_PIN/l4s_bconnect" -a -e "$LAB_PIN/l4s_cstart"

# --- The histogram on /metrics ----------------------------------------------------------
l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web "$OLD:80" --track old >/dev/null
l4s backend add web "$SLOW:80" --track slow >/dev/null
l4s backend add web "$FAST:80" --track fast >/dev/null
l4s weight web old=1 slow=1 fast=1 >/dev/null
# 6 clients at once, 50 connections each (a third of them wait 1 s for their resent SYN).
for i in 1 2 3 4 5 6; do
	lab_client "$TRAFFIC" tcp $VIP4 80 --count 50 --conn-timeout 4 >"$LAB_ROOT/m.$i" &
	LAB_PIDS+=($!)
	pids+=($!)
done
wait "${pids[@]}"
check "300 connections, none failed" eq "$(cat "$LAB_ROOT"/m.* | awk '$1 == "failed" { s += $2 } END { print s + 0 }')" 0

node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
free_port() { node "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
APIPORT=$(free_port)
MPORT=$(free_port)
nsenter --net="/run/netns/$LAB-n" "$PY" tests/tools/k8s-apiserver.py --slice-controller --listen 127.0.0.1 \
	--port "$APIPORT" --state "$LAB_ROOT/api.state" --timeout 600 &
LAB_PIDS+=($!)
lab_kubeconfig "http://127.0.0.1:$APIPORT" >"$LAB_ROOT/kubeconfig"
wait_listen "$LAB-n" "$APIPORT" 10 || { not_ok "API stand-in listens"; finish; exit 1; }
L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent \
	--kubeconfig "$LAB_ROOT/kubeconfig" --node-name lab-node \
	--metrics-addr "127.0.0.1:$MPORT" 2>>"$LAB_ROOT/agent.log" &
LAB_PIDS+=($!)
wait_listen "$LAB-n" "$MPORT" 10 || { not_ok "the agent serves /metrics"; finish; exit 1; }
m=$(node curl -sf "http://127.0.0.1:$MPORT/metrics")
check "/metrics declares the histogram" \
	grep -qx '# TYPE l4split_backend_connect_seconds histogram' <<<"$m"
# series BACKEND SUFFIX [LE]: the value of one series of web's backend BACKEND.
series() {
	awk -v b="backend=\"$1:80\"" -v n="l4split_backend_connect_seconds_$2" -v le="${3:+le=\"$3\"}" '
		index($1, n "{") == 1 && index($1, b) && (le == "" || index($1, le)) &&
		index($1, "l4split_service=\"web\"") { print $2 }' <<<"$m"
}
answered() { awk -v b="backend=\"$1:80\"" 'index($1, "l4split_backend_answered_flows_total{") == 1 &&
	index($1, b) && index($1, "l4split_service=\"web\"") { print $2 }' <<<"$m"; }
if command -v promtool >/dev/null; then
	check "promtool accepts /metrics" quiet promtool check metrics <<<"$m"
fi
for b in "$OLD" "$SLOW" "$FAST"; do
	n=$(series "$b" count)
	echo "#   $b: $n flows; le 1ms $(series "$b" bucket 0.001), 2.5ms $(series "$b" bucket 0.0025), 25ms $(series "$b" bucket 0.025), 50ms $(series "$b" bucket 0.05); sum $(series "$b" sum) s"
	check "$b: _count is its answered flows ($(answered "$b"))" eq "$n" "$(answered "$b")"
	check "$b: le=+Inf is _count" eq "$(series "$b" bucket +Inf)" "$n"
	check "$b: some flows counted" test "${n:-0}" -gt 50
done
n=$(series "$SLOW" count)
check "slow backend: no flow within 1 s" eq "$(series "$SLOW" bucket 1)" 0
check "slow backend: every flow within 2.5 s" eq "$(series "$SLOW" bucket 2.5)" "$n"
check "slow backend: mean between 1 and 1.5 s" \
	awk -v s="$(series "$SLOW" sum)" -v n="$n" 'BEGIN { exit !(s / n >= 1 && s / n < 1.5) }'
for b in "$OLD" "$FAST"; do
	check "$b (fast): every flow under 25 ms" eq "$(series "$b" bucket 0.025)" "$(series "$b" count)"
done

# --- Rollouts gated on the connect p99 --------------------------------------------------
l4s service add slowc $VIP4:81/tcp >/dev/null
l4s backend add slowc "$OLD:80" --track old >/dev/null
l4s backend add slowc "$SLOW:80" --track new >/dev/null
l4s weight slowc old=1 new=0 >/dev/null
l4s service add fastc $VIP4:82/tcp >/dev/null
l4s backend add fastc "$OLD:80" --track old >/dev/null
l4s backend add fastc "$FAST:80" --track new >/dev/null
l4s weight fastc old=1 new=0 >/dev/null
tracks() { l4s status "$1" --json | jq -cS '.services[0].tracks'; }
LOAD=()
load_start() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		nsenter --net="/run/netns/$LAB-c" "$TRAFFIC" tcp $VIP4 "$1" --count 1000000 --rate 100 \
			--timeout 60 --conn-timeout 4 >"$LAB_ROOT/load.$1.$i" &
		LOAD+=($!)
		LAB_PIDS+=($!)
	done
}
load_stop() {
	kill -TERM "${LOAD[@]}" 2>/dev/null
	wait "${LOAD[@]}" 2>/dev/null
	LOAD=()
}

load_start 81
# Only the connect time can fail it: a flow has 3 s to be answered, and any failure
# ratio passes.
ev=$(l4s -j rollout slowc --to new --steps 25,50,100 --interval 20s --min-flows 10 \
	--answer-timeout 3s --max-failure-ratio 1 --max-connect-p99-ratio 10)
rc=$?
load_stop
echo "#   slow canary: $(jq -r '.event + " " + (.reason // "")' <<<"$ev" | tr '\n' ';')"
check "slow canary: exit code 3" eq "$rc" 3
check "slow canary: rolled back in its first step" eq "$(jq -r .event <<<"$ev" | tr '\n' ' ')" "rollback "
check "slow canary: the reason names the connect p99" grep -q "connect p99" <<<"$(jq -r .reason <<<"$ev")"
check "slow canary: its p99 is 1-2.5 s" \
	awk -v p="$(jq .connect_p99_seconds <<<"$ev")" 'BEGIN { exit !(p > 1 && p <= 2.5) }'
check "slow canary: rolled back before its 20 s step ended" test "$(jq .elapsed_ms <<<"$ev")" -lt 20000
check "slow canary: starting weights restored" eq "$(tracks slowc)" '{"new":0,"old":1}'
check "slow canary: --status says rolled back" \
	eq "$(l4s -j rollout slowc --status | jq -r .rollout.state)" rolled-back

load_start 82
ev=$(l4s -j rollout fastc --to new --steps 25,50,100 --interval 2s --min-flows 20 \
	--max-connect-p99-ratio 10)
rc=$?
# "waiting" (too few flows yet to judge) may come on a loaded machine; the steps are checked.
ev=$(jq -c 'select(.event != "waiting")' <<<"$ev")
load_stop
echo "#   fast canary: $(jq -c '[.event, .connect_p99_seconds, .other_connect_p99_seconds]' <<<"$ev" | tr '\n' ' ')"
check "fast canary: exit code 0" eq "$rc" 0
check "fast canary: three steps and done" eq "$(jq -r .event <<<"$ev" | tr '\n' ' ')" "step step step done "
check "fast canary: weights new=100 old=0" eq "$(tracks fastc)" '{"new":100,"old":0}'

# --- Usage ------------------------------------------------------------------------------
l4s rollout fastc --to new --max-connect-p99-ratio 0 >/dev/null 2>&1
check "--max-connect-p99-ratio 0: usage error (exit 2)" eq "$?" 2
err=$(l4s rollout fastc --to new --max-connect-p99-ratio x2 2>&1 >/dev/null)
check "--max-connect-p99-ratio x2: says what is wrong" grep -q '^Error: max connect p99 ratio "x2" is wrong' <<<"$err"
finish
