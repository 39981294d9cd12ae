#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Other node topologies: backends behind a Linux bridge (cni0-style) with each hook,
# and XDP redirect straight into per-pod veths registered as redirect targets.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/e2e.sh

bridge_case() {
	local mode=$1 out
	LAB=l4e-br$$
	. scripts/lab.sh
	trap lab_down EXIT
	# A failed set-up tears down what it made: the next case's trap is for another lab.
	lab_up --bridge old new || { not_ok "bridge lab setup"; lab_down; trap - EXIT; return; }
	# shellcheck disable=SC2086
	check "bridge ($mode): attach" quiet l4s attach n0 --flows 65536 $mode
	l4s service add web $VIP4:80/tcp >/dev/null
	l4s service add dns $VIP4:53/udp >/dev/null
	l4s service add web6 "[$VIP6]:80/tcp" >/dev/null
	l4s backend add web "$(lab_be_addr 1):80" --track old >/dev/null
	l4s backend add web "$(lab_be_addr 2):80" --track new >/dev/null 2>&1
	l4s backend add dns "$(lab_be_addr 1):53" --track old >/dev/null
	l4s backend add dns "$(lab_be_addr 2):53" --track new >/dev/null 2>&1
	l4s backend add web6 "[$(lab_be_addr 1 6)]:80" --track old >/dev/null
	l4s backend add web6 "[$(lab_be_addr 2 6)]:80" --track new >/dev/null 2>&1
	l4s weight web old=1 new=4 >/dev/null
	l4s weight dns old=1 new=1 >/dev/null
	l4s weight web6 old=1 new=1 >/dev/null
	out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
	check "bridge ($mode): TCP no failure" eq "$(tv "$out" failed)" 0
	check "bridge ($mode): 1:4 is 80% new +- 4" share_within "$out" new 80 4
	out=$(lab_client "$TRAFFIC" udp $VIP4 53 --count 400 --repeat 2)
	check "bridge ($mode): UDP all answered from the VIP" eq "$(tv "$out" failed)/$(tv "$out" bad_source)/$(tv "$out" flapped)" 0/0/0
	out=$(lab_client "$TRAFFIC" tcp $VIP6 80 --count 1000)
	check "bridge ($mode): IPv6 no failure" eq "$(tv "$out" failed)" 0
	check "bridge ($mode): IPv6 1:1 is 50% +- 8" share_within "$out" new 50 8
	lab_down
	trap - EXIT
}

bridge_case "--xdp-mode generic"
bridge_case "--tc-only"

# Redirect: per-pod veths whose far end runs NAPI (GRO on) accept XDP frames.
LAB=l4e-rd$$
. scripts/lab.sh
lab_traps
lab_up old new || { not_ok "redirect lab setup"; finish; exit 1; }
for i in 1 2; do lab_be $i ethtool -K eth0 gro on >/dev/null 2>&1; done
check "redirect: attach n0 (generic XDP)" quiet l4s attach n0 --flows 65536 --xdp-mode generic
check "redirect: register b1 as a redirect target" quiet l4s attach b1 --redirect-target --xdp-mode generic
check "redirect: register b2 as a redirect target" quiet l4s attach b2 --redirect-target --xdp-mode generic
l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web "$(lab_be_addr 1):80" --track old >/dev/null
l4s backend add web "$(lab_be_addr 2):80" --track new >/dev/null 2>&1
l4s weight web old=1 new=1 >/dev/null
before=$(l4s stats --json | jq '.reasons.tx_redirect')
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000)
after=$(l4s stats --json | jq '.reasons.tx_redirect')
check "redirect: no failed connection" eq "$(tv "$out" failed)" 0
check "redirect: 1:1 is 50% +- 6" share_within "$out" new 50 6
echo "#   tx_redirect: $((after - before)) packets for 1000 connections"
check "redirect: packets went out by bpf_redirect_map" test $((after - before)) -gt 1000
finish
