#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# SNAT by default (#19): the two-node lab (scripts/lab.sh lab2_up), old behind node A,
# new behind node B, the same configuration on both nodes, mode auto, and NO 'node
# set': each node SNATs its remote backend's flows to the primary address of the
# device they leave by (cl0), as MASQUERADE. The client reaches the VIP over an ECMP
# route through both nodes (hashed per connection). The seed scenario (1:1, 3:1, 1%,
# all-new) over 21,000 connections: none fails, shares hold, both nodes SNATed.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-sd$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_traps
lab2_up || { not_ok "two-node lab setup"; finish; exit 1; }
A() { lab2_a "$L4SPLIT" "$@"; }
B() { lab2_b "$L4SPLIT" "$@"; }
verdict() { "$1" --json stats | jq -r ".reasons.$2 // 0"; }

for N in A B; do
	check "node $N: attach to the outside device" quiet $N attach ext0 --flows 65536
	check "node $N: attach to the cluster link" quiet $N attach cl0
	$N service add web $VIP4:80/tcp >/dev/null
	$N backend add web "$OLD:80" --track old >/dev/null
	$N backend add web "$NEW:80" --track new >/dev/null
done
check "node A, no node set: SNAT on, the source is cl0's primary address" \
	eq "$(A --json node show | jq -r '[.snat_on, (.snat_addr4 // "none"), (.snat_default_source | test("cl0 10.210.0.1"))] | join(" ")')" \
	"true none true"
check "node A: text says the default source" grep -q "egress device (default)" <<<"$(A node show)"
check "explain, no node set: a new flow is nat if local, snat if remote" \
	eq "$(A --json explain web 10.200.0.2:40000 | jq -r .path)" "nat if local, snat if remote"

# ECMP from the client: both nodes are entry points, chosen per connection (L4 hash).
nsenter --net="/run/netns/$LAB-c" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
ip -n "$LAB-c" route replace default nexthop via 10.200.0.1 nexthop via 10.200.0.3

total=0
t0=$SECONDS
for w in "1 1 5000 50 3" "1 3 5000 75 3" "99 1 10000 1 0.5" "0 1 1000 100 0"; do
	set -- $w
	A weight web old=$1 new=$2 >/dev/null
	B weight web old=$1 new=$2 >/dev/null
	out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count "$3" --conn-timeout 1 --timeout 25)
	check "old=$1 new=$2 over $3 connections through A and B: $4% new +- $5" \
		share_within "$out" new "$4" "$5"
	check "  none failed" eq "$(tv "$out" failed) $(total_answers "$out")" "0 $3"
	total=$((total + $3))
done
echo "# $total connections in $((SECONDS - t0)) s"
sa=$(verdict A snat_new)
sb=$(verdict B snat_new)
echo "#   snat_new: A $sa, B $sb; drop_snat_exhausted: A $(verdict A drop_snat_exhausted), B $(verdict B drop_snat_exhausted)"
check "both entry nodes SNATed their remote backend's flows (snat_new > 0 on A and B)" \
	test "$sa" -gt 0 -a "$sb" -gt 0
check "no SNAT drops on either node" \
	eq "$(verdict A drop_snat_exhausted) $(verdict B drop_snat_exhausted) $(verdict A drop_snat_no_addr) $(verdict B drop_snat_no_addr)" "0 0 0 0"

# 'node unset' turns SNAT off (auto uses nat: the remote pod's replies go astray);
# '--snat-addr auto' turns the default back on.
ip -n "$LAB-c" route replace default via 10.200.0.1
A weight web old=0 new=1 >/dev/null
check "node unset on A" quiet A node unset
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 20 --conn-timeout 0.5)
check "  off: connections to the pod behind B fail (20 of 20)" eq "$(tv "$out" failed)" 20
check "node set --snat-addr auto on A" quiet A node set --snat-addr auto
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
check "  default again: 200 of 200 answered by new" \
	eq "$(tv "$out" failed) $(tv "$out" name:new)" "0 200"

finish
