#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Upgrade in place: the last release with map layout 1, built from git, runs the node
# with live long-lived connections; `attach` with this build replaces the programs,
# upgrades the state to layout 5 and keeps services, weights and flows: 0 broken
# connections. The same from the last release with layout 2, whose lookup tables this
# build keeps filling slot by slot (they cannot be mapped), and from the last with
# layout 3, whose per-CPU backend counters are replaced by the split ones with their
# sums carried over. A state with a layout this build cannot read is refused with a clear
# error and left as it was, while its datapath keeps forwarding.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-upg$$
. scripts/lab.sh
. tests/lib/e2e.sh
# The last commits whose states have map layouts 1 (landed 2026-11-27) and 2 (2026-11-28).
UPGRADE_FROM=${UPGRADE_FROM:-43a7ba8}
UPGRADE_FROM2=${UPGRADE_FROM2:-cfe65bb}
# The last with layout 3 (main before the per-backend counters were split, 2026-12-05).
UPGRADE_FROM3=${UPGRADE_FROM3:-bd38c31}
# The last with layout 4 (main before the reverse entries took the connect-time start).
UPGRADE_FROM4=${UPGRADE_FROM4:-2376f0c}
NEW_BIN=$L4SPLIT

lab_start old new

if ! git cat-file -e "$UPGRADE_FROM^{commit}" 2>/dev/null; then
	ok "# SKIP $UPGRADE_FROM is not in this clone (shallow?): cannot build the old release"
	finish
	exit 0
fi
mkdir -p "$LAB_ROOT/src"
git archive "$UPGRADE_FROM" | tar -x -C "$LAB_ROOT/src"
check "the layout-1 release ($UPGRADE_FROM) builds" quiet make -s -C "$LAB_ROOT/src" -j2 build/l4split
OLD_BIN=$LAB_ROOT/src/build/l4split
check "... and says it uses map layout 1" grep -q 'map layout 1' <<<"$("$OLD_BIN" --version)"
check "this build uses map layout 5" grep -q 'map layout 5' <<<"$("$NEW_BIN" --version)"

L4SPLIT=$OLD_BIN
check "old release: attach" quiet l4s attach n0 --flows 65536
l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web $OLD:80 --track old >/dev/null
l4s backend add web $NEW:80 --track new >/dev/null 2>&1
l4s weight web old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 400)
check "old release forwards (1:1, 50% +- 10)" share_within "$out" new 50 10
prog_before=$(ip -n "$LAB-n" -j -d link show n0 | jq '.[0].xdp.prog.id')

lab_client "$TRAFFIC" hold $VIP4 80 --conns 50 --duration 6 --interval-ms 10 >"$LAB_ROOT/hold.out" &
hold=$!
wait_for "$LAB_ROOT/hold.out" '^opened' 10
sleep 1
flows_before=$(bpftool -j map show pinned "$LAB_PIN/l4s_flows" | jq .id)
L4SPLIT=$NEW_BIN
err=$(l4s status 2>&1 >/dev/null)
check "this build's status on layout 1: refused (exit 1)" eq "$?" 1
check "... saying attach upgrades it in place" grep -q "attach DEV' with this l4split upgrades it" <<<"$err"
out=$(l4s attach n0 2>&1)
check "this build's attach upgrades in place (exit 0)" eq "$?" 0
check "... and says what it did" grep -q "upgraded the state .* from map layout 1 to 5" <<<"$out"
sleep 1
l4s weight web old=3 new=1 >/dev/null
wait $hold
hout=$(cat "$LAB_ROOT/hold.out")
check "50 long-lived connections opened before the upgrade" eq "$(tv "$hout" opened)" 50
check "upgrade and a weight change: 0 broken connections" eq "$(tv "$hout" broken)" 0
check "... and 0 connections moved backend" eq "$(tv "$hout" moved)" 0
check "... and they exchanged data throughout" test "$(tv "$hout" exchanges)" -gt 5000
check "the programs were replaced" test "$(ip -n "$LAB-n" -j -d link show n0 | jq '.[0].xdp.prog.id')" != "$prog_before"
check "the flow table is the same map (flows kept)" eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_flows" | jq .id)" "$flows_before"
check "the verdict counters have a slot per reason now" eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_reasons" | jq .max_entries)" 32
st=$(l4s --json status web)
check "services, backends and weights kept" eq "$(jq -c '[.services[0].tracks, (.services[0].backends | length)]' <<<"$st")" '[{"new":1,"old":3},2]'
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "after the upgrade: 3:1 (25% new +- 4), none failed" share_within "$out" new 25 4
check "... no failed connection" eq "$(tv "$out" failed)" 0
check "the new counters count (flow_new > 0)" test "$(l4s --json stats web | jq '.reasons.flow_new')" -gt 0
check "the socket path's maps exist after the upgrade" \
	test -e "$LAB_PIN/l4s_sock_rev" -a -e "$LAB_PIN/l4s_sock_stats" -a -e "$LAB_PIN/l4s_cgroups"
