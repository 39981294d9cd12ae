#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Bulk transfers through the VIP, both ways, IPv4 and IPv6, with each hook: large
# GSO/GRO packets must be translated like small ones, and every byte must arrive.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/e2e.sh
DATA=$(mktemp /tmp/l4e-bulk.XXXXXX)
head -c 8000000 /dev/urandom >"$DATA"
SUM=$(md5sum <"$DATA" | cut -d' ' -f1)

run_mode() {
	local mode=$1 srv got
	LAB=l4e-bk$$
	. scripts/lab.sh
	trap 'kill $srv 2>/dev/null; lab_down; rm -f "$DATA"' EXIT
	lab_up old || { not_ok "lab setup"; return; }
	# A download server (sends the file) and an upload sink on the backend.
	nsenter --net="/run/netns/$LAB-b1" socat TCP6-LISTEN:81,fork,reuseaddr,ipv6only=0 \
		OPEN:"$DATA",rdonly &
	srv=$!
	# shellcheck disable=SC2086
	l4s attach n0 --flows 65536 $mode >/dev/null
	l4s service add down $VIP4:81/tcp >/dev/null
	l4s backend add down "$(lab_be_addr 1):81" >/dev/null
	l4s service add down6 "[$VIP6]:81/tcp" >/dev/null
	l4s backend add down6 "[$(lab_be_addr 1 6)]:81" >/dev/null
	l4s service add up $VIP4:82/tcp >/dev/null
	l4s backend add up "$(lab_be_addr 1):82" >/dev/null
	wait_listen "$LAB-b1" 81 5
	got=$(lab_client timeout 20 socat -u TCP:$VIP4:81 - | md5sum | cut -d' ' -f1)
	check "${mode:-native}: 8 MB download over IPv4 arrives intact" eq "$got" "$SUM"
	got=$(lab_client timeout 20 socat -u "TCP6:[$VIP6]:81" - | md5sum | cut -d' ' -f1)
	check "${mode:-native}: 8 MB download over IPv6 arrives intact" eq "$got" "$SUM"
	nsenter --net="/run/netns/$LAB-b1" timeout 20 socat -u TCP-LISTEN:82,reuseaddr - \
		>"$LAB_ROOT/up.out" &
	local sink=$!
	wait_listen "$LAB-b1" 82 5
	lab_client timeout 20 socat -u OPEN:"$DATA",rdonly TCP:$VIP4:82
	wait $sink
	check "${mode:-native}: 8 MB upload arrives intact" eq "$(md5sum <"$LAB_ROOT/up.out" | cut -d' ' -f1)" "$SUM"
	kill $srv 2>/dev/null
	wait $srv 2>/dev/null
	lab_down
	trap - EXIT
}

run_mode ""
run_mode "--xdp-mode generic"
run_mode "--tc-only"
rm -f "$DATA"
finish
