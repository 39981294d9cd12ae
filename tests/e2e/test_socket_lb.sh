#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The socket path (#8): clients in a cgroup of the test's own get a backend at connect()
# and sendmsg() by the same weights as the XDP path, see the VIP in getpeername and
# recvfrom, keep their backend when weights change, and a process outside the cgroup
# is left to the node path. Ends with detach leaving nothing attached.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-sk$$
. scripts/lab.sh
. tests/lib/e2e.sh

# A cgroup v2 of our own: under the machine's cgroup2 mount, else under one we mount.
CG2=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
CG=""
cleanup() {
	local p d
	for d in "$CG/sub" "$CG"; do
		[ -n "$CG" ] && [ -d "$d" ] || continue
		for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for d in "$CG/sub" "$CG"; do
		[ -n "$CG" ] && [ -d "$d" ] || continue
		for _ in $(seq 50); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
	done
	lab_down # also unmounts what we mounted under $LAB_ROOT
}
lab_start old new
trap cleanup EXIT
if [ -z "$CG2" ]; then
	CG2=$LAB_ROOT/cg2
	mkdir -p "$CG2" && mount -t cgroup2 none "$CG2" || { not_ok "mount cgroup2"; finish; exit 1; }
fi
CG=$CG2/$LAB
mkdir "$CG" "$CG/sub" || { not_ok "create a test cgroup in $CG2"; finish; exit 1; }
echo "# cgroup $CG"

# "${IN_CG[@]}" CMD...: CMD as a process of the test cgroup, in the client namespace. An
# array, not a function: started with &, $! is then CMD's own PID (sh and nsenter exec).
IN_CG=(sh -c 'echo $$ >"$0/cgroup.procs" && ns=$1 && shift && exec nsenter --net="$ns" "$@"'
	"$CG" "/run/netns/$LAB-c")
in_cg() { "${IN_CG[@]}" "$@"; }
# answered OUTPUT: "failed answered", what every count check compares with "0 N".
answered() { echo "$(tv "$1" failed) $(total_answers "$1")"; }
# jq over status/stats JSON.
sj() { l4s --json "$1" | jq -r "$2"; }
sock() { sj stats "[.services[] | select(.name == \"$1\") | .backends[].socket.$2] | add"; }
verdict() { sj stats ".reasons.$1"; }
progs() { bpftool cgroup show "$1" 2>/dev/null | grep -c 'l4s_'; }

check "attach the node path to n0" quiet l4s attach n0 --flows 65536
for s in "web $VIP4:80/tcp" "dns $VIP4:53/udp" "web6 [$VIP6]:80/tcp" "dns6 [$VIP6]:53/udp" \
	"sticky 10.96.0.11:80/tcp --affinity client-ip" "empty 10.96.0.12:80/tcp"; do
	# shellcheck disable=SC2086
	l4s service add $s >/dev/null
done
for i in 1 2; do
	t=$([ $i = 1 ] && echo old || echo new)
	for s in web:80 dns:53 sticky:80 empty:80; do
		l4s backend add "${s%:*}" "$(lab_be_addr $i):${s#*:}" --track $t >/dev/null 2>&1
	done
	l4s backend add web6 "[$(lab_be_addr $i 6)]:80" --track $t >/dev/null 2>&1
	l4s backend add dns6 "[$(lab_be_addr $i 6)]:53" --track $t >/dev/null 2>&1
done
l4s weight web old=1 new=3 >/dev/null
l4s weight web6 old=1 new=3 >/dev/null
l4s weight dns old=1 new=1 >/dev/null
l4s weight dns6 old=1 new=1 >/dev/null
l4s weight sticky old=1 new=1 >/dev/null
l4s weight empty old=0 new=0 >/dev/null

# Bad input first: a clear error, a non-zero exit, nothing attached.
out=$(l4s attach --cgroup "$CG/nosuch" 2>&1)
check "attach --cgroup of a missing cgroup fails" test $? -ne 0
check "  and says the cgroup does not exist" grep -q "does not exist" <<<"$out"
out=$(l4s attach --cgroup "$LAB_ROOT" 2>&1)
check "attach --cgroup of a non-empty non-cgroup directory fails with a hint" \
	grep -q "not a cgroup v2 directory" <<<"$out"
check "attach n0 --cgroup PATH is a usage error" test "$(l4s attach n0 --cgroup "$CG" >/dev/null 2>&1; echo $?)" = 2
check "detach --cgroup of a cgroup without hooks fails" test "$(l4s detach --cgroup "$CG" >/dev/null 2>&1; echo $?)" -ne 0
check "the failed commands attached nothing" eq "$(progs "$CG")" 0

