#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The netns lab used by the tests and the demo. Source it, then:
#
#   LAB=l4e-demo lab_up [--bridge] [--tc-only] NAME...   # a backend namespace per NAME
#   lab_node CMD...        run CMD in the node namespace (bpffs stays visible)
#   lab_client CMD...      run CMD in the client namespace
#   lab_be_addr I [6]      address of backend I (1-based), IPv4 or IPv6
#   lab_down               tear everything down (safe to call twice)
#
# Topology:  client (c0) -- (n0) node (l4split on n0) -- backends
#   routed (default): one veth per backend, a /24 each (per-pod veth, like Calico)
#   --bridge:         backends on a Linux bridge br0 in the node (like a cni0/cbr0 CNI)
# Every name carries $LAB, so labs of concurrent tests never meet. Addresses are only
# ever used inside these namespaces.

LAB=${LAB:-l4e-$$}
LAB_ROOT=/run/$LAB
LAB_PIN=$LAB_ROOT/pin
LAB_TOPO=routed
LAB_N=0
LAB_PIDS=()
L4SPLIT=${L4SPLIT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/l4split}
TRAFFIC=${TRAFFIC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/tests/l4s-traffic}
VIP4=10.96.0.10
VIP6=fd00:96::10

lab_node() { L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net=/run/netns/$LAB-n "$@"; }
lab_client() { nsenter --net=/run/netns/$LAB-c "$@"; }
lab_be() { local i=$1; shift; nsenter --net=/run/netns/$LAB-b$i "$@"; }
l4s() { lab_node "$L4SPLIT" "$@"; }

lab_be_addr() {
	local i=$1 v=${2:-4}
	if [ "$LAB_TOPO" = bridge ]; then
		[ "$v" = 6 ] && echo "fd00:202::$((10 + i))" || echo "10.202.0.$((10 + i))"
	else
		[ "$v" = 6 ] && echo "fd00:201:$i::2" || echo "10.201.$i.2"
	fi
}

# Receive each flow on one CPU, as a multi-queue NIC's RSS does. A veth whose peer runs
# native XDP delivers through NAPI, which can run on either CPU from one packet to the
# next; without steering, the handshake ACK and the first data segment of a connection
# reach the receiving TCP stack on two CPUs at once, and about 1 in 20,000 connections
# is reset by that kernel race (measured with a bare XDP_PASS program, no l4split).
lab_steer_flows() {
	local ns=$1 dev=$2 mask
	mask=$(printf '%x' $(((1 << $(nproc)) - 1)))
	ip netns exec "$ns" sh -c "echo $mask >/sys/class/net/$dev/queues/rx-0/rps_cpus"
}

