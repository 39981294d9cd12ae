#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# What scripts/test-kernels.sh runs on each kernel (inside the guest, as root): the load
# checks (each command loads what it needs, and only that), the socket path where the
# kernel has it, the datapath tests, and the seed scenario through XDP. TAP lines.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
export L4SPLIT=$BUILD/l4split TRAFFIC=$BUILD/tests/l4s-traffic
. tests/lib/e2e.sh
echo "# kernel $(uname -r)"
PIN=/sys/fs/bpf/l4k-load
NS=l4k-load
# A cgroup of our own under a cgroup2 mount (the guest has one at /sys/fs/cgroup; on a
# machine with none, ours under /run). Never its root: the root holds every process.
CG2=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
if [ -z "$CG2" ]; then
	CG2=/run/l4k-load.cg2
	mkdir -p "$CG2" && mount -t cgroup2 none "$CG2"
fi
CG=$CG2/l4k-load$$
l4() { L4SPLIT_PIN_DIR=$PIN "$L4SPLIT" "$@"; }
in_ns() { ip netns exec "$NS" "$@"; }
# "$@" as a process of $CG, in $NS: prints the errno name connect() ends with, or OK.
connect_in_cg() {
	sh -c 'echo $$ >"$0/cgroup.procs" && exec ip netns exec "$1" python3 -c "$2" "$3" "$4"' \
		"$CG" "$NS" 'import errno, socket, sys
s = socket.socket()
s.settimeout(5)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno) if e.errno else "TIMEOUT")' "$@"
}
ver() { uname -r | awk -F'[.-]' '{ print $1 * 1000 + $2 }'; }

# Load checks ------------------------------------------------------------------------
ip netns add "$NS" && ip -n "$NS" link set lo up && ip -n "$NS" link add dev lk0 type veth peer name lk1 &&
	ip -n "$NS" link set lk0 up && ip -n "$NS" link set lk1 up &&
	ip -n "$NS" addr add 10.250.0.1/24 dev lk0 || not_ok "lab for the load checks"
out=$(l4 service add svc 10.96.0.10:80/tcp 2>&1)
check "service add on a new state (maps only, no program loaded)" eq "$?" 0
[ -n "${out##*added*}" ] && echo "# $out"
out=$(l4 -d service add svc2 10.96.0.11:80/tcp 2>&1)
check "  -d: service add on an existing state loads no program" \
	eq "$(grep -c 'BPF program load\|prog .*: failed' <<<"$out")" 0
out=$(in_ns env L4SPLIT_PIN_DIR=$PIN "$L4SPLIT" attach lk0 2>&1)
check "attach lk0 (native XDP + tc egress): l4s_xdp_fwd, l4s_tc_reply load" eq "$?" 0
[ -n "${out##*attached*}" ] && echo "# $out"
out=$(in_ns env L4SPLIT_PIN_DIR=$PIN "$L4SPLIT" attach lk0 --tc-only 2>&1)
check "attach lk0 --tc-only: l4s_tc_fwd loads" eq "$?" 0
[ -n "${out##*attached*}" ] && echo "# $out"
if mkdir "$CG" && [ "$(stat -f -c %T "$CG")" = cgroup2fs ]; then
	out=$(l4 attach --cgroup "$CG" 2>&1)
	rc=$?
else
	out="no cgroup2 directory at $CG"
	rc=1
fi
check "attach --cgroup: the 9 cgroup programs load" eq "$rc" 0
[ "$rc" -eq 0 ] || echo "# $out"
if [ "$rc" -eq 0 ]; then
	l4 backend add svc 10.250.0.1:80 >/dev/null
	l4 service add empty 10.96.0.12:80/tcp >/dev/null
	in_ns python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.250.0.1", 80)); s.listen(64); time.sleep(60)' &
	srv=$!
	sleep 2
	check "socket path: connect() to the VIP reaches the backend" \
		eq "$(connect_in_cg 10.96.0.10 80)" OK
	want=ECONNREFUSED
	[ "$(ver)" -lt 5018 ] && want=EPERM
	check "socket path: no backend refuses at once with $want (bpf_set_retval: 5.18)" \
		eq "$(connect_in_cg 10.96.0.12 80)" "$want"
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
fi
l4 detach --all --purge >/dev/null 2>&1
rmdir "$CG" 2>/dev/null # its processes (connect_in_cg's) have exited
[ "$CG2" = /run/l4k-load.cg2 ] && umount "$CG2" && rmdir "$CG2"
ip netns del "$NS" 2>/dev/null

# The datapath tests (BPF_PROG_TEST_RUN on this kernel's verifier and helpers) ---------
for t in datapath dp-snat; do
	echo "# $t"
	CMOCKA_MESSAGE_OUTPUT=TAP "$BUILD/tests/$t" 2>&1 | grep -E '^(not )?ok |^# ' |
		sed "s/^\(\(not \)\{0,1\}ok\) [0-9]* - /\1 - $t: /"
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || not_ok "$t exited with status $rc"
done

# The seed scenario through XDP ------------------------------------------------------
tests/kernels/seed.sh || T_FAIL=$((T_FAIL + 1))
finish