# l4s_svcidx (each service's frontends and tracks by id) came with attach, filled from the
# maps: a head per service, an entry per frontend and per track.
nidx=$(( $(bpftool -j map dump pinned "$LAB_PIN/l4s_frontends" | jq length) +
	$(bpftool -j map dump pinned "$LAB_PIN/l4s_tracks" | jq length) +
	$(l4s --json status | jq '.services | length') ))
check "the upgraded state gained l4s_svcidx, listing every frontend and track" \
	eq "$(bpftool -j map dump pinned "$LAB_PIN/l4s_svcidx" 2>/dev/null | jq length)" "$nidx"
CG2=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
if [ -n "$CG2" ] && mkdir "$CG2/$LAB"; then
	trap 'rmdir "$CG2/$LAB"; lab_down' EXIT
	check "attach --cgroup on the upgraded state" quiet l4s attach --cgroup "$CG2/$LAB"
	out=$(sh -c 'echo $$ >"$0/cgroup.procs" && exec nsenter --net="$1" "$2" tcp "$3" 80 --count 400' \
		"$CG2/$LAB" "/run/netns/$LAB-c" "$TRAFFIC" $VIP4)
	check "... its clients get the upgraded weights (3:1, 25% new +- 8)" share_within "$out" new 25 8
	check "... detach --cgroup" quiet l4s detach --cgroup "$CG2/$LAB"
fi

# A state from a future layout: every command refuses it and changes nothing.
cfg=$(bpftool -j map dump pinned "$LAB_PIN/l4s_config" | jq -r '.[0].value | map(.[2:]) | join(" ")' 2>/dev/null)
# shellcheck disable=SC2086
set -- $cfg
bpftool map update pinned "$LAB_PIN/l4s_config" key hex 00 00 00 00 value hex 09 00 00 00 "${@:5}"
prog=$(ip -n "$LAB-n" -j -d link show n0 | jq '.[0].xdp.prog.id')
err=$(l4s attach n0 2>&1)
check "attach over map layout 9: refused (exit 1)" eq "$?" 1
check "... naming both layouts" grep -q "map layout 9, which this l4split (layout 5) cannot read" <<<"$err"
check "... the programs were left alone" eq "$(ip -n "$LAB-n" -j -d link show n0 | jq '.[0].xdp.prog.id')" "$prog"
err=$(l4s weight web old=1 new=1 2>&1)
check "weight over map layout 9: refused (exit 1)" eq "$?" 1
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
check "the datapath keeps forwarding meanwhile" eq "$(tv "$out" failed)" 0
bpftool map update pinned "$LAB_PIN/l4s_config" key hex 00 00 00 00 value hex 05 00 00 00 "${@:5}"
check "restored: weight works again" quiet l4s weight web old=1 new=1

# From layout 2: a fresh state made by the last layout-2 release, upgraded under load.
if ! git cat-file -e "$UPGRADE_FROM2^{commit}" 2>/dev/null; then
	ok "# SKIP $UPGRADE_FROM2 is not in this clone (shallow?): cannot build the old release"
	finish
	exit 0
fi
l4s detach --all --purge >/dev/null
mkdir -p "$LAB_ROOT/src2"
git archive "$UPGRADE_FROM2" | tar -x -C "$LAB_ROOT/src2"
check "the layout-2 release ($UPGRADE_FROM2) builds" quiet make -s -C "$LAB_ROOT/src2" -j2 build/l4split
L4SPLIT=$LAB_ROOT/src2/build/l4split
check "... and says it uses map layout 2" grep -q 'map layout 2' <<<"$(l4s --version)"
check "layout-2 release: attach" quiet l4s attach n0 --flows 65536
l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web $OLD:80 --track old >/dev/null
l4s backend add web $NEW:80 --track new >/dev/null 2>&1
l4s weight web old=1 new=1 >/dev/null
lab_client "$TRAFFIC" hold $VIP4 80 --conns 50 --duration 6 --interval-ms 10 >"$LAB_ROOT/hold2.out" &
hold=$!
wait_for "$LAB_ROOT/hold2.out" '^opened' 10
sleep 1
L4SPLIT=$NEW_BIN
out=$(l4s attach n0 2>&1)
check "this build's attach upgrades layout 2 in place (exit 0)" eq "$?" 0
check "... and says what it did" grep -q "upgraded the state .* from map layout 2 to 5" <<<"$out"
sleep 1
check "a weight change on the upgraded state (its tables filled slot by slot)" \
	quiet l4s weight web old=1 new=3