check "attach --cgroup" quiet l4s attach --cgroup "$CG"
check "bpftool sees 9 l4split programs on the cgroup" eq "$(progs "$CG")" 9
check "status lists the cgroup with its 9 hooks, live" \
	eq "$(sj status ".cgroups[] | select(.path == \"$CG\") | \"\(.hooks | length) \(.live)\"")" "9 true"
check "attach --cgroup again replaces in place (still 9 programs)" quiet l4s attach --cgroup "$CG"
check "  still 9" eq "$(progs "$CG")" 9

new0=$(verdict flow_new)
out=$(in_cg "$TRAFFIC" tcp $VIP4 80 --count 2000 --peername)
echo "#   failed $(tv "$out" failed) reset $(tv "$out" reset) timeout $(tv "$out" timeout)"
check "TCP: 2000 connections from the cgroup all answered" eq "$(answered "$out")" "0 2000"
check "TCP: 1:3 by weight is 75% new +- 3 (4 sigma)" share_within "$out" new 75 3
check "TCP: getpeername shows the VIP on every connection" eq "$(tv "$out" bad_peer)" 0
check "TCP: 2000 sockets counted on the socket path" eq "$(sock web flows)" 2000
check "TCP: 2000 connects seen established by sockops" eq "$(sock web tcp_established)" 2000
check "TCP: no per-packet NAT for them (XDP made no flow)" eq "$(verdict flow_new)" "$new0"
sk_new=$(sj stats '.services[] | select(.name == "web") | .backends[] | select(.track == "new") | .socket.flows')
check "stats count the new track's sockets as the clients saw them" eq "$sk_new" "$(tv "$out" name:new)"

out=$(in_cg "$TRAFFIC" udp $VIP4 53 --count 1000 --repeat 2)
check "UDP unconnected: 1000 sockets answered" eq "$(answered "$out")" "0 1000"
check "UDP unconnected: recvfrom shows the VIP as the source" eq "$(tv "$out" bad_source)" 0
check "UDP unconnected: a socket keeps its backend" eq "$(tv "$out" flapped)" 0
check "UDP unconnected: 1:1 is 50% +- 7 (4.4 sigma)" share_within "$out" new 50 7
out=$(in_cg "$TRAFFIC" udp $VIP4 53 --count 1000 --repeat 2 --connect)
check "UDP connected: 1000 sockets answered" eq "$(answered "$out")" "0 1000"
check "UDP connected: getpeername and recvfrom show the VIP" \
	eq "$(tv "$out" bad_peer) $(tv "$out" bad_source)" "0 0"
check "UDP connected: 1:1 is 50% +- 7" share_within "$out" new 50 7
check "UDP: 2000 sockets counted on the socket path" eq "$(sock dns flows)" 2000

out=$(in_cg "$TRAFFIC" tcp $VIP6 80 --count 1000 --peername)
check "IPv6 TCP: 1000 connections answered, VIP in getpeername" \
	eq "$(answered "$out") $(tv "$out" bad_peer)" "0 1000 0"
check "IPv6 TCP: 1:3 is 75% new +- 5" share_within "$out" new 75 5
out=$(in_cg "$TRAFFIC" udp $VIP6 53 --count 500 --repeat 2)
check "IPv6 UDP: 500 sockets answered from the VIP" \
	eq "$(answered "$out") $(tv "$out" bad_source) $(tv "$out" flapped)" "0 500 0 0"
out=$(in_cg "$TRAFFIC" tcp "::ffff:$VIP4" 80 --count 200 --peername)
check "dual-stack socket to ::ffff:VIP: 200 connections, VIP in getpeername" \
	eq "$(tv "$out" failed) $(tv "$out" bad_peer) $(total_answers "$out")" "0 0 200"

out=$(in_cg "$TRAFFIC" tcp 10.96.0.11 80 --count 300)
check "client-IP affinity: 300 connections of one pod all on one backend" \
	eq "$(answered "$out") $(grep -c '^name:' <<<"$out")" "0 300 1"

t0=$(date +%s%N)
out=$(in_cg "$TRAFFIC" tcp 10.96.0.12 80 --count 20)
ms=$((($(date +%s%N) - t0) / 1000000))
check "no backend: connect is refused at once (20 refused in ${ms} ms)" \
	eq "$(tv "$out" failed) $(tv "$out" reset) $([ $ms -lt 3000 ] && echo fast)" "20 20 fast"
