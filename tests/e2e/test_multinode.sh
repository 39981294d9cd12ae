#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Backends on other nodes (#9), in the two-node lab (scripts/lab.sh lab2_up): old behind
# node A, new behind node B, the client reaching the VIP through A while B reaches the
# client directly. DNAT alone breaks new's connections; auto mode SNATs them and keeps
# the client address for old; the seed scenario holds; B given the same state picks
# the same backend for the same flow; DSR; ICMP fragmentation-needed reaches the client
# translated, for a SNAT flow and for a nat flow.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-mn$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_traps
lab2_up || { not_ok "two-node lab setup"; finish; exit 1; }
A() { lab2_a "$L4SPLIT" "$@"; }
B() { lab2_b "$L4SPLIT" "$@"; }
answered() { echo "$(tv "$1" failed) $(total_answers "$1")"; }
verdict() { "$1" --json stats | jq -r ".reasons.$2"; }
# peers POD: the client addresses the pod's TCP port 80 sees, sorted, unique.
peers() { nsenter --net="/run/netns/$LAB-$1" ss -Htn state established '( sport = :80 )' |
	awk '{ sub(/:[0-9]+$/, "", $4); sub(/^\[::ffff:/, "", $4); sub(/\]$/, "", $4); print $4 }' |
	sort -u | tr '\n' ' '; }

for N in A B; do
	check "node $N: attach to the outside device" quiet $N attach ext0 --flows 65536
	check "node $N: attach to the cluster link" quiet $N attach cl0
	$N service add web $VIP4:80/tcp >/dev/null
	$N service add dns $VIP4:53/udp >/dev/null
	for s in web:80 dns:53; do
		$N backend add "${s%:*}" "$OLD:${s#*:}" --track old >/dev/null
		$N backend add "${s%:*}" "$NEW:${s#*:}" --track new >/dev/null 2>&1
	done
done
A weight web old=0 new=1 >/dev/null
B weight web old=0 new=1 >/dev/null

# Without SNAT, new's replies leave B from new's own address: the client drops them.
A service mode web nat >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 30 --conn-timeout 0.5)
check "DNAT only (mode nat): connections to the pod behind B fail (30 of 30)" \
	eq "$(tv "$out" failed)" 30
A service mode web auto >/dev/null
check "node A: snat address set" quiet A node set --snat-addr 10.210.0.1
check "node B: snat address set" quiet B node set --snat-addr 10.210.0.2
check "auto mode without --mode: status says auto" eq "$(A --json status web | jq -r '.services[0].mode')" auto

out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 300)
check "auto: the pod behind B answers all 300 (SNAT)" eq "$(answered "$out") $(tv "$out" name:new)" "0 300 300"
check "  A gave them SNAT ports (snat_new)" test "$(verdict A snat_new)" -ge 300

# The seed scenario through A.
for w in "1 1 2000 50 5" "1 3 4000 75 3" "99 1 10000 1 0.5" "0 1 500 100 0"; do
	set -- $w
	A weight web old=$1 new=$2 >/dev/null
	B weight web old=$1 new=$2 >/dev/null
	out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count "$3" --timeout 300)
	check "old=$1 new=$2 over $3 connections: $4% new +- $5" share_within "$out" new "$4" "$5"
	check "  none failed" eq "$(answered "$out")" "0 $3"
done

# Long-lived connections while weights change; who the pods see as their client.
A weight web old=1 new=1 >/dev/null
lab_client "$TRAFFIC" hold $VIP4 80 --conns 50 --duration 6 --interval-ms 10 >"$LAB_ROOT/hold.out" &
LAB_PIDS+=($!)
hold=$!
wait_for "$LAB_ROOT/hold.out" '^opened' 10
pold=$(peers pa)
pnew=$(peers pb)
w=(old=100 new=0 old=0 new=100 old=3 new=7 old=99 new=1 old=1 new=1 old=0 new=5 old=50 new=50
	old=9 new=1 old=1 new=9 old=100 new=0 old=0 new=100 old=1 new=2 old=2 new=1 old=7 new=3
	old=1 new=1 old=0 new=1 old=1 new=0 old=5 new=5 old=1 new=99 old=1 new=1)
for i in $(seq 0 2 38); do
	A weight web "${w[$i]}" "${w[$((i + 1))]}" >/dev/null
	sleep 0.2
done
wait $hold
h=$(cat "$LAB_ROOT/hold.out")
echo "#   exchanges $(tv "$h" exchanges), old $(tv "$h" name:old), new $(tv "$h" name:new)"
check "50 long-lived connections through 20 weight changes: 0 broken, 0 moved" \
	eq "$(tv "$h" opened) $(tv "$h" broken) $(tv "$h" moved)" "50 0 0"
check "the local pod (old) sees the client's own address" eq "$pold" "10.200.0.2 "
check "the pod behind B (new) sees node A's SNAT address" eq "$pnew" "10.210.0.1 "
snat=$(A --json node show)
echo "#   SNAT entries on A: $(jq -c .snat_entries <<<"$snat")"
check "node show counts A's SNAT entries" test "$(jq .snat_entries.ipv4 <<<"$snat")" -gt 0