wait $hold
hout=$(cat "$LAB_ROOT/hold2.out")
check "50 long-lived connections through the upgrade: 0 broken" eq "$(tv "$hout" broken)" 0
check "... and 0 moved backend" eq "$(tv "$hout" moved)" 0
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "after the upgrade: 1:3 (75% new +- 4), none failed" share_within "$out" new 75 4
check "... no failed connection" eq "$(tv "$out" failed)" 0
check "a new service on the upgraded state" quiet l4s service add web2 $VIP4:81/tcp
l4s backend add web2 $OLD:80 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 81 --count 200)
check "... forwards (200 of 200 to its one backend)" eq "$(tv "$out" failed)" 0

# From layout 3: the per-CPU backend counters (64 + 32 bytes a CPU) become per-CPU
# packets and bytes and shared per-flow counts; what they counted is carried over.
if ! git cat-file -e "$UPGRADE_FROM3^{commit}" 2>/dev/null; then
	ok "# SKIP $UPGRADE_FROM3 is not in this clone (shallow?): cannot build the old release"
	finish
	exit 0
fi
l4s detach --all --purge >/dev/null
mkdir -p "$LAB_ROOT/src3"
git archive "$UPGRADE_FROM3" | tar -x -C "$LAB_ROOT/src3"
check "the layout-3 release ($UPGRADE_FROM3) builds" quiet make -s -C "$LAB_ROOT/src3" -j2 build/l4split
L4SPLIT=$LAB_ROOT/src3/build/l4split
check "... and says it uses map layout 3" grep -q 'map layout 3' <<<"$(l4s --version)"
check "layout-3 release: attach" quiet l4s attach n0 --flows 65536
l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web $OLD:80 --track old >/dev/null
l4s backend add web $NEW:80 --track new >/dev/null 2>&1
l4s weight web old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 400)
check "layout-3 release forwards 400 connections" eq "$(tv "$out" failed)" 0
# flows, answered, packets, reply packets of both backends, as the old release reads them
counts() { l4s --json stats web | jq -c '[.services[0].backends[] | [.flows, .answered, .packets, .reply_packets]] | sort'; }
before=$(counts)
echo "#   counters before: $before"
check "... whose per-backend counters are per CPU (value 64 bytes)" \
	eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_bstats" | jq -c '[.type, .bytes_value]')" '["percpu_array",64]'
lab_client "$TRAFFIC" hold $VIP4 80 --conns 50 --duration 6 --interval-ms 10 >"$LAB_ROOT/hold3.out" &
hold=$!
wait_for "$LAB_ROOT/hold3.out" '^opened' 10
sleep 1
flows_before=$(bpftool -j map show pinned "$LAB_PIN/l4s_flows" | jq .id)
L4SPLIT=$NEW_BIN
out=$(l4s attach n0 2>&1)
check "this build's attach upgrades layout 3 in place (exit 0)" eq "$?" 0
check "... and says what it did" grep -q "upgraded the state .* from map layout 3 to 5: .*backend counters kept" <<<"$out"
check "... and that the state keeps its 16384 backends" grep -q "keeps its capacity of 16384 backends" <<<"$out"
after=$(l4s --json stats web | jq -c '[.services[0].backends[] | [.flows, .answered, .packets, .reply_packets]] | sort')
echo "#   counters after: $after"
# The held connections count on in the old maps until the programs are replaced: the
# carried counts are at least what was read before.
check "the backend counters are carried over (each at least what it was)" \
	jq -e -n --argjson b "$before" --argjson a "$after" \
	'[range(0; 2) as $i | range(0; 4) as $k | $a[$i][$k] >= $b[$i][$k]] | all and ($b[0][0] + $b[1][0] >= 400)'
check "l4s_bstats: per CPU, packets and bytes only (16 bytes)" \
	eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_bstats" | jq -c '[.type, .bytes_value, .max_entries]')" '["percpu_array",16,16384]'
check "l4s_bcounts: shared, 48 bytes" \
	eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_bcounts" | jq -c '[.type, .bytes_value, .max_entries]')" '["array",48,16384]'
check "l4s_sock_stats: shared" \
	eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_sock_stats" | jq -c '[.type, .max_entries]')" '["array",16384]'
