#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The seed scenario from the client's side: shares by weight (not by replica count),
# no broken connection while weights change, UDP stickiness, draining, backend del.
# L4S_ATTACH selects the hook: "" (native XDP, default), "--xdp-mode generic", "--tc-only".
set -u
MODE_ARGS=${L4S_ATTACH:-}
cd "$(dirname "$0")/../.."
LAB=l4e-can$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old new
echo "# attach mode: ${MODE_ARGS:-native XDP}"
# shellcheck disable=SC2086
check "attach to the node's client-facing device" quiet l4s attach n0 --flows 262144 $MODE_ARGS
l4s service add web $VIP4:80/tcp >/dev/null
l4s service add dns $VIP4:53/udp >/dev/null
l4s backend add web $OLD:80 --track old >/dev/null
l4s backend add web $NEW:80 --track new >/dev/null 2>&1
l4s backend add dns $OLD:53 --track old >/dev/null
l4s backend add dns $NEW:53 --track new >/dev/null 2>&1

# New track starts at weight 0: everything still goes to old.
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 500)
check "a new track gets no traffic before its weight is set" share_within "$out" old 100 0

check "weight old=1 new=1" quiet l4s weight web old=1 new=1
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "1:1 over 2000 TCP connections is 50% +- 5" share_within "$out" new 50 5
check "no failed connection at 1:1" eq "$(tv "$out" failed)" 0

check "weight web new=3 old=1 (one pod each)" quiet l4s weight web new=3 old=1
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 4000)
check "3:1 by weight over 4000 connections is 75% new +- 3" share_within "$out" new 75 3

check "weight web old=99 new=1" quiet l4s weight web old=99 new=1
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 20000 --timeout 300)
check "1% canary over 20000 connections is 1% +- 0.5" share_within "$out" new 1 0.5
echo "#   failed $(tv "$out" failed) reset $(tv "$out" reset) timeout $(tv "$out" timeout) slow $(tv "$out" slow)"
check "no failed connection in 20000" eq "$(tv "$out" failed)" 0

# Long-lived connections survive 20 weight changes without moving.
l4s weight web old=1 new=1 >/dev/null
lab_client "$TRAFFIC" hold $VIP4 80 --conns 50 --duration 6 --interval-ms 10 >"$LAB_ROOT/hold.out" &
hold=$!
wait_for "$LAB_ROOT/hold.out" '^opened' 10
w=(old=100 new=0 old=0 new=100 old=3 new=7 old=99 new=1 old=1 new=1 old=0 new=5 old=50 new=50
	old=9 new=1 old=1 new=9 old=100 new=0 old=0 new=100 old=1 new=2 old=2 new=1 old=7 new=3
	old=1 new=1 old=0 new=1 old=1 new=0 old=5 new=5 old=1 new=99 old=1 new=1)
for i in $(seq 0 2 38); do
	l4s weight web "${w[$i]}" "${w[$((i + 1))]}" >/dev/null
	# Halfway, replace the programs in place (an upgrade): flows live in pinned maps.
	# shellcheck disable=SC2086
	[ "$i" = 20 ] && { l4s attach n0 $MODE_ARGS >/dev/null || not_ok "re-attach during traffic"; }
	sleep 0.2
done
wait $hold
hout=$(cat "$LAB_ROOT/hold.out")
check "50 long-lived connections all opened" eq "$(tv "$hout" opened)" 50
check "20 weight changes and a program replacement: 0 broken connections" eq "$(tv "$hout" broken)" 0
check "20 weight changes: 0 connections moved backend" eq "$(tv "$hout" moved)" 0
check "long-lived connections exchanged data throughout" test "$(tv "$hout" exchanges)" -gt 5000
echo "#   exchanges $(tv "$hout" exchanges), broken $(tv "$hout" broken), moved $(tv "$hout" moved)"

# UDP: 1000 source ports, 3 datagrams each; one port is always answered by one backend.
l4s weight dns old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" udp $VIP4 53 --count 1000 --repeat 3 --timeout 120)
check "UDP: 1000 source ports answered" eq "$(tv "$out" failed)" 0
check "UDP: every reply comes from the VIP" eq "$(tv "$out" bad_source)" 0
check "UDP: each source port always answered by the same backend" eq "$(tv "$out" flapped)" 0
check "UDP: 1:1 within 50% +- 7 (4.4 sigma)" share_within "$out" new 50 7

# Drain: weight 0 takes no new flows; existing flows continue (checked above by hold).
l4s weight web old=0 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 500)
check "old=0 drains: all new connections go to new" share_within "$out" new 100 0

# backend del old -> 100% new, and the table no longer names it.
l4s weight web old=1 new=1 >/dev/null
check "backend del old" quiet l4s backend del web $OLD:80
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000)
check "after backend del old: 100% new" share_within "$out" new 100 0
check "after backend del old: no failure" eq "$(tv "$out" failed)" 0

# Counters agree with what the clients saw.
st=$(l4s stats web --json)
flows=$(jq '.services[0].flows' <<<"$st")
echo "#   service flows counted: $flows (clients made 28000 connections + 50 long-lived)"
check "service stats count every client connection as a new flow" test "$flows" -ge 28050

finish
