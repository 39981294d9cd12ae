#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Bad input changes nothing; detach leaves nothing attached; re-attach works;
# service del leaves no stale entries; --purge removes the state.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-life$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old new
check "attach" quiet l4s attach n0 --flows 65536 --xdp-mode generic
l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web $OLD:80 --track old >/dev/null
l4s backend add web $NEW:80 --track new >/dev/null 2>&1
l4s weight web old=3 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
check "traffic flows through the VIP" eq "$(tv "$out" failed)" 0

# Bad input: clear error, non-zero exit, and the state byte for byte unchanged.
before=$(l4s status --json)
bad=(
	"service add x 10.96.0.10:99999/tcp"
	"service add x 10.96.0.10:80/sctp"
	"service add x 10.96.0.999:80/tcp"
	"service add x fd00::1:80/tcp"
	"service add x 10.96.0.10:80/tcp"
	"service add web 10.96.0.20:80/tcp"
	"service add x 10.96.0.21:80/tcp --table-size 16384"
	"service add x 10.96.0.21:80/tcp --affinity sometimes"
	"backend add web 10.0.0.1"
	"backend add web $OLD:80"
	"backend add web [fd00::1]:80"
	"backend add nosuch 10.0.0.1:80"
	"backend del web 10.9.9.9:80"
	"weight web new=-1"
	"weight web new=NaN"
	"weight web new=1e99"
	"weight web new=99999999999999"
	"weight web new="
	"weight web =1"
	"weight web old=1 nosuch=1"
	"weight web old=1 10.9.9.9:80=1"
	"weight nosuch old=1"
	"attach nosuchdev0"
	"detach nosuchdev0"
	"frobnicate"
	"service"
)
for b in "${bad[@]}"; do
	# shellcheck disable=SC2086
	err=$(l4s $b 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 0 ] && grep -q '^Error: ' <<<"$err"; then
		ok "rejected: l4split $b  ($(head -1 <<<"$err"))"
	else
		not_ok "l4split $b: exit $rc, stderr: $err"
	fi
done
check "status --json byte-identical after all bad input" eq "$(l4s status --json)" "$before"
err=$(l4s --json weight web new=x 2>/dev/null)
check "JSON mode reports errors as JSON" eq "$(jq -r '.error' <<<"$err" | cut -c1-10)" "weight \"x\""

# Permission: a non-root user gets an error, not a crash.
err=$(L4SPLIT_PIN_DIR=$LAB_PIN setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$L4SPLIT" status 2>&1)
rc=$?
check "non-root: exit 1 with a permission error" \
	test $rc -eq 1 -a -n "$(grep -i 'permission\|root' <<<"$err")"

# Detach leaves nothing attached; traffic to the VIP is no longer answered.
check "detach n0" quiet l4s detach n0
check "no XDP program left on n0" test -z "$(ip -n "$LAB-n" -d link show n0 | grep -i xdp)"
check "no tc filter left on n0" test -z "$(ip netns exec "$LAB-n" tc filter show dev n0 egress)$(ip netns exec "$LAB-n" tc filter show dev n0 ingress)"
check "no clsact qdisc left on n0" test -z "$(ip netns exec "$LAB-n" tc qdisc show dev n0 | grep clsact)"
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 3 --timeout 3)
check "after detach the VIP is not served" eq "$(total_answers "$out")" 0
check "state survives detach" eq "$(l4s status --json | jq -c '.services[0].tracks')" '{"new":1,"old":3}'

# Re-attach (native this time) picks the state up again.
check "re-attach" quiet l4s attach n0
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000)
check "after re-attach: 3:1 again, 25% new +- 8" share_within "$out" new 25 8
check "attach twice replaces in place" quiet l4s attach n0
check "one XDP program on n0" eq "$(ip -n "$LAB-n" -d link show n0 | grep -c 'prog/xdp')" 1

