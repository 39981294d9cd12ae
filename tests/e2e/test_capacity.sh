#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The backend capacity is chosen when the state is made: attach --backends 262144 sizes
# every map indexed by backend id, status says it, and the node forwards and counts
# through it; a later attach with another --backends keeps the state's and says so;
# capacities out of range are usage errors. The kernel memory of the per-backend
# counters is what l4split.h says: 16 bytes a CPU for packets and bytes, 48 + 32 shared.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-cap$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old new

l4s attach n0 --backends 100 >/dev/null 2>&1
check "attach --backends 100 (below 1024): usage error (exit 2)" eq "$?" 2
l4s attach n0 --backends 2000000 >/dev/null 2>&1
check "attach --backends 2000000 (above 1048576): usage error (exit 2)" eq "$?" 2
check "... and made no state" test ! -e "$LAB_PIN/l4s_backends"

check "attach --backends 262144" quiet l4s attach n0 --backends 262144 --flows 65536
check "status says backend_capacity 262144" eq "$(l4s --json status | jq .backend_capacity)" 262144
for m in l4s_backends l4s_weights l4s_bstats l4s_bcounts l4s_sock_stats l4s_bindex; do
	check "$m holds 262144 entries" \
		eq "$(bpftool -j map show pinned "$LAB_PIN/$m" | jq .max_entries)" 262144
done
ncpu=$(nproc --all)
pc=$(bpftool -j map show pinned "$LAB_PIN/l4s_bstats" | jq -c '[.type, .bytes_value]')
check "l4s_bstats: per CPU, 16 bytes (packets, bytes)" eq "$pc" '["percpu_array",16]'
sh=$(bpftool -j map show pinned "$LAB_PIN/l4s_bcounts" | jq -c '[.type, .bytes_value]')
check "l4s_bcounts: shared, 48 bytes (flows, answered, resets, syn_retries, replies)" eq "$sh" '["array",48]'
for m in l4s_bstats l4s_bcounts l4s_sock_stats; do
	echo "#   $m: $(bpftool -j map show pinned "$LAB_PIN/$m" | jq -r '"\(.bytes_memlock) bytes memlock"') ($ncpu CPUs)"
done

l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web $OLD:80 --track old >/dev/null
l4s backend add web $NEW:80 --track new >/dev/null
l4s weight web old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 400)
check "it forwards: 400 connections, 1:1 (50% new +- 10)" share_within "$out" new 50 10
check "... none failed" eq "$(tv "$out" failed)" 0
st=$(l4s --json stats web)
check "the counters count them: 400 flows, 400 answered" \
	eq "$(jq -c '[([.services[0].backends[].flows] | add), ([.services[0].backends[].answered] | add)]' <<<"$st")" '[400,400]'
check "... packets and replies per backend" quiet \
	jq -e '[.services[0].backends[] | .packets > .flows and .reply_packets > .flows] | all' <<<"$st"

out=$(l4s attach n0 --backends 65536 2>&1)
check "attach --backends 65536 on it: exit 0" eq "$?" 0
check "... saying the state keeps 262144" grep -q "already holds 262144 backends" <<<"$out"
check "... and it does" eq "$(l4s --json status | jq .backend_capacity)" 262144
check "detach --all --purge" quiet l4s detach --all --purge
check "a new state without --backends holds 65536" quiet l4s attach n0
check "... status says so" eq "$(l4s --json status | jq .backend_capacity)" 65536
finish
