#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The capabilities deploy/base/daemonset.yaml asks for are enough, and the ones it leaves
# out are not needed; without them l4split fails with a clear error. A non-root user
# gets a permission error, not a crash, and cannot read the state.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-pv$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old
# A bpffs as the host's /sys/fs/bpf (which the DaemonSet mounts), the state below it.
mkdir -p "$LAB_ROOT/sysfsbpf"
mount -t bpf bpf "$LAB_ROOT/sysfsbpf"
LAB_PIN=$LAB_ROOT/sysfsbpf/l4split
# capped CAPS ARGS...: l4split with only CAPS in its bounding set (root's permitted set).
capped() {
	local caps=$1
	shift
	L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" \
		setpriv --bounding-set "-all,$caps" "$L4SPLIT" "$@"
}
out=$(capped +bpf,+net_admin attach n0 2>&1)
check "BPF + NET_ADMIN alone: attach refused (exit 1)" eq "$?" 1
check "... with an error that names the capabilities" grep -q "CAP_PERFMON" <<<"$out"
check "BPF + NET_ADMIN + PERFMON (the DaemonSet's set): attach works" quiet capped +bpf,+net_admin,+perfmon attach n0
check "... service add works" quiet capped +bpf,+net_admin,+perfmon service add web $VIP4:80/tcp
check "... backend add works" quiet capped +bpf,+net_admin,+perfmon backend add web "$(lab_be_addr 1):80"
check "... weight works" quiet capped +bpf,+net_admin,+perfmon weight web default=1
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 100)
check "... and the VIP answers" eq "$(total_answers "$out")" 100
# The socket path on a cgroup of ours, read through a read-only bind mount as the
# DaemonSet mounts the host's cgroup2 root.
CG2=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
if [ -n "$CG2" ] && mkdir "$CG2/$LAB"; then
	trap 'rmdir "$CG2/$LAB"; lab_down' EXIT
	mkdir -p "$LAB_ROOT/cgv2"
	mount --bind -o ro "$CG2/$LAB" "$LAB_ROOT/cgv2"
	check "... attach --cgroup works (through a read-only mount)" \
		quiet capped +bpf,+net_admin,+perfmon attach --cgroup "$LAB_ROOT/cgv2"
	check "... and puts the 9 socket hooks on it" \
		eq "$(bpftool cgroup show "$CG2/$LAB" | grep -c l4s_)" 9
	check "... detach --cgroup works" quiet capped +bpf,+net_admin,+perfmon detach --cgroup "$LAB_ROOT/cgv2"
	umount "$LAB_ROOT/cgv2"
else
	echo "# no cgroup2 mount here: socket path privileges not checked"
fi
check "pin directory is root-only (0700)" eq "$(stat -c %a "$LAB_PIN")" 700
check "pinned maps are root-only (0600)" \
	test -z "$(find "$LAB_PIN" -name 'l4s_*' ! -perm 600 | head -1)"
out=$(L4SPLIT_PIN_DIR=$LAB_PIN setpriv --reuid 65534 --regid 65534 --clear-groups "$L4SPLIT" status 2>&1)
rc=$?
check "non-root status: exit 1, not a crash" eq "$rc" 1
check "non-root status: says it needs root" grep -q "needs root\|permission denied" <<<"$out"
out=$(L4SPLIT_PIN_DIR=$LAB_PIN setpriv --reuid 65534 --regid 65534 --clear-groups "$L4SPLIT" weight web default=2 2>&1)
check "non-root weight: refused (exit 1)" eq "$?" 1
check "non-root weight: nothing changed" eq "$(l4s status web --json | jq -c '.services[0].tracks')" '{"default":1}'
finish