check "  counted as sock_no_backend" eq "$(verdict sock_no_backend)" 20

# A process outside the cgroup: its packets reach the node's XDP path addressed to the VIP.
sk0=$(sock web flows)
new0=$(verdict flow_new)
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200 --peername)
check "outside the cgroup: 200 connections answered through the node path" \
	eq "$(answered "$out") $(tv "$out" bad_peer)" "0 200 0"
check "outside the cgroup: no socket-path socket" eq "$(sock web flows)" "$sk0"
check "outside the cgroup: XDP made the 200 flows" eq "$(($(verdict flow_new) - new0))" 200

# The two paths from one client address: ports used for the VIP through XDP (their
# reverse entries still in the table), then the same ports connecting straight to the
# backends through the socket path. The node's reply path must leave those alone.
# Ports 65100-65399: above the client's ephemeral range (lab.sh), so no earlier
# connection left one in TIME_WAIT.
l4s weight web old=1 new=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 300 --sport-base 65100)
check "300 connections through XDP from ports 65100-65399" eq "$(answered "$out")" "0 300"
st0=$(verdict reply_stale)
out=$(in_cg "$TRAFFIC" tcp $VIP4 80 --count 300 --sport-base 65100 --peername)
echo "#   reply_stale +$(($(verdict reply_stale) - st0))"
check "the same ports through the socket path: 300 answered, VIP in getpeername" \
	eq "$(answered "$out") $(tv "$out" bad_peer)" "0 300 0"
check "  the reply path recognised the reused 5-tuples (reply_stale > 0)" \
	test "$(($(verdict reply_stale) - st0))" -gt 0

# Weight changes move no existing socket (TCP or unconnected UDP) and steer new ones.
"${IN_CG[@]}" "$TRAFFIC" hold $VIP4 80 --conns 40 --duration 5 --interval-ms 20 >"$LAB_ROOT/hold.out" &
LAB_PIDS+=($!)
hpid=$!
"${IN_CG[@]}" "$TRAFFIC" hold $VIP4 53 --udp --conns 40 --duration 5 --interval-ms 20 >"$LAB_ROOT/uhold.out" &
LAB_PIDS+=($!)
upid=$!
wait_for "$LAB_ROOT/hold.out" '^opened' 10
wait_for "$LAB_ROOT/uhold.out" '^opened' 10
for w in "old=0 new=1" "old=1 new=0" "old=9 new=1" "old=1 new=1" "old=0 new=1"; do
	# shellcheck disable=SC2086
	l4s weight web $w >/dev/null
	# shellcheck disable=SC2086
	l4s weight dns $w >/dev/null
	sleep 0.5
done
out=$(in_cg "$TRAFFIC" tcp $VIP4 80 --count 300)
check "after old=0 new=1, 300 new TCP connections all go to new" share_within "$out" new 100 0
out=$(in_cg "$TRAFFIC" udp $VIP4 53 --count 300)
check "after old=0 new=1, 300 new UDP sockets all go to new" share_within "$out" new 100 0
wait $hpid $upid
h=$(cat "$LAB_ROOT/hold.out")
u=$(cat "$LAB_ROOT/uhold.out")
echo "#   TCP hold: $(tv "$h" exchanges) exchanges, old $(tv "$h" name:old) new $(tv "$h" name:new); UDP hold: $(tv "$u" exchanges) exchanges, old $(tv "$u" name:old) new $(tv "$u" name:new)"
check "40 TCP connections through 5 weight changes: 0 broken, 0 moved" \
	eq "$(tv "$h" opened) $(tv "$h" broken) $(tv "$h" moved)" "40 0 0"
check "40 UDP sockets through 5 weight changes: 0 broken, 0 moved, replies from the VIP" \
	eq "$(tv "$u" opened) $(tv "$u" broken) $(tv "$u" moved) $(tv "$u" bad_source)" "40 0 0 0"
check "UDP sockets given old before kept it while old had weight 0" test "$(tv "$u" name:old)" -gt 0

