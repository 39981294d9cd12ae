#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The forwarding rows of `make bench` (issue 20): packets/s through the node with a
# generator that is not the limit, FLOWS flows (default 1,024) to 4 pods, in interleaved
# rounds (median of ROUNDS), for UDP and TCP (ACK segments), through:
#   none      no load balancer: client -> pod 1's address, the kernel routes (no XDP)
#   nftables  kube-proxy nftables mode (a verdict map, numgen over the 4 pods, DNAT;
#             its table exists only during its own samples: conntrack off for the others)
#   redirect  l4split XDP, the pods' veths as redirect targets (XDP_REDIRECT)
#   pass      l4split XDP without redirect targets: XDP_PASS, the kernel routes
#   redirect5k  redirect, with 5,000 more services
#
# The generator (tests/bench/l4s-xgen.c, xgen.bpf.c): XDP frames that regenerate
# themselves in a veth loop in the client's namespace on the first CPU, handed through a
# cpumap to the last CPU, which sends them to the node: the node's veth gets xdp_frames
# (no skb, no socket) and forwards on a CPU the generator does not use. The pods count
# at the receiver: an XDP program on each pod's eth0 drops IPv4 and the eth0 rx counters
# say how many arrived. The generator's own rate (frames offered to the node) is
# reported, so one can see it is well above what the node forwards. Each row also as
# the node CPU's kernel time per packet, steadier than packets/s when others use the CPUs.
#
# Prints "NAME VALUE UNIT BASELINE_NAME BASELINE_VALUE TARGET" lines (- for none) for
# bench.sh's result(); run alone, it prints them too. Exit 1 when the lab or the
# generator cannot be had.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
SECS=${FWD_SECONDS:-2}
FLOWS=${FWD_FLOWS:-1024}
EXTRA=${FWD_EXTRA_SERVICES:-5000}
XGEN=$PWD/$BUILD/tests/l4s-xgen
XOBJ=$PWD/$BUILD/tests/xgen.bpf.o
L4SPLIT=${L4SPLIT:-$PWD/$BUILD/l4split}
LAB=l4fg$$
. scripts/lab.sh
lab_up p1 p2 p3 p4 >/dev/null || { echo "forward.sh: lab setup failed" >&2; lab_down; exit 1; }
# The generator's loop ends by itself 2 s after its SECONDS (its programs' deadline);
# the namespaces' end removes every program attached here.
trap 'lab_down' EXIT
trap 'exit 1' INT TERM
VIP_NFT=10.96.0.22
# The node's side takes XDP frames from the generator without an XDP program of its own.
lab_node ethtool -K n0 gro on >/dev/null 2>&1
for d in xgl xgh; do
	ip -n "$LAB-c" link add "${d}0" type veth peer name "${d}1" || exit 1
	ip -n "$LAB-c" link set "${d}0" up && ip -n "$LAB-c" link set "${d}1" up || exit 1
done
for i in 1 2 3 4; do
	lab_be "$i" "$XGEN" sink "$XOBJ" eth0 || { echo "forward.sh: no receiver on pod $i" >&2; exit 1; }
	# The sink passes ARP, but a fixed neighbour keeps resolution out of the samples.
	lab_node ip neigh replace "$(lab_be_addr "$i")" dev "b$i" nud permanent \
		lladdr "$(ip -n "$LAB-b$i" -j link show eth0 | jq -r '.[0].address')"