lab_up() {
	local names=() i
	while [ $# -gt 0 ]; do
		case $1 in
		--bridge) LAB_TOPO=bridge ;;
		*) names+=("$1") ;;
		esac
		shift
	done
	LAB_N=${#names[@]}
	mkdir -p "$LAB_ROOT"
	ip netns add "$LAB-c" && ip netns add "$LAB-n" || return 1
	ip -n "$LAB-c" link add c0 type veth peer name n0 netns "$LAB-n" || return 1
	ip -n "$LAB-c" link set lo up
	ip -n "$LAB-n" link set lo up
	ip -n "$LAB-c" addr add 10.200.0.2/24 dev c0
	ip -n "$LAB-c" addr add fd00:200::2/64 dev c0 nodad
	ip -n "$LAB-c" link set c0 up
	ip -n "$LAB-n" addr add 10.200.0.1/24 dev n0
	ip -n "$LAB-n" addr add fd00:200::1/64 dev n0 nodad
	ip -n "$LAB-n" link set n0 up
	ip -n "$LAB-c" route add default via 10.200.0.1
	lab_steer_flows "$LAB-c" c0
	ip -n "$LAB-c" -6 route add default via fd00:200::1
	# A wide port range and no TIME_WAIT reuse: every test connection gets a fresh 5-tuple.
	lab_client sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=0
	lab_node sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	if [ "$LAB_TOPO" = bridge ]; then
		ip -n "$LAB-n" link add br0 type bridge
		ip -n "$LAB-n" addr add 10.202.0.1/24 dev br0
		ip -n "$LAB-n" addr add fd00:202::1/64 dev br0 nodad
		ip -n "$LAB-n" link set br0 up
	fi
	for i in $(seq 1 "$LAB_N"); do
		ip netns add "$LAB-b$i" || return 1
		ip -n "$LAB-b$i" link set lo up
		ip -n "$LAB-n" link add "b$i" type veth peer name eth0 netns "$LAB-b$i"
		if [ "$LAB_TOPO" = bridge ]; then
			ip -n "$LAB-n" link set "b$i" master br0
			ip -n "$LAB-b$i" addr add "$(lab_be_addr "$i")/24" dev eth0
			ip -n "$LAB-b$i" addr add "$(lab_be_addr "$i" 6)/64" dev eth0 nodad
			ip -n "$LAB-b$i" link set eth0 up
			ip -n "$LAB-b$i" route add default via 10.202.0.1
			ip -n "$LAB-b$i" -6 route add default via fd00:202::1
		else
			ip -n "$LAB-n" addr add "10.201.$i.1/24" dev "b$i"
			ip -n "$LAB-n" addr add "fd00:201:$i::1/64" dev "b$i" nodad
			ip -n "$LAB-b$i" addr add "$(lab_be_addr "$i")/24" dev eth0
			ip -n "$LAB-b$i" addr add "$(lab_be_addr "$i" 6)/64" dev eth0 nodad
			ip -n "$LAB-b$i" link set eth0 up
			ip -n "$LAB-b$i" route add default via "10.201.$i.1"
			ip -n "$LAB-b$i" -6 route add default via "fd00:201:$i::1"
		fi
		ip -n "$LAB-n" link set "b$i" up
		lab_steer_flows "$LAB-b$i" eth0
		# nsenter execs the server: $! is the server's own PID, killed by lab_down.
		nsenter --net="/run/netns/$LAB-b$i" "$TRAFFIC" serve "${names[$((i - 1))]}" \
			--tcp 80 --udp 53 --timeout 1800 &
		LAB_PIDS+=($!)
	done
	# Wait (bounded) until every backend answers from the node.
	for i in $(seq 1 "$LAB_N"); do
		local t=0
		until lab_node "$TRAFFIC" tcp "$(lab_be_addr "$i")" 80 --count 1 --timeout 1 2>/dev/null |
			grep -q '^name:'; do
			t=$((t + 1))
			[ $t -gt 50 ] && { echo "lab: backend $i does not answer" >&2; return 1; }
			sleep 0.1
		done
	done
}

