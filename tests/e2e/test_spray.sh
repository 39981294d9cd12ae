#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The attached program under a spray of random and broken frames (truncations, bad
# lengths, IHL < 5, IPv6 extension header chains, VLAN stacks, bad TCP data offsets,
# ports 0 and 65535) from the client namespace: the node keeps forwarding real
# connections by weight, without one failure, and counts what it dropped.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-spray$$
. scripts/lab.sh
. tests/lib/e2e.sh
SPRAY=$(dirname "$TRAFFIC")/l4s-spray

lab_start old new
check "attach (native XDP)" quiet l4s attach n0 --flows 262144
l4s service add web $VIP4:80/tcp >/dev/null
l4s service add dns $VIP4:53/udp >/dev/null
l4s service add web6 "[$VIP6]:80/tcp" >/dev/null
for s in web dns; do
	p=$([ $s = dns ] && echo 53 || echo 80)
	l4s backend add $s "$OLD:$p" --track old >/dev/null
	l4s backend add $s "$NEW:$p" --track new >/dev/null 2>&1
done
l4s backend add web6 "[$(lab_be_addr 1 6)]:80" --track old >/dev/null
l4s weight web old=3 new=1 >/dev/null
l4s weight dns old=1 new=1 >/dev/null
before=$(l4s --json stats web)

mac=$(ip -n "$LAB-n" -j link show n0 | jq -r '.[0].address')
spray_out=$LAB_ROOT/spray.out
nsenter --net="/run/netns/$LAB-c" "$SPRAY" c0 "$mac" 25 20000 \
	$VIP4:80/tcp $VIP4:53/udp "[$VIP6]:80/tcp" $VIP4:443/tcp -- "$OLD:80/tcp" "$NEW:53/udp" >"$spray_out" 2>&1 &
spray_pid=$!
LAB_PIDS+=($spray_pid) # killed by lab_down if the test ends early
wait_for "$spray_out" '^seed' 10
tcp_out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 4000)
udp_out=$(lab_client "$TRAFFIC" udp $VIP4 53 --count 1000)
sprayed_during=$(kill -0 $spray_pid 2>/dev/null && echo yes || echo no)
wait $spray_pid
sent=$(awk '$1 == "sent" { print $2 }' "$spray_out")
echo "# spray: $(tr '\n' ' ' <"$spray_out")"
check "the spray ran the whole time the real traffic did" eq "$sprayed_during" yes
check "the spray sent more than 100,000 frames ($sent)" test "${sent:-0}" -gt 100000
check "no real TCP connection failed while sprayed (of 4000)" eq "$(tv "$tcp_out" failed)" 0
check "... and they still split 3:1 (25% new +- 3)" share_within "$tcp_out" new 25 3
check "no real UDP exchange failed while sprayed (of 1000)" eq "$(tv "$udp_out" failed)" 0
after=$(l4s --json stats web)
reasons() { jq -r --arg k "$2" '.reasons[$k] // 0' <<<"$1"; }
for r in drop_truncated drop_malformed pass_malformed pass_not_ip pass_fragment pass_other_protocol; do
	d=$(($(reasons "$after" $r) - $(reasons "$before" $r)))
	echo "#   $r +$d"
	check "broken frames were seen and counted as $r" test "$d" -gt 0
done
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
check "after the spray the VIP still answers every connection" eq "$(tv "$out" failed)" 0
finish
