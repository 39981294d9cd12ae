#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# `l4split sync` from pod lists shaped like `kubectl get pods -o json`: backends follow
# the list, a terminating pod is drained (its open connections live on), a pod that
# disappears is removed, and track weights survive syncs.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-sync$$
. scripts/lab.sh
. tests/lib/e2e.sh

# pod NAME IP RUN [READY] [TERMINATING]: one Pod object as the API server writes it.
pod() {
	local del=""
	[ "${5:-}" = 1 ] && del='"deletionTimestamp": "2026-11-27T10:00:00Z",'
	cat <<JSON
{"metadata": {"name": "$1", "namespace": "default", $del "labels": {"app": "nginx", "run": "$3"}},
 "spec": {"containers": [{"name": "nginx", "image": "nginx",
          "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]}]},
 "status": {"phase": "Running", "podIP": "$2", "podIPs": [{"ip": "$2"}],
            "conditions": [{"type": "Ready", "status": "${4:-True}"}]}}
JSON
}
podlist() { echo '{"apiVersion": "v1", "kind": "List", "items": ['; local IFS=,; echo "$*"; echo ']}'; }

lab_start old1 old2 new1
l4s attach n0 --flows 65536 --xdp-mode generic >/dev/null
l4s service add nginx $VIP4:80/tcp >/dev/null
A=$(lab_be_addr 1)
B=$(lab_be_addr 2)
C=$(lab_be_addr 3)
P_A=$(pod old-a "$A" old)
P_B=$(pod old-b "$B" old)
P_C=$(pod new-a "$C" new)
P_PENDING='{"metadata": {"name": "new-b", "labels": {"run": "new"}}, "spec": {"containers": []}, "status": {"phase": "Pending"}}'

out=$(podlist "$P_A" "$P_B" "$P_C" "$P_PENDING" | l4s sync nginx --track-label run --port http --pods - --weight old=1 --dry-run)
check "dry run reports 3 added" grep -q "3 added" <<<"$out"
check "dry run changes nothing" eq "$(l4s status nginx --json | jq '.services[0].backends | length')" 0
out=$(podlist "$P_A" "$P_B" "$P_C" "$P_PENDING" | l4s sync nginx --track-label run --port http --pods - --weight old=1)
check "sync adds the 3 ready pods (the Pending one has no IP)" grep -q "3 added" <<<"$out"
check "new track starts at weight 0" eq "$(l4s status nginx --json | jq '.services[0].tracks.new')" 0
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 600)
check "only old pods answer while new is at 0" eq "$(tv "$out" name:new1)" 0
check "both old pods answer" test "$(tv "$out" name:old1)" -gt 200 -a "$(tv "$out" name:old2)" -gt 200

l4s weight nginx old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "after weight old=1 new=1: new is 50% +- 5 with 2 old pods and 1 new" share_within "$out" new1 50 5

# old-b starts terminating: drained, and a connection already on it keeps working.
lab_client "$TRAFFIC" hold $VIP4 80 --conns 40 --duration 4 --interval-ms 20 >"$LAB_ROOT/hold.out" &
hold=$!
wait_for "$LAB_ROOT/hold.out" '^opened' 10
out=$(podlist "$P_A" "$(pod old-b "$B" old False 1)" "$P_C" | l4s sync nginx --track-label run --port http --pods -)
check "terminating pod is drained" grep -q "1 drained" <<<"$out"
check "track weights survive the sync" eq "$(l4s status nginx --json | jq -c '.services[0].tracks')" '{"new":1,"old":1}'
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 600)
check "no new connection reaches the drained pod" eq "$(tv "$out" name:old2)" 0
wait $hold
hout=$(cat "$LAB_ROOT/hold.out")
check "connections open during the drain: 0 broken" eq "$(tv "$hout" broken)" 0
check "connections open during the drain: 0 moved" eq "$(tv "$hout" moved)" 0

# old-b is gone from the list: removed. new-a turns unready: drained.
out=$(podlist "$P_A" "$(pod new-a "$C" new False)" | l4s sync nginx --track-label run --port http --pods -)
check "vanished pod removed, unready pod drained" grep -q "1 drained, 0 restored, 1 removed" <<<"$out"
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 300)
check "only old-a serves now" eq "$(tv "$out" name:old1)" 300
out=$(podlist "$P_A" "$P_C" | l4s sync nginx --track-label run --port http --pods -)
check "ready again: restored" grep -q "1 restored" <<<"$out"

# Bad documents change nothing.
before=$(l4s status --json)
check "YAML instead of JSON is rejected" test "$(echo 'kind: PodList' | l4s sync nginx --track-label run --pods - 2>/dev/null; echo $?)" -ne 0
check "a Service document is rejected" test "$(l4s sync nginx --track-label run --pods tests/fixtures/k8s/service/service-kube-dns-coredns-addon.json 2>/dev/null; echo $?)" -ne 0
check "an unknown --weight track is rejected" test "$(podlist "$P_A" | l4s sync nginx --track-label run --pods - --weight nosuch=1 2>/dev/null; echo $?)" -ne 0
# A hostile pod list: more pods than a service may have backends.
big=$LAB_ROOT/big.json
jq -n '{kind: "PodList", items: [range(5000) as $i | {metadata: {name: "p\($i)", labels: {run: "old"}},
	spec: {containers: [{ports: [{containerPort: 80, name: "http"}]}]},
	status: {podIP: "10.50.\($i / 256 | floor).\($i % 256)", conditions: [{type: "Ready", status: "True"}]}}]}' >"$big"
err=$(l4s sync nginx --track-label run --port http --pods "$big" 2>&1)
check "5000 pods for one service: refused (exit 1)" eq "$?" 1
check "... saying how many a service may have" grep -q "at most 4096 backends" <<<"$err"
check "state unchanged after bad documents" eq "$(l4s status --json)" "$before"

finish
