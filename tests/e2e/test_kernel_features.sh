#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Older kernels on this one (#22): L4SPLIT_KFEAT_OFF masks what the load-time probes
# found, so each fallback runs here as it runs on the kernel that lacks the feature.
# Without bpf_set_retval (5.18) the socket path refuses with EPERM; without the cgroup
# getpeername hooks (5.8) attach --cgroup is refused by name and version, and the node
# path still attaches; without bpf_ktime_get_coarse_ns (5.11) SNAT runs on
# bpf_ktime_get_ns. (make test-kernels runs the real 6.1 and 5.10 kernels.)
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-kf$$
. scripts/lab.sh
. tests/lib/e2e.sh
BUILD=${BUILD:-build}

CG2=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
CG=""
cleanup() {
	[ -n "$CG" ] && rmdir "$CG" 2>/dev/null
	lab_down
}
lab_start old new
trap cleanup EXIT
if [ -z "$CG2" ]; then
	CG2=$LAB_ROOT/cg2
	mkdir -p "$CG2" && mount -t cgroup2 none "$CG2" || { not_ok "mount cgroup2"; finish; exit 1; }
fi
CG=$CG2/$LAB
mkdir "$CG" || { not_ok "create a test cgroup in $CG2"; finish; exit 1; }
# connect_in_cg ADDR PORT: connect() from a process of $CG in the client namespace;
# prints OK or the errno name it failed with.
connect_in_cg() {
	sh -c 'echo $$ >"$0/cgroup.procs" && exec nsenter --net="$1" python3 -c "$2" "$3" "$4"' \
		"$CG" "/run/netns/$LAB-c" 'import errno, socket, sys
s = socket.socket()
s.settimeout(5)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno) if e.errno else "TIMEOUT")' "$@"
}

# l4s_off FEATURES ARGS...: l4split with the kernel FEATURES masked off.
l4s_off() { lab_node env L4SPLIT_KFEAT_OFF="$1" "$L4SPLIT" "${@:2}"; }

l4s service add web $VIP4:80/tcp >/dev/null
l4s backend add web $OLD:80 >/dev/null
l4s service add empty 10.96.0.12:80/tcp >/dev/null

check "attach --cgroup (every feature)" quiet l4s attach --cgroup "$CG"
check "no backend: connect() refused with ECONNREFUSED (bpf_set_retval)" \
	eq "$(connect_in_cg 10.96.0.12 80)" ECONNREFUSED
check "attach --cgroup as on Linux < 5.18 (no bpf_set_retval)" \
	quiet l4s_off set_retval attach --cgroup "$CG"
check "  no backend: connect() refused with EPERM" eq "$(connect_in_cg 10.96.0.12 80)" EPERM
check "  a service with a backend: connect() reaches it" eq "$(connect_in_cg $VIP4 80)" OK
l4s detach --cgroup "$CG" >/dev/null

out=$(l4s_off cgroup_peername attach --cgroup "$CG" 2>&1)
rc=$?
check "attach --cgroup as on Linux < 5.8: exit 1" eq "$rc" 1
check "  Error names the version and the feature" \
	eq "$(head -1 <<<"$out")" "Error: attach --cgroup: needs Linux 5.8 (cgroup getpeername hooks)"
check "  a Hint, about the kernel and not the maps" \
	eq "$(grep -c '^Hint: .*node path' <<<"$out") $(grep -ci 'map' <<<"$out")" "1 0"
check "  no verifier or libbpf log" eq "$(grep -c 'libbpf\|verifier\|LOAD LOG' <<<"$out")" 0
out=$(l4s_off cgroup_peername --json attach --cgroup "$CG" 2>&1)
check "  --json: the same error as JSON" \
	eq "$(jq -r .error <<<"$out" 2>/dev/null)" "attach --cgroup: needs Linux 5.8 (cgroup getpeername hooks)"
check "  the node path still attaches (n0, XDP)" \
	quiet l4s_off cgroup_peername,cgroup_recvmsg,set_retval,coarse_ns attach n0
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
check "  200 connections through XDP all answered" eq "$(tv "$out" failed) $(total_answers "$out")" "0 200"

out=$(L4SPLIT_KFEAT_OFF=coarse_ns CMOCKA_MESSAGE_OUTPUT=TAP "$BUILD/tests/dp-snat" 2>&1)
check "SNAT datapath tests as on Linux < 5.11 (bpf_ktime_get_ns)" \
	eq "$?/$(grep -c '^not ok' <<<"$out")" "0/0"
finish
