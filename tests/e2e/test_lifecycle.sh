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
