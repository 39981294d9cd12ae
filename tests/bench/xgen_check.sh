#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The forwarding bench's generator (l4s-xgen, xgen.bpf.c) does what the bench relies on:
# its frames reach a node's veth and are counted there by the receiver program, it
# offers more than it is asked to forward here, it stops when told, and its loop ends by
# its own deadline when its process is killed. Root; namespaces of its own (l4fg$$).
# TAP lines; exit 1 on a failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
XGEN=$PWD/$BUILD/tests/l4s-xgen
XOBJ=$PWD/$BUILD/tests/xgen.bpf.o
N=l4fg$$
fail=0
ok() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fail=1; fi; }
cleanup() {
	[ -n "${GPID:-}" ] && kill "$GPID" 2>/dev/null
	ip netns del "$N-g" 2>/dev/null
	ip netns del "$N-n" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns add "$N-g" && ip netns add "$N-n" || exit 1
# No IPv6 chatter (router solicitations, MLD) in the node's rx counter.
for ns in g n; do ip netns exec "$N-$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1; done
ip -n "$N-g" link add c0 type veth peer name n0 netns "$N-n"
ip -n "$N-g" link add xgl0 type veth peer name xgl1
ip -n "$N-g" link add xgh0 type veth peer name xgh1
for d in lo c0 xgl0 xgl1 xgh0 xgh1; do ip -n "$N-g" link set "$d" up; done
ip -n "$N-n" link set n0 up
ip netns exec "$N-n" "$XGEN" sink "$XOBJ" n0
ok $? "the receiver attaches (XDP on the node's veth)"
mac=$(ip -n "$N-n" -j link show n0 | jq -r '.[0].address')
rx() { ip -n "$N-n" -j -s link show n0 | jq '.[0].stats64.rx.packets'; }
gen() { ip netns exec "$N-g" "$XGEN" "$XOBJ" c0 "$mac" "$1" 10.200.0.2 10.201.1.2 "$2" 9 1024; }

for p in udp tcp; do
	r0=$(rx)
	out=$(gen 0.5 "$p")
	ok $? "$p: the generator runs (exit 0)"
	sleep 0.1
	r1=$(rx)
	sent=$(awk '$1 == "sent" { print $2 }' <<<"$out")
	offered=$(awk '$1 == "offered" { print $2 }' <<<"$out")
	echo "# $p: offered ${offered:-?} sent ${sent:-?} received $((r1 - r0))"
	[ "${sent:-0}" -gt 10000 ] && [ $((r1 - r0)) -ge "$sent" ]
	ok $? "$p: what the generator sent arrived at the node's veth (> 10,000 frames in 0.5 s)"
	sleep 0.3
	[ "$(rx)" = "$r1" ]
	ok $? "$p: nothing arrives once it has stopped"
done

# Killed mid-run: the loop goes on without its user, then its deadline (SECONDS + 2 s) ends it.
gen 1 udp >/dev/null &
GPID=$!
sleep 0.5
kill -9 "$GPID"
wait "$GPID" 2>/dev/null
GPID=
r0=$(rx)
sleep 0.3
r1=$(rx)
[ "$r1" -gt "$r0" ]
ok $? "killed: the loop runs on by itself for a while"
sleep 3
r0=$(rx)
sleep 0.3
[ "$(rx)" = "$r0" ]
ok $? "killed: the loop has ended by its deadline"
exit $fail