# service del: nothing of it stays in any map.
check "service del web" quiet l4s service del web
pins() { bpftool -j map dump pinned "$LAB_PIN/$1" 2>/dev/null | jq 'length'; }
check "no service left" eq "$(l4s status --json | jq '.services | length')" 0
check "no frontend left" eq "$(pins l4s_frontends)" 0
check "no track left" eq "$(pins l4s_tracks)" 0
check "no backend in use" eq "$(bpftool -j map dump pinned "$LAB_PIN/l4s_backends" | jq '[.[] | select(.formatted.value.flags != 0)] | length')" 0
check "no flow of it left" eq "$(pins l4s_flows)" 0
check "service del of a deleted service fails" test "$(l4s service del web >/dev/null 2>&1; echo $?)" -ne 0

# Issue 21: a track's weight belongs to the track. Replacing the only canary backend
# (del, then add) gives the canary its share back instead of 0.
l4s service add k $VIP4:80/tcp >/dev/null
l4s backend add k "$OLD:80" --track old >/dev/null
l4s backend add k "$NEW:80" --track new >/dev/null 2>&1
l4s weight k old=3 new=1 >/dev/null
l4s backend del k "$NEW:80" >/dev/null
check "the canary's last backend deleted: its track keeps weight 1" \
	eq "$(l4s status k --json | jq -c '.services[0].tracks')" '{"new":1,"old":3}'
out=$(l4s backend add k "$NEW:80" --track new 2>&1)
check "... and its replacement gets no 'starts with weight 0' note" test -z "$(grep 'weight 0' <<<"$out")"
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 400)
check "... but the canary's share: 25% new +- 8" share_within "$out" new 25 8
# A table too small for a share says so (a non-zero weight with no slot).
l4s service add tiny $VIP4:81/tcp --table-size 7 >/dev/null
l4s backend add tiny "$OLD:80" --track old >/dev/null
l4s backend add tiny "$NEW:80" --track new >/dev/null 2>&1
out=$(l4s weight tiny old=99 new=1 2>&1)
check "weight 99:1 in a 7-slot table: a Note that new gets no slot" \
	grep -q "Note: tiny: backend $NEW:80 (track new) has a weight above 0 but no slot of the 7-slot table" <<<"$out"
check "... and status shows its 0 slots" eq "$(l4s status tiny --json | jq '.services[0].backends[] | select(.track == "new") | .slots')" 0
out=$(l4s weight tiny old=1 new=1 2>&1)
check "1:1 in 7 slots: no such Note" test -z "$(grep 'no slot' <<<"$out")"
# sync into a service without backends: its one track gets weight 1 (README's rule),
# not 0 (which dropped every new flow).
l4s service add es $VIP4:82/tcp >/dev/null
echo '{"kind": "PodList", "items": [{"metadata": {"name": "p1", "namespace": "d", "labels": {"run": "v1"}},
 "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
 "status": {"phase": "Running", "podIP": "'"$OLD"'", "conditions": [{"type": "Ready", "status": "True"}]}}]}' >"$LAB_ROOT/pods1.json"
l4s sync es --pods "$LAB_ROOT/pods1.json" --track-label run >/dev/null
check "sync into an empty service: its first track weighs 1" \
	eq "$(l4s status es --json | jq -c '.services[0].tracks')" '{"v1":1}'
for s in k tiny es; do l4s service del $s >/dev/null; done

check "detach --all --purge" quiet l4s detach --all --purge
check "no pinned map left" test -z "$(ls "$LAB_PIN" | grep l4s_)"
check "nothing on n0" test -z "$(ip -n "$LAB-n" -d link show n0 | grep -i xdp)"

# A first attach that fails half way (no native XDP on lo) leaves the device untouched.
out=$(l4s attach lo 2>&1)
check "native XDP on lo: refused (exit 1)" eq "$?" 1
check "... with the driver's reason and a hint" grep -q "try --xdp-mode generic" <<<"$out"
check "... and no tc filter or clsact qdisc left on lo" \
	test -z "$(lab_node tc filter show dev lo egress)$(lab_node tc qdisc show dev lo | grep clsact)"
finish
