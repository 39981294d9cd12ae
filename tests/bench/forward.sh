#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The forwarding rows of `make bench` (issue 20): packets/s through the node with a
# generator that is not the limit (tests/bench/l4s-xgen: BPF_PROG_TEST_RUN live frames,
# Linux 5.18), FLOWS flows (default 1,024) to 4 pods, in interleaved rounds (median of
# ROUNDS), for UDP and TCP (ACK segments), through:
#   none      no load balancer: client -> pod 1's address, the kernel routes (no XDP)
#   nftables  kube-proxy nftables mode (a verdict map, numgen over the 4 pods, DNAT;
#             its table exists only during its own samples: conntrack off for the others)
#   redirect  l4split XDP, the pods' veths as redirect targets (XDP_REDIRECT)
#   pass      l4split XDP without redirect targets: XDP_PASS, the kernel routes
# Prints "NAME VALUE UNIT BASELINE_NAME BASELINE_VALUE TARGET" lines (- for none) for
# bench.sh's result(); run alone, it prints them too.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
SECS=${FWD_SECONDS:-2}
FLOWS=${FWD_FLOWS:-1024}
XGEN=$PWD/$BUILD/tests/l4s-xgen
FLOOD=$PWD/$BUILD/tests/l4s-flood
XOBJ=$PWD/$BUILD/tests/xgen.bpf.o
L4SPLIT=${L4SPLIT:-$PWD/$BUILD/l4split}
LAB=l4bf$$
. scripts/lab.sh
lab_up p1 p2 p3 p4 >/dev/null || { echo "forward.sh: lab setup failed" >&2; exit 1; }
trap 'lab_down' EXIT
VIP_NFT=10.96.0.22
for i in 1 2 3 4; do lab_be $i ethtool -K eth0 gro on >/dev/null 2>&1; done
# The node's side takes XDP frames from the generator without an XDP program of its own.
lab_node ethtool -K n0 gro on >/dev/null 2>&1
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
l4s_on() { # redirect|pass
	l4s attach n0 >/dev/null || return 1
	if [ "$1" = redirect ]; then
		for i in 1 2 3 4; do l4s attach "b$i" --redirect-target >/dev/null || return 1; done
	fi
	l4s service add fwdu "$VIP4:9/udp" >/dev/null
	l4s service add fwdt "$VIP4:9/tcp" >/dev/null
	for i in 1 2 3 4; do
		l4s backend add fwdu "$(lab_be_addr "$i"):9" >/dev/null
		l4s backend add fwdt "$(lab_be_addr "$i"):9" >/dev/null
	done
}
l4s_off() { l4s detach --all --purge >/dev/null 2>&1; }
declare -A R
sample() { # KEY PROTO DST: one more packets/s-at-the-pods sample
	local rx0 rx1 out
	R[$1]=${R[$1]:-}
	R[$1-sent]=${R[$1-sent]:-}
	rx0=$(pod_rx)
	if [ "$GEN" = xgen ]; then
		out=$(lab_client "$XGEN" "$XOBJ" c0 "$n0mac" "$SECS" 10.200.0.2 "$3" "$2" 9 "$FLOWS") || return $?
	else
		out=$(lab_client "$FLOOD" c0 "$n0mac" "$SECS" 10.200.0.2 "$3" 9 "$FLOWS") || return $?
		out="$out
seconds $SECS"
	fi
	sleep 0.2
	rx1=$(pod_rx)
	R[$1]="${R[$1]:-} $(awk -v p=$((rx1 - rx0)) -v t="$(awk '$1 == "seconds" { print $2 }' <<<"$out")" \
		'BEGIN { printf "%.0f", p / t }')"
	R[$1-sent]="${R[$1-sent]:-} $(awk '$1 == "sent" { s = $2 } $1 == "seconds" { printf "%.0f", s / $2 }' <<<"$out")"
}
med() { tr ' ' '\n' <<<"${R[$1]}" | awk NF | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }
l4s_off
GEN=xgen
PROTOS="udp tcp"
lab_client "$XGEN" "$XOBJ" c0 "$n0mac" 0.1 10.200.0.2 "$(lab_be_addr 1)" udp 9 1 >/dev/null 2>&1
if [ $? = 3 ]; then
	# The socket flood instead (UDP only): it may well be the limit, so the rows say so.
	echo "  !! live frames (BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18) not available or refused here (EPERM in some sandboxes): the socket sender instead, which may be the limit" >&2
	GEN=flood
	PROTOS=udp
fi
for r in $(seq 1 "$ROUNDS"); do
	for p in $PROTOS; do
		sample "none-$p" "$p" "$(lab_be_addr 1)"
		nft_on && sample "nftables-$p" "$p" "$VIP_NFT"
		lab_node nft delete table ip l4bfwd 2>/dev/null
		l4s_on redirect && sample "redirect-$p" "$p" "$VIP4"
		l4s_off
		l4s_on pass && sample "pass-$p" "$p" "$VIP4"
		l4s_off
	done
done
for p in $PROTOS; do
	P="${p^^}_($GEN)"
	none=$(med "none-$p")
	echo "generator:_${P}_frames/s_sent_(none_rows) $(med "none-$p-sent") pkt/s - - -"
	echo "no_load_balancer,_${P}:_packets/s_at_the_pods $none pkt/s - - -"
	echo "kube-proxy_nftables_mode,_${P} $(med "nftables-$p") pkt/s no_load_balancer $none -"
	echo "l4split_XDP_redirect,_${P} $(med "redirect-$p") pkt/s no_load_balancer $none >=_0.9_x"
	echo "l4split_XDP_redirect_vs_kube-proxy_nftables,_${P} $(med "redirect-$p") pkt/s kube-proxy_nftables $(med "nftables-$p") -"
	echo "l4split_XDP_PASS_(kernel_routes),_${P} $(med "pass-$p") pkt/s no_load_balancer $none -"
done