# UDP: one source port keeps its backend; replies come from the VIP.
A weight dns old=1 new=1 >/dev/null
B weight dns old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" udp $VIP4 53 --count 1000 --repeat 3 --timeout 120)
check "UDP: 1000 source ports answered" eq "$(answered "$out")" "0 1000"
check "UDP: every reply from the VIP, each port on one backend" \
	eq "$(tv "$out" bad_source) $(tv "$out" flapped)" "0 0"
check "UDP: 1:1 within 50% +- 7" share_within "$out" new 50 7

# The same flows entering at B: the same choices (both nodes build the same tables).
viaA=$(lab_client "$TRAFFIC" udp $VIP4 53 --count 300 --sport-base 65100 | grep '^port:' | sort)
ip -n "$LAB-c" route replace default via 10.200.0.3
viaB=$(lab_client "$TRAFFIC" udp $VIP4 53 --count 300 --sport-base 65100 | grep '^port:' | sort)
check "300 UDP flows through A and then through B: the same backend for each" \
	eq "$(md5sum <<<"$viaB")" "$(md5sum <<<"$viaA")"
check "  (and both answered all 300, on both backends)" \
	eq "$(wc -l <<<"$viaB") $(grep -c ' new$' <<<"$viaB" | awk '{ print ($1 > 0) }')" "300 1"
B weight web old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000)
check "through B: 1000 TCP connections answered, 1:1 (old is now the remote one)" \
	eq "$(answered "$out") $(share_within "$out" new 50 6 >/dev/null && echo split-ok)" "0 1000 split-ok"
check "  B SNATed the ones to old" test "$(verdict B snat_new)" -gt 0
ip -n "$LAB-c" route replace default via 10.200.0.1

# DSR: A only rewrites the destination; B rewrites new's replies to come from the VIP.
A service mode web dsr >/dev/null
B service mode web dsr >/dev/null
A weight web old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000)
check "DSR: 1000 connections answered, 1:1 within 50% +- 6" \
	eq "$(answered "$out") $(share_within "$out" new 50 6 >/dev/null && echo split-ok)" "0 1000 split-ok"
check "  A sent the remote ones on unchanged (dsr_new > 0)" test "$(verdict A dsr_new)" -gt 0
check "  B rewrote their replies (dsr_reply > 0)" test "$(verdict B dsr_reply)" -gt 0
lab_client "$TRAFFIC" hold $VIP4 80 --conns 20 --duration 2 --interval-ms 50 >"$LAB_ROOT/dsr.out" &
LAB_PIDS+=($!)
hold=$!
wait_for "$LAB_ROOT/dsr.out" '^opened' 10
pnew=$(peers pb)
wait $hold
check "  and new sees the client's own address" eq "$pnew" "10.200.0.2 "
A service mode web auto >/dev/null
B service mode web auto >/dev/null

# ICMP fragmentation needed. A narrow link in front of each pod; the client uploads
# 4 MiB. Without translation the client never learns the path MTU and the upload
# stalls; with it, its route cache learns the MTU and the bytes arrive.
upload() { # VIP PORT POD: 4 MiB from the client to socat in POD through VIP:PORT
	local vip=$1 port=$2 pod=$3
	rm -f "$LAB_ROOT/up.out"
	nsenter --net="/run/netns/$LAB-$pod" timeout 30 socat -u TCP-LISTEN:"$port",reuseaddr \
		OPEN:"$LAB_ROOT/up.out",creat,trunc &
	LAB_PIDS+=($!)
	local l=$!
	wait_listen "$LAB-$pod" "$port" 5
	head -c 4194304 /dev/zero | lab_client timeout 20 socat -u - TCP:"$vip":"$port"
	wait $l
	stat -c %s "$LAB_ROOT/up.out" 2>/dev/null || echo 0
}
for N in A B; do
	$N service add up1 10.96.0.21:82/tcp >/dev/null
	$N backend add up1 "$NEW:82" >/dev/null
	$N service add up2 10.96.0.22:83/tcp >/dev/null
	$N backend add up2 "$OLD:83" >/dev/null
done
ip -n "$LAB-b" link set b1 mtu 1200
ip -n "$LAB-a" link set a1 mtu 1300
i0=$(verdict A icmp_nat)
check "SNAT flow: 4 MiB upload past a 1200-byte link behind B arrives whole" \
	eq "$(upload 10.96.0.21 82 pb)" 4194304
check "  the client learned the path MTU of the VIP (1200)" \
	grep -q "mtu 1200" <<<"$(ip -n "$LAB-c" route get 10.96.0.21)"
i1=$(verdict A icmp_nat)
check "  A translated B's fragmentation-needed (icmp_nat +$((i1 - i0)))" test "$i1" -gt "$i0"
check "nat flow: 4 MiB upload past a 1300-byte link in front of old arrives whole" \
	eq "$(upload 10.96.0.22 83 pa)" 4194304
check "  the client learned the path MTU of the VIP (1300)" \
	grep -q "mtu 1300" <<<"$(ip -n "$LAB-c" route get 10.96.0.22)"
check "  A's reply path translated A's own fragmentation-needed (icmp_nat +$(($(verdict A icmp_nat) - i1)))" \
	test "$(verdict A icmp_nat)" -gt "$i1"

finish