# Rollouts judge the socket path too: sockops tells a completed handshake from a refused
# or unanswered connect. Load: 4 clients in the cgroup, 100 connections/s each.
l4s service add rst 10.96.0.13:80/tcp >/dev/null
l4s backend add rst "$OLD:80" --track old >/dev/null
l4s backend add rst "$NEW:81" --track new >/dev/null 2>&1 # nothing listens: refused
LOAD=()
load_start() {
	local i
	for i in 1 2 3 4; do
		"${IN_CG[@]}" "$TRAFFIC" tcp "$1" 80 --count 1000000 --rate 100 --timeout 60 \
			--conn-timeout 0.5 >"$LAB_ROOT/load.$i" &
		LOAD+=($!)
		LAB_PIDS+=($!)
	done
}
load_stop() { kill -TERM "${LOAD[@]}" 2>/dev/null; wait "${LOAD[@]}" 2>/dev/null; LOAD=(); }
# The clients take a moment to start on a loaded machine: a rollout started before they
# connect spends its first interval waiting for flows (and says so). Start it once the
# service has seen 100 more socket-path flows (at most 10 s).
load_flowing() {
	local svc=$1 f0 i
	f0=$(sock "$svc" flows)
	for i in $(seq 100); do
		[ $(($(sock "$svc" flows) - f0)) -ge 100 ] && return 0
		sleep 0.1
	done
	echo "#   the load on $svc had not reached 100 flows after 10 s"
}
l4s weight web old=1 new=0 >/dev/null
load_start $VIP4
load_flowing web
ev=$(l4s -j rollout web --to new --steps 10,50,100 --interval 2s --min-flows 30)
check "a rollout driven only by socket-path clients completes (exit 0)" test $? -eq 0
# "waiting" (too few flows yet to judge a step) may come between steps when the clients
# slow down under load; the steps themselves and their order must be exactly these.
check "  through its three steps" eq "$(jq -r 'select(.event != "waiting") | .event' <<<"$ev" | tr '\n' ' ')" "step step step done "
load_stop
load_start 10.96.0.13
load_flowing rst
ev=$(l4s -j rollout rst --to new --steps 10,50,100 --interval 3s --min-flows 30)
rc=$?
load_stop
check "a track refusing socket-path connects is rolled back (exit 3)" eq "$rc" 3
check "  the starting weights are back" \
	eq "$(l4s --json status rst | jq -c '.services[0].tracks')" '{"new":0,"old":1}'
check "  sockops counted its connects as failed" test "$(sj stats '.services[] | select(.name == "rst") | .backends[] | select(.track == "new") | .socket.tcp_failed')" -gt 0

# cgroup2 mounted by attach: a process in a cgroup namespace rooted at $CG/sub mounts its
# own view (in a private mount namespace, gone when it exits) and attaches there.
mkdir -p "$LAB_ROOT/cgmnt"
out=$(sh -c 'echo $$ >"$0/cgroup.procs" && exec unshare --cgroup --mount --propagation private \
	env L4SPLIT_PIN_DIR="$1" "$2" attach --cgroup "$3"' "$CG/sub" "$LAB_PIN" "$L4SPLIT" \
	"$LAB_ROOT/cgmnt" 2>&1)
check "attach --cgroup on an empty directory mounts cgroup2 there" grep -q "mounted cgroup2" <<<"$out"
check "  and attaches to that cgroup (the cgroup namespace's root: $CG/sub)" \
	eq "$(sj status ".cgroups[] | select(.path == \"$LAB_ROOT/cgmnt\") | .cgroup_id")" "$(stat -c %i "$CG/sub")"
check "  bpftool sees the 9 programs on $CG/sub" eq "$(progs "$CG/sub")" 9
check "detach --cgroup by its path in this mount namespace" quiet l4s detach --cgroup "$CG/sub"
check "  nothing left on $CG/sub" eq "$(progs "$CG/sub")" 0

check "detach --cgroup" quiet l4s detach --cgroup "$CG"
check "detach leaves no program on the cgroup" eq "$(progs "$CG")" 0
check "detach leaves no link pinned" eq "$(find "$LAB_PIN/cgroup" -mindepth 1 -type f 2>/dev/null | wc -l)" 0
check "status lists no cgroup" eq "$(sj status '.cgroups | length')" 0
new0=$(verdict flow_new)
out=$(in_cg "$TRAFFIC" tcp $VIP4 80 --count 50)
check "after detach, the cgroup's clients go through the node path" \
	eq "$(answered "$out") $(($(verdict flow_new) - new0))" "0 50 50"

check "attach --cgroup once more" quiet l4s attach --cgroup "$CG"
check "detach --all removes cgroup hooks too" quiet l4s detach --all
check "  nothing left on the cgroup" eq "$(progs "$CG")" 0

finish
