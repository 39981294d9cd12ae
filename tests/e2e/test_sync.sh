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
jq -n '{kind: "PodList", items: [range(5001) as $i | {metadata: {name: "p\($i)", labels: {run: "old"}},
	spec: {containers: [{ports: [{containerPort: 80, name: "http"}]}]},
	status: {podIP: "10.50.\($i / 256 | floor).\($i % 256)", conditions: [{type: "Ready", status: "True"}]}}]}' >"$big"
err=$(l4s sync nginx --track-label run --port http --pods "$big" 2>&1)
check "5001 pods for one service: refused (exit 1)" eq "$?" 1
check "... saying how many a service may have" grep -q "at most 5000 backends" <<<"$err"
# Issue 21 item 1: a port name no pod has is refused (it removed every backend, exit 0).
err=$(podlist "$P_A" "$P_C" | l4s sync nginx --track-label run --port htpp --pods - 2>&1)
check "--port htpp (the pods have http): refused (exit 1)" eq "$?" 1
check "... naming the ports the pods have" grep -q 'named http' <<<"$err"
for p in 0 65536; do
	err=$(podlist "$P_A" | l4s sync nginx --track-label run --port $p --pods - 2>&1)
	check "--port $p: usage error (exit 2), not a port name" eq "$?" 2
done
# Item 10: an option given twice is refused, not last-one-wins.
for args in "--track old --track new" "--track-label run --track-label app" \
	"--track-label run --port http --port 80" "--track-label run --pods - --pods -" \
	"--track-label run --weight old=1 --weight old=2"; do
	err=$(podlist "$P_A" | l4s sync nginx $args --pods - 2>&1)
	check "sync $args: usage error (exit 2)" eq "$?" 2
	check "... saying it is given twice" grep -q 'given twice' <<<"$err"
done
err=$(l4s backend add nginx 10.99.0.1:80 --track old --track new 2>&1)
check "backend add --track old --track new: usage error (exit 2)" eq "$?" 2
err=$(l4s backend add nginx 10.99.0.1:80 --weight 1 --weight 2 2>&1)
check "backend add --weight 1 --weight 2: usage error (exit 2)" eq "$?" 2
# Item 13: addresses no traffic can use are refused as VIPs and backends.
for a in 0.0.0.0:80 255.255.255.255:80 224.0.0.1:80; do
	l4s backend add nginx $a >/dev/null 2>&1
	check "backend add $a: usage error (exit 2)" eq "$?" 2
	l4s service add bad $a/tcp >/dev/null 2>&1
	check "service add bad $a/tcp: usage error (exit 2)" eq "$?" 2
done
for a in '[::]:80' '[ff02::1]:80' '[fe80::1]:80' '[::ffff:10.0.0.1]:80'; do
	l4s service add bad6 $a/tcp >/dev/null 2>&1
	check "service add bad6 $a/tcp: usage error (exit 2)" eq "$?" 2
done
err=$(echo '{"services": [{"name": "bad", "vip": "10.96.9.9:80/tcp", "backends": [{"addr": "224.0.0.9:80"}]}]}' | l4s apply - 2>&1)
check "apply, backend 224.0.0.9:80: refused (exit 2)" eq "$?" 2
check "... naming the field" grep -q 'services\[0\].backends\[0\].addr: .*multicast' <<<"$err"
err=$(echo '{"services": [{"name": "bad", "vip": "[::ffff:10.96.9.9]:80/tcp"}]}' | l4s apply - 2>&1)
check "apply, VIP [::ffff:10.96.9.9]:80: refused (exit 2)" eq "$?" 2
# Item 3: a TCP service is not given an EndpointSlice's only port when that is UDP.
slice='{"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "metadata": {"name": "dns-x",
 "labels": {"run": "old"}}, "addressType": "IPv4", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
 "endpoints": [{"addresses": ["'"$A"'"], "conditions": {"ready": true}}]}'
err=$(l4s sync nginx --track-label run --endpointslices - <<<"$slice" 2>&1)
check "TCP service, slice with only a UDP port: refused (exit 1)" eq "$?" 1
check "... saying there is no TCP port" grep -q 'of them TCP' <<<"$err"
# Item 4: two ready pods with one IP on two tracks are an error naming both.
err=$(podlist "$P_A" "$(pod twin "$A" new)" | l4s sync nginx --track-label run --port http --pods - 2>&1)
check "two ready pods, one IP, two tracks: refused (exit 1)" eq "$?" 1
check "... naming both pods" grep -q 'pod old-a.*pod twin' <<<"$err"
# Item 2: a containerPort out of range is an error naming the field, not port 4464.
err=$(podlist "$(pod old-a "$A" old | sed 's/"containerPort": 80/"containerPort": 70000/')" |
	l4s sync nginx --track-label run --port http --pods - 2>&1)
check "containerPort 70000: refused (exit 1)" eq "$?" 1
check "... naming the field" grep -q 'items\[0\].spec.containers\[0\].ports\[0\].containerPort' <<<"$err"
check "state unchanged after bad documents" eq "$(l4s status --json)" "$before"

# Item 16: a track label value longer than 31 characters is a shortened track, said so.
long=release-2026-12-05-abcdef0123456789-canary
out=$(podlist "$P_A" "$(pod long-a "$C" $long)" | l4s sync nginx --track-label run --port http --pods - --weight "$long=1" 2>&1)
short=$(l4s status nginx --json | jq -r '.services[0].tracks | keys[] | select(startswith("release-"))')
check "a pod whose track label has 42 characters is synced (was dropped)" \
	eq "$(l4s status nginx --json | jq -r ".services[0].backends[] | select(.addr == \"$C:80\") | .track") ${#short}" "$short 31"
check "... on a track of 31 characters: 22 of the value, ~, 8 hex digits" \
	grep -qx 'release-2026-12-05-abc~[0-9a-f]\{8\}' <<<"$short"
check "... said in a Note" grep -q "Note: label run=\"$long\" is longer than 31 characters: its track is \"$short\"" <<<"$out"
check "... and the --weight naming the long value went to it" \
	eq "$(l4s status nginx --json | jq ".services[0].tracks[\"$short\"]")" 1
check "... the shortened name works with weight" quiet l4s weight nginx "$short=2"

# Item 13: node set --snat-addr of one family keeps the other family's address.
check "node set --snat-addr 10.9.9.9" quiet l4s node set --snat-addr 10.9.9.9
check "node set --snat-addr fd00::9" quiet l4s node set --snat-addr fd00::9
check "... both addresses are kept" eq "$(l4s node --json | jq -r '.snat_addr4 + " " + .snat_addr6')" "10.9.9.9 fd00::9"
l4s node set --snat-addr 0.0.0.0 >/dev/null 2>&1
check "node set --snat-addr 0.0.0.0: usage error (exit 2)" eq "$?" 2

finish
