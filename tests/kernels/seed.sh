#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The seed scenario (scripts/demo.sh, tests/e2e/test_canary.sh) cut to what an emulated
# guest runs in a minute or two: a service attached by L4S_ATTACH (native XDP by
# default) on a netns lab, shares by weight, a drain, UDP stickiness. Counts and
# tolerances only: no timing assertion (everything in the guest is emulated).
set -u
MODE_ARGS=${L4S_ATTACH:-}
cd "$(dirname "$0")/../.."
LAB=l4k-seed$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old new
echo "# attach mode: ${MODE_ARGS:-native XDP}, kernel $(uname -r)"
# shellcheck disable=SC2086
check "attach to the node's client-facing device" quiet l4s attach n0 --flows 65536 $MODE_ARGS
l4s service add web $VIP4:80/tcp >/dev/null
l4s service add dns $VIP4:53/udp >/dev/null
for s in web:80 dns:53; do
	l4s backend add "${s%:*}" "$OLD:${s#*:}" --track old >/dev/null
	l4s backend add "${s%:*}" "$NEW:${s#*:}" --track new >/dev/null 2>&1
done

check "weight web old=1 new=1" quiet l4s weight web old=1 new=1
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000 --timeout 300)
check "1:1 over 1000 TCP connections is 50% +- 6" share_within "$out" new 50 6
check "no failed connection at 1:1" eq "$(tv "$out" failed)" 0

check "weight web old=1 new=3" quiet l4s weight web old=1 new=3
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000 --timeout 300)
check "1:3 over 1000 TCP connections is 75% new +- 5" share_within "$out" new 75 5

check "weight web old=0 new=1" quiet l4s weight web old=0 new=1
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 300 --timeout 300)
check "old=0 drains: all 300 new connections go to new" share_within "$out" new 100 0

l4s weight dns old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" udp $VIP4 53 --count 300 --repeat 3 --timeout 300)
check "UDP: 300 source ports answered" eq "$(tv "$out" failed)" 0
check "UDP: every reply comes from the VIP" eq "$(tv "$out" bad_source)" 0
check "UDP: each source port always answered by the same backend" eq "$(tv "$out" flapped)" 0
check "UDP: 1:1 within 50% +- 10" share_within "$out" new 50 10

flows=$(l4s stats web --json | jq '.services[0].flows')
check "service stats count the 2300 connections as new flows" test "$flows" -ge 2300
finish
