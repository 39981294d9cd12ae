#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Leader election of the agents on a coordination.k8s.io/v1 Lease, against the API-server
# stand-in (create 409 AlreadyExists, replace 409 Conflict on a stale resourceVersion):
# three agents (three nodes) started at once: exactly one leads, and the Lease names it;
# its SIGTERM gives the Lease up and another takes over within a retry period or two;
# SIGKILL does not give it up, and another takes over once the lease has not been renewed
# for its duration (15 s) on the candidate's own clock; never two leaders at once.
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-ld$$
. scripts/lab.sh
. tests/lib/e2e.sh

PY=/usr/bin/python3
lab_start old new
node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
free_port() { node "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

APIPORT=$(free_port)
nsenter --net="/run/netns/$LAB-n" "$PY" tests/tools/k8s-apiserver.py --listen 127.0.0.1 --port "$APIPORT" \
	--state "$LAB_ROOT/api.state" --timeout 600 --verbose 2>>"$LAB_ROOT/api.log" &
LAB_PIDS+=($!)
wait_listen "$LAB-n" "$APIPORT" 10 || { not_ok "API stand-in listens"; finish; exit 1; }
lab_kubeconfig "http://127.0.0.1:$APIPORT" >"$LAB_ROOT/kubeconfig"
lease() { node curl -sf "http://127.0.0.1:$APIPORT/apis/coordination.k8s.io/v1/namespaces/l4split-system/leases/l4split-agent"; }
holder() { lease | jq -r '.spec.holderIdentity // ""'; }

declare -A PID MPORT
start() { # NODE
	local n=$1 pin=$LAB_ROOT/pin-$1
	mkdir -p "$pin"
	MPORT[$n]=$(free_port)
	L4SPLIT_PIN_DIR=$pin nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" agent --kubeconfig "$LAB_ROOT/kubeconfig" \
		--node-name "node-$n" --metrics-addr "127.0.0.1:${MPORT[$n]}" \
		--lease-namespace l4split-system 2>>"$LAB_ROOT/agent-$n.log" &
	PID[$n]=$!
	LAB_PIDS+=($!)
}
leader_metric() { node curl -sf "http://127.0.0.1:${MPORT[$1]}/metrics" | awk '$1 == "l4split_agent_leader" { print $2 }'; }
# The nodes whose metrics say they lead, among the running ones: "node-a node-c".
leaders() {
	local n out=""
	for n in "$@"; do [ "$(leader_metric "$n")" = 1 ] && out="$out node-$n"; done
	echo "${out# }"
}
until_true() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}
one_leader() { local l; l=$(leaders "$@"); [ -n "$l" ] && [ "${l// /}" = "$l" ] && [ "$l" = "$(holder)" ]; }

for n in a b c; do start $n; done
check "three agents started at once: one leads, and the Lease names it" until_true 20 one_leader a b c
L1=$(holder)
echo "#   leader: $L1 (lease: $(lease | jq -c '.spec | {holderIdentity, leaseDurationSeconds, leaseTransitions}'))"
# Never two at once: sample for 6 s (three renewals).
two=0
for _ in $(seq 30); do
	l=$(leaders a b c)
	[ "${l// /}" != "$l" ] && two=1
	sleep 0.2
done
check "for 6 s (three renewals) never two leaders, the same one throughout" \
	eq "$two $(holder)" "0 $L1"
check "the Lease: 15 s duration, renewed (renewTime moves)" eval \
	'r1=$(lease | jq -r .spec.renewTime); sleep 2.5; r2=$(lease | jq -r .spec.renewTime);
	 [ "$(lease | jq .spec.leaseDurationSeconds)" = 15 ] && [ "$r1" != "$r2" ]'
check "the leader's log says it became the leader" \
	grep -q "became the leader (Lease l4split-system/l4split-agent)" "$LAB_ROOT/agent-${L1#node-}.log"

# --- SIGTERM: the Lease is given up, another takes it within a retry period or two -----------
x=${L1#node-}
t0=$(date +%s%N)
kill -TERM "${PID[$x]}"
wait "${PID[$x]}" 2>/dev/null
rest=$(echo a b c | tr ' ' '\n' | grep -v "^$x$" | tr '\n' ' ')
# shellcheck disable=SC2086
check "SIGTERM of the leader: another leads within 6 s (the Lease was given up)" until_true 6 one_leader $rest
ms=$((($(date +%s%N) - t0) / 1000000))
L2=$(holder)
echo "#   take-over after SIGTERM: ${ms} ms, new leader $L2"
check "the new leader is another node; leaseTransitions counted it" eval \
	'[ "$L2" != "$L1" ] && [ "$(lease | jq .spec.leaseTransitions)" -ge 1 ]'

# --- SIGKILL: nothing is given up; the next takes over after the lease duration -------------
y=${L2#node-}
z=$(echo $rest | tr ' ' '\n' | grep -v "^$y$")
t0=$(date +%s%N)
kill -KILL "${PID[$y]}"
wait "${PID[$y]}" 2>/dev/null
check "SIGKILL of the leader: the last agent does not lead before the lease ran out (10 s)" \
	eval '! until_true 10 one_leader $z'
check "... and leads within 15 s + 2 retry periods of the last renewal" until_true 12 one_leader $z
ms=$((($(date +%s%N) - t0) / 1000000))
echo "#   take-over after SIGKILL: ${ms} ms, new leader $(holder)"

# --- A restarted agent does not take the Lease from a live leader --------------------------
start "$x"
sleep 6
check "a restarted agent stays a candidate while the leader renews" eq "$(leaders "$x" "$z")" "node-$z"
finish