done
n0mac=$(ip -n "$LAB-n" -j link show n0 | jq -r '.[0].address')
pod_rx() {
	local s=0 i
	for i in 1 2 3 4; do
		s=$((s + $(ip -n "$LAB-b$i" -j -s link show eth0 | jq '.[0].stats64.rx.packets')))
	done
	echo "$s"
}
nft_on() {
	lab_node nft -f - <<NFT
table ip l4bfwd {
 chain prerouting {
  type nat hook prerouting priority dstnat;
  ip daddr $VIP_NFT meta l4proto { tcp, udp } th dport 9 dnat to numgen random mod 4 map { 0 : $(lab_be_addr 1), 1 : $(lab_be_addr 2), 2 : $(lab_be_addr 3), 3 : $(lab_be_addr 4) }
 }
}
NFT
}
nft_off() { lab_node nft delete table ip l4bfwd 2>/dev/null; }
# l4s_on redirect|pass EXTRA_SERVICES: the two services (UDP and TCP, 4 pods each) and
# EXTRA_SERVICES more, one document through the one writer.
l4s_on() {
	l4s attach n0 >/dev/null || return 1
	if [ "$1" = redirect ]; then
		for i in 1 2 3 4; do l4s attach "b$i" --redirect-target >/dev/null || return 1; done
	fi
	jq -n --arg vip "$VIP4" --argjson x "$2" --argjson be "$(for i in 1 2 3 4; do
		echo "{\"addr\": \"$(lab_be_addr "$i"):9\"}"; done | jq -s .)" \
		'{services: ([{name: "fwdu", vip: "\($vip):9/udp", backends: $be},
			      {name: "fwdt", vip: "\($vip):9/tcp", backends: $be}] +
			     [range($x) as $i | {name: "x\($i)", table_size: 1021,
			      vip: "10.\(64 + ($i / 62500 | floor)).\($i / 250 % 250 | floor).\($i % 250 + 1):80/tcp",
			      backends: [{addr: "10.3.0.1:80"}]}])}' | l4s apply - >/dev/null
}
l4s_off() { l4s detach --all --purge >/dev/null 2>&1; }
declare -A R
NODE_CPU=$(($(nproc) - 1))
# Kernel time (system, irq, softirq) of the node's CPU in USER_HZ ticks: the hand-off
# kthread and the forwarding softirq. The other users' programs are user time, so this
# cost per packet is steadier than packets/s on a shared machine.
kticks() { awk -v c="cpu$NODE_CPU" '$1 == c { print $4 + $7 + $8 }' /proc/stat; }
sample() { # KEY PROTO DST: one more sample of packets/s at the pods and of the generator
	local rx0 rx1 out k0 k1
	rx0=$(pod_rx)
	k0=$(kticks)
	out=$(lab_client "$XGEN" "$XOBJ" c0 "$n0mac" "$SECS" 10.200.0.2 "$3" "$2" 9 "$FLOWS") ||
		{ echo "forward.sh: the generator failed" >&2; return 1; }
	k1=$(kticks)
	sleep 0.2
	rx1=$(pod_rx)
	R[$1-ns]="${R[$1-ns]:-} $(awk -v p=$((rx1 - rx0)) -v k=$((k1 - k0)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.0f", p ? k / hz * 1e9 / p : 0 }')"
	R[$1]="${R[$1]:-} $(awk -v p=$((rx1 - rx0)) -v t="$(awk '$1 == "seconds" { print $2 }' <<<"$out")" \
		'BEGIN { printf "%.0f", p / t }')"
	R[gen-$2]="${R[gen-$2]:-} $(awk '$1 == "offered" { s = $2 } $1 == "seconds" { printf "%.0f", s / $2 }' <<<"$out")"
	R[took-$2]="${R[took-$2]:-} $(awk '$1 == "sent" { s = $2 } $1 == "seconds" { printf "%.0f", s / $2 }' <<<"$out")"
}
med() { tr ' ' '\n' <<<"${R[$1]:-}" | awk NF | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }
both() { # KEY DST
	sample "$1-udp" udp "$2" && sample "$1-tcp" tcp "$2"
}
l4s_off
for r in $(seq 1 "$ROUNDS"); do
	both none "$(lab_be_addr 1)" || exit 1
	nft_on && both nftables "$VIP_NFT"
	nft_off
	l4s_on redirect 0 && both redirect "$VIP4"
	l4s_off
	l4s_on pass 0 && both pass "$VIP4"
	l4s_off
	l4s_on redirect "$EXTRA" && both redirect5k "$VIP4"
	l4s_off
done
x=$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$EXTRA")
for p in udp tcp; do
	P=${p^^}
	none=$(med "none-$p")
	awk -v g="$(med "gen-$p")" -v n="$none" 'BEGIN { exit !(g < 1.5 * n) }' &&
		echo "  !! $P: the generator offered less than 1.5x the no-balancer rate: it may be the limit" >&2
	echo "generator,_${P}:_frames/s_offered_to_the_node $(med "gen-$p") pkt/s no_balancer $none -"
	echo "generator,_${P}:_frames/s_the_node's_CPU_took $(med "took-$p") pkt/s - - -"
	echo "no_balancer,_${P}:_packets/s_at_the_pods $none pkt/s - - -"
	echo "kube-proxy_nftables_mode,_${P} $(med "nftables-$p") pkt/s no_balancer $none -"
	echo "l4split_XDP_redirect,_${P} $(med "redirect-$p") pkt/s no_balancer $none >=_0.9x"
	echo "l4split_XDP_redirect_vs_kube-proxy_nftables,_${P} $(med "redirect-$p") pkt/s kube-proxy_nftables $(med "nftables-$p") -"
	echo "l4split_XDP_PASS_(kernel_routes),_${P} $(med "pass-$p") pkt/s no_balancer $none >=_0.9x"
	echo "l4split_XDP_redirect,_${x}_more_services,_${P} $(med "redirect5k-$p") pkt/s no_balancer $none >=_0.9x"
	# The same rows as the node CPU's kernel time per packet delivered (lower is better).
	nns=$(med "none-$p-ns")
	echo "node_CPU_per_packet,_no_balancer,_${P} $nns ns - - -"
	for k in nftables:kube-proxy_nftables_mode redirect:l4split_XDP_redirect \
		pass:l4split_XDP_PASS redirect5k:l4split_XDP_redirect,_${x}_more_services; do
		echo "node_CPU_per_packet,_${k#*:},_${P} $(med "${k%%:*}-$p-ns") ns no_balancer $nns -"
	done
done