# The two-node lab (backends on other nodes):
#
#   client c0 ── br0 (in the client namespace: the "outside" LAN, 10.200.0.0/24)
#                 ├── ext0 node A (10.200.0.1) ── cl0 ══ cluster link ══ cl0 ── node B (10.200.0.3)
#                 │    └─ a1 ── pod old  10.201.1.2           (10.210.0.1 / .2)   └─ b1 ── pod new 10.202.1.2
#                 └───────────────────────────────────────────────────────────── ext0 ┘
#
# The client reaches the VIP through A. B reaches the client straight over the LAN, so
# a reply of B's pod that A only DNATed would go back from the pod's own address.
#   LAB=l4e-x lab2_up      lab2_a CMD / lab2_b CMD: CMD on node A / B (own pin dirs)
lab2_a() { L4SPLIT_PIN_DIR=$LAB_ROOT/pinA nsenter --net=/run/netns/$LAB-a "$@"; }
lab2_b() { L4SPLIT_PIN_DIR=$LAB_ROOT/pinB nsenter --net=/run/netns/$LAB-b "$@"; }
lab2_up() {
	local n
	mkdir -p "$LAB_ROOT"
	for n in c a b pa pb; do ip netns add "$LAB-$n" || return 1; done
	ip -n "$LAB-c" link add br0 type bridge
	ip -n "$LAB-c" addr add 10.200.0.2/24 dev br0
	ip -n "$LAB-c" link set br0 up
	ip -n "$LAB-c" link set lo up
	for n in a b; do
		ip -n "$LAB-c" link add "p$n" type veth peer name ext0 netns "$LAB-$n"
		ip -n "$LAB-c" link set "p$n" master br0 up
		ip -n "$LAB-$n" link set lo up
		ip -n "$LAB-$n" link set ext0 up
		nsenter --net="/run/netns/$LAB-$n" sysctl -qw net.ipv4.ip_forward=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done
	lab_steer_flows "$LAB-c" br0
	ip -n "$LAB-a" addr add 10.200.0.1/24 dev ext0
	ip -n "$LAB-b" addr add 10.200.0.3/24 dev ext0
	ip -n "$LAB-c" route add default via 10.200.0.1
	lab_client sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=0
	ip -n "$LAB-a" link add cl0 type veth peer name cl0 netns "$LAB-b"
	ip -n "$LAB-a" addr add 10.210.0.1/24 dev cl0
	ip -n "$LAB-b" addr add 10.210.0.2/24 dev cl0
	ip -n "$LAB-a" link set cl0 up
	ip -n "$LAB-b" link set cl0 up
	ip -n "$LAB-a" route add 10.202.0.0/16 via 10.210.0.2
	ip -n "$LAB-b" route add 10.201.0.0/16 via 10.210.0.1
	# One pod per node: old behind A, new behind B.
	for n in a b; do
		local pod=$([ $n = a ] && echo 10.201.1 || echo 10.202.1) name
		name=$([ $n = a ] && echo old || echo new)
		ip -n "$LAB-$n" link add "${n}1" type veth peer name eth0 netns "$LAB-p$n"
		ip -n "$LAB-$n" addr add "$pod.1/24" dev "${n}1"
		ip -n "$LAB-$n" link set "${n}1" up
		ip -n "$LAB-p$n" link set lo up
		ip -n "$LAB-p$n" addr add "$pod.2/24" dev eth0
		ip -n "$LAB-p$n" link set eth0 up
		ip -n "$LAB-p$n" route add default via "$pod.1"
		lab_steer_flows "$LAB-p$n" eth0
		nsenter --net="/run/netns/$LAB-p$n" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
		nsenter --net="/run/netns/$LAB-p$n" "$TRAFFIC" serve "$name" --tcp 80 --udp 53 \
			--timeout 1800 &
		LAB_PIDS+=($!)
	done
	lab_steer_flows "$LAB-a" cl0
	lab_steer_flows "$LAB-b" cl0
	OLD=10.201.1.2
	NEW=10.202.1.2
	for n in "$OLD" "$NEW"; do
		local t=0
		until lab_client "$TRAFFIC" tcp "$n" 80 --count 1 --timeout 1 2>/dev/null | grep -q '^name:'; do
			t=$((t + 1))
			[ $t -gt 50 ] && { echo "lab2: pod $n does not answer the client" >&2; return 1; }
			sleep 0.1
		done
	done
}

lab_down() {
	local p ns
	# A backgrounded shell function's $! is its subshell, not the command it runs
	# (nsenter, an agent, a stand-in): its children are ours too and go first.
	for p in "${LAB_PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for p in "${LAB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	LAB_PIDS=()
	if [ -e "/run/netns/$LAB-n" ] && [ -e "$LAB_PIN/l4s_config" ]; then
		l4s detach --all --purge >/dev/null 2>&1
	fi
	[ -e "$LAB_ROOT/pinA/l4s_config" ] && lab2_a "$L4SPLIT" detach --all --purge >/dev/null 2>&1
	[ -e "$LAB_ROOT/pinB/l4s_config" ] && lab2_b "$L4SPLIT" detach --all --purge >/dev/null 2>&1
	for ns in $(ip netns list | awk '{print $1}' | grep "^$LAB-"); do
		ip netns del "$ns" 2>/dev/null
	done
	# Every bpffs under the lab's root (its pin directory, a second node's...).
	findmnt -rn -o TARGET | grep "^$LAB_ROOT/" | sort -r | while read -r m; do umount "$m"; done
	rm -rf "$LAB_ROOT"
}