check "status says the capacity (16384)" eq "$(l4s --json status | jq .backend_capacity)" 16384
sleep 1
check "a weight change on the upgraded state" quiet l4s weight web old=1 new=3
wait $hold
hout=$(cat "$LAB_ROOT/hold3.out")
check "50 long-lived connections through the layout 3 -> 4 upgrade: 0 broken" eq "$(tv "$hout" broken)" 0
check "... and 0 moved backend" eq "$(tv "$hout" moved)" 0
check "... and they exchanged data throughout" test "$(tv "$hout" exchanges)" -gt 5000
check "the flow table is the same map (flows kept)" eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_flows" | jq .id)" "$flows_before"
mid=$(l4s --json stats web | jq '[.services[0].backends[].flows] | add')
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "after the upgrade: 1:3 (75% new +- 4)" share_within "$out" new 75 4
check "... no failed connection" eq "$(tv "$out" failed)" 0
st=$(l4s --json stats web)
check "the split counters count the 2000 new flows" eq "$(jq '[.services[0].backends[].flows] | add' <<<"$st")" "$((mid + 2000))"
check "... and every one answered" test "$(jq '[.services[0].backends[] | .answered] | add' <<<"$st")" -ge "$((mid + 2000))"
check "... and their reply packets" test "$(jq '[.services[0].backends[] | .reply_packets] | add' <<<"$st")" -gt 4000

# From layout 4: the reverse entries (l4s_rflows) grew from 24 to 32 bytes (the
# connect-time start); the map is replaced, its entries copied: held connections keep
# their replies translated, and new flows are timed from their reverse entry.
if ! git cat-file -e "$UPGRADE_FROM4^{commit}" 2>/dev/null; then
	ok "# SKIP $UPGRADE_FROM4 is not in this clone (shallow?): cannot build the old release"
	finish
	exit 0
fi
l4s detach --all --purge >/dev/null
mkdir -p "$LAB_ROOT/src4"
git archive "$UPGRADE_FROM4" | tar -x -C "$LAB_ROOT/src4"
check "the layout-4 release ($UPGRADE_FROM4) builds" quiet make -s -C "$LAB_ROOT/src4" -j2 build/l4split
L4SPLIT=$LAB_ROOT/src4/build/l4split
check "... and says it uses map layout 4" grep -q 'map layout 4' <<<"$(l4s --version)"
check "layout-4 release: attach" quiet l4s attach n0 --flows 65536
l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web $OLD:80 --track old >/dev/null
l4s backend add web $NEW:80 --track new >/dev/null 2>&1
l4s weight web old=1 new=1 >/dev/null
check "... whose reverse entries are 24 bytes" \
	eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_rflows" | jq .bytes_value)" 24
lab_client "$TRAFFIC" hold $VIP4 80 --conns 50 --duration 6 --interval-ms 10 >"$LAB_ROOT/hold4.out" &
hold=$!
wait_for "$LAB_ROOT/hold4.out" '^opened' 10
sleep 1
rflows_before=$(bpftool -j map show pinned "$LAB_PIN/l4s_rflows" | jq .id)
L4SPLIT=$NEW_BIN
out=$(l4s attach n0 2>&1)
check "this build's attach upgrades layout 4 in place (exit 0)" eq "$?" 0
check "... and says what it did" grep -q "upgraded the state .* from map layout 4 to 5" <<<"$out"
check "l4s_rflows is a new map of 32-byte entries" \
	eq "$(bpftool -j map show pinned "$LAB_PIN/l4s_rflows" | jq -c "[.id != $rflows_before, .bytes_value]")" '[true,32]'
check "... holding the 50 held connections' reverse entries (copied)" \
	test "$(bpftool -j map dump pinned "$LAB_PIN/l4s_rflows" | jq length)" -ge 50
wait $hold
hout=$(cat "$LAB_ROOT/hold4.out")
check "50 long-lived connections through the layout 4 -> 5 upgrade: 0 broken" eq "$(tv "$hout" broken)" 0
check "... and 0 moved backend" eq "$(tv "$hout" moved)" 0
check "... and they exchanged data throughout" test "$(tv "$hout" exchanges)" -gt 5000
conn() { bpftool -j map dump pinned "$LAB_PIN/l4s_bconnect" | jq '[.[] | .formatted.value.count | add] | add'; }
c0=$(conn)
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 400)
check "after the upgrade: 400 connections, none failed" eq "$(tv "$out" failed)" 0
check "... each one's connect time counted (from its reverse entry)" eq "$(( $(conn) - c0 ))" 400
check "... and no l4s_cstart entry left behind" \
	eq "$(bpftool -j map dump pinned "$LAB_PIN/l4s_cstart" | jq length)" 0
finish
