#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# IPv6 end to end (TCP and UDP), and client-IP affinity from real clients.
# Native XDP by default; L4S_ATTACH selects another hook (test_canary.sh runs all three).
set -u
MODE_ARGS=${L4S_ATTACH:-}
cd "$(dirname "$0")/../.."
LAB=l4e-v6$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old new
# shellcheck disable=SC2086
l4s attach n0 --flows 65536 $MODE_ARGS >/dev/null || not_ok "attach"
l4s service add web6 "[$VIP6]:80/tcp" >/dev/null
l4s service add dns6 "[$VIP6]:53/udp" >/dev/null
for i in 1 2; do
	t=$([ $i = 1 ] && echo old || echo new)
	l4s backend add web6 "[$(lab_be_addr $i 6)]:80" --track $t >/dev/null 2>&1
	l4s backend add dns6 "[$(lab_be_addr $i 6)]:53" --track $t >/dev/null 2>&1
done
l4s weight web6 old=1 new=3 >/dev/null
l4s weight dns6 old=1 new=1 >/dev/null

out=$(lab_client "$TRAFFIC" tcp $VIP6 80 --count 2000)
echo "#   failed $(tv "$out" failed) reset $(tv "$out" reset) timeout $(tv "$out" timeout) slow $(tv "$out" slow)"
check "IPv6 TCP: no failed connection" eq "$(tv "$out" failed)" 0
check "IPv6 TCP: 1:3 gives 75% new +- 4" share_within "$out" new 75 4
out=$(lab_client "$TRAFFIC" udp $VIP6 53 --count 1000 --repeat 2)
check "IPv6 UDP: all answered" eq "$(tv "$out" failed)" 0
check "IPv6 UDP: replies come from the VIP" eq "$(tv "$out" bad_source)" 0
check "IPv6 UDP: each port keeps its backend" eq "$(tv "$out" flapped)" 0
check "IPv6 UDP: 1:1 within 50% +- 7 (4.4 sigma)" share_within "$out" new 50 7

# Client-IP affinity: every connection of one client address lands on one backend.
l4s service add sticky $VIP4:80/tcp --affinity client-ip >/dev/null
l4s backend add sticky "$(lab_be_addr 1):80" --track old >/dev/null
l4s backend add sticky "$(lab_be_addr 2):80" --track new >/dev/null 2>&1
l4s weight sticky old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 300)
check "affinity: 300 connections from one client all answered" eq "$(tv "$out" failed)" 0
check "affinity: all 300 go to one backend" eq "$(grep -c '^name:' <<<"$out")" 1
# A second client address (added to the client namespace) is hashed on its own.
ip -n "$LAB-c" addr add 10.200.0.3/24 dev c0
ip -n "$LAB-c" addr add 10.200.0.4/24 dev c0
ip -n "$LAB-c" addr add 10.200.0.5/24 dev c0
ip -n "$LAB-c" addr add 10.200.0.6/24 dev c0
names=""
for src in 10.200.0.2 10.200.0.3 10.200.0.4 10.200.0.5 10.200.0.6; do
	ip -n "$LAB-c" route replace default via 10.200.0.1 src $src
	o=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 50)
	check "affinity: client $src sticks to one backend" eq "$(grep -c '^name:' <<<"$o")" 1
	names="$names $(awk -F'[: ]' '/^name:/ { print $2 }' <<<"$o")"
done
echo "#   backends per client address:$names"

finish
